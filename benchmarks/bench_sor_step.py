"""Per-step latency of the SOR envs at the paper's size: tunegym env steps vs a plain
pyamg loop on the same systems.

Usage::

    python benchmarks/bench_sor_step.py                  # 1 thread, 200 steps per timed run
    python benchmarks/bench_sor_step.py --steps 50 --repeats 3

Systems: the shifted-Poisson instances of ``tunegym/SORLearningToRelax-v0`` (10 x 10
grid, lexicographic SOR, tol 1e-8, cap 10 000; the paper's setting), test split, seed 0,
one arm throughout: omega = 1.8 (arm 16 of linspace(1, 1.95, 20); pyamg's loop then
takes about 100 sweeps per system, the figure the issue quotes).

Timed (median of ``--repeats`` interleaved runs of ``--steps`` steps each, after one
warm-up round):

* ``single``: ``gymnasium.make("tunegym/SOR-v0", grid_size=10, ordering="natural")``,
  ``env.step(16)``: one system per call, through the gymnasium wrapper stack (numpy in and
  out, the env checker's wrappers as ``gymnasium.make`` builds them);
* ``paper_single``: the same on ``gymnasium.make("tunegym/SORLearningToRelax-v0")``;
* ``vector_40``: ``gymnasium.make_vec(..., num_envs=40, vectorization_mode=
  "vector_entry_point")`` of ``tunegym/SORLearningToRelax-v0`` (the paper's 40 trials as
  one batch), one ``step`` for all 40;
* ``pyamg_loop`` (the reference): for each system of the single env's sequence, a Python
  loop calling ``pyamg.relaxation.relaxation.sor(A, x, b, omega, iterations=1)`` and
  ``numpy.linalg.norm(b - A @ x)`` after every sweep until ``<= 1e-8 ||b||`` (the
  systems are built beforehand, as scipy CSR, and not timed);
* ``torch_solve``: ``solve_sor(..., ordering="natural", backend="torch")`` on one system
  per call (the batched tensor path, the GPU path; the solve only, no env).

Checks (asserted): the env's iteration counts equal the pyamg loop's on every timed
system. Ratios are reference time over tunegym time in the same run. Targets: single
env step <= 0.5 ms, vector env step at B = 40 <= 2 ms.

Headline (``tunegym bench``): systems solved per second by the single and the B = 40
env against the pyamg loop.

Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json

import gymnasium
import numpy as np
import pyamg
from machine import (
    add_machine_arguments,
    apply_machine_arguments,
    headline_entry,
    interleaved_medians,
    machine_facts,
)
from pyamg.relaxation.relaxation import sor as pyamg_sor

import tunegym
from tunegym.simulators.sor import solve_sor

ARM = 16
PAPER_ID = "tunegym/SORLearningToRelax-v0"
TOLERANCE = 1e-8


def pyamg_iterations(matrix, rhs: np.ndarray, omega: float) -> int:
    """Sweeps of pyamg's lexicographic SOR from 0 until ||b - A x|| <= tol ||b||."""
    x = np.zeros_like(rhs)
    target = TOLERANCE * np.linalg.norm(rhs)
    count = 0
    while np.linalg.norm(rhs - matrix @ x) > target and count < 10_000:
        pyamg_sor(matrix, x, rhs, omega, iterations=1, sweep="forward")
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="env steps per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (median taken)")
    add_machine_arguments(parser)
    args = parser.parse_args()
    if args.steps < 1 or args.repeats < 1:
        parser.error("need --steps >= 1 and --repeats >= 1")
    device = apply_machine_arguments(parser, args)
    if device.type != "cpu":
        parser.error("this benchmark times the CPU paths (the pyamg reference is CPU only)")

    single = gymnasium.make("tunegym/SOR-v0", grid_size=10, ordering="natural", split="test",
                            sequence_length=10 ** 6)
    paper_single = gymnasium.make(PAPER_ID, split="test", sequence_length=10 ** 6)
    vector = gymnasium.make_vec(PAPER_ID, num_envs=40, vectorization_mode="vector_entry_point",
                                split="test", sequence_length=10 ** 6)
    for env in (single, paper_single):
        env.reset(seed=0)
    vector.reset(seed=0)
    vector_action = np.full(40, ARM)

    # The single env's next systems, built once for the references (not timed).
    batched = single.unwrapped.batched
    omega = float(batched.omegas[ARM])
    state = {key: value.clone() for key, value in batched.state.items()}
    systems = []
    for offset in range(args.steps):
        step = state["step"] + offset
        context = batched.problem.context(state["episode_key"], step, state)
        instance = batched.problem.instance(state["episode_key"], step, state, context)
        systems.append((instance, instance.stencil.to_scipy(0),
                        instance.rhs[0].numpy().ravel().copy()))

    counts = {"env": [], "pyamg": []}

    def run_single():
        for _ in range(args.steps):
            counts["env"].append(int(single.step(ARM)[4]["iterations"]))

    def run_paper_single():
        for _ in range(args.steps):
            paper_single.step(ARM)

    def run_vector():
        for _ in range(args.steps):
            vector.step(vector_action)

    def run_pyamg():
        counts["pyamg"] = [pyamg_iterations(matrix, rhs, omega) for _, matrix, rhs in systems]

    def run_torch():
        for instance, _, _ in systems:
            solve_sor(instance.stencil, instance.rhs, omega, ordering="natural",
                      backend="torch")

    # The single env's timed rounds play its sequence on; re-seed it before each round so
    # every round plays the same systems as the references.
    def reset_then(run):
        def timed():
            single.reset(seed=0)
            run()
        return timed

    seconds = interleaved_medians({
        "single": reset_then(run_single), "paper_single": run_paper_single,
        "vector_40": run_vector, "pyamg_loop": run_pyamg, "torch_solve": run_torch,
    }, args.repeats, device)
    env_counts = counts["env"][-args.steps:]
    assert env_counts == counts["pyamg"], "the env's counts differ from the pyamg loop's"

    per_step = {name: value / args.steps * 1e3 for name, value in seconds.items()}
    targets = [
        {"figure": "single env ms per step (tunegym/SOR-v0, m = 10, natural)",
         "target": 0.5, "measured": per_step["single"], "met": per_step["single"] <= 0.5},
        {"figure": "vector env ms per step (B = 40, tunegym/SORLearningToRelax-v0)",
         "target": 2.0, "measured": per_step["vector_40"], "met": per_step["vector_40"] <= 2.0},
    ]
    print(json.dumps({
        "benchmark": "sor_step",
        "reference": "Python loop: pyamg sor one sweep at a time + numpy residual check",
        "unit": "ms per env step (one system per env)",
        "grid": 10, "omega": omega, "steps": args.steps, "repeats": args.repeats,
        "timing": f"median of {args.repeats} interleaved runs after 1 warm-up round",
        "results": {
            "ms_per_step": per_step,
            "mean_sweeps_per_system": float(np.mean(env_counts)),
            "ratio_pyamg_loop_over_single": seconds["pyamg_loop"] / seconds["single"],
            "ratio_pyamg_loop_over_paper_single":
                seconds["pyamg_loop"] / seconds["paper_single"],
            "ratio_pyamg_loop_per_system_over_vector_40_per_system":
                (seconds["pyamg_loop"] / args.steps) / (seconds["vector_40"] / args.steps / 40),
            "ratio_torch_solve_over_single": seconds["torch_solve"] / seconds["single"],
        },
        "targets": targets,
        "headline": [
            headline_entry("SOR-v0 single env, systems/s (m = 10, natural)", "systems/s",
                           1e3 / per_step["single"], 1e3 / per_step["pyamg_loop"],
                           "pyamg SOR loop, one system at a time"),
            headline_entry("SORLearningToRelax-v0 vector env (B = 40), systems/s",
                           "systems/s", 40e3 / per_step["vector_40"],
                           1e3 / per_step["pyamg_loop"],
                           "pyamg SOR loop, one system at a time"),
        ],
        "pyamg_version": pyamg.__version__,
        "tunegym_version": tunegym.__version__,
        **machine_facts(device),
    }))


if __name__ == "__main__":
    main()
