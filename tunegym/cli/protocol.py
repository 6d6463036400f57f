"""``tunegym train``, ``tunegym evaluate`` and ``tunegym validate``."""

from __future__ import annotations

import json

from tunegym.evaluation.backends import add_backend_argument


def register(commands) -> None:
    """Add ``train``, ``evaluate`` and ``validate``."""
    train = commands.add_parser("train", help="train an agent from a YAML config "
                                "(TensorBoard, checkpoints, summary.json)")
    train.add_argument("config", help="a config file, e.g. configs/sor_chebcb.yaml")
    train.add_argument("--output-dir", default="runs")
    train.add_argument("--resume", action="store_true",
                       help="continue each seed's run from its last checkpoint")
    train.set_defaults(handler=run_train, threads=1)
    evaluate = commands.add_parser("evaluate", help="play a checkpoint on the test split, "
                                   "one row per episode (JSONL + CSV)")
    evaluate.add_argument("--env", required=True)
    evaluate.add_argument("--agent", required=True,
                          help="a checkpoint (.zip or .pt) written by `tunegym train`")
    evaluate.add_argument("--seeds", type=int, default=10)
    evaluate.add_argument("--output", default="results/evaluation")
    add_backend_argument(evaluate)
    evaluate.set_defaults(handler=run_evaluate, threads=1)
    validate = commands.add_parser("validate", help="replay the rows of a results file and "
                                   "check their returns")
    validate.add_argument("results")
    validate.set_defaults(handler=run_validate, threads=1)


def run_train(arguments) -> int:
    from tunegym.training import TrainConfig, train

    for summary in train(TrainConfig.load(arguments.config), arguments.output_dir,
                         resume=arguments.resume):
        print(json.dumps({key: value for key, value in summary.items()
                          if key != "config_values"}))
    return 0


def run_evaluate(arguments) -> int:
    from tunegym.evaluation.protocol import evaluate

    rows = evaluate(arguments.env, arguments.agent, arguments.seeds, arguments.output,
                    backend=arguments.backend, num_cpus=arguments.num_cpus)
    returns = [row["episode_return"] for row in rows]
    print(f"{len(rows)} test episodes, mean return {sum(returns) / len(returns):.4f}; "
          f"wrote {arguments.output}.jsonl and .csv")
    return 0


def run_validate(arguments) -> int:
    """Exit 1 when a row does not replay."""
    from tunegym.evaluation.protocol import validate

    mismatches = validate(arguments.results)
    for row in mismatches:
        print(f"seed {row['seed']}: recorded {row['episode_return']}, replayed "
              f"{row['replayed_return']} ({row['reason']})")
    print("all rows replay to the recorded returns" if not mismatches
          else f"{len(mismatches)} rows do not replay")
    return 1 if mismatches else 0
