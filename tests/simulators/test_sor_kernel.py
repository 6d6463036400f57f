"""The compiled (numba) SOR, SOR sweeps and (SSOR-preconditioned) CG against the torch
path, pyamg (both orderings) and scipy's CG, the value checks inside the kernels, and
the solvers' ``backend`` argument."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse.linalg as spla
import torch
from pyamg.relaxation.relaxation import sor as pyamg_sor

from tests.simulators.test_sor import (
    permuted,
    pyamg_iterations,
    random_rhs,
    uniform_stencil,
    variable_stencil,
)
from tunegym.simulators import sor_kernel
from tunegym.simulators.sor import GridStencil, solve_sor, solve_ssor_pcg, sor_sweep

pytestmark = pytest.mark.skipif(not sor_kernel.compiled_available(),
                                reason="numba is not installed")

COEFFICIENTS = ("center", "north", "south", "west", "east")


def mixed_batch(batch, grid_size, seed):
    """Per-point systems with omegas across (0, 2), a few indefinite (SOR diverges),
    a few with b = 0: (stencil, rhs, omega (B,))."""
    stencil = variable_stencil(batch, grid_size, seed=seed)
    generator = torch.Generator().manual_seed(seed + 100)
    rhs = random_rhs(batch, grid_size, seed=seed + 1)
    omega = 0.02 + 1.96 * torch.rand(batch, generator=generator, dtype=torch.float64)
    omega[: min(batch, 3)] = torch.tensor([0.05, 1.0, 1.97], dtype=torch.float64)[: min(batch, 3)]
    center = stencil.center.clone()
    if batch >= 6:
        neighbours = stencil.north + stencil.south + stencil.west + stencil.east
        center[3:5] = 0.3 * neighbours[3:5]         # indefinite: SOR blows up
        rhs[5] = 0.0
    stencil = GridStencil(center, stencil.north, stencil.south, stencil.west, stencil.east,
                          grid_size)
    return stencil, rhs, omega


def assert_matches_torch(compiled, reference, max_iters, solution_rtol=1e-9,
                         residual_rtol=1e-6, equal_fraction=0.99):
    """Counts equal for >= ``equal_fraction`` of systems and within 1 for all; solutions of systems with
    equal counts within ``solution_rtol`` of the largest entry, relative residuals within
    ``residual_rtol``; same flags and dtypes."""
    for name in ("iterations", "solution", "converged", "relative_residual"):
        assert getattr(compiled, name).dtype == getattr(reference, name).dtype, name
        assert getattr(compiled, name).shape == getattr(reference, name).shape, name
    difference = (compiled.iterations - reference.iterations).abs()
    assert int(difference.max()) <= 1
    assert float((difference == 0).double().mean()) >= equal_fraction
    same = difference == 0
    assert torch.equal(compiled.converged[same], reference.converged[same])
    diverged = torch.isinf(reference.relative_residual)
    assert torch.equal(torch.isinf(compiled.relative_residual), diverged)
    assert torch.equal(reference.iterations[diverged], torch.full_like(
        reference.iterations[diverged], max_iters))
    for b in torch.nonzero(same & ~diverged).flatten().tolist():
        scale = float(reference.solution[b].abs().max()) or 1.0
        error = float((compiled.solution[b] - reference.solution[b]).abs().max())
        assert error <= solution_rtol * scale, (b, error / scale)
        torch.testing.assert_close(compiled.relative_residual[b],
                                   reference.relative_residual[b], rtol=residual_rtol,
                                   atol=0.0)


@pytest.mark.parametrize("grid_size, batch, max_iters", [
    (2, 9, 300), (5, 40, 600), (10, 64, 2000), (10, 1, 2000), (17, 24, 1500)])
@pytest.mark.parametrize("warm_start", [False, True])
@pytest.mark.parametrize("ordering", ["red_black", "natural"])
def test_compiled_matches_the_torch_path(grid_size, batch, max_iters, warm_start, ordering):
    stencil, rhs, omega = mixed_batch(batch, grid_size, seed=grid_size + batch)
    guess = random_rhs(batch, grid_size, seed=7) if warm_start else None
    kwargs = {"max_iters": max_iters, "initial_guess": guess, "ordering": ordering}
    reference = solve_sor(stencil, rhs, omega, backend="torch", **kwargs)
    compiled = solve_sor(stencil, rhs, omega, backend="compiled", **kwargs)
    assert_matches_torch(compiled, reference, max_iters)
    if batch >= 6:
        assert bool(torch.isinf(reference.relative_residual[3:5]).any())   # divergence seen
        assert int(compiled.iterations[5]) == 0 and bool(compiled.converged[5])
        assert not bool(compiled.solution[5].any())
        assert not bool(compiled.converged[0])      # omega = 0.05 hits max_iters
        assert int(compiled.iterations[0]) == max_iters


@pytest.mark.parametrize("ordering", ["red_black", "natural"])
def test_uniform_coefficients_and_a_float_omega(ordering):
    shifts = torch.tensor([0.0, 0.1, -0.1, 0.5], dtype=torch.float64).reshape(-1, 1, 1)
    off = torch.ones_like(shifts)
    stencil = GridStencil(4.0 + shifts, off, off, 0.5 * off, 1.5 * off, 10)
    rhs = random_rhs(4, 10, seed=3)
    for omega in (1.0, 1.6, torch.tensor([1.2, 1.9, 0.7, 1.5], dtype=torch.float64)):
        assert_matches_torch(
            solve_sor(stencil, rhs, omega, backend="compiled", ordering=ordering),
            solve_sor(stencil, rhs, omega, backend="torch", ordering=ordering), 10_000)


@pytest.mark.parametrize("ordering", ["red_black", "natural"])
@pytest.mark.parametrize("grid_size", [1, 2, 5, 10])
def test_iteration_counts_equal_pyamg_reference(grid_size, ordering):
    """pyamg's SOR in the same ordering (the red-black permuted matrix for red-black);
    also m = 1, which the torch path does not handle: one red point, no black."""
    stencil = variable_stencil(3, grid_size, seed=11)
    rhs = random_rhs(3, grid_size, seed=12)
    omegas = torch.tensor([0.6, 1.0, 1.45], dtype=torch.float64)
    result = solve_sor(stencil, rhs, omegas, backend="compiled", ordering=ordering)
    assert bool(result.converged.all())
    for b in range(3):
        matrix, order = permuted(stencil, b, ordering)
        expected, x = pyamg_iterations(matrix, rhs[b].numpy().ravel()[order],
                                       float(omegas[b]))
        assert int(result.iterations[b]) == expected
        np.testing.assert_allclose(result.solution[b].numpy().ravel()[order], x,
                                   rtol=1e-10, atol=1e-14)


def test_zero_rhs_and_exact_initial_guess_take_zero_iterations():
    stencil = variable_stencil(2, 6, seed=2)
    zero = torch.zeros(2, 6, 6, dtype=torch.float64)
    guess = random_rhs(2, 6, seed=5)
    result = solve_sor(stencil, zero, 1.5, initial_guess=guess, backend="compiled")
    assert result.iterations.tolist() == [0, 0] and bool(result.converged.all())
    assert not bool(result.solution.any()) and result.relative_residual.tolist() == [0.0, 0.0]
    rhs = random_rhs(2, 6)
    exact = solve_sor(stencil, rhs, 1.5, tol=1e-14, backend="compiled").solution
    again = solve_sor(stencil, rhs, 1.5, initial_guess=exact, backend="compiled")
    assert again.iterations.tolist() == [0, 0]
    assert torch.equal(again.solution, exact)


def test_float32_input_is_solved_in_float32_like_the_torch_path():
    stencil64, rhs64, _ = mixed_batch(16, 10, seed=4)
    stencil = GridStencil(*(getattr(stencil64, name).float() for name in COEFFICIENTS),
                          grid_size=10)
    rhs = rhs64.float()
    omega = torch.linspace(1.0, 1.95, 16, dtype=torch.float64)
    guess = random_rhs(16, 10, seed=9)                      # float64, cast to float32
    kwargs = {"tol": 1e-5, "max_iters": 800, "initial_guess": guess}
    reference = solve_sor(stencil, rhs, omega, backend="torch", **kwargs)
    compiled = solve_sor(stencil, rhs, omega, backend="compiled", **kwargs)
    assert compiled.solution.dtype == torch.float32
    # float32 residuals near tol = 1e-5 carry rounding of eps * ||b|| ~ 1e-7 ||b||, so a
    # count may land one sweep apart (1 of these 16 systems does).
    assert_matches_torch(compiled, reference, 800, solution_rtol=1e-4, residual_rtol=0.05,
                         equal_fraction=0.85)


@pytest.mark.parametrize("kind", ["uniform", "variable"])
@pytest.mark.parametrize("ordering", ["red_black", "natural"])
def test_sweeps_equal_the_torch_path_and_pyamg(kind, ordering):
    """A fixed number of sweeps, per-system omega: within 1e-14 of the torch path's
    iterates (relative to their largest entry) and of pyamg's in the same ordering."""
    grid_size, batch = 9, 5
    stencil = (uniform_stencil([0.1, -0.1, 0.3, 0.0, 0.2], grid_size) if kind == "uniform"
               else variable_stencil(batch, grid_size, seed=3))
    rhs, start = random_rhs(batch, grid_size, seed=4), random_rhs(batch, grid_size, seed=5)
    omega = torch.tensor([0.7, 1.0, 1.3, 1.6, 1.9], dtype=torch.float64)
    compiled = sor_sweep(stencil, start, rhs, omega, sweeps=6, ordering=ordering,
                         backend="compiled")
    reference = sor_sweep(stencil, start, rhs, omega, sweeps=6, ordering=ordering,
                          backend="torch")
    scale = float(reference.abs().max())
    assert float((compiled - reference).abs().max()) <= 1e-14 * scale
    for b in range(batch):
        matrix, order = permuted(stencil, b, ordering)
        x = start[b].numpy().ravel()[order].copy()
        pyamg_sor(matrix, x, rhs[b].numpy().ravel()[order].copy(), float(omega[b]),
                  iterations=6, sweep="forward")
        np.testing.assert_allclose(compiled[b].numpy().ravel()[order], x, rtol=0,
                                   atol=1e-14 * scale)
    assert torch.equal(start, random_rhs(batch, grid_size, seed=5))     # u not modified


