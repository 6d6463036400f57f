"""``tunegym leaderboard``: normalised scores of result rows (see
:mod:`tunegym.evaluation.leaderboard`)."""

from __future__ import annotations

from pathlib import Path

from tunegym.evaluation.leaderboard import build_leaderboard
from tunegym.evaluation.rows import RANDOM


def register(commands) -> None:
    """Add ``tunegym leaderboard RESULTS... [--output-dir] [--no-shipped] [--against]
    [--reps]``."""
    parser = commands.add_parser(
        "leaderboard", help="normalised scores of result rows beside the shipped "
        "entries, one table per family: markdown, HTML, plots, JSON")
    parser.add_argument("results", nargs="*",
                        help="JSONL rows of `tunegym evaluate` or `tunegym reproduce` "
                             "(none: the shipped entries alone)")
    parser.add_argument("--output-dir", default="leaderboard")
    parser.add_argument("--no-shipped", action="store_true",
                        help="leave the shipped baseline and agent entries out of the "
                             "ranking (the baselines still anchor the scores)")
    parser.add_argument("--against", default=RANDOM,
                        help=f"agent for the probability of improvement (default {RANDOM})")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap replicates")
    parser.set_defaults(handler=run, threads=None)


def run(arguments) -> int:
    """Build the leaderboard; print its markdown table."""
    report = build_leaderboard(arguments.results, arguments.output_dir,
                               include_shipped=not arguments.no_shipped,
                               against=arguments.against, reps=arguments.reps)
    print(Path(report["files"][0]).read_text())
    print(f"wrote {', '.join(report['files'])}")
    return 0
