"""Batched red-black SOR and SSOR-PCG against pyamg, scipy and Young's closed form."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from pyamg.relaxation.relaxation import sor as pyamg_sor

from tunegym.simulators.sor import (
    GridStencil,
    red_black_permutation,
    solve_sor,
    solve_ssor_pcg,
    sor_sweep,
    young_optimal_omega,
)

OMEGAS = torch.tensor([1.0, 1.45, 1.8], dtype=torch.float64)


def uniform_stencil(shifts, grid_size, neighbour=1.0):
    shifts = torch.as_tensor(shifts, dtype=torch.float64).reshape(-1, 1, 1)
    off = torch.full_like(shifts, neighbour)
    return GridStencil(4.0 * neighbour + shifts, off, off, off, off, grid_size)


def variable_stencil(batch, grid_size, seed=0, symmetric=False):
    """Diagonally dominant stencil with per-point coefficients (symmetric if asked)."""
    generator = torch.Generator().manual_seed(seed)

    def field():
        return 0.5 + torch.rand(batch, grid_size, grid_size, generator=generator,
                                dtype=torch.float64)

    if symmetric:
        vertical, horizontal = field(), field()       # coefficient of the face below/right
        north = torch.nn.functional.pad(vertical, (0, 0, 1, 0))[:, :-1]
        west = torch.nn.functional.pad(horizontal, (1, 0))[:, :, :-1]
        south, east = vertical, horizontal
    else:
        north, south, west, east = field(), field(), field(), field()
    center = north + south + west + east + 0.3 * field()
    return GridStencil(center, north, south, west, east, grid_size)


def random_rhs(batch, grid_size, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, grid_size, grid_size, generator=generator, dtype=torch.float64)


def pyamg_iterations(matrix, rhs, omega, tol=1e-8, cap=20_000, x0=None):
    """Reference: pyamg's compiled SOR, one sweep at a time, numpy residual check."""
    x = np.zeros_like(rhs) if x0 is None else x0.copy()
    norm = np.linalg.norm(rhs)
    for iteration in range(cap + 1):
        if np.linalg.norm(rhs - matrix @ x) <= tol * norm:
            return iteration, x
        pyamg_sor(matrix, x, rhs, omega, iterations=1, sweep="forward")
    return cap, x


def permuted(stencil, index, ordering="red_black"):
    """System ``index`` as scipy CSR in the solver's ordering, and that ordering."""
    order = (red_black_permutation(stencil.grid_size).numpy() if ordering == "red_black"
             else np.arange(stencil.grid_size ** 2))
    return stencil.to_scipy(index)[order][:, order].tocsr(), order


def three_systems(grid_size, kind):
    """Three systems on odd or even grids, uniform (B, 1, 1) or per-point coefficients."""
    stencil = (uniform_stencil([0.1, -0.1, 0.3], grid_size) if kind == "uniform"
               else variable_stencil(3, grid_size))
    return stencil, random_rhs(3, grid_size)


@pytest.mark.parametrize("ordering", ["red_black", "natural"])
@pytest.mark.parametrize("grid_size", [7, 10])
@pytest.mark.parametrize("kind", ["uniform", "variable"])
def test_sweeps_equal_pyamg_in_the_same_ordering(grid_size, kind, ordering):
    stencil, rhs = three_systems(grid_size, kind)
    for sweeps in (1, 3):
        ours = sor_sweep(stencil, torch.zeros_like(rhs), rhs, OMEGAS, sweeps=sweeps,
                         ordering=ordering)
        for b in range(3):
            matrix, order = permuted(stencil, b, ordering)
            x = np.zeros(grid_size ** 2)
            pyamg_sor(matrix, x, rhs[b].numpy().ravel()[order], float(OMEGAS[b]),
                      iterations=sweeps)
            np.testing.assert_allclose(ours[b].numpy().ravel()[order], x, rtol=1e-12,
                                       atol=1e-13)


@pytest.mark.parametrize("ordering", ["red_black", "natural"])
@pytest.mark.parametrize("grid_size", [7, 10])
@pytest.mark.parametrize("kind", ["uniform", "variable"])
def test_iteration_counts_equal_pyamg_reference(grid_size, kind, ordering):
    stencil, rhs = three_systems(grid_size, kind)
    result = solve_sor(stencil, rhs, OMEGAS, ordering=ordering)
    assert bool(result.converged.all())
    for b in range(3):
        matrix, order = permuted(stencil, b, ordering)
        expected, _ = pyamg_iterations(matrix, rhs[b].numpy().ravel()[order], float(OMEGAS[b]))
        assert int(result.iterations[b]) == expected
        natural = stencil.to_scipy(b)
        residual = rhs[b].numpy().ravel() - natural @ result.solution[b].numpy().ravel()
        assert np.linalg.norm(residual) <= 1e-8 * np.linalg.norm(rhs[b].numpy())
        assert abs(float(result.relative_residual[b]) - np.linalg.norm(residual)
                   / np.linalg.norm(rhs[b].numpy())) < 1e-12