def scipy_cg_iterations(matrix, rhs, x0, preconditioner_matrix=None):
    """Iterations of scipy's (preconditioned) CG to ||r|| <= 1e-8 ||b||."""
    count = [0]
    inverse = None if preconditioner_matrix is None else spla.LinearOperator(
        matrix.shape, matvec=lambda r: spla.spsolve(preconditioner_matrix, r))
    spla.cg(matrix, rhs, x0=x0, rtol=1e-8, atol=0.0, M=inverse,
            callback=lambda _: count.__setitem__(0, count[0] + 1))
    return count[0]


@pytest.mark.parametrize("preconditioner", ["ssor", "none"])
@pytest.mark.parametrize("ordering", ["natural", "red_black"])
@pytest.mark.parametrize("kind", ["uniform", "variable"])
def test_pcg_matches_the_torch_path_and_scipy_cg(kind, ordering, preconditioner):
    import scipy.sparse as sp

    grid_size, batch = 11, 4
    stencil = (uniform_stencil([0.2, 0.0, 0.5, 1.0], grid_size) if kind == "uniform"
               else variable_stencil(batch, grid_size, seed=6, symmetric=True))
    rhs, guess = random_rhs(batch, grid_size, seed=7), random_rhs(batch, grid_size, seed=8)
    omega = torch.tensor([1.0, 1.3, 1.6, 1.9], dtype=torch.float64)
    kwargs = {"initial_guess": guess, "ordering": ordering, "preconditioner": preconditioner}
    compiled = solve_ssor_pcg(stencil, rhs, omega, backend="compiled", **kwargs)
    reference = solve_ssor_pcg(stencil, rhs, omega, backend="torch", **kwargs)
    assert_matches_torch(compiled, reference, 10_000, solution_rtol=1e-10, residual_rtol=1e-4)
    for b in range(batch):
        matrix, order = permuted(stencil, b, ordering)
        preconditioner_matrix = None
        if preconditioner == "ssor":
            w = float(omega[b])
            diagonal = sp.diags(matrix.diagonal())
            preconditioner_matrix = (w / (2 - w) * (diagonal / w + sp.tril(matrix, -1))
                                     @ sp.diags(1 / matrix.diagonal())
                                     @ (diagonal / w + sp.triu(matrix, 1))).tocsc()
        expected = scipy_cg_iterations(matrix, rhs[b].numpy().ravel()[order],
                                       guess[b].numpy().ravel()[order], preconditioner_matrix)
        assert abs(int(compiled.iterations[b]) - expected) <= 1, (b, expected)


