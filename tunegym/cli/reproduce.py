"""``tunegym reproduce ENV_ID``: a family's paper table on the test split (``tunegym
compare`` is the old name, kept as an alias that says so)."""

from __future__ import annotations

import json
import sys

from tunegym.reproduce import reproduction_module


def _add_arguments(parser) -> None:
    parser.add_argument("env_id", nargs="?", default="tunegym/SOR-v0")
    parser.add_argument("--seeds", type=int, default=None,
                        help="test episodes/sequences (default: the family's, 5 for SOR, "
                             "64 for coverage)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--sequence-length", type=int, default=None,
                        help="instances per sequence (default: the env's)")
    parser.add_argument("--env-kwargs", default="{}",
                        help='env kwargs as a JSON object, e.g. \'{"map_seed": 7}\'')
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output-dir", default="results")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: fastest on small CPUs)")


def register(commands) -> None:
    """Add ``tunegym reproduce`` and its old name ``compare``."""
    reproduce = commands.add_parser("reproduce", help="run a family's agents and baselines "
                                    "on the test split; print the table, save table/JSON/PNG")
    _add_arguments(reproduce)
    reproduce.set_defaults(handler=run)
    compare = commands.add_parser("compare", help="old name of `tunegym reproduce`")
    _add_arguments(compare)
    compare.set_defaults(handler=run_compare)


def run_compare(arguments) -> int:
    print("tunegym compare is now `tunegym reproduce`; running that", file=sys.stderr)
    return run(arguments)


def run(arguments) -> int:
    module = reproduction_module(arguments.env_id)
    overrides = ({} if arguments.sequence_length is None
                 else {"sequence_length": arguments.sequence_length})
    if arguments.seeds is not None:
        overrides["num_seeds"] = arguments.seeds
    try:
        env_kwargs = json.loads(arguments.env_kwargs)
    except json.JSONDecodeError as error:
        raise ValueError(f"--env-kwargs must be a JSON object: {error}") from error
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"--env-kwargs must be a JSON object, got "  # noqa: TRY004
                         f"{arguments.env_kwargs!r}")
    overrides.update(env_kwargs)
    try:
        outcome = module.compare(arguments.env_id, seed=arguments.first_seed,
                                 device=arguments.device, output_dir=arguments.output_dir,
                                 **overrides)
    except TypeError as error:     # kwargs this family's envs do not take
        raise ValueError(str(error)) from error
    print(outcome["table"])
    print(f"\nwrote {outcome['table_file']}, {outcome['results']}, {outcome['plot']} "
          f"({outcome['seconds']:.0f} s)")
    return 0
