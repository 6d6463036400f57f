"""Train the comparison configs of registered envs and play them on the test split: the
shipped learned-agent entries of the leaderboard.

    python scripts/compute_agent_entries.py --envs ID ... [--configs NAME ...]
        [--train-seeds 0 1 2] [--seeds 20] [--output PATH] [--runs-dir DIR]

For each env, every config of its family record's comparison for the env's class (or
those named by ``--configs``) is trained by ``tunegym train`` at the config's own
budget, once per training seed (default 0, 1, 2), and each checkpoint plays test seeds
0 .. ``--seeds`` - 1 (default 20) with the one rollout (:func:`tunegym.reproduce.trained_rows`,
the path ``tunegym reproduce`` takes). The rows go to
``tunegym/evaluation/data/agent_entries.jsonl`` (package data), rewritten atomically: the
rows of the (env, config) pairs recomputed replace their old ones, every other row is
kept, so the file grows one run at a time. ``tunegym leaderboard`` ranks them beside the
shipped baselines. Their ``checkpoint`` paths name the run folders of the machine that
computed them, which are not shipped: ``tunegym validate`` cannot replay these rows
(retrain with this script to check them). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

import tunegym
from tunegym.evaluation.leaderboard import SHIPPED_AGENT_ENTRIES
from tunegym.io import write_text_atomically
from tunegym.reproduce import comparison_configs, trained_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", required=True, choices=tunegym.registered_ids(),
                        metavar="ID")
    parser.add_argument("--configs", nargs="+", default=None, metavar="NAME",
                        help="these configs (shipped names or files) instead of the "
                             "family record's comparison")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seeds", type=int, default=20, help="test episodes per checkpoint")
    parser.add_argument("--output", type=Path, default=SHIPPED_AGENT_ENTRIES)
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="where the training runs go (default: a temporary folder)")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(1)
    runs_dir = arguments.runs_dir or Path(tempfile.mkdtemp(prefix="tunegym_agent_entries_"))
    start = time.perf_counter()
    for env_id in arguments.envs:
        configs = comparison_configs(env_id, arguments.configs,
                                     overrides={"seeds": arguments.train_seeds})
        for config in configs:
            begin = time.perf_counter()
            rows, _ = trained_rows(env_id, [config], list(range(arguments.seeds)),
                                   runs_dir / env_id.replace("/", "_"))
            kept = ([row for row in map(json.loads, arguments.output.read_text().splitlines())
                     if (row["env_id"], row["agent"]) != (env_id, config.name)]
                    if arguments.output.is_file() else [])
            write_text_atomically(arguments.output,
                                  "".join(json.dumps(row) + "\n" for row in kept + rows))
            mean_return = sum(row["episode_return"] for row in rows) / len(rows)
            print(f"{env_id} {config.name}: {len(rows)} episodes, mean return "
                  f"{mean_return:.4f}, {time.perf_counter() - begin:.0f} s", file=sys.stderr,
                  flush=True)
    print(f"wrote {arguments.output} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
