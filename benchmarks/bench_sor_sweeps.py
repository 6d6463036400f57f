"""SOR sweeps per second: tunegym's compiled SOR sweeps vs pyamg's compiled SOR.

Usage::

    python benchmarks/bench_sor_sweeps.py                      # B = 64 and 256, m = 64, 1 thread
    python benchmarks/bench_sor_sweeps.py --batch 1024 --grid 32 --sweeps 20 --device cuda

Two stencils, each as B systems on m x m grids (float64, omega = 1.5, x0 = 0):

* ``uniform``: shifted Poisson, coefficients (B, 1, 1): diagonal 4 + c_b, c_b ~ U[0, 0.5),
  off-diagonals -1;
* ``variable``: a variable-coefficient diffusion operator, coefficients (B, m, m): edge
  conductivities k ~ U[0.5, 1.5) per grid edge, off-diagonals -k, diagonal the sum of
  the four edge conductivities + 0.1 (symmetric, diagonally dominant).

Timed, for each stencil:

* ``tunegym`` (red-black) and ``tunegym_natural``: one public call
  ``sor_sweep(stencil, u, rhs, omega, sweeps=S, ordering=...)`` for all B systems (on
  the CPU the compiled kernel, :mod:`tunegym.simulators.sor_kernel`). The call includes
  its setup (copying in and out), so the script also times ``sweeps=1`` and reports the
  marginal per-sweep rate ``(t(S) - t(1)) / (S - 1)``;
* ``tunegym_torch``: the same red-black call with ``backend="torch"`` (the batched
  tensor path, the GPU path and the kernels' reference);
* ``pyamg_natural``: ``pyamg.relaxation.relaxation.sor(A_b, x_b, b_b, omega, iterations=S)``
  on the B systems one after another (natural row-major ordering, compiled C++ kernel);
* ``pyamg_red_black``: the same on the red-black permuted matrices ``P A_b P^T``, whose
  iterates equal tunegym's red-black ones (asserted below), at the same cost per sweep;
* ``sparse_multicolor``: ``SparseSORSystem(matrices, ordering="multicolor").sweep`` called S
  times (the general sparse-matrix path; setup not timed).

Every time is a median over ``--repeats`` runs after one warm-up round; the candidates
are timed in rotation (tunegym, pyamg, ... , tunegym, pyamg, ...) so that other load on a
shared machine affects each alike. Rates are
system-sweeps per second (B systems x S sweeps / seconds). Ratios are against pyamg in
the same run, in the same ordering. The bandwidth figure uses a lower-bound traffic
model (see ``BYTES_MODEL``) and a STREAM-like ``a = b + c`` on 64 MiB float64 arrays
measured in the same run with the same thread setting.

Targets (``targets`` in the JSON, each with its measured value and whether it is met,
at every B): natural-order sweeps >= 1.5x pyamg natural; variable-coefficient red-black
>= 1.5x pyamg red-black; uniform red-black >= 2.5x pyamg red-black and >= 0.6 of STREAM
per marginal sweep.

Headline (the JSON's ``headline``, shown by ``tunegym bench``): per B and stencil,
tunegym's red-black system-sweeps/s vs pyamg's on the same (red-black permuted) matrices.

Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import pyamg
import scipy
import scipy.sparse
import torch
from machine import headline_entry, interleaved_medians, machine_facts, synchronise
from pyamg.relaxation.relaxation import sor as pyamg_sor

from tunegym.simulators.sor import GridStencil, red_black_permutation, sor_sweep
from tunegym.simulators.sparse_sor import SparseSORSystem

OMEGA = 1.5
#: Array size of the STREAM-like measurement (per array), bytes.
STREAM_ARRAY_BYTES = 64 * 2**20
BYTES_MODEL = ("lower bound per system-sweep: read u once, read rhs once, read each "
               "per-point coefficient array once (5 arrays for the variable stencil, 0 for "
               "the uniform one whose 5 scalars per system are ignored), write u once; "
               "8 bytes each: 8*n*(3 + 5*variable) bytes, n = m*m. Index arrays, CSR "
               "values and temporaries are not counted.")
STREAM_MODEL = ("torch.add(b, c, out=a) on three 64 MiB float64 arrays; bytes = 3 * 64 MiB "
                "per add (2 reads + 1 write, write-allocate not counted); median of repeats")


def median_seconds(run, repeats: int, device: torch.device) -> float:
    """Median wall time of ``run()`` over ``repeats`` calls, after one warm-up call."""
    run()
    synchronise(device)
    times = []
    for _ in range(repeats):
        synchronise(device)
        start = time.perf_counter()
        run()
        synchronise(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def stream_bandwidth(device: torch.device, repeats: int) -> float:
    """Achieved GB/s (1e9 bytes/s) of a = b + c on 64 MiB float64 arrays."""
    count = STREAM_ARRAY_BYTES // 8
    b = torch.rand(count, dtype=torch.float64, device=device)
    c = torch.rand(count, dtype=torch.float64, device=device)
    a = torch.empty_like(b)
    seconds = median_seconds(lambda: torch.add(b, c, out=a), max(repeats, 10), device)
    return 3 * STREAM_ARRAY_BYTES / seconds / 1e9


def make_stencils(batch: int, grid: int, device: torch.device, generator: torch.Generator
                  ) -> dict[str, GridStencil]:
    """The uniform (shifted Poisson) and variable-coefficient stencils of the module doc."""
    def rand(*shape):
        return torch.rand(*shape, dtype=torch.float64, generator=generator).to(device)

    ones = torch.ones(batch, 1, 1, dtype=torch.float64, device=device)
    uniform = GridStencil(4.0 + 0.5 * rand(batch, 1, 1), ones, ones, ones, ones, grid)
    vertical = 0.5 + rand(batch, grid + 1, grid)     # edge (i-1, j)-(i, j) is vertical[:, i, j]
    horizontal = 0.5 + rand(batch, grid, grid + 1)   # edge (i, j-1)-(i, j) is horizontal[:, i, j]
    north, south = vertical[:, :-1].contiguous(), vertical[:, 1:].contiguous()
    west, east = horizontal[:, :, :-1].contiguous(), horizontal[:, :, 1:].contiguous()
    variable = GridStencil(north + south + west + east + 0.1, north, south, west, east, grid)
    return {"uniform": uniform, "variable": variable}


def pyamg_sweeps(matrices, rhs: np.ndarray, sweeps: int) -> np.ndarray:
    """S forward SOR sweeps from x = 0 on each system in turn; returns x (B, n)."""
    solutions = np.zeros_like(rhs)
    for index, matrix in enumerate(matrices):
        pyamg_sor(matrix, solutions[index], rhs[index], OMEGA, iterations=sweeps)
    return solutions


def bench_stencil(name: str, stencil: GridStencil, rhs: torch.Tensor, sweeps: int,
                  repeats: int, device: torch.device, stream_gb_per_s: float) -> dict:
    batch, grid = stencil.batch_size, stencil.grid_size
    n = grid * grid
    system_sweeps = batch * sweeps
    u0 = torch.zeros_like(rhs)
    outputs = {}

    # pyamg on the same systems: natural ordering and red-black permuted (CPU, numpy).
    natural = [stencil.to_scipy(index) for index in range(batch)]
    order = red_black_permutation(grid).numpy()
    red_black = [scipy.sparse.csr_matrix(matrix[order][:, order]) for matrix in natural]
    for matrix in (*natural, *red_black):
        matrix.sort_indices()
    rhs_natural = rhs.reshape(batch, n).cpu().numpy()
    rhs_red_black = np.ascontiguousarray(rhs_natural[:, order])

    # The general sparse-matrix path (multicolour ordering), same systems; setup not timed.
    sparse_system = SparseSORSystem(natural, ordering="multicolor", device=device)
    rhs_flat = rhs.reshape(batch, n).contiguous()

    def sparse_run():
        x = torch.zeros_like(rhs_flat)
        for _ in range(sweeps):
            x = sparse_system.sweep(x, rhs_flat, OMEGA)
        outputs["sparse"] = x

    def tunegym_run(count):
        outputs[count] = sor_sweep(stencil, u0, rhs, OMEGA, sweeps=count)

    def tunegym_natural_run(count):
        outputs[("natural", count)] = sor_sweep(stencil, u0, rhs, OMEGA, sweeps=count,
                                                ordering="natural")

    def tunegym_torch_run():
        outputs["torch"] = sor_sweep(stencil, u0, rhs, OMEGA, sweeps=sweeps, backend="torch")

    seconds = interleaved_medians({
        "tunegym": lambda: tunegym_run(sweeps),
        "tunegym_one_sweep": lambda: tunegym_run(1),
        "pyamg_natural": lambda: pyamg_sweeps(natural, rhs_natural, sweeps),
        "pyamg_red_black": lambda: pyamg_sweeps(red_black, rhs_red_black, sweeps),
        "sparse": sparse_run,
        "tunegym_natural": lambda: tunegym_natural_run(sweeps),
        "tunegym_natural_one_sweep": lambda: tunegym_natural_run(1),
        "tunegym_torch": tunegym_torch_run,
    }, repeats, device)
    seconds_tunegym, seconds_one = seconds["tunegym"], seconds["tunegym_one_sweep"]
    seconds_natural, seconds_red_black = seconds["pyamg_natural"], seconds["pyamg_red_black"]
    seconds_sparse = seconds["sparse"]
    # Per-sweep cost without setup; None when timing noise hides it (t(S) <= t(1)).
    marginal = (seconds_tunegym - seconds_one) / (sweeps - 1)
    marginal = marginal if marginal > 0 else None
    natural_marginal = (seconds["tunegym_natural"]
                        - seconds["tunegym_natural_one_sweep"]) / (sweeps - 1)
    natural_marginal = natural_marginal if natural_marginal > 0 else None

    # Correctness: tunegym's red-black SOR == pyamg's SOR on P A P^T, to rounding.
    reference = pyamg_sweeps(red_black, rhs_red_black, sweeps)
    ours = outputs[sweeps].reshape(batch, n).cpu().numpy()[:, order]
    tunegym_error = float(np.abs(ours - reference).max() / np.abs(reference).max())
    assert tunegym_error < 1e-10, f"{name}: tunegym differs from pyamg by {tunegym_error:.2e}"
    # ... and tunegym's natural (wavefront) ordering == pyamg's natural ordering.
    natural_reference = pyamg_sweeps(natural, rhs_natural, sweeps)
    natural_ours = outputs[("natural", sweeps)].reshape(batch, n).cpu().numpy()
    natural_error = float(np.abs(natural_ours - natural_reference).max()
                          / np.abs(natural_reference).max())
    assert natural_error < 1e-10, f"{name}: natural ordering differs by {natural_error:.2e}"
    torch_error = float((outputs["torch"] - outputs[sweeps]).abs().max()
                        / outputs["torch"].abs().max())
    assert torch_error < 1e-12, f"{name}: compiled and torch paths differ by {torch_error:.2e}"
    # ... and the sparse path == pyamg on its equivalent sequential order (2 systems).
    sparse_order = sparse_system.equivalent_sequential_order.cpu().numpy()
    permuted = [scipy.sparse.csr_matrix(matrix[sparse_order][:, sparse_order])
                for matrix in natural[:2]]
    sparse_reference = pyamg_sweeps(permuted, np.ascontiguousarray(
        rhs_natural[:2, sparse_order]), sweeps)
    sparse_error = float(np.abs(outputs["sparse"][:2].cpu().numpy()[:, sparse_order]
                                - sparse_reference).max() / np.abs(sparse_reference).max())
    assert sparse_error < 1e-10, f"{name}: sparse path differs from pyamg by {sparse_error:.2e}"

    bytes_per_system_sweep = 8 * n * (3 + (5 if name == "variable" else 0))

    def rate(seconds):
        return system_sweeps / seconds

    def bandwidth(seconds):
        return bytes_per_system_sweep * system_sweeps / seconds / 1e9

    def if_marginal(value):
        return None if marginal is None else value()

    return {
        "tunegym_system_sweeps_per_s": rate(seconds_tunegym),
        "tunegym_marginal_system_sweeps_per_s": if_marginal(lambda: batch / marginal),
        "tunegym_setup_s": if_marginal(lambda: seconds_one - marginal),
        "pyamg_natural_system_sweeps_per_s": rate(seconds_natural),
        "pyamg_red_black_system_sweeps_per_s": rate(seconds_red_black),
        "sparse_multicolor_system_sweeps_per_s": rate(seconds_sparse),
        "tunegym_natural_system_sweeps_per_s": rate(seconds["tunegym_natural"]),
        "tunegym_natural_marginal_system_sweeps_per_s":
            None if natural_marginal is None else batch / natural_marginal,
        "tunegym_torch_system_sweeps_per_s": rate(seconds["tunegym_torch"]),
        "ratio_tunegym_natural_over_pyamg_natural":
            seconds_natural / seconds["tunegym_natural"],
        "ratio_tunegym_over_tunegym_torch": seconds["tunegym_torch"] / seconds_tunegym,
        "ratio_tunegym_over_pyamg_natural": seconds_natural / seconds_tunegym,
        "ratio_tunegym_over_pyamg_red_black": seconds_red_black / seconds_tunegym,
        "ratio_tunegym_marginal_over_pyamg_natural":
            if_marginal(lambda: seconds_natural / (marginal * sweeps)),
        "ratio_sparse_multicolor_over_pyamg_natural": seconds_natural / seconds_sparse,
        "ratio_pyamg_red_black_over_pyamg_natural": seconds_natural / seconds_red_black,
        "bytes_per_system_sweep": bytes_per_system_sweep,
        "tunegym_gb_per_s": bandwidth(seconds_tunegym),
        "tunegym_marginal_gb_per_s":
            if_marginal(lambda: bytes_per_system_sweep * batch / marginal / 1e9),
        "pyamg_natural_gb_per_s": bandwidth(seconds_natural),
        "tunegym_fraction_of_stream": bandwidth(seconds_tunegym) / stream_gb_per_s,
        "tunegym_marginal_fraction_of_stream": if_marginal(
            lambda: bytes_per_system_sweep * batch / marginal / 1e9 / stream_gb_per_s),
        "pyamg_natural_fraction_of_stream": bandwidth(seconds_natural) / stream_gb_per_s,
        "max_relative_difference_vs_pyamg_red_black": tunegym_error,
        "max_relative_difference_sparse_vs_pyamg": sparse_error,
        "max_relative_difference_natural_vs_pyamg_natural": natural_error,
        "max_relative_difference_compiled_vs_torch": torch_error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256],
                        help="number of systems B (several values allowed)")
    parser.add_argument("--grid", type=int, default=64, help="interior points per side m")
    parser.add_argument("--sweeps", type=int, default=50, help="SOR sweeps S per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (median taken)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="device of the tunegym tensors (pyamg always runs on the CPU)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda requested but CUDA is not available")
    if args.sweeps < 2 or args.grid < 2 or args.repeats < 1 or min(args.batch) < 1:
        parser.error("need --sweeps >= 2, --grid >= 2, --repeats >= 1, --batch >= 1")

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    stream_gb_per_s = stream_bandwidth(device, args.repeats)
    generator = torch.Generator().manual_seed(args.seed)

    results = []
    for batch in args.batch:
        stencils = make_stencils(batch, args.grid, device, generator)
        rhs = torch.randn(batch, args.grid, args.grid, dtype=torch.float64,
                          generator=generator).to(device)
        entry = {"batch": batch}
        for name, stencil in stencils.items():
            entry[name] = bench_stencil(name, stencil, rhs, args.sweeps, args.repeats,
                                        device, stream_gb_per_s)
        results.append(entry)

    # The targets, at every B: (stencil, figure, threshold).
    wanted = [("uniform", "ratio_tunegym_natural_over_pyamg_natural", 1.5),
              ("variable", "ratio_tunegym_natural_over_pyamg_natural", 1.5),
              ("variable", "ratio_tunegym_over_pyamg_red_black", 1.5),
              ("uniform", "ratio_tunegym_over_pyamg_red_black", 2.5),
              ("uniform", "tunegym_marginal_fraction_of_stream", 0.6)]
    targets = [{"batch": entry["batch"], "stencil": name, "figure": figure,
                "target": threshold, "measured": entry[name][figure],
                "met": entry[name][figure] is not None and entry[name][figure] >= threshold}
               for entry in results for name, figure, threshold in wanted]
    headline = [headline_entry(
        f"SOR system-sweeps/s ({name}, red-black, B={entry['batch']}, m={args.grid})",
        "system-sweeps/s", entry[name]["tunegym_system_sweeps_per_s"],
        entry[name]["pyamg_red_black_system_sweeps_per_s"],
        "pyamg sor on the red-black permuted matrices, one system at a time")
        for entry in results for name in ("uniform", "variable")]
    print(json.dumps({
        "benchmark": "sor_sweeps",
        "reference": "pyamg.relaxation.relaxation.sor (compiled, one system after another)",
        "unit": "system-sweeps/s (B systems x S sweeps / median seconds)",
        "grid": args.grid,
        "unknowns_per_system": args.grid ** 2,
        "sweeps": args.sweeps,
        "omega": OMEGA,
        "dtype": "float64",
        "repeats": args.repeats,
        "timing": f"median of {args.repeats} interleaved runs after 1 warm-up round",
        "results": results,
        "headline": headline,
        "targets": targets,
        "stream_gb_per_s": stream_gb_per_s,
        "stream_model": STREAM_MODEL,
        "bytes_model": BYTES_MODEL,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "pyamg_version": pyamg.__version__,
        **machine_facts(device),
    }))


if __name__ == "__main__":
    main()
