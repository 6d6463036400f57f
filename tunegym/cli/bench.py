"""``tunegym bench``: run the benchmark scripts and gather their headline figures.

Every script in ``benchmarks/`` prints ONE JSON line: its own ``results`` layout, the
machine facts of ``benchmarks/machine.py`` (``device``, ``torch_threads``, ``cpu``, ...)
and a common ``headline`` list, one entry per figure the script stands for:

    {"figure": "SOR system-sweeps/s (uniform, B=64, m=64)", "ours": 101400.0,
     "reference": 23200.0, "reference_name": "pyamg sor ...", "ratio": 4.37,
     "unit": "system-sweeps/s"}

Figures are rates (higher is better); ``ratio = ours / reference``, both measured in
the same run, so a ratio > 1 means ours is faster. Without a reference measurement
(e.g. PennyLane not installed) ``reference``, ``reference_name`` and ``ratio`` are null.

:func:`run_benchmarks` runs the scripts as subprocesses and returns one row per headline
figure; a script that fails, or prints anything but one well-formed JSON line,
becomes one row carrying the ``error``. :func:`format_table` renders the rows as the
markdown table the README's performance section shows, with the machine stated below it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

#: The repository root of a source checkout: holds the ``tunegym`` package and the
#: ``benchmarks/`` folder (an installed wheel has no ``benchmarks/``; see
#: :func:`run_benchmarks`).
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS_DIRECTORY = REPOSITORY_ROOT / "benchmarks"
HEADLINE_KEYS = ("figure", "ours", "reference", "reference_name", "ratio", "unit")
#: Keys of ``benchmarks/machine.py``'s ``machine_facts`` kept with every row.
MACHINE_KEYS = ("date", "cpu", "cpu_count", "cuda_device", "torch_version")
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Benchmark:
    """One benchmark script and the arguments ``tunegym bench`` runs it with.

    ``script`` is a file name in ``benchmarks/`` or an absolute path; ``arguments`` are
    used for a full run, ``quick_arguments`` for ``--quick`` (tiny sizes: a smoke run
    whose figures mean nothing). ``--device`` is appended to either.
    """

    script: str
    arguments: tuple[str, ...] = ()
    quick_arguments: tuple[str, ...] = ()


_COVERAGE = ("--env-id", "tunegym/Coverage-v0")
#: Name (for ``--only``) -> benchmark, in the order of the table.
BENCHMARKS: dict[str, Benchmark] = {
    "sor_sweeps": Benchmark(
        "bench_sor_sweeps.py",
        quick_arguments=("--batch", "4", "--grid", "8", "--sweeps", "3", "--repeats", "1")),
    "sor_kernel": Benchmark("bench_sor_kernel.py", quick_arguments=("--batch", "2")),
    "sor_step": Benchmark("bench_sor_step.py",
                          quick_arguments=("--steps", "3", "--repeats", "1")),
    "hashing": Benchmark("bench_hashing.py", quick_arguments=("--num-envs", "4", "--steps", "5",
                                                              "--calls", "100", "--repeats", "1")),
    "vector_env": Benchmark(
        "bench_vector_env.py",
        quick_arguments=("--num-envs", "8", "--steps", "2", "--sync-steps", "1")),
    "vector_env_coverage": Benchmark(
        "bench_vector_env.py",
        arguments=(*_COVERAGE, "--num-envs", "4096", "--steps", "20", "--sync-steps", "2"),
        quick_arguments=(*_COVERAGE, "--num-envs", "8", "--steps", "2", "--sync-steps", "1")),
    "subpo": Benchmark(
        "bench_subpo.py",
        quick_arguments=("--episodes", "8", "--reference-episodes", "1", "--repeats", "1")),
    "schedules": Benchmark(
        "bench_schedules.py",
        quick_arguments=("--schedules", "3", "--reference-schedules", "2", "--samples", "16",
                         "--dimension", "3", "--nfe", "4")),
    "quantum": Benchmark(
        "bench_quantum.py",
        quick_arguments=("--batch", "8", "--qubits", "2", "--min-gates", "4", "--max-gates",
                         "8", "--reference-circuits", "2", "--reference-noisy-circuits", "1",
                         "--scaling-statevector-qubits", "2", "2",
                         "--scaling-noisy-qubits", "2", "2", "--repeats", "1")),
    "dram": Benchmark(
        "bench_dram.py",
        quick_arguments=("--batch", "8", "--requests", "500", "--reference-designs", "2",
                         "--repeats", "1")),
    "proxy": Benchmark(
        "bench_proxy.py",
        quick_arguments=("--designs", "512", "--epochs", "2", "--batch", "256", "--steps", "1")),
    "accelerator": Benchmark(
        "bench_accelerator.py",
        quick_arguments=("--batch", "8", "--reference-designs", "2", "--repeats", "1",
                         "--workload", "alexnet")),
}


def is_rate(value) -> bool:
    """Whether ``value`` is a positive finite int or float (not a bool)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def check_headline_entry(entry) -> dict:
    """Return ``entry`` if it is a well-formed headline figure, else raise ValueError.

    Well-formed: exactly the keys :data:`HEADLINE_KEYS`; ``figure`` and ``unit`` non-empty
    strings; ``ours`` a positive finite number; and either ``reference``,
    ``reference_name`` and ``ratio`` all null, or ``reference`` and ``ratio`` positive
    finite numbers with ``ratio == ours / reference`` (to 1e-9) and ``reference_name`` a
    non-empty string.
    """
    if not isinstance(entry, dict) or set(entry) != set(HEADLINE_KEYS):
        raise ValueError(f"a headline entry must be an object with exactly the keys "
                         f"{', '.join(HEADLINE_KEYS)}; got {entry!r}")
    for key in ("figure", "unit"):
        if not isinstance(entry[key], str) or not entry[key]:
            raise ValueError(f"headline {key} must be a non-empty string, got {entry[key]!r}")
    if not is_rate(entry["ours"]):
        raise ValueError(f"headline ours must be a positive finite number, got "
                         f"{entry['ours']!r} ({entry['figure']})")
    if entry["reference"] is None:
        if entry["reference_name"] is not None or entry["ratio"] is not None:
            raise ValueError(f"headline without a reference value must have null "
                             f"reference_name and ratio ({entry['figure']})")
        return entry
    if not is_rate(entry["reference"]):
        raise ValueError(f"headline reference must be a positive finite number or null, got "
                         f"{entry['reference']!r} ({entry['figure']})")
    if not isinstance(entry["reference_name"], str) or not entry["reference_name"]:
        raise ValueError(f"headline reference_name must be a non-empty string when reference "
                         f"is set, got {entry['reference_name']!r} ({entry['figure']})")
    if not is_rate(entry["ratio"]) or not math.isclose(
            entry["ratio"], entry["ours"] / entry["reference"], rel_tol=1e-9):
        raise ValueError(f"headline ratio must be ours / reference = "
                         f"{entry['ours'] / entry['reference']!r}, got {entry['ratio']!r} "
                         f"({entry['figure']})")
    return entry


