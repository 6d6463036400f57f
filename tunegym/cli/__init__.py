"""The ``tunegym`` command: one module per command group, registered in :data:`GROUPS`.

Each group module has ``register(commands)``, which adds its subcommands to the parser
and sets ``handler`` (the function a parsed command runs, returning the exit status) and
``threads`` (torch intra-op threads to pin first, None to leave them). A ``ValueError``
from a handler (bad input) ends the command with its message, prefixed by the command.
"""

from __future__ import annotations

import argparse
import sys

import torch

from tunegym.cli import bench, envs, exercise, leaderboard, protocol, proxy, reproduce, sweep
from tunegym.core.batched import check_integer

#: The command groups, in the order ``tunegym --help`` lists them.
GROUPS = (envs, reproduce, protocol, sweep, leaderboard, proxy, bench, exercise)


def build_parser() -> argparse.ArgumentParser:
    """The ``tunegym`` command's argument parser (every subcommand)."""
    parser = argparse.ArgumentParser(
        prog="tunegym", description="Tuning problems as Gymnasium environments: train, "
        "evaluate and rank tuning agents.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tunegym`` console script; returns the exit status."""
    arguments = build_parser().parse_args(argv)
    if arguments.threads is not None:
        torch.set_num_threads(check_integer("--threads", arguments.threads))
    try:
        return arguments.handler(arguments)
    except (ValueError, ImportError) as error:
        raise SystemExit(f"tunegym {arguments.command}: {error}") from error


if __name__ == "__main__":
    sys.exit(main())