def test_auto_picks_compiled_on_the_cpu_for_every_solver():
    stencil, rhs, omega = mixed_batch(8, 6, seed=1)
    for ordering in ("red_black", "natural"):
        auto = solve_sor(stencil, rhs, omega, max_iters=500, ordering=ordering)
        compiled = solve_sor(stencil, rhs, omega, max_iters=500, backend="compiled",
                             ordering=ordering)
        for name in ("iterations", "solution", "converged", "relative_residual"):
            assert torch.equal(getattr(auto, name), getattr(compiled, name))
    symmetric = variable_stencil(3, 6, symmetric=True)
    auto = solve_ssor_pcg(symmetric, rhs[:3], 1.4)
    assert torch.equal(auto.solution,
                       solve_ssor_pcg(symmetric, rhs[:3], 1.4, backend="compiled").solution)


BAD_VALUES = {
    "center": lambda stencil, rhs, guess: (GridStencil(
        stencil.center.clone().index_fill_(0, torch.tensor([1]), 0.0), stencil.north,
        stencil.south, stencil.west, stencil.east, stencil.grid_size), rhs, guess),
    "east": lambda stencil, rhs, guess: (GridStencil(
        stencil.center, stencil.north, stencil.south, stencil.west,
        stencil.east.clone().index_fill_(0, torch.tensor([2]), float("nan")),
        stencil.grid_size), rhs, guess),
    "rhs": lambda stencil, rhs, guess: (stencil, rhs.clone().index_fill_(
        0, torch.tensor([0]), float("inf")), guess),
    "initial_guess": lambda stencil, rhs, guess: (stencil, rhs, guess.clone().index_fill_(
        0, torch.tensor([1]), float("nan"))),
}