def parse_benchmark_output(stdout: str) -> dict:
    """The figures of a script's stdout, which must be ONE JSON object line with a
    non-empty, well-formed ``headline`` list, ``device``, ``torch_threads`` and the
    :data:`MACHINE_KEYS`. Raises ValueError naming what is wrong."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        raise ValueError(f"expected one JSON line on stdout, got {len(lines)} lines")
    try:
        figures = json.loads(lines[0])
    except json.JSONDecodeError as error:
        raise ValueError(f"stdout is not JSON: {error}") from error
    if not isinstance(figures, dict):
        raise ValueError(  # noqa: TRY004  (malformed output, reported like the rest)
            f"expected a JSON object, got {type(figures).__name__}")
    missing = [key for key in ("headline", "device", "torch_threads", *MACHINE_KEYS)
               if key not in figures]
    if missing:
        raise ValueError(f"the JSON lacks {', '.join(missing)}")
    if not isinstance(figures["headline"], list) or not figures["headline"]:
        raise ValueError(f"headline must be a non-empty list, got {figures['headline']!r}")
    for entry in figures["headline"]:
        check_headline_entry(entry)
    return figures


def _error_row(name: str, benchmark: Benchmark, device: str, error: str) -> dict:
    return {"benchmark": name, "script": benchmark.script,
            **dict.fromkeys(HEADLINE_KEYS), "device": device, "torch_threads": None,
            "machine": None, "error": error}


def _run_one(name: str, benchmark: Benchmark, quick: bool, device: str,
             progress: TextIO | None) -> list[dict]:
    arguments = (*(benchmark.quick_arguments if quick else benchmark.arguments),
                 "--device", device)
    if progress is not None:
        print(f"tunegym bench: running {name}: {benchmark.script} {' '.join(arguments)}",
              file=progress, flush=True)
    # The scripts must import the same tunegym as this process, installed or not.
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPOSITORY_ROOT), environment.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS_DIRECTORY / benchmark.script), *arguments],
        capture_output=True, text=True, env=environment, check=False)
    if completed.returncode != 0:
        last_lines = completed.stderr.strip().splitlines() or ["(nothing on stderr)"]
        return [_error_row(name, benchmark, device,
                           f"exit status {completed.returncode}: {last_lines[-1]}")]
    try:
        figures = parse_benchmark_output(completed.stdout)
    except ValueError as error:
        return [_error_row(name, benchmark, device, f"bad output: {error}")]
    machine = {key: figures[key] for key in MACHINE_KEYS}
    return [{"benchmark": name, "script": benchmark.script, **entry,
             "device": figures["device"], "torch_threads": figures["torch_threads"],
             "machine": machine, "error": None} for entry in figures["headline"]]


def run_benchmarks(names: Iterable[str] | None = None, quick: bool = False,
                   device: str = "cpu", benchmarks: Mapping[str, Benchmark] | None = None,
                   progress: TextIO | None = None) -> list[dict]:
    """Run benchmark scripts one after another (``sys.executable``, one subprocess each).

    Args:
        names: keys of ``benchmarks`` to run, in this order (default: all of them).
        quick: run each with its tiny ``quick_arguments`` (a smoke run) instead of its
            full ``arguments``.
        device: ``"cpu"`` or ``"cuda"``, passed to every script as ``--device``.
        benchmarks: name -> :class:`Benchmark` (default :data:`BENCHMARKS`).
        progress: a text stream that gets one line as each script starts (e.g.
            ``sys.stderr``), or None for silence.

    Returns:
        One row per headline figure: the headline keys (:data:`HEADLINE_KEYS`) plus
        ``benchmark`` (name), ``script``, ``device``, ``torch_threads``, ``machine``
        (:data:`MACHINE_KEYS`) and ``error`` (None). A script that exits non-zero or
        prints malformed output gives one row with the headline keys, ``torch_threads``
        and ``machine`` null and ``error`` saying what happened.
    """
    if benchmarks is None:
        if not BENCHMARKS_DIRECTORY.is_dir():
            raise ValueError("tunegym bench runs the scripts of a source checkout's "
                             "benchmarks/ folder, and this installed tunegym has none: "
                             "clone the repository and `pip install -e .` from it")
        benchmarks = BENCHMARKS
    names = list(benchmarks) if names is None else list(names)
    unknown = [name for name in names if name not in benchmarks]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(benchmarks)}")
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    return [row for name in names
            for row in _run_one(name, benchmarks[name], quick, device, progress)]


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _cell(text: str) -> str:
    """``text`` safe inside a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _machine_line(machine: dict) -> str:
    parts = [f"{machine['cpu']} ({machine['cpu_count']} CPUs)"]
    if machine["cuda_device"]:
        parts.append(machine["cuda_device"])
    return f"Machine: {', '.join(parts)}, torch {machine['torch_version']}, {machine['date']}."


