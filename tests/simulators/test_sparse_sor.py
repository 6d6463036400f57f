"""Batched sparse SOR against independent references: pyamg's sequential SOR and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
import torch
from pyamg.gallery import poisson
from pyamg.relaxation.relaxation import sor as pyamg_sor

from tunegym.simulators.solve_result import SolveResult
from tunegym.simulators.sparse_sor import SparseSORSystem, solve_sparse_sor

torch.set_num_threads(1)

OMEGAS = np.array([0.7, 1.0, 1.45])


def shifted_poisson_2d(grid: int = 12, shift: float = 0.3) -> scipy.sparse.csr_array:
    """5-point Poisson matrix of a grid x grid mesh plus ``shift * I`` (SPD)."""
    matrix = scipy.sparse.csr_array(poisson((grid, grid), format="csr"))
    return scipy.sparse.csr_array(matrix + shift * scipy.sparse.eye_array(grid * grid))


def random_nonsymmetric(n: int = 70, density: float = 0.08, seed: int = 3
                        ) -> scipy.sparse.csr_array:
    """Random sparse matrix with a nonsymmetric pattern and a strictly dominant diagonal."""
    rng = np.random.default_rng(seed)
    off = scipy.sparse.random_array((n, n), density=density, rng=rng, format="csr")
    off.setdiag(0)
    off.eliminate_zeros()
    off.data = rng.uniform(-1.0, 1.0, off.nnz)
    assert (off != off.T).nnz > 0, "pattern should be nonsymmetric"
    dominance = np.abs(off).sum(axis=1) + rng.uniform(0.5, 1.5, n)
    return scipy.sparse.csr_array(off + scipy.sparse.diags_array(dominance)).tocsr()


def tridiagonal_1d(n: int = 40) -> scipy.sparse.csr_array:
    """1-D Laplacian (2, -1) plus a small shift."""
    return scipy.sparse.csr_array(
        scipy.sparse.diags_array([-1.0, 2.1, -1.0], offsets=[-1, 0, 1], shape=(n, n)).tocsr())


MATRIX_FACTORIES = {
    "poisson_2d": shifted_poisson_2d,
    "random_nonsymmetric": random_nonsymmetric,
    "tridiagonal_1d": tridiagonal_1d,
}


def same_pattern_variants(matrix: scipy.sparse.csr_array, count: int, seed: int = 0
                          ) -> list[scipy.sparse.csr_array]:
    """``count`` matrices with the pattern of ``matrix`` and off-diagonal values rescaled.

    Off-diagonals are scaled by factors in [0.6, 1.0] so diagonal dominance / definiteness is
    kept; the diagonal is scaled by [1.0, 1.3].
    """
    rng = np.random.default_rng(seed)
    matrix = matrix.tocsr()
    matrix.sort_indices()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    on_diagonal = rows == matrix.indices
    variants = []
    for _ in range(count):
        variant = matrix.copy()
        scale = np.where(on_diagonal, rng.uniform(1.0, 1.3, matrix.nnz),
                         rng.uniform(0.6, 1.0, matrix.nnz))
        variant.data = matrix.data * scale
        variants.append(variant)
    return variants


def reference_sor(matrix, x, rhs, omega, sweeps, order=None) -> np.ndarray:
    """pyamg forward SOR, optionally on ``P A P^T`` with P listing rows in ``order``."""
    matrix = scipy.sparse.csr_matrix(matrix)
    x = np.array(x, dtype=np.float64)
    rhs = np.array(rhs, dtype=np.float64)
    if order is None:
        pyamg_sor(matrix, x, rhs, omega, iterations=sweeps, sweep="forward")
        return x
    permuted = matrix[order][:, order].tocsr()
    x_permuted = x[order].copy()
    pyamg_sor(permuted, x_permuted, rhs[order].copy(), omega, iterations=sweeps,
              sweep="forward")
    result = np.empty_like(x)
    result[order] = x_permuted
    return result


def batched_sweeps(system, x, rhs, omega, sweeps) -> np.ndarray:
    x = torch.as_tensor(x)
    for _ in range(sweeps):
        x = system.sweep(x, torch.as_tensor(rhs), torch.as_tensor(omega))
    return x.numpy()


def assert_relative_close(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-12):
    scale = np.abs(expected).max()
    assert np.abs(actual - expected).max() <= rtol * scale, (
        f"max relative deviation {np.abs(actual - expected).max() / scale:.3e}")


# ----------------------------------------------------------------------- natural ordering


@pytest.mark.parametrize("sweeps", [1, 3, 10])
@pytest.mark.parametrize("kind", list(MATRIX_FACTORIES))
def test_natural_ordering_equals_pyamg_forward_sor(kind, sweeps):
    matrices = same_pattern_variants(MATRIX_FACTORIES[kind](), len(OMEGAS))
    n = matrices[0].shape[0]
    rng = np.random.default_rng(7)
    x0 = rng.standard_normal((len(OMEGAS), n))
    rhs = rng.standard_normal((len(OMEGAS), n))
    system = SparseSORSystem(matrices, ordering="natural")
    ours = batched_sweeps(system, x0, rhs, OMEGAS, sweeps)
    for b in range(len(OMEGAS)):
        expected = reference_sor(matrices[b], x0[b], rhs[b], OMEGAS[b], sweeps)
        assert_relative_close(ours[b], expected)


def test_level_schedule_respects_both_dependency_directions():
    """Lower neighbours strictly earlier; upper neighbours (read old) same level or later."""
    matrix = random_nonsymmetric()
    levels = SparseSORSystem(matrix).group_of_row.numpy()
    coo = matrix.tocoo()
    lower = coo.col < coo.row
    upper = coo.col > coo.row
    assert np.all(levels[coo.row[lower]] > levels[coo.col[lower]])
    assert np.all(levels[coo.row[upper]] <= levels[coo.col[upper]])


def test_natural_levels_of_grid_and_chain():
    # Lexicographic nx x ny grid: level(i, j) = i + j (wavefronts); a chain is fully serial.
    assert SparseSORSystem(shifted_poisson_2d(12)).num_groups == 12 + 12 - 1
    assert SparseSORSystem(tridiagonal_1d(40)).num_groups == 40


def test_shared_matrix_serves_any_batch_and_sweep_keeps_input():
    matrix = shifted_poisson_2d(6)
    system = SparseSORSystem(matrix.tocoo())  # any scipy format is accepted
    rng = np.random.default_rng(0)
    x0 = torch.as_tensor(rng.standard_normal((5, 36)))
    rhs = torch.as_tensor(rng.standard_normal((5, 36)))
    x0_before = x0.clone()
    swept = system.sweep(x0, rhs, 1.2)
    assert torch.equal(x0, x0_before)
    for b in range(5):
        expected = reference_sor(matrix, x0[b].numpy(), rhs[b].numpy(), 1.2, 1)
        assert_relative_close(swept[b].numpy(), expected)


def test_residual_norm_matches_numpy():
    matrices = same_pattern_variants(random_nonsymmetric(), 3)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 70))
    rhs = rng.standard_normal((3, 70))
    ours = SparseSORSystem(matrices).residual_norm(torch.as_tensor(x), torch.as_tensor(rhs))
    expected = [np.linalg.norm(rhs[b] - matrices[b] @ x[b]) for b in range(3)]
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-13)


# --------------------------------------------------------------------- multicolour ordering


def assert_valid_colouring(matrix, colours: np.ndarray):
    coo = matrix.tocoo()
    off_diagonal = coo.row != coo.col
    assert np.all(colours[coo.row[off_diagonal]] != colours[coo.col[off_diagonal]])


def test_multicolor_on_5_point_grid_is_red_black():
    matrix = shifted_poisson_2d(12)
    system = SparseSORSystem(matrix, ordering="multicolor")
    colours = system.group_of_row.numpy()
    assert system.num_groups == 2
    assert_valid_colouring(matrix, colours)
    i, j = np.divmod(np.arange(144), 12)
    assert np.array_equal(colours, (i + j) % 2)


@pytest.mark.parametrize("kind", ["poisson_2d", "random_nonsymmetric"])
def test_multicolor_equals_pyamg_on_colour_permuted_matrix(kind):
    matrices = same_pattern_variants(MATRIX_FACTORIES[kind](), len(OMEGAS), seed=4)
    n = matrices[0].shape[0]
    system = SparseSORSystem(matrices, ordering="multicolor")
    colours = system.group_of_row.numpy()
    order = system.equivalent_sequential_order.numpy()
    assert_valid_colouring(matrices[0], colours)
    assert np.array_equal(order, np.argsort(colours, kind="stable"))
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((len(OMEGAS), n))
    rhs = rng.standard_normal((len(OMEGAS), n))
    ours = batched_sweeps(system, x0, rhs, OMEGAS, 4)
    for b in range(len(OMEGAS)):
        expected = reference_sor(matrices[b], x0[b], rhs[b], OMEGAS[b], 4, order=order)
        assert_relative_close(ours[b], expected)


# --------------------------------------------------------------------------- full solves


def reference_iterations(matrix, rhs, omega, tol, max_iters, order=None) -> int:
    """Plain loop: one pyamg sweep at a time, numpy residual check with the same criterion."""
    x = np.zeros_like(rhs)
    threshold = tol * np.linalg.norm(rhs)
    for sweeps in range(max_iters + 1):
        if np.linalg.norm(rhs - matrix @ x) <= threshold:
            return sweeps
        if sweeps < max_iters:
            x = reference_sor(matrix, x, rhs, omega, 1, order=order)
    return max_iters


@pytest.mark.parametrize("ordering", ["natural", "multicolor"])
def test_iteration_counts_match_reference_loop(ordering):
    matrix = shifted_poisson_2d(10, shift=0.5)
    omegas = np.array([0.6, 1.0, 1.3, 1.6, 1.9])
    rhs = np.random.default_rng(5).standard_normal((len(omegas), 100))
    result = solve_sparse_sor(matrix, torch.as_tensor(rhs), torch.as_tensor(omegas), tol=1e-8,
                              max_iters=2000, ordering=ordering)
    order = None if ordering == "natural" else np.argsort(
        SparseSORSystem(matrix, ordering="multicolor").group_of_row.numpy(), kind="stable")
    expected = [reference_iterations(matrix, rhs[b], omegas[b], 1e-8, 2000, order)
                for b in range(len(omegas))]
    assert isinstance(result, SolveResult)
    assert result.iterations.dtype == torch.int64
    assert result.iterations.tolist() == expected
    assert result.converged.all()


def test_solution_meets_tolerance_and_matches_spsolve():
    matrices = same_pattern_variants(random_nonsymmetric(), 4, seed=9)
    rhs = np.random.default_rng(6).standard_normal((4, 70))
    tol = 1e-10
    result = solve_sparse_sor(matrices, rhs, np.array([0.9, 1.0, 1.1, 1.2]), tol=tol,
                              ordering="multicolor")
    assert result.converged.all()
    for b in range(4):
        x = result.solution[b].numpy()
        relative_residual = np.linalg.norm(rhs[b] - matrices[b] @ x) / np.linalg.norm(rhs[b])
        assert relative_residual <= tol
        assert result.relative_residual[b].item() == pytest.approx(relative_residual, rel=1e-6)
        exact = scipy.sparse.linalg.spsolve(matrices[b].tocsc(), rhs[b])
        assert np.linalg.norm(x - exact) <= 1e-8 * np.linalg.norm(exact)


def test_converged_systems_are_frozen_at_their_iterate():
    """A mixed batch: each solution equals pyamg after exactly its own iteration count."""
    matrix = shifted_poisson_2d(8, shift=0.2)
    omegas = np.array([0.5, 1.0, 1.5])
    rhs = np.random.default_rng(8).standard_normal((3, 64))
    x0 = np.random.default_rng(9).standard_normal((3, 64))
    result = solve_sparse_sor(matrix, rhs, omegas, tol=1e-6, x0=x0)
    assert len(set(result.iterations.tolist())) == 3
    for b in range(3):
        expected = reference_sor(matrix, x0[b], rhs[b], omegas[b], int(result.iterations[b]))
        assert_relative_close(result.solution[b].numpy(), expected, rtol=1e-11)


def test_zero_rhs_and_converged_start_need_no_sweeps():
    matrix = shifted_poisson_2d(6)
    exact = scipy.sparse.linalg.spsolve(matrix.tocsc(), np.ones(36))
    rhs = np.stack([np.zeros(36), np.ones(36), np.ones(36)])
    x0 = np.stack([np.ones(36), exact, np.zeros(36)])
    result = solve_sparse_sor(matrix, rhs, 1.3, tol=1e-8, x0=x0)
    assert result.iterations[:2].tolist() == [0, 0]
    assert result.iterations[2] > 0
    assert result.converged.all()
    assert torch.equal(result.solution[0], torch.zeros(36, dtype=torch.float64))
    assert result.relative_residual[0] == 0


def test_divergence_stops_at_max_iters_without_hanging():
    # Symmetric with positive diagonal but indefinite: SOR diverges for every omega
    # (Ostrowski-Reich), so it blows up to inf long before max_iters.
    indefinite = scipy.sparse.csr_array(
        poisson((6, 6), format="csr") - 2.5 * scipy.sparse.eye_array(36))
    assert np.linalg.eigvalsh(indefinite.toarray()).min() < 0
    spd = shifted_poisson_2d(6)
    rhs = np.ones((2, 36))
    result = solve_sparse_sor([indefinite, spd], rhs, np.array([1.9, 1.2]), max_iters=100_000)
    assert result.iterations.tolist()[0] == 100_000
    assert result.converged.tolist() == [False, True]
    assert result.relative_residual[0] == float("inf")
    assert result.relative_residual[1] <= 1e-8
    # Capped before blowing up: finite residual above tolerance, iterations == max_iters.
    capped = solve_sparse_sor(indefinite, rhs[:1], 1.9, max_iters=20)
    assert capped.iterations.tolist() == [20]
    assert not capped.converged.any()
    assert 1e-8 < capped.relative_residual[0] < float("inf")


# ------------------------------------------------------------------------------ bad input


def _poisson():
    return shifted_poisson_2d(4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"matrices": scipy.sparse.csr_array(np.ones((3, 4)))}, "matrices must be square"),
        ({"matrices": scipy.sparse.csr_array(np.array([[1.0, 1.0], [1.0, 0.0]]))},
         "diagonal entry in row 1"),
        ({"matrices": [_poisson(), shifted_poisson_2d(3)]}, "matrices must all have the same"),
        ({"matrices": [_poisson(), scipy.sparse.csr_array(
            _poisson() + scipy.sparse.csr_array(([1.0], ([0], [5])), shape=(16, 16)))]},
         "matrices must share one sparsity pattern"),
        ({"matrices": []}, "matrices must be one sparse matrix"),
        ({"omega": 2.0}, "omega must lie in the open interval"),
        ({"omega": 0.0}, "omega must lie in the open interval"),
        ({"omega": float("nan")}, "omega must lie in the open interval"),
        ({"omega": np.array([1.0, 1.5, 1.2])}, "omega must be a float or have shape"),
        ({"rhs": np.ones((2, 15))}, "rhs must have shape"),
        ({"rhs": np.ones(16)}, "rhs must have shape"),
        ({"x0": np.ones((3, 16))}, "x0 must have shape"),
        ({"tol": 0.0}, "tol must be a positive number"),
        ({"tol": -1e-6}, "tol must be a positive number"),
        ({"max_iters": 0}, "max_iters must be an integer >= 1"),
        ({"ordering": "red-black"}, r"ordering must be one of \('natural', 'multicolor'\)"),
    ],
)
def test_bad_input_raises_value_error_naming_argument(kwargs, message):
    arguments = {"matrices": _poisson(), "rhs": np.ones((2, 16)), "omega": 1.2}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        solve_sparse_sor(**arguments)


def test_bad_input_to_system_methods():
    broken = _poisson()
    broken.data[(broken.indices == 3) & (np.repeat(np.arange(16), np.diff(broken.indptr)) == 3)] = 0
    with pytest.raises(ValueError, match=r"matrices\[1\] has a zero .* in row 3"):
        SparseSORSystem([_poisson(), broken])  # an explicit zero keeps the pattern
    system = SparseSORSystem(same_pattern_variants(_poisson(), 2))
    with pytest.raises(ValueError, match=r"x must have shape \(2, 16\)"):
        system.sweep(torch.ones(3, 16, dtype=torch.float64), torch.ones(3, 16), 1.0)
    with pytest.raises(ValueError, match="omega must lie"):
        system.sweep(torch.ones(2, 16), torch.ones(2, 16), torch.tensor([1.0, -0.5]))
    with pytest.raises(ValueError, match="dtype must be"):
        SparseSORSystem(_poisson(), dtype=torch.int64)
