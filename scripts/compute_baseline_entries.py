"""Play every baseline on every registered env's test split: the shipped entries.

    python scripts/compute_baseline_entries.py [--output PATH] [--envs ID ...]

Writes ``tunegym/evaluation/data/baseline_entries.jsonl`` (package data): one row per
(env, baseline, seed) in the evaluation protocol's format (see
:mod:`tunegym.evaluation.baseline_policies`), which anchors and seeds ``tunegym
leaderboard``. Seeds are the protocol's default, 0..9, except for the envs in
:data:`NUM_SEEDS`, whose baselines are too slow at 10 seeds (the leaderboard then
aggregates a baseline covering such an env over its lowest seeds elsewhere too, and
says so). ``--envs`` recomputes only those envs and keeps the other rows of
``--output``. Progress and timings go to stderr. Run it again (and
check in the output) whenever an env, a baseline or the tunegym version changes:
``tunegym leaderboard`` refuses entries of another version or env spec.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import tunegym
from tunegym.evaluation.baseline_policies import baseline_names, play_baseline
from tunegym.evaluation.leaderboard import SHIPPED_ENTRIES
from tunegym.io import write_text_atomically

DEFAULT_SEEDS = 10
#: Envs played on fewer seeds. SORVariableDiffusion: 1000 solves per episode on a 32 x 32
#: grid, and the instance-optimal oracle solves every instance with all 20 grid omegas
#: (one thread: about 9 minutes at 10 seeds, more than the rest of the run together).
#: With 5 seeds the run took 34 minutes on a 2-core machine busy with other jobs (load
#: 3 to 8), SORVariableDiffusion 13 of them.
NUM_SEEDS = {"tunegym/SORVariableDiffusion-v0": 5}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=SHIPPED_ENTRIES)
    parser.add_argument("--envs", nargs="+", choices=tunegym.registered_ids(), metavar="ID",
                        help="recompute only these ids, keep the other rows of --output")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(1)
    env_ids = arguments.envs or tunegym.registered_ids()
    kept = ([row for row in map(json.loads, arguments.output.read_text().splitlines())
             if row["env_id"] not in env_ids] if arguments.envs else [])
    rows, start = [], time.perf_counter()
    for env_id in env_ids:
        seeds = range(NUM_SEEDS.get(env_id, DEFAULT_SEEDS))
        for agent in baseline_names(env_id):
            begin = time.perf_counter()
            played = play_baseline(env_id, agent, seeds)
            rows += played
            mean_return = sum(row["episode_return"] for row in played) / len(played)
            print(f"{env_id} {agent}: {len(played)} episodes, mean return {mean_return:.4f}, "
                  f"{time.perf_counter() - begin:.1f} s", file=sys.stderr, flush=True)
    order = {env_id: index for index, env_id in enumerate(tunegym.registered_ids())}
    rows = sorted(kept + rows, key=lambda row: order[row["env_id"]])    # stable: agents kept
    write_text_atomically(arguments.output, "".join(json.dumps(row) + "\n" for row in rows))
    print(f"wrote {len(rows)} rows to {arguments.output} ({time.perf_counter() - start:.0f} s)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