@pytest.mark.parametrize("grid_size, shift", [(10, -0.1), (16, 0.2), (24, 0.0)])
def test_red_black_and_lexicographic_counts_differ_by_a_bounded_transient(grid_size, shift):
    """Both orderings are consistently ordered, so they share the asymptotic rate (Young);
    the counts differ by a transient of O(m) sweeps (one lexicographic sweep carries
    information across the grid, one red-black sweep only a cell or two). Measured:
    |k_rb - k_lex| <= 0.05 k_lex + 1.5 m over omega in linspace(1, 1.95, 20)."""
    omegas = torch.linspace(1.0, 1.95, 20, dtype=torch.float64)
    stencil = uniform_stencil([shift] * 20, grid_size)
    rhs = random_rhs(1, grid_size, seed=4).expand(20, -1, -1).contiguous()
    red_black = solve_sor(stencil, rhs, omegas).iterations.tolist()
    lexicographic = [pyamg_iterations(stencil.to_scipy(0), rhs[0].numpy().ravel(),
                                      float(omega))[0] for omega in omegas]
    for ours, reference in zip(red_black, lexicographic):
        assert abs(ours - reference) <= 0.05 * reference + 1.5 * grid_size
    # Gauss-Seidel's long runs: the same asymptotic rate, ratio close to 1.
    assert abs(red_black[0] / lexicographic[0] - 1.0) < 0.06


def test_empirical_best_omega_matches_young_formula_on_the_model_problem():
    grid_size = 48
    omegas = torch.linspace(1.80, 1.94, 57, dtype=torch.float64)
    stencil = uniform_stencil(torch.zeros(57), grid_size)
    rhs = random_rhs(1, grid_size, seed=2).expand(57, -1, -1).contiguous()
    result = solve_sor(stencil, rhs, omegas)
    best = float(omegas[int(result.iterations.argmin())])
    young = young_optimal_omega(math.cos(math.pi / (grid_size + 1)))
    assert abs(young - 2.0 / (1.0 + math.sin(math.pi / (grid_size + 1)))) < 1e-12
    assert abs(best - young) <= 0.01, (best, young)


@pytest.mark.parametrize("ordering", ["natural", "red_black"])
@pytest.mark.parametrize("grid_size", [7, 10])
@pytest.mark.parametrize("warm_start", [False, True])
def test_ssor_pcg_iterations_equal_scipy_cg(grid_size, warm_start, ordering):
    stencil = variable_stencil(3, grid_size, symmetric=True)
    rhs = random_rhs(3, grid_size)
    guess = random_rhs(3, grid_size, seed=7) if warm_start else None
    result = solve_ssor_pcg(stencil, rhs, OMEGAS, initial_guess=guess, ordering=ordering)
    for b in range(3):
        matrix, order = permuted(stencil, b, ordering)
        assert abs(matrix - matrix.T).max() < 1e-14
        omega = float(OMEGAS[b])
        diagonal = sp.diags(matrix.diagonal())
        preconditioner = (omega / (2 - omega) * (diagonal / omega + sp.tril(matrix, -1))
                          @ sp.diags(1 / matrix.diagonal())
                          @ (diagonal / omega + sp.triu(matrix, 1))).tocsc()
        inverse = spla.LinearOperator(matrix.shape, matvec=lambda r, m=preconditioner:
                                      spla.spsolve(m, r))
        count = [0]
        x0 = None if guess is None else guess[b].numpy().ravel()[order]
        spla.cg(matrix, rhs[b].numpy().ravel()[order], x0=x0, rtol=1e-8, atol=0.0,
                M=inverse, callback=lambda _, count=count: count.__setitem__(0, count[0] + 1))
        assert int(result.iterations[b]) == count[0]
        solution = result.solution[b].numpy().ravel()
        residual = rhs[b].numpy().ravel() - stencil.to_scipy(b) @ solution
        assert np.linalg.norm(residual) <= 1.01e-8 * np.linalg.norm(rhs[b].numpy())


