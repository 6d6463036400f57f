"""The ``tunegym`` command.

    tunegym list                          every registered id: family, spaces, reward
    tunegym compare tunegym/SOR-v0        agents vs baselines on the test split: table + PNG
    tunegym bench [--quick] [--json]      benchmark scripts: ours vs reference, one table
    tunegym train configs/NAME.yaml       train an agent from a config (TensorBoard, checkpoints)
    tunegym evaluate --env ID --agent CHECKPOINT   test-split episodes to JSONL/CSV
    tunegym validate RESULTS.jsonl        replay evaluation rows, check the returns
    tunegym sweep CONFIG --grid KEY=V1,V2 --seeds 0 1 2 [--backend ray]
                                          a hyperparameter grid x seeds: the spread of results
    tunegym leaderboard RESULTS...        normalised scores of agents and baselines: MD, HTML, PNG, JSON
    tunegym proxy collect ENV_ID --designs N --output FILE.csv   random designs -> dataset
    tunegym proxy fit FILE.csv --output PROXY.pt [--model mlp|forest]   surrogate + RMSE
    tunegym exercise list | start N DIR | check N FILE   teaching exercises with graders
"""

from __future__ import annotations

import argparse
import json
import sys

import gymnasium
import torch

import tunegym
from tunegym.agents.proxy_model import add_proxy_parser, run_proxy
from tunegym.core.batched import check_integer
from tunegym.evaluation.backends import add_backend_argument
from tunegym.evaluation.bench import BENCHMARKS, format_table, run_benchmarks
from tunegym.evaluation.leaderboard import add_leaderboard_parser, run_leaderboard
from tunegym.exercises.command import add_exercise_parser, run_exercise
from tunegym.training.sweep import add_sweep_parser

#: family -> the module whose ``compare`` runs that family's agents and baselines.
COMPARISONS = {"sor": "tunegym.evaluation.compare_sor",
               "coverage": "tunegym.evaluation.compare_coverage",
               "solver_schedule": "tunegym.evaluation.compare_solver_schedule",
               "quantum_arch_search": "tunegym.evaluation.compare_qas"}


def _describe_space(space: gymnasium.Space) -> str:
    if isinstance(space, gymnasium.spaces.Box):
        return f"Box{tuple(space.shape)}"
    return str(space)


def list_envs() -> list[str]:
    """One line per registered id: id, family, observation and action spaces, reward."""
    lines = []
    for env_id in tunegym.registered_ids():
        env = gymnasium.make(env_id).unwrapped
        batched = env.batched
        lines.append(f"{env_id:34s} family={batched.family:8s} "
                     f"obs={_describe_space(env.observation_space):10s} "
                     f"action={_describe_space(env.action_space):12s} "
                     f"reward={batched.reward_description}")
    return lines


def _family_of(env_id: str) -> str:
    if env_id not in gymnasium.registry or not env_id.startswith("tunegym/"):
        known = ", ".join(tunegym.registered_ids())
        raise SystemExit(f"tunegym: unknown env id {env_id!r}; registered ids: {known}")
    return gymnasium.make(env_id).unwrapped.batched.family


def _run_protocol(arguments: argparse.Namespace) -> int:
    """``tunegym train`` / ``evaluate`` / ``validate``."""
    if arguments.command == "proxy":
        return run_proxy(arguments)
    if arguments.command == "sweep":
        from tunegym.training.sweep import run_sweep

        return run_sweep(arguments)
    if arguments.command == "train":
        from tunegym.training import TrainConfig, train

        for summary in train(TrainConfig.load(arguments.config), arguments.output_dir,
                             resume=arguments.resume):
            print(json.dumps({key: value for key, value in summary.items()
                              if key != "config_values"}))
        return 0
    from tunegym.evaluation.protocol import evaluate, validate

    if arguments.command == "evaluate":
        rows = evaluate(arguments.env, arguments.agent, arguments.seeds, arguments.output,
                        backend=arguments.backend, num_cpus=arguments.num_cpus)
        returns = [row["episode_return"] for row in rows]
        print(f"{len(rows)} test episodes, mean return {sum(returns) / len(returns):.4f}; "
              f"wrote {arguments.output}.jsonl and .csv")
        return 0
    mismatches = validate(arguments.results)
    for row in mismatches:
        print(f"seed {row['seed']}: recorded {row['episode_return']}, replayed "
              f"{row['replayed_return']} ({row['reason']})")
    print("all rows replay to the recorded returns" if not mismatches
          else f"{len(mismatches)} rows do not replay")
    return 1 if mismatches else 0