@pytest.mark.parametrize("backend", ["compiled", "torch"])
@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
def test_non_finite_or_zero_diagonal_inputs_are_rejected_by_every_solver(bad, backend):
    stencil = variable_stencil(3, 6, seed=2, symmetric=True)
    stencil, rhs, guess = BAD_VALUES[bad](stencil, random_rhs(3, 6), random_rhs(3, 6, seed=3))
    message = sor_kernel.VALUE_MESSAGES[bad].split(" (")[0].split(" must")[0]
    for solve in (lambda: solve_sor(stencil, rhs, 1.5, initial_guess=guess, backend=backend),
                  lambda: solve_sor(stencil, rhs, 1.5, initial_guess=guess, backend=backend,
                                    ordering="natural"),
                  lambda: sor_sweep(stencil, guess, rhs, 1.5, sweeps=2, backend=backend),
                  lambda: solve_ssor_pcg(stencil, rhs, 1.5, initial_guess=guess,
                                         backend=backend)):
        with pytest.raises(ValueError, match=message):
            solve()


@pytest.mark.parametrize("backend", ["compiled", "torch"])
def test_cg_rejects_asymmetric_and_indefinite_stencils(backend):
    asymmetric = variable_stencil(2, 6, seed=4)
    rhs = random_rhs(2, 6)
    with pytest.raises(ValueError, match="symmetric"):
        solve_ssor_pcg(asymmetric, rhs, 1.5, backend=backend)
    # Symmetric, positive diagonal, but indefinite: center 1 with unit couplings has
    # eigenvalues 1 - 2 cos(pi i h) - 2 cos(pi j h) < 0 for the smooth modes.
    ones = torch.ones(2, 1, 1, dtype=torch.float64)
    indefinite = GridStencil(ones, ones, ones, ones, ones, 6)
    with pytest.raises(ValueError, match="not positive definite"):
        solve_ssor_pcg(indefinite, rhs, 1.5, backend=backend)
    with pytest.raises(ValueError, match="not positive definite"):
        solve_ssor_pcg(indefinite, rhs, 1.5, backend=backend, preconditioner="none")


