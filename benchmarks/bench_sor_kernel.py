"""SOR-v0-sized solves per second: the compiled (numba) red-black SOR vs the torch path.

Usage::

    python benchmarks/bench_sor_kernel.py                     # B = 1, 16, 125; m = 10; 1 thread
    python benchmarks/bench_sor_kernel.py --batch 1 125 --grid 16 --repeats 9

Systems: the tunegym/SOR-v0 problem (shifted Poisson, uniform (B, 1, 1) coefficients,
truncated-normal right-hand sides) of test episodes 0..B-1 at their first step, float64,
m x m grids, tol 1e-8, max_iters 10_000, x0 = 0, omegas from the env's grid
linspace(1, 1.95, 20).

Timed, per B: one run makes ``max(1, 20 // B)`` calls of ``solve_sor`` on the B systems,
call c with the omegas ``grid[(b + c B) mod 20]`` (so B = 1 solves each grid omega once
and B >= 20 spreads the batch over the whole grid):

* ``compiled``: ``solve_sor(..., backend="compiled")``, the numba kernel, on the CPU;
* ``torch``: ``solve_sor(..., backend="torch")``, the batched tensor path (on
  ``--device``), the reference.

Every time is a median over ``--repeats`` runs after one warm-up round, the two timed in
rotation; the first compiled call (compilation, or loading numba's on-disk cache) is
timed on its own as ``compiled_first_call_s``. Rates are system-solves per second (systems
x calls / seconds); ratios are compiled over torch in the same run. Iteration counts of
the two are compared (``fraction_iterations_equal``, ``max_iteration_difference``) and
the solutions (``max_relative_solution_difference``, over systems with equal counts).

Headline (``tunegym bench``): per B, the compiled system-solves/s vs the torch path's.

Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import numba
import torch
from machine import (
    add_machine_arguments,
    apply_machine_arguments,
    headline_entry,
    interleaved_medians,
    machine_facts,
)

from tunegym.envs.sor import SOREnv, omega_grid
from tunegym.simulators.sor import GridStencil, solve_sor

NUM_OMEGAS = 20
TOL = 1e-8
MAX_ITERS = 10_000
COEFFICIENTS = ("center", "north", "south", "west", "east")


def sor_v0_systems(batch: int, grid: int) -> tuple[GridStencil, torch.Tensor]:
    """(stencil, rhs (B, m, m)) of the first step of SOR-v0 test episodes 0..B-1."""
    env = SOREnv(num_envs=batch, split="test", grid_size=grid)
    env.reset(torch.arange(batch))
    instance = env.problem.instance(env.state["episode_key"], env.state["step"], env.state)
    return instance.stencil, instance.rhs


def on_device(stencil: GridStencil, rhs: torch.Tensor, device: torch.device):
    return (GridStencil(*(getattr(stencil, name).to(device) for name in COEFFICIENTS),
                        grid_size=stencil.grid_size), rhs.to(device))


def bench_batch(batch: int, grid: int, repeats: int, device: torch.device) -> dict:
    stencil, rhs = sor_v0_systems(batch, grid)
    device_stencil, device_rhs = on_device(stencil, rhs, device)
    grid_omegas = omega_grid(NUM_OMEGAS)
    calls = max(1, NUM_OMEGAS // batch)
    omegas = [grid_omegas[(torch.arange(batch) + call * batch) % NUM_OMEGAS]
              for call in range(calls)]
    device_omegas = [omega.to(device) for omega in omegas]
    outputs = {"compiled": [None] * calls, "torch": [None] * calls}

    def compiled_run():
        for call, omega in enumerate(omegas):
            outputs["compiled"][call] = solve_sor(stencil, rhs, omega, tol=TOL,
                                                  max_iters=MAX_ITERS, backend="compiled")

    def torch_run():
        for call, omega in enumerate(device_omegas):
            outputs["torch"][call] = solve_sor(device_stencil, device_rhs, omega, tol=TOL,
                                               max_iters=MAX_ITERS, backend="torch")

    seconds = interleaved_medians({"compiled": compiled_run, "torch": torch_run}, repeats,
                                  device)

    iterations = {name: torch.cat([result.iterations.cpu() for result in results])
                  for name, results in outputs.items()}
    difference = (iterations["compiled"] - iterations["torch"]).abs()
    solution_error = 0.0
    for compiled, reference in zip(outputs["compiled"], outputs["torch"]):
        same = (compiled.iterations == reference.iterations.cpu()) & compiled.converged
        ours, theirs = compiled.solution[same], reference.solution.cpu()[same]
        if ours.numel():
            scale = theirs.abs().amax(dim=(1, 2))
            error = (ours - theirs).abs().amax(dim=(1, 2)) / scale
            solution_error = max(solution_error, float(error.max()))
    assert int(difference.max()) <= 1, "compiled and torch counts differ by more than 1"
    assert solution_error < 1e-9, f"solutions differ by {solution_error:.2e}"

    solves = batch * calls
    sweeps = int(iterations["compiled"].sum())
    return {
        "batch": batch,
        "calls_per_run": calls,
        "mean_iterations": sweeps / solves,
        "compiled_seconds": seconds["compiled"],
        "torch_seconds": seconds["torch"],
        "compiled_system_solves_per_s": solves / seconds["compiled"],
        "torch_system_solves_per_s": solves / seconds["torch"],
        "compiled_system_sweeps_per_s": sweeps / seconds["compiled"],
        "torch_system_sweeps_per_s": int(iterations["torch"].sum()) / seconds["torch"],
        "ratio_compiled_over_torch": seconds["torch"] / seconds["compiled"],
        "fraction_iterations_equal": float((difference == 0).double().mean()),
        "max_iteration_difference": int(difference.max()),
        "max_relative_solution_difference": solution_error,
    }


def first_compiled_call_seconds(grid: int) -> float:
    """Wall time of the first compiled solve in this process (compile or cache load)."""
    stencil, rhs = sor_v0_systems(1, grid)
    start = time.perf_counter()
    solve_sor(stencil, rhs, 1.5, tol=TOL, max_iters=MAX_ITERS, backend="compiled")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16, 125],
                        help="number of systems B per call (several values allowed)")
    parser.add_argument("--grid", type=int, default=10, help="interior points per side m")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (median taken)")
    add_machine_arguments(parser)
    args = parser.parse_args()
    device = apply_machine_arguments(parser, args)
    if args.grid < 2 or args.repeats < 1 or min(args.batch) < 1:
        parser.error("need --grid >= 2, --repeats >= 1, --batch >= 1")

    first_call = first_compiled_call_seconds(args.grid)
    results = [bench_batch(batch, args.grid, args.repeats, device) for batch in args.batch]
    headline = [headline_entry(
        f"SOR-v0 solves/s (compiled kernel, B={entry['batch']}, m={args.grid})",
        "system-solves/s", entry["compiled_system_solves_per_s"],
        entry["torch_system_solves_per_s"], "solve_sor backend='torch' (batched tensor ops)")
        for entry in results]
    print(json.dumps({
        "benchmark": "sor_kernel",
        "reference": "tunegym solve_sor, backend='torch' (red-black, batched tensor ops)",
        "unit": "system-solves/s (B systems x calls / median seconds)",
        "grid": args.grid,
        "num_omegas": NUM_OMEGAS,
        "tol": TOL,
        "max_iters": MAX_ITERS,
        "dtype": "float64",
        "repeats": args.repeats,
        "timing": f"median of {args.repeats} interleaved runs after 1 warm-up round",
        "compiled_device": "cpu",
        "compiled_first_call_s": first_call,
        "results": results,
        "headline": headline,
        "numba_version": numba.__version__,
        **machine_facts(device),
    }))


if __name__ == "__main__":
    main()