def format_table(rows: list[dict]) -> str:
    """The rows of :func:`run_benchmarks` as a markdown table (benchmark, figure, ours,
    reference with its name, ratio, device, threads), then one line per distinct
    machine the figures were measured on."""
    lines = ["| benchmark | figure | ours | reference | ratio | device | threads |",
             "|---|---|---|---|---|---|---|"]
    machines = []
    for row in rows:
        if row["error"] is not None:
            cells = [row["benchmark"], f"FAILED: {row['error']}", "-", "-", "-", row["device"],
                     "-"]
        else:
            reference = ("-" if row["reference"] is None
                         else f"{_number(row['reference'])} ({row['reference_name']})")
            ratio = "-" if row["ratio"] is None else f"{_number(row['ratio'])}x"
            cells = [row["benchmark"], row["figure"], _number(row["ours"]), reference, ratio,
                     row["device"], str(row["torch_threads"])]
            line = _machine_line(row["machine"])
            if line not in machines:
                machines.append(line)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    note = ("Rates (higher is better), ours and the reference measured in the same run; "
            "ratio = ours / reference.")
    return "\n".join([*lines, "", note, *machines])


def register(commands) -> None:
    """Add ``tunegym bench`` to the ``tunegym`` command's subparsers."""
    bench = commands.add_parser("bench", help="run the scripts in benchmarks/ (a source "
                                "checkout) and print their headline figures as one table")
    bench.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME",
                       help=f"run only these ({', '.join(BENCHMARKS)})")
    bench.add_argument("--quick", action="store_true",
                       help="tiny sizes: checks the scripts run, the figures mean nothing")
    bench.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    bench.add_argument("--device", choices=DEVICES, default="cpu",
                       help="passed to every script (the references run where they run)")
    bench.set_defaults(handler=run, threads=None)


def run(arguments) -> int:
    """``tunegym bench``: exit 1 if any script failed."""
    rows = run_benchmarks(arguments.only, quick=arguments.quick, device=arguments.device,
                          progress=sys.stderr)
    print(json.dumps(rows, indent=2) if arguments.json else format_table(rows))
    return 1 if any(row["error"] is not None for row in rows) else 0
