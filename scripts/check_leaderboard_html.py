"""Render a leaderboard.html in headless Chromium and check the DOM its script leaves.

    python scripts/check_leaderboard_html.py [leaderboard/leaderboard.html]

Chromium (Debian package ``chromium``; ``--no-sandbox`` is added when run as root) loads
the page as ``file://...#selftest``: the page's script makes the table sortable, marks
it (``data-sortable="ready"``) and, for the ``#selftest`` fragment, clicks the "mean"
column header once. ``--dump-dom`` prints the DOM after the script ran. The check:

* the first table has one row per agent of the first ranking table of the
  ``leaderboard.json`` beside the page;
* the script ran and sorted by mean, ascending (``data-sorted-by="mean:ascending"``);
* the rows are in ascending order of their mean (the table starts in IQM order).

Exit status 0 when all hold, 1 otherwise, 2 when no chromium is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tunegym.evaluation.leaderboard import SELFTEST_COLUMN, read_html_table

BROWSERS = ("chromium", "chromium-browser")


def dump_dom(page: Path, browser: str) -> str:
    """The DOM of ``page#selftest`` after its scripts ran, serialised by Chromium."""
    command = [browser, "--headless", "--disable-gpu", "--virtual-time-budget=5000",
               "--dump-dom", page.resolve().as_uri() + "#selftest"]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")          # Chromium refuses to run as root otherwise
    return subprocess.run(command, capture_output=True, text=True, timeout=90,
                          check=True).stdout


def problems(page: Path, dom: str) -> list[str]:
    """What is wrong with the rendered table (empty when all checks hold)."""
    report = json.loads(page.with_name("leaderboard.json").read_text())
    table = read_html_table(dom)
    found = []
    agents = [row[0]["text"] for row in table["rows"]]
    expected = [summary["agent"] for summary in report["tables"][0]["agents"]]
    if sorted(agents) != sorted(expected):
        found.append(f"rows {agents} are not the agents {expected}")
    if table["attributes"].get("data-sortable") != "ready":
        found.append("the page's script did not run (no data-sortable=\"ready\")")
    if table["attributes"].get("data-sorted-by") != f"{SELFTEST_COLUMN}:ascending":
        found.append(f"the self-test did not sort by {SELFTEST_COLUMN} "
                     f"(data-sorted-by={table['attributes'].get('data-sorted-by')!r})")
    column = [cell.get("data-key") for cell in table["headers"]].index(SELFTEST_COLUMN)
    values = [float(row[column]["data-value"]) for row in table["rows"]]
    if values != sorted(values):
        found.append(f"the rows are not in ascending order of {SELFTEST_COLUMN}: {values}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("page", nargs="?", type=Path,
                        default=Path("leaderboard") / "leaderboard.html")
    arguments = parser.parse_args(argv)
    browser = next(filter(None, map(shutil.which, BROWSERS)), None)
    if browser is None:
        print(f"no Chromium found (looked for {', '.join(BROWSERS)})", file=sys.stderr)
        return 2
    found = problems(arguments.page, dump_dom(arguments.page, browser))
    for problem in found:
        print(f"FAIL: {problem}")
    if not found:
        print(f"ok: {arguments.page} rendered in {browser}; the table has every agent and "
              f"its script sorted by {SELFTEST_COLUMN} on a header click")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
