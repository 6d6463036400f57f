"""Helpers shared by the benchmark scripts: clocks on any device and machine facts."""

from __future__ import annotations

import datetime
import os
import platform

import torch


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
