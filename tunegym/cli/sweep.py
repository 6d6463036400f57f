"""``tunegym sweep``: a hyperparameter grid x seeds (see :mod:`tunegym.training.sweep`)."""

from __future__ import annotations

from pathlib import Path

from tunegym.evaluation.backends import add_backend_argument
from tunegym.training.config import TrainConfig
from tunegym.training.sweep import parse_grid, sweep


def register(commands) -> None:
    """Add ``tunegym sweep``."""
    parser = commands.add_parser(
        "sweep", help="train a hyperparameter grid x seeds from a config; write the "
                      "spread of final rewards (sweep.jsonl, sweep.md, sweep.png)")
    parser.add_argument("config")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="a config key (timesteps) or agent_kwargs.NAME / "
                             "env_kwargs.NAME / curriculum.NAME and its values (YAML); "
                             "repeat for more keys")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds of every combination (default: the config's)")
    parser.add_argument("--output-dir", default=None,
                        help="default: sweeps/<config name>")
    add_backend_argument(parser)
    parser.set_defaults(handler=run, threads=1)


def run(arguments) -> int:
    """``tunegym sweep``: run the sweep, print ``sweep.md``; bad input is a ValueError."""
    config = TrainConfig.load(arguments.config)
    output_dir = arguments.output_dir or Path("sweeps") / config.name
    result = sweep(config, parse_grid(arguments.grid),
                   config.seeds if arguments.seeds is None else arguments.seeds,
                   output_dir, backend=arguments.backend, num_cpus=arguments.num_cpus)
    print(result.markdown.read_text(), end="")
    print(f"\nwrote {result.jsonl}, {result.markdown}, {result.plot}")
    return 0
