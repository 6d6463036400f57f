"""Files every floor writes and reads: atomic writes (a reader never sees a half-written
file), the one JSON-lines reader, markdown tables and figures."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(temporary_path)`` then rename the result onto ``path``.

    The temporary file lives in the destination folder (same filesystem, so the
    rename is atomic) and is removed if ``write`` fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix,
                                         dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)     # mkstemp creates 0600; match open()'s mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def write_json_atomically(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return write_text_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_report(env_id: str, output_dir: str | Path, title: str, table: str,
                 plot: Callable[[Path], Path], plot_suffix: str,
                 summary: dict[str, Any]) -> dict[str, Any]:
    """Write a comparison's files atomically under ``output_dir``, named after ``env_id``:
    ``<id>_table.md`` (title and markdown table), ``<id>_results.json`` (``summary``) and
    the figure ``plot(path)`` draws at ``<id><plot_suffix>``.

    Returns:
        {"table", "plot", "table_file", "results", "seconds"} (paths as strings,
        seconds from ``summary["seconds"]``).
    """
    stem = Path(output_dir) / env_id.replace("/", "_")
    plot_path = plot(stem.with_name(stem.name + plot_suffix))
    table_path = write_text_atomically(stem.with_name(stem.name + "_table.md"),
                                       f"# {title}\n\n{table}\n")
    json_path = write_json_atomically(stem.with_name(stem.name + "_results.json"), summary)
    return {"table": table, "plot": str(plot_path), "table_file": str(table_path),
            "results": str(json_path), "seconds": summary["seconds"]}


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table (no trailing newline); a "|" inside a cell is escaped."""
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([row(headers), "|" + "---|" * len(headers), *map(row, rows)])


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (imported lazily)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | Path, dpi: int = 110) -> Path:
    """Lay out ``figure``, write it as PNG to ``path`` atomically, close it."""
    figure.tight_layout()
    path = write_atomically(path, lambda temporary: figure.savefig(temporary, format="png",
                                                                   dpi=dpi))
    pyplot().close(figure)
    return path


def read_jsonl(path: str | Path, what: str = "results file") -> list[tuple[str, Any]]:
    """The JSON values of a JSON-lines file as (location, value) pairs, the location
    naming the file and line ("results file 'x.jsonl' line 3"); blank lines are skipped.

    Raises:
        ValueError: naming the file when it does not exist, or the line that is not JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist")
    values = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{what} {str(path)!r} line {number}"
        try:
            values.append((where, json.loads(line)))
        except json.JSONDecodeError as error:
            raise ValueError(f"{where} is not a JSON row ({error})") from error
    return values
