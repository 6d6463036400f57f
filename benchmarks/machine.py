"""Helpers shared by the benchmark scripts: clocks on any device, machine facts and the
``headline`` entries that ``tunegym bench`` tabulates."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time

import torch

from tunegym.cli.bench import check_headline_entry, is_rate


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo where available)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def synchronise(device: torch.device) -> None:
    """Wait for queued GPU work so wall clocks measure it (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(runs: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median wall time of each ``runs[name]()``, timed in rotation (one warm-up round
    first), so that load changes on a shared machine hit every candidate alike."""
    times = {name: [] for name in runs}
    for round_index in range(repeats + 1):
        for name, run in runs.items():
            synchronise(device)
            start = time.perf_counter()
            run()
            synchronise(device)
            if round_index > 0:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def machine_facts(device: torch.device) -> dict:
    """Date, thread count, device and versions to store beside every figure."""
    return {
        "date": datetime.date.today().isoformat(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch_version": torch.__version__,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
    }


def add_machine_arguments(parser) -> None:
    """The ``--threads`` and ``--device`` flags every benchmark takes."""
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")


def apply_machine_arguments(parser, args) -> torch.device:
    """Pin the thread count and check the device; returns it."""
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda requested but CUDA is not available")
    torch.set_num_threads(args.threads)
    return torch.device(args.device)


def headline_entry(figure: str, unit: str, ours: float, reference: float | None = None,
                   reference_name: str | None = None) -> dict:
    """One figure of a script's ``headline`` list (see ``tunegym.cli.bench``).

    Args:
        figure: short name with units and the setting, e.g.
            ``"SOR system-sweeps/s (uniform, B=64, m=64)"``.
        unit: the unit of ``ours`` and ``reference``, e.g. ``"system-sweeps/s"``.
        ours: tunegym's rate (higher is better).
        reference: the reference's rate in the same run, or None when it was not measured.
        reference_name: what the reference is; None exactly when ``reference`` is.

    Returns:
        {"figure", "ours", "reference", "reference_name", "ratio", "unit"} with
        ``ratio = ours / reference`` (None without a reference). Raises ValueError if the
        entry is malformed (e.g. a non-positive rate, or a reference without a name).
    """
    # Without two valid rates the ratio stays None and the check names the bad value.
    ratio = ours / reference if is_rate(ours) and is_rate(reference) else None
    return check_headline_entry({"figure": figure, "ours": ours, "reference": reference,
                                 "reference_name": reference_name, "ratio": ratio,
                                 "unit": unit})
