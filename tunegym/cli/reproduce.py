"""``tunegym reproduce ENV_ID``: train the family's comparison from its shipped configs,
play it and the baselines on the test split, rank the rows, and run the family's paper
experiment (see :mod:`tunegym.reproduce`). ``tunegym compare`` is its old name, kept as
an alias that says so."""

from __future__ import annotations

import json
import sys

from tunegym.reproduce import paper_module, reproduce


def _add_arguments(parser) -> None:
    parser.add_argument("env_id", nargs="?", default="tunegym/SORLearningToRelax-v0",
                        help="a registered id (default: the SOR paper's setting)")
    parser.add_argument("--seeds", type=int, default=20,
                        help="test episodes per agent and baseline in the rows (default 20)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--output-dir", default="results")
    parser.add_argument("--configs", nargs="+", default=None, metavar="CONFIG",
                        help="configs to train (shipped names or files) instead of the "
                             "family's comparison")
    parser.add_argument("--timesteps", type=int, default=None,
                        help="override every config's training budget (a smoke run: the "
                             "figures then are not the paper's)")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=None,
                        help="override every config's training seeds")
    parser.add_argument("--reps", type=int, default=2000,
                        help="bootstrap replicates of the ranking")
    paper = parser.add_mutually_exclusive_group()
    paper.add_argument("--no-paper", action="store_true",
                       help="skip the family's paper experiment (rows and ranking only)")
    paper.add_argument("--paper-only", action="store_true",
                       help="only the family's paper experiment (no training, rows or "
                            "ranking)")
    parser.add_argument("--paper-seeds", type=int, default=None,
                        help="test episodes/sequences of the paper experiment (default: the "
                             "family's: 10 at the SOR paper setting, 5 on the other SOR ids, "
                             "3 learner trials for heat, 64 for coverage)")
    parser.add_argument("--sequence-length", type=int, default=None,
                        help="instances per sequence in the paper experiment")
    parser.add_argument("--env-kwargs", default="{}",
                        help='env kwargs of the paper experiment as a JSON object, e.g. '
                             '\'{"map_seed": 7}\'')
    parser.add_argument("--device", default="cpu", help="torch device of the paper experiment")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: fastest on small CPUs)")


def register(commands) -> None:
    """Add ``tunegym reproduce`` and its old name ``compare``."""
    reproduce_parser = commands.add_parser(
        "reproduce", help="train a family's comparison from its configs, rank it with the "
        "baselines on the test split, run the paper's table")
    _add_arguments(reproduce_parser)
    reproduce_parser.set_defaults(handler=run)
    compare = commands.add_parser("compare", help="old name of `tunegym reproduce`")
    _add_arguments(compare)
    compare.set_defaults(handler=run_compare)


def run_compare(arguments) -> int:
    print("tunegym compare is now `tunegym reproduce`; running that", file=sys.stderr)
    return run(arguments)


def _paper_kwargs(arguments) -> dict:
    try:
        env_kwargs = json.loads(arguments.env_kwargs)
    except json.JSONDecodeError as error:
        raise ValueError(f"--env-kwargs must be a JSON object: {error}") from error
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"--env-kwargs must be a JSON object, got "  # noqa: TRY004
                         f"{arguments.env_kwargs!r}")
    kwargs = {"seed": arguments.first_seed, "device": arguments.device, **env_kwargs}
    if arguments.sequence_length is not None:
        kwargs["sequence_length"] = arguments.sequence_length
    if arguments.paper_seeds is not None:
        kwargs["num_seeds"] = arguments.paper_seeds
    return kwargs


def _print_paper(outcome: dict) -> None:
    print(outcome["table"])
    print(f"\nwrote {outcome['table_file']}, {outcome['results']}, {outcome['plot']}\n")


def run(arguments) -> int:
    if arguments.paper_only:
        module = paper_module(arguments.env_id)
        if module is None:
            raise ValueError(f"--paper-only: the family of {arguments.env_id} has no paper "
                             f"experiment (tunegym.reproduce.<family>)")
        try:
            outcome = module.compare(arguments.env_id, output_dir=arguments.output_dir,
                                     **_paper_kwargs(arguments))
        except TypeError as error:     # kwargs this family's envs do not take
            raise ValueError(str(error)) from error
        _print_paper(outcome)
        print(f"({outcome['seconds']:.0f} s)")
        return 0
    overrides = {}
    if arguments.timesteps is not None:
        overrides["timesteps"] = arguments.timesteps
    if arguments.train_seeds is not None:
        overrides["seeds"] = arguments.train_seeds
    try:
        result = reproduce(arguments.env_id, arguments.seeds, arguments.first_seed,
                           arguments.output_dir, arguments.configs, overrides,
                           paper=not arguments.no_paper, reps=arguments.reps,
                           paper_kwargs=_paper_kwargs(arguments))
    except TypeError as error:     # kwargs this family's envs do not take
        raise ValueError(str(error)) from error
    if result.paper is not None:
        _print_paper(result.paper)
    print(result.table)
    print(f"wrote {result.rows_file} (rows: `tunegym leaderboard {result.rows_file} "
          f"--no-shipped` ranks them the same) and {result.leaderboard['files'][0]} "
          f"({result.seconds:.0f} s)")
    return 0