def build_parser() -> argparse.ArgumentParser:
    """The ``tunegym`` command's argument parser (every subcommand)."""
    parser = argparse.ArgumentParser(prog="tunegym", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list every registered env id")
    compare = commands.add_parser("compare", help="run a family's agents and baselines on "
                                  "its test split; print the table, save table/JSON/PNG")
    compare.add_argument("env_id", nargs="?", default="tunegym/SOR-v0")
    compare.add_argument("--seeds", type=int, default=None,
                         help="test episodes/sequences (default: the family's, 5 for SOR, "
                              "64 for coverage)")
    compare.add_argument("--first-seed", type=int, default=0)
    compare.add_argument("--sequence-length", type=int, default=None,
                         help="instances per sequence (default: the env's)")
    compare.add_argument("--env-kwargs", default="{}",
                         help='env kwargs as a JSON object, e.g. \'{"map_seed": 7}\'')
    compare.add_argument("--device", default="cpu")
    compare.add_argument("--output-dir", default="results")
    compare.add_argument("--threads", type=int, default=1,
                         help="torch intra-op threads (default 1: fastest on small CPUs)")
    bench = commands.add_parser("bench", help="run the scripts in benchmarks/ and print their "
                                "headline figures as one table (exit 1 if any failed)")
    bench.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME",
                       help=f"run only these ({', '.join(BENCHMARKS)})")
    bench.add_argument("--quick", action="store_true",
                       help="tiny sizes: checks the scripts run, the figures mean nothing")
    bench.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    bench.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                       help="passed to every script (the references run where they run)")
    train = commands.add_parser("train", help="train an agent from a YAML config")
    train.add_argument("config")
    train.add_argument("--output-dir", default="runs")
    train.add_argument("--resume", action="store_true",
                       help="continue each seed's run from its last checkpoint")
    evaluate = commands.add_parser("evaluate", help="play a checkpoint on the test split, "
                                   "one row per episode (JSONL + CSV)")
    evaluate.add_argument("--env", required=True)
    evaluate.add_argument("--agent", required=True,
                          help="a checkpoint (.zip or .pt) written by `tunegym train`")
    evaluate.add_argument("--seeds", type=int, default=10)
    evaluate.add_argument("--output", default="results/evaluation")
    add_backend_argument(evaluate)
    validate = commands.add_parser("validate", help="replay an evaluation's rows")
    validate.add_argument("results")
    add_sweep_parser(commands)
    add_proxy_parser(commands)
    add_leaderboard_parser(commands)
    add_exercise_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tunegym`` console script."""
    arguments = build_parser().parse_args(argv)
    if arguments.command in ("train", "evaluate", "validate", "sweep", "proxy"):
        torch.set_num_threads(1)
        try:
            return _run_protocol(arguments)
        except (ValueError, ImportError) as error:
            raise SystemExit(f"tunegym {arguments.command}: {error}") from error

    if arguments.command == "list":
        print("\n".join(list_envs()))
        return 0
    if arguments.command == "bench":
        rows = run_benchmarks(arguments.only, quick=arguments.quick, device=arguments.device,
                              progress=sys.stderr)
        print(json.dumps(rows, indent=2) if arguments.json else format_table(rows))
        return 1 if any(row["error"] is not None for row in rows) else 0
    if arguments.command == "leaderboard":
        return run_leaderboard(arguments)
    if arguments.command == "exercise":
        torch.set_num_threads(1)
        return run_exercise(arguments)

    torch.set_num_threads(check_integer("--threads", arguments.threads))
    family = _family_of(arguments.env_id)
    if family not in COMPARISONS:
        raise SystemExit(f"tunegym: no comparison is defined for family {family!r}")
    import importlib

    module = importlib.import_module(COMPARISONS[family])
    overrides = ({} if arguments.sequence_length is None
                 else {"sequence_length": arguments.sequence_length})
    if arguments.seeds is not None:
        overrides["num_seeds"] = arguments.seeds
    try:
        env_kwargs = json.loads(arguments.env_kwargs)
    except json.JSONDecodeError as error:
        raise SystemExit(f"tunegym compare: --env-kwargs must be a JSON object: {error}") from error
    if not isinstance(env_kwargs, dict):
        raise SystemExit(f"tunegym compare: --env-kwargs must be a JSON object, got "
                         f"{arguments.env_kwargs!r}")
    overrides.update(env_kwargs)
    try:
        outcome = module.compare(arguments.env_id,
                                 seed=arguments.first_seed, device=arguments.device,
                                 output_dir=arguments.output_dir, **overrides)
    except (ValueError, TypeError) as error:     # bad kwargs for this family's envs
        raise SystemExit(f"tunegym compare: {error}") from error
    print(outcome["table"])
    print(f"\nwrote {outcome['table_file']}, {outcome['results']}, {outcome['plot']} "
          f"({outcome['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
