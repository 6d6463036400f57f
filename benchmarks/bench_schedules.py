"""Diffusion schedule evaluations per second: B schedules batched vs one at a time.

Usage::

    python benchmarks/bench_schedules.py                    # 10k samples, d = 64, NFE 10
    python benchmarks/bench_schedules.py --schedules 64 --device cuda

Each schedule is random USF choices (order, prediction, derivative, corrector) on a
uniform-log-SNR spacing, sampling ``--samples`` points of the "two_modes" mixture in
``--dimension`` dimensions with ``--nfe`` model evaluations. The batched run evaluates
all ``--schedules`` in one ``sample`` call; the reference calls ``sample`` once per
schedule (timed on ``--reference-schedules`` of them).

Headline (the JSON's ``headline``, shown by ``tunegym bench``): schedule evaluations/s,
batched vs one at a time, ratio ``ratio_batched_over_one_at_a_time``.

Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from machine import (
    add_machine_arguments,
    apply_machine_arguments,
    headline_entry,
    machine_facts,
    synchronise,
)

from tunegym.simulators.diffusion import (
    ESTIMATES,
    NoiseSchedule,
    make_mixture,
    sample,
    timestep_spacing,
)


def random_schedules(count: int, nfe: int, generator: torch.Generator) -> dict:
    """Per-step choices (count, nfe) of random valid schedules."""
    orders = torch.randint(1, 4, (count, nfe), generator=generator)
    orders = torch.minimum(orders, torch.arange(1, nfe + 1).clamp(max=3))
    correctors = torch.randint(0, 2, (count, nfe), generator=generator).bool()
    correctors[:, -1] = False
    return {"orders": orders,
            "predictions": torch.randint(0, 2, (count, nfe), generator=generator).bool(),
            "correctors": correctors,
            "estimates": torch.randint(0, len(ESTIMATES), (count, nfe), generator=generator)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=16)
    parser.add_argument("--reference-schedules", type=int, default=4)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--dimension", type=int, default=64)
    parser.add_argument("--nfe", type=int, default=10)
    add_machine_arguments(parser)
    args = parser.parse_args()
    device = apply_machine_arguments(parser, args)
    generator = torch.Generator().manual_seed(0)
    mixture = make_mixture("two_modes", args.dimension)
    schedule = NoiseSchedule("linear")
    noise = torch.randn(args.samples, args.dimension, generator=generator, dtype=torch.float64)
    times = timestep_spacing(schedule, args.nfe, "uniform_lambda")
    choices = random_schedules(args.schedules, args.nfe, generator)
    batched_times = times.expand(args.schedules, -1)

    def batched():
        return sample(mixture, schedule, noise, batched_times, **choices)

    def one_at_a_time(count):
        return [sample(mixture, schedule, noise, times,
                       **{name: value[index] for name, value in choices.items()})
                for index in range(count)]

    one_at_a_time(1)                                                  # warm-up
    synchronise(device)
    start = time.perf_counter()
    together = batched()
    synchronise(device)
    batched_seconds = time.perf_counter() - start
    start = time.perf_counter()
    alone = one_at_a_time(args.reference_schedules)
    synchronise(device)
    single_seconds = (time.perf_counter() - start) / args.reference_schedules
    for index, result in enumerate(alone):
        assert torch.allclose(result, together[index], atol=1e-10)
    headline = [headline_entry(
        f"diffusion schedule evaluations/s (S={args.schedules}, {args.samples} samples, "
        f"d={args.dimension}, NFE {args.nfe})", "schedule evaluations/s",
        args.schedules / batched_seconds, 1.0 / single_seconds,
        "sample() once per schedule")]
    print(json.dumps({
        "benchmark": "schedule_evaluations", "samples": args.samples,
        "dimension": args.dimension, "nfe": args.nfe, "schedules": args.schedules,
        "reference": "sample() called once per schedule",
        "results": {"batched_schedules_per_s": args.schedules / batched_seconds,
                    "one_at_a_time_schedules_per_s": 1.0 / single_seconds,
                    "ratio_batched_over_one_at_a_time":
                        single_seconds * args.schedules / batched_seconds},
        "headline": headline, **machine_facts(device)}))


if __name__ == "__main__":
    main()
