"""SOR problem generators against independent references (scipy, numpy, closed forms).

Every expected value here is rebuilt from the problem's mathematical definition (module
docstring of :mod:`tunegym.simulators.sor_problems`) with numpy/scipy/pyamg; the
generators' own output is only the thing under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
import scipy.special
import scipy.stats
import torch
from pyamg.relaxation.relaxation import sor as pyamg_sor

from tunegym.core.random import hash_keys
from tunegym.simulators.sor_problems import (
    Heat,
    ShiftedPoisson,
    VariableDiffusion,
    beta_from_uniform,
    truncated_normal,
)

CPU = torch.device("cpu")
SEED = 0x7E57
KS_MIN_PVALUE = 1e-3
COEFFICIENTS = ("center", "north", "south", "west", "east")


def episode_keys(count: int, seed: int = SEED) -> torch.Tensor:
    return hash_keys(seed, torch.arange(count))


def steps(*values: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


# ------------------------------------------------------------ independent references
def laplacian_5point(m: int) -> scipy.sparse.csr_matrix:
    """Unscaled 5-point Laplacian (diagonal 4, neighbours -1), natural row-major order,
    as the Kronecker sum of the 1-D second-difference matrix with itself."""
    second_difference = scipy.sparse.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    identity = scipy.sparse.identity(m)
    return scipy.sparse.csr_matrix(scipy.sparse.kron(identity, second_difference)
                                   + scipy.sparse.kron(second_difference, identity))


def bump(x: np.ndarray, y: np.ndarray, center_x: float, center_y: float,
         radius: float) -> np.ndarray:
    """exp(1 - 1/(1 - min(1, |p - c|^2 / R^2))): 1 at the centre, 0 outside radius R."""
    ratio = np.minimum(1.0, ((x - center_x) ** 2 + (y - center_y) ** 2) / radius ** 2)
    with np.errstate(divide="ignore"):
        return np.exp(1.0 - 1.0 / (1.0 - ratio))


def grid_coordinates(m: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the m x m interior points: x = (j + 1) h along columns, y = (i + 1) h
    along rows."""
    h = 1.0 / (m + 1)
    row, column = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    return (column + 1) * h, (row + 1) * h


def heat_diffusivity(time: float) -> float:
    wave = math.sin(2.0 * math.pi * time)
    return max(0.1 * wave, -10.0 * wave)


def jacobi_radius_dense(matrix: scipy.sparse.spmatrix) -> float:
    """max |lambda| of I - D^-1 A by dense eigenvalues."""
    dense = matrix.toarray()
    iteration = np.eye(dense.shape[0]) - dense / np.diag(dense)[:, None]
    return float(np.abs(np.linalg.eigvals(iteration)).max())


def natural_sor_iterations(matrix: scipy.sparse.csr_matrix, rhs: np.ndarray, omega: float,
                           tol: float = 1e-8, max_iters: int = 5000) -> int:
    """Sweeps of natural-order (lexicographic) SOR from x = 0 until ||b - A x|| <= tol ||b||."""
    x = np.zeros_like(rhs)
    target = tol * np.linalg.norm(rhs)
    for sweep in range(max_iters + 1):
        if np.linalg.norm(rhs - matrix @ x) <= target:
            return sweep
        pyamg_sor(matrix, x, rhs, omega=omega, iterations=1)
    return max_iters + 1


# ------------------------------------------------------- 1. ShiftedPoisson shift law
@pytest.mark.parametrize("variance", ["high", "low"])
@pytest.mark.parametrize("layout", ["across_episodes", "along_one_episode"])
def test_shift_follows_scaled_beta(variance, layout):
    problem = ShiftedPoisson(10, CPU, variance=variance)
    count = 4000
    if layout == "across_episodes":
        keys, step = episode_keys(count), torch.zeros(count, dtype=torch.int64)
    else:
        keys, step = episode_keys(1).expand(count), torch.arange(count)
    shift = problem.context(keys, step, {})
    assert shift.shape == (count, 1) and shift.dtype == torch.float64
    alpha, beta = {"high": (0.5, 1.5), "low": (2.0, 6.0)}[variance]
    unit = ((shift[:, 0].numpy() + 0.15) / 0.6)
    assert unit.min() >= 0.0 and unit.max() <= 1.0
    result = scipy.stats.kstest(unit, scipy.stats.beta(alpha, beta).cdf)
    assert result.pvalue > KS_MIN_PVALUE, result


