"""Accelerator cost model: design-layer evaluations per second, batched vs one at a time.

Usage::

    python benchmarks/bench_accelerator.py                       # B = 4096 on resnet50
    python benchmarks/bench_accelerator.py --batch 65536 --device cuda

``--batch`` random designs (uniform over the knobs of ``tunegym/AcceleratorDesign-v0``)
are costed on every row of the workload's layer table (L rows; repeated layers share
a row) by one ``tunegym.simulators.accelerator.evaluate`` call; the reference calls it
once per design, on ``--reference-designs`` of the same designs. One design-layer
evaluation is one design on one row. Both timings include turning knob indices into an
``Accelerator``; the layer table (with its GLB tiling front) is built once, untimed.
The batched time is the median of ``--repeats`` calls after a warm-up call. The script
asserts that both give the same energies and cycles.

Headline (the JSON's ``headline``, shown by ``tunegym bench``): design-layer
evaluations/s batched vs one at a time (target: >= 1e5/s batched on one CPU thread).

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

from tunegym.envs.accelerator_design import AcceleratorDesignEnv
from tunegym.simulators.accelerator import evaluate
from tunegym.simulators.workloads import WORKLOADS

TARGET_PER_S = 1e5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--reference-designs", type=int, default=256)
    parser.add_argument("--workload", choices=tuple(WORKLOADS), default="resnet50")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    add_machine_arguments(parser)
    args = parser.parse_args()
    device = apply_machine_arguments(parser, args)
    env = AcceleratorDesignEnv(device=str(device), workload=args.workload)
    table = env.tables[0]
    generator = torch.Generator().manual_seed(args.seed)
    nvec = torch.as_tensor(env.single_action_space.nvec)
    designs = (torch.rand(args.batch, len(nvec), generator=generator) * nvec).long().to(device)

    def timed(function):
        synchronise(device)
        start = time.perf_counter()
        result = function()
        synchronise(device)
        return time.perf_counter() - start, result

    evaluate(table, env.accelerator(designs))                              # warm-up
    runs = [timed(lambda: evaluate(table, env.accelerator(designs)))
            for _ in range(args.repeats)]
    batched_seconds, batched = statistics.median(seconds for seconds, _ in runs), runs[0][1]
    count = min(args.reference_designs, args.batch)
    evaluate(table, env.accelerator(designs[:1]))                          # warm-up
    single_seconds, alone = timed(lambda: [evaluate(table, env.accelerator(designs[i:i + 1]))
                                           for i in range(count)])
    for index, costs in enumerate(alone):
        torch.testing.assert_close(costs.energy_pj[0], batched.energy_pj[index],
                                   rtol=1e-12, atol=0)
        torch.testing.assert_close(costs.cycles[0], batched.cycles[index], rtol=1e-12, atol=0)
    layers = len(table)
    batched_rate = args.batch * layers / batched_seconds
    single_rate = count * layers / single_seconds
    headline = [headline_entry(
        f"accelerator design-layer evaluations/s (B={args.batch}, {args.workload}, "
        f"L={layers})", "design-layer evaluations/s", batched_rate, single_rate,
        "evaluate() once per design")]
    print(json.dumps({
        "benchmark": "accelerator_evaluations", "workload": args.workload, "layers": layers,
        "batch": args.batch, "reference_designs": count, "repeats": args.repeats,
        "invalid_fraction": float((batched.design_invalid_reason() != 0).double().mean()),
        "results": {"batched_design_layers_per_s": batched_rate,
                    "one_at_a_time_design_layers_per_s": single_rate,
                    "ratio_batched_over_one_at_a_time": batched_rate / single_rate,
                    "batched_call_s": batched_seconds,
                    "target_design_layers_per_s": TARGET_PER_S,
                    "meets_target": batched_rate >= TARGET_PER_S},
        "headline": headline, **machine_facts(device)}))


if __name__ == "__main__":
    main()