def test_results_do_not_depend_on_the_rest_of_the_batch():
    stencil = variable_stencil(4, 9)
    rhs = random_rhs(4, 9)
    omegas = torch.tensor([1.0, 1.9, 1.5, 1.2], dtype=torch.float64)
    together = solve_sor(stencil, rhs, omegas)
    for b in range(4):
        alone_stencil = GridStencil(*(getattr(stencil, name)[b:b + 1] for name in
                                      ("center", "north", "south", "west", "east")),
                                    grid_size=9)
        alone = solve_sor(alone_stencil, rhs[b:b + 1], omegas[b:b + 1])
        assert int(alone.iterations[0]) == int(together.iterations[b])
        torch.testing.assert_close(alone.solution[0], together.solution[b], rtol=1e-13,
                                   atol=1e-15)


def test_zero_rhs_and_exact_initial_guess_take_zero_iterations():
    stencil = uniform_stencil([0.1, 0.2], 6)
    zero = torch.zeros(2, 6, 6, dtype=torch.float64)
    assert solve_sor(stencil, zero, 1.5).iterations.tolist() == [0, 0]
    rhs = random_rhs(2, 6)
    exact = solve_sor(stencil, rhs, 1.5, tol=1e-14).solution
    assert solve_sor(stencil, rhs, 1.5, initial_guess=exact).iterations.tolist() == [0, 0]
    assert solve_ssor_pcg(stencil, zero, 1.5).iterations.tolist() == [0, 0]


def test_divergent_runs_stop_at_the_cap_with_converged_false():
    # Indefinite matrix (center 1, neighbours 1): SOR blows up for every omega here.
    ones = torch.ones(2, 1, 1, dtype=torch.float64)
    stencil = GridStencil(ones, ones, ones, ones, ones, 8)
    result = solve_sor(stencil, random_rhs(2, 8), torch.tensor([1.0, 1.9], dtype=torch.float64),
                       max_iters=3000)
    assert result.iterations.tolist() == [3000, 3000]
    assert not bool(result.converged.any())
    capped = solve_sor(uniform_stencil([0.0], 12), random_rhs(1, 12), 1.0, max_iters=5)
    assert capped.iterations.tolist() == [5] and not bool(capped.converged[0])


@pytest.mark.parametrize("bad_omega", [0.0, 2.0, -0.5, float("nan")])
def test_omega_outside_the_open_interval_is_rejected(bad_omega):
    with pytest.raises(ValueError, match="omega"):
        solve_sor(uniform_stencil([0.1], 5), random_rhs(1, 5), bad_omega)


def test_bad_shapes_and_arguments_are_rejected():
    stencil = uniform_stencil([0.1, 0.2], 5)
    with pytest.raises(ValueError, match="rhs"):
        solve_sor(stencil, random_rhs(2, 6), 1.5)
    with pytest.raises(ValueError, match="omega"):
        solve_sor(stencil, random_rhs(2, 5), torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="tol"):
        solve_sor(stencil, random_rhs(2, 5), 1.5, tol=0.0)
    with pytest.raises(ValueError, match="max_iters"):
        solve_ssor_pcg(stencil, random_rhs(2, 5), 1.5, max_iters=0)
    with pytest.raises(ValueError, match="ordering"):
        solve_sor(stencil, random_rhs(2, 5), 1.5, ordering="lexicographic")
    with pytest.raises(ValueError, match="initial_guess"):
        solve_sor(stencil, random_rhs(2, 5), 1.5, initial_guess=torch.zeros(2, 4, 4))
    zero_diagonal = GridStencil(torch.zeros(1, 1, 1), *([torch.ones(1, 1, 1)] * 4), grid_size=5)
    with pytest.raises(ValueError, match="center"):
        solve_sor(zero_diagonal, random_rhs(1, 5).float(), 1.5)
    wrong_shape = GridStencil(torch.full((1, 4, 4), 4.0), *([torch.ones(1, 1, 1)] * 4),
                              grid_size=5)
    with pytest.raises(ValueError, match="center"):
        solve_sor(wrong_shape, random_rhs(1, 5), 1.5)


def test_ssor_omega_is_worth_tuning_only_in_natural_order():
    """Natural-order SSOR-PCG on the model problem: omega near 2/(1 + sin(pi h))-like
    values beats omega = 1 by a wide margin; red-black SSOR gains little from omega > 1
    (the reason the heat env uses natural order, like the paper)."""
    grid_size = 31
    omegas = torch.tensor([1.0, 1.3, 1.6, 1.8], dtype=torch.float64)
    stencil = uniform_stencil([0.0] * 4, grid_size)
    rhs = random_rhs(1, grid_size, seed=3).expand(4, -1, -1).contiguous()
    natural = solve_ssor_pcg(stencil, rhs, omegas).iterations.tolist()
    red_black = solve_ssor_pcg(stencil, rhs, omegas, ordering="red_black").iterations.tolist()
    assert min(natural[1:]) < 0.7 * natural[0]
    assert min(red_black) >= 0.9 * red_black[0]