@pytest.mark.parametrize("alpha, beta", [(0.5, 1.5), (2.0, 6.0), (1.0, 1.0)])
def test_beta_from_uniform_matches_scipy_quantile(alpha, beta):
    grid = np.concatenate([np.linspace(1e-3, 0.999, 2001),
                           np.random.default_rng(1).uniform(1e-3, 0.999, 2000)])
    ours = beta_from_uniform(torch.from_numpy(grid), alpha, beta).numpy()
    np.testing.assert_allclose(ours, scipy.special.betaincinv(alpha, beta, grid),
                               rtol=0.0, atol=1e-6)


@pytest.mark.parametrize("alpha, beta", [(0.5, 1.5), (2.0, 6.0)])
def test_beta_from_uniform_is_monotone_in_unit_interval(alpha, beta):
    grid = np.sort(np.concatenate([np.geomspace(1e-15, 0.5, 2000),
                                   1.0 - np.geomspace(1e-15, 0.5, 2000)]))
    ours = beta_from_uniform(torch.from_numpy(grid), alpha, beta).numpy()
    assert (np.diff(ours) >= 0).all()
    assert ours.min() >= 0.0 and ours.max() <= 1.0


def test_beta_from_uniform_lower_tail_for_alpha_above_one():
    grid = np.geomspace(1e-9, 1e-3, 200)
    ours = beta_from_uniform(torch.from_numpy(grid), 2.0, 6.0).numpy()
    np.testing.assert_allclose(ours, scipy.special.betaincinv(2.0, 6.0, grid),
                               rtol=0.0, atol=1e-6)


# ---------------------------------------------------- 2. ShiftedPoisson instance
@pytest.mark.parametrize("grid_size", [10, 7])
def test_shifted_poisson_instance_matches_kron_sum(grid_size):
    problem = ShiftedPoisson(grid_size, CPU, variance="high")
    keys, step = episode_keys(6), steps(0, 1, 2, 50, 999, 7)
    shift = problem.context(keys, step, {})[:, 0].numpy()
    instance = problem.instance(keys, step, {})
    assert instance.initial_guess is None
    assert instance.rhs.shape == (6, grid_size, grid_size)
    n = grid_size ** 2
    laplacian = laplacian_5point(grid_size)
    for b in range(6):
        expected = laplacian + shift[b] * scipy.sparse.identity(n)
        difference = abs(instance.stencil.to_scipy(b) - expected)
        assert difference.max() <= 1e-14
        assert float(instance.rhs[b].norm()) <= math.sqrt(n)
        # the stencil's own matvec agrees with the scipy matrix (natural row-major order)
        u = np.random.default_rng(b).standard_normal(n)
        product = instance.stencil.matvec(torch.from_numpy(u).reshape(1, grid_size, grid_size)
                                          .expand(6, -1, -1))[b].reshape(-1).numpy()
        np.testing.assert_allclose(product, expected @ u, rtol=0, atol=1e-12)


