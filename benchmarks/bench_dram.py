"""DRAM controller designs evaluated per second: B designs in one batched call vs one call
per design, on one 10k-request trace.

Usage::

    python benchmarks/bench_dram.py                         # B = 4096, cloud-1, 1 thread
    python benchmarks/bench_dram.py --trace random --batch 1024 --device cuda

The designs are uniform draws over the knob values of ``tunegym/DRAMController-v0``
(:data:`tunegym.envs.dram_controller.DESIGN_SPACE`). The trace's preprocessing (address
decoding, scheduler windows, window-bound weights: cached on the trace, so an env pays
it once per trace) is timed on its own by a first batched call and reported as
``trace_preprocessing_s``; then:

* ``batched``: ``simulate(trace, designs)`` for all B designs, median of ``--repeats``;
* ``one_at_a_time``: ``simulate`` once per design for ``--reference-designs`` of them
  (after one warm-up call); their results are asserted equal to the batched ones.

Headline (the JSON's ``headline``, shown by ``tunegym bench``): designs/s batched vs one
at a time, ratio ``ratio_batched_over_one_at_a_time`` (target: >= 1e4 designs/s batched
on CPU with 1 thread).

Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from machine import (
    add_machine_arguments,
    apply_machine_arguments,
    headline_entry,
    machine_facts,
    synchronise,
)

from tunegym.envs.dram_controller import DESIGN_SPACE
from tunegym.simulators.dram import CATEGORICAL_KNOBS, TRACE_NAMES, generate_trace, simulate


def random_designs(count: int, generator: torch.Generator, device: torch.device) -> dict:
    """{knob: (count,) simulator values} drawn uniformly from the env's knob values."""
    nvec = torch.as_tensor(DESIGN_SPACE.nvec)
    actions = (torch.rand(count, len(nvec), generator=generator, dtype=torch.float64)
               * nvec).long().to(device)
    return {name: actions[:, DESIGN_SPACE.column(name)] if name in CATEGORICAL_KNOBS
            else DESIGN_SPACE.values(actions, name, dtype=torch.int64)
            for name in DESIGN_SPACE.knob_names}


def timed(run, device: torch.device) -> tuple[float, dict]:
    """Seconds of one ``run()`` call (GPU work included) and its result."""
    synchronise(device)
    start = time.perf_counter()
    result = run()
    synchronise(device)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--reference-designs", type=int, default=32)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--trace", choices=TRACE_NAMES, default="cloud-1")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    add_machine_arguments(parser)
    args = parser.parse_args()
    device = apply_machine_arguments(parser, args)
    generator = torch.Generator().manual_seed(args.seed)
    trace = generate_trace(args.trace, args.seed, args.requests, device=device)
    designs = random_designs(args.batch, generator, device)

    preprocessing_s, _ = timed(lambda: simulate(trace, designs), device)
    batched_s = []
    for _ in range(args.repeats):
        seconds, together = timed(lambda: simulate(trace, designs), device)
        batched_s.append(seconds)
    batched_s = statistics.median(batched_s)

    count = min(args.reference_designs, args.batch)
    single = [{name: value[row:row + 1] for name, value in designs.items()}
              for row in range(count)]
    simulate(trace, single[0])                                        # warm-up
    one_at_a_time_s, alone = timed(lambda: [simulate(trace, design) for design in single],
                                   device)
    for row, result in enumerate(alone):
        for name, value in result.items():
            assert value.item() == together[name][row].item(), name
    batched_rate = args.batch / batched_s
    single_rate = count / one_at_a_time_s
    latency_us = together["latency_s"] * 1e6
    headline = [headline_entry(
        f"DRAM controller designs/s (B={args.batch}, {args.requests}-request {args.trace} "
        f"trace)", "designs/s", batched_rate, single_rate, "simulate() once per design")]
    print(json.dumps({
        "benchmark": "dram_designs", "trace": args.trace, "requests": args.requests,
        "batch": args.batch, "reference_designs": count,
        "reference": "simulate() called once per design",
        "results": {"batched_designs_per_s": batched_rate,
                    "one_at_a_time_designs_per_s": single_rate,
                    "ratio_batched_over_one_at_a_time": batched_rate / single_rate,
                    "batched_s": batched_s, "trace_preprocessing_s": preprocessing_s - batched_s,
                    "latency_us_min_median_max": [float(latency_us.min()),
                                                  float(latency_us.median()),
                                                  float(latency_us.max())]},
        "headline": headline, **machine_facts(device)}))


if __name__ == "__main__":
    main()