def test_the_switch_off_makes_auto_take_the_torch_path(monkeypatch):
    from tunegym.core import compiled

    def refuse(*arguments):
        raise AssertionError("the compiled kernel ran with TUNEGYM_COMPILED=0")

    stencil, rhs, omega = mixed_batch(4, 5, seed=2)
    reference = solve_sor(stencil, rhs, omega, max_iters=500, backend="torch")
    monkeypatch.setattr(compiled, "ENABLED", False)
    monkeypatch.setattr(sor_kernel, "solve_sor_compiled", refuse)
    auto = solve_sor(stencil, rhs, omega, max_iters=500)
    assert torch.equal(auto.iterations, reference.iterations)
    assert torch.equal(auto.solution, reference.solution)


def test_backend_errors(monkeypatch):
    stencil = variable_stencil(2, 5)
    rhs = random_rhs(2, 5)
    with pytest.raises(ValueError, match="backend must be one of"):
        solve_sor(stencil, rhs, 1.5, backend="numba")
    with pytest.raises(ValueError, match="backend='compiled'.*dtype"):
        solve_sor(stencil, rhs.float(), 1.5, backend="compiled")
    # Bad input gets the errors of the torch path, with either backend.
    for backend in ("auto", "compiled"):
        with pytest.raises(ValueError, match="rhs must have shape"):
            solve_sor(stencil, random_rhs(2, 6), 1.5, backend=backend)
        with pytest.raises(ValueError, match="omega"):
            solve_sor(stencil, rhs, 2.0, backend=backend)
        with pytest.raises(ValueError, match="max_iters"):
            solve_sor(stencil, rhs, 1.5, max_iters=0, backend=backend)
        zero_diagonal = GridStencil(torch.zeros(2, 1, 1, dtype=torch.float64),
                                    *([torch.ones(2, 1, 1, dtype=torch.float64)] * 4), 5)
        with pytest.raises(ValueError, match="center"):
            solve_sor(zero_diagonal, rhs, 1.5, backend=backend)
    # Without numba: "compiled" refuses, "auto" runs the torch path.
    monkeypatch.setattr(sor_kernel, "compiled_available", lambda: False)
    with pytest.raises(ValueError, match="backend='compiled'.*numba"):
        solve_sor(stencil, rhs, 1.5, backend="compiled")
    assert torch.equal(solve_sor(stencil, rhs, 1.5).solution,
                       solve_sor(stencil, rhs, 1.5, backend="torch").solution)


def test_importing_tunegym_does_not_import_numba():
    code = ("import sys, tunegym, tunegym.simulators.sor, tunegym.envs.sor; "
            "assert 'numba' not in sys.modules, 'numba imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