# ----------------------------------------------------------- 3. truncated normal
def test_truncated_normal_is_chi2_conditioned_and_isotropic():
    n, count = 100, 3000
    samples = truncated_normal(episode_keys(count), n, stream=2).numpy()
    assert samples.shape == (count, n)
    squared = (samples ** 2).sum(axis=1)
    assert squared.max() <= n * (1 + 1e-12)
    normaliser = scipy.stats.chi2.cdf(n, n)
    result = scipy.stats.kstest(squared, lambda x: scipy.stats.chi2.cdf(x, n) / normaliser)
    assert result.pvalue > KS_MIN_PVALUE, result
    # isotropy: each coordinate has mean 0 and variance E||z||^2 / n (< 1)
    component_std = math.sqrt(squared.mean() / n)
    assert np.abs(samples.mean(axis=0)).max() < 5.0 * component_std / math.sqrt(count)
    directions = samples / np.sqrt(squared)[:, None]
    second_moment = directions.T @ directions / count           # -> I / n
    assert np.abs(second_moment - np.eye(n) / n).max() < 6.0 * math.sqrt(2.0 / count) / n


def test_truncated_normal_other_sizes_respect_bound():
    for n in (1, 4, 2500):
        samples = truncated_normal(episode_keys(200, seed=n), n, stream=7)
        assert bool((samples.norm(dim=1) <= math.sqrt(n) * (1 + 1e-12)).all())
        assert bool((samples != 0).any(dim=1).all())


# ------------------------------------------------------------------------ 4. Heat
def heat_reference(m: int, kappa: float, field: np.ndarray, time: float,
                   angle0: float) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """Crank-Nicolson matrix I - (kappa dt / 2) Lap_h and rhs (I + kappa dt/2 Lap_h) u + dt f."""
    dt, h = 1e-3, 1.0 / (m + 1)
    laplacian_h = -laplacian_5point(m) / h ** 2
    identity = scipy.sparse.identity(m * m)
    matrix = scipy.sparse.csr_matrix(identity - 0.5 * kappa * dt * laplacian_h)
    angle = angle0 + 16.0 * math.pi * time
    x, y = grid_coordinates(m)
    source = 32.0 * bump(x, y, 0.5 + math.cos(angle) / 4, 0.5 + math.sin(angle) / 4, 1 / 8)
    rhs = (identity + 0.5 * kappa * dt * laplacian_h) @ field.ravel() + dt * source.ravel()
    return matrix, rhs


@pytest.mark.parametrize("grid_size", [9, 12])
def test_heat_crank_nicolson_steps_match_reference(grid_size):
    m, dt = grid_size, 1e-3
    problem = Heat(grid_size, CPU)
    keys = episode_keys(3, seed=0xBEEF)
    state = problem.episode_state(keys)
    time_offset = state["time_offset"].numpy().copy()
    source_angle = state["source_angle"].numpy().copy()
    assert ((time_offset >= 0) & (time_offset < 1)).all()
    assert ((source_angle >= 0) & (source_angle < 2 * math.pi)).all()
    x, y = grid_coordinates(m)
    field = np.broadcast_to(bump(x, y, 0.5, 0.5, 0.25), (3, m, m)).copy()
    np.testing.assert_allclose(state["field"].numpy(), field, rtol=0, atol=1e-14)
    start = np.array([0, 250, 600])
    for offset in range(3):
        step = torch.from_numpy(start + offset)
        instance = problem.instance(keys, step, state)
        context = problem.context(keys, step, state)[:, 0].numpy()
        np.testing.assert_array_equal(instance.initial_guess.numpy(), state["field"].numpy())
        np.testing.assert_allclose(state["field"].numpy(), field, rtol=0, atol=1e-14)
        solutions = np.empty_like(field)
        for b in range(3):
            time = time_offset[b] + (int(step[b]) + 0.5) * dt
            kappa = heat_diffusivity(time)
            assert context[b] == pytest.approx(kappa, abs=1e-12)
            matrix, rhs = heat_reference(m, kappa, field[b], time, source_angle[b])
            scale = abs(matrix).max()
            assert abs(instance.stencil.to_scipy(b) - matrix).max() <= 1e-12 * scale
            np.testing.assert_allclose(instance.rhs[b].reshape(-1).numpy(), rhs,
                                       rtol=0, atol=1e-12 * max(1.0, np.abs(rhs).max()))
            solutions[b] = scipy.sparse.linalg.spsolve(matrix.tocsc(), rhs).reshape(m, m)
        state = problem.advance(state, torch.from_numpy(solutions))
        np.testing.assert_array_equal(state["field"].numpy(), solutions)
        np.testing.assert_array_equal(state["time_offset"].numpy(), time_offset)
        field = solutions
    # the source heats the domain: the field is not trivially zero after three steps
    assert np.abs(field).max() > 0.1


def test_heat_diffusivity_closed_form():
    times = np.linspace(-1.0, 2.0, 1001)
    expected = np.maximum(0.1 * np.sin(2 * np.pi * times), -10 * np.sin(2 * np.pi * times))
    np.testing.assert_allclose(Heat.diffusivity(torch.from_numpy(times)).numpy(), expected,
                               rtol=0, atol=1e-14)


# ------------------------------------------------------------ 5. VariableDiffusion
def test_variable_diffusion_is_spd_with_positive_coefficients():
    problem = VariableDiffusion(8, CPU)
    keys, step = episode_keys(8, seed=11), steps(0, 1, 2, 3, 10, 100, 1000, 5)
    instance = problem.instance(keys, step, {})
    context = problem.context(keys, step, {}).numpy()
    h2 = (1.0 / 9) ** 2
    for name in COEFFICIENTS:
        assert bool((getattr(instance.stencil, name) > 0).all()), name
    for b in range(8):
        dense = instance.stencil.to_scipy(b).toarray()
        np.testing.assert_allclose(dense, dense.T, rtol=0, atol=1e-13 * np.abs(dense).max())
        eigenvalues = np.linalg.eigvalsh(0.5 * (dense + dense.T))
        assert eigenvalues.min() > 0
        # diagonal = sum of |off-diagonals| in the row (incl. boundary faces) + sigma h^2:
        # every row's diagonal exceeds its off-diagonal sum by at least sigma h^2
        excess = np.diag(dense) - np.abs(dense - np.diag(np.diag(dense))).sum(axis=1)
        assert excess.min() >= 10.0 ** context[b, 0] * h2 * (1 - 1e-12)
        assert float(instance.rhs[b].norm()) <= math.sqrt(64)
    low, high = problem.context_bounds
    assert ((context >= low) & (context <= high)).all()


def test_variable_diffusion_optimal_omega_varies_with_reaction():
    problem = VariableDiffusion(16, CPU)
    count = 12
    keys, step = episode_keys(count, seed=5), torch.zeros(count, dtype=torch.int64)
    instance = problem.instance(keys, step, {})
    log10_reaction = problem.context(keys, step, {})[:, 0].numpy()
    omegas = np.linspace(1.0, 1.95, 20)
    best = []
    for b in range(count):
        matrix = instance.stencil.to_scipy(b).tocsr()
        rhs = instance.rhs[b].reshape(-1).numpy().copy()
        iterations = [natural_sor_iterations(matrix, rhs, omega) for omega in omegas]
        assert min(iterations) <= 5000
        best.append(omegas[int(np.argmin(iterations))])
    assert len(set(best)) >= 3, best
    rho = scipy.stats.spearmanr(log10_reaction, best).statistic
    assert rho < -0.5, (rho, log10_reaction, best)


@pytest.mark.parametrize("grid_size", [7, 16, 32])
def test_shifted_poisson_stays_positive_definite_on_other_grids(grid_size):
    """The shift range is rescaled with lambda_min(L_m) / lambda_min(L_10): every shift
    keeps L + c I positive definite (its smallest eigenvalue, closed form, stays > 0)."""
    problem = ShiftedPoisson(grid_size, CPU, variance="high")
    keys = episode_keys(2000)
    shift = problem.context(keys, torch.zeros_like(keys), {})[:, 0].numpy()
    smallest_laplacian_eigenvalue = 4.0 - 4.0 * np.cos(np.pi / (grid_size + 1))
    assert (smallest_laplacian_eigenvalue + shift).min() > 0
    ratio = (smallest_laplacian_eigenvalue + shift.min()) / smallest_laplacian_eigenvalue
    assert ratio < 0.2          # the nearly singular end of the paper's range is kept


# ------------------------------------------------------ 6. jacobi_spectral_radius
@pytest.mark.parametrize("variance", ["high", "low"])
def test_shifted_poisson_jacobi_radius_is_exact(variance):
    problem = ShiftedPoisson(10, CPU, variance=variance)
    keys, step = episode_keys(6, seed=21), steps(0, 1, 2, 3, 4, 5)
    context = problem.context(keys, step, {})
    instance = problem.instance(keys, step, {})
    radius = problem.jacobi_spectral_radius(context).numpy()
    assert radius.shape == (6,)
    for b in range(6):
        assert radius[b] == pytest.approx(jacobi_radius_dense(instance.stencil.to_scipy(b)),
                                          abs=1e-10)
    assert problem.model_jacobi_spectral_radius() == pytest.approx(
        jacobi_radius_dense(laplacian_5point(10)), abs=1e-10)


def test_heat_jacobi_radius_is_exact():
    problem = Heat(8, CPU)
    keys = episode_keys(6, seed=22)
    state = problem.episode_state(keys)
    step = steps(0, 100, 200, 300, 400, 999)
    context = problem.context(keys, step, state)
    instance = problem.instance(keys, step, state)
    radius = problem.jacobi_spectral_radius(context).numpy()
    for b in range(6):
        assert radius[b] == pytest.approx(jacobi_radius_dense(instance.stencil.to_scipy(b)),
                                          abs=1e-10)


def test_variable_diffusion_jacobi_radius_is_in_unit_interval():
    problem = VariableDiffusion(16, CPU)
    keys = episode_keys(200, seed=23)
    radius = problem.jacobi_spectral_radius(problem.context(keys, torch.zeros_like(keys), {}))
    assert radius.shape == (200,)
    assert bool(((radius > 0) & (radius < 1)).all())


# --------------------------------------------------------------- 7. keys / batches
def _single(problem, keys, step, b):
    state = problem.episode_state(keys[b:b + 1])
    return problem.instance(keys[b:b + 1], step[b:b + 1], state)


@pytest.mark.parametrize("make_problem", [
    lambda: ShiftedPoisson(10, CPU, variance="high"),
    lambda: ShiftedPoisson(10, CPU, variance="low"),
    lambda: Heat(11, CPU),
    lambda: VariableDiffusion(9, CPU),
], ids=["shifted_poisson_high", "shifted_poisson_low", "heat", "variable_diffusion"])
def test_instance_depends_only_on_episode_key_and_step(make_problem):
    problem = make_problem()
    keys, step = episode_keys(5, seed=31), steps(3, 0, 17, 3, 999)
    batch = problem.instance(keys, step, problem.episode_state(keys))
    batch_context = problem.context(keys, step, problem.episode_state(keys))
    for b in range(5):
        alone = _single(problem, keys, step, b)
        assert torch.equal(batch.rhs[b], alone.rhs[0]), b
        for name in COEFFICIENTS:
            assert torch.equal(getattr(batch.stencil, name)[b],
                               getattr(alone.stencil, name)[0]), (b, name)
        if batch.initial_guess is not None:
            assert torch.equal(batch.initial_guess[b], alone.initial_guess[0])
        state = problem.episode_state(keys[b:b + 1])
        assert torch.equal(batch_context[b], problem.context(keys[b:b + 1], step[b:b + 1],
                                                             state)[0])
    # different steps of one episode, and different episodes at one step, differ
    repeat = problem.instance(keys[:1].expand(2), steps(0, 1),
                              problem.episode_state(keys[:1].expand(2)))
    assert not torch.equal(repeat.rhs[0], repeat.rhs[1])
    assert not torch.equal(batch.rhs[0], batch.rhs[3])     # same step 3, other episode


# --------------------------------------------------------------------- 8. bad input
@pytest.mark.parametrize("make_problem", [
    lambda size: ShiftedPoisson(size, CPU),
    lambda size: Heat(size, CPU),
    lambda size: VariableDiffusion(size, CPU),
], ids=["shifted_poisson", "heat", "variable_diffusion"])
@pytest.mark.parametrize("grid_size", [1, 0, -3, "10", 10.0, True])
def test_bad_grid_size_raises(make_problem, grid_size):
    with pytest.raises(ValueError, match="grid_size"):
        make_problem(grid_size)


def test_unknown_variance_raises():
    with pytest.raises(ValueError, match="variance"):
        ShiftedPoisson(10, CPU, variance="medium")


def test_default_grid_sizes():
    assert ShiftedPoisson(None, CPU).grid_size == 10
    assert Heat(None, CPU).grid_size == 24
    assert VariableDiffusion(None, CPU).grid_size == 32


# ------------------------------------------------------------------------ dtype
@pytest.mark.parametrize("make_problem", [
    lambda: ShiftedPoisson(9, CPU, dtype=torch.float32),
    lambda: Heat(9, CPU, dtype=torch.float32),
    lambda: VariableDiffusion(9, CPU, dtype=torch.float32),
], ids=["shifted_poisson", "heat", "variable_diffusion"])
def test_float32_instances_are_float32_throughout(make_problem):
    problem = make_problem()
    keys, step = episode_keys(3, seed=41), steps(0, 1, 2)
    instance = problem.instance(keys, step, problem.episode_state(keys))
    assert instance.rhs.dtype == torch.float32
    for name in COEFFICIENTS:
        assert getattr(instance.stencil, name).dtype == torch.float32, name
    if instance.initial_guess is not None:
        assert instance.initial_guess.dtype == torch.float32


def test_heat_paper_start_is_the_papers_simulation():
    """start="paper": t0 = 0 and the source as in h2d.m / Heat2D.m, where point k of the
    lexicographic order sits at (i dx, j dx) (i the row) and the forcing is centred at
    (0.5 + cos(16 pi t) / 4, 0.5 + sin(16 pi t) / 4) in those coordinates."""
    m, dt = 11, 1e-3
    problem = Heat(m, CPU, start="paper")
    keys = episode_keys(2, seed=5)
    state = problem.episode_state(keys)
    assert not state["time_offset"].any() and not state["source_angle"].any()
    h = 1.0 / (m + 1)
    row, column = np.meshgrid(np.arange(1, m + 1) * h, np.arange(1, m + 1) * h, indexing="ij")
    first, second = row.ravel(), column.ravel()             # Heat2D's ijdx columns

    def forcing(time):
        distance = ((first - 0.5 - math.cos(16 * math.pi * time) / 4) ** 2
                    + (second - 0.5 - math.sin(16 * math.pi * time) / 4) ** 2)
        ratio = np.minimum(1.0, distance / 0.125 ** 2)
        with np.errstate(divide="ignore"):
            return 32.0 * np.exp(1.0 - 1.0 / (1.0 - ratio))

    laplacian_h = -laplacian_5point(m) / h ** 2
    identity = scipy.sparse.identity(m * m)
    field = state["field"][0].numpy().ravel()
    for step in (0, 137):
        halfstep = (step + 0.5) * dt
        kappa = heat_diffusivity(halfstep)
        instance = problem.instance(keys, torch.tensor([step, step]), state)
        rhs = (identity + 0.5 * kappa * dt * laplacian_h) @ field + dt * forcing(halfstep)
        for b in range(2):
            np.testing.assert_allclose(instance.rhs[b].numpy().ravel(), rhs, rtol=0,
                                       atol=1e-12 * np.abs(rhs).max())
    with pytest.raises(ValueError, match="start"):
        Heat(m, CPU, start="t0")
