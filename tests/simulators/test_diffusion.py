"""Diffusion simulator: exact denoiser vs Monte Carlo, schedules vs quadrature, samplers vs
the DDIM closed form and their convergence orders vs a scipy reference solve."""

import math

import pytest
import torch
from scipy.integrate import quad

from tests.simulators.published_solvers import dpm_solver_multistep, unipc
from tunegym.simulators.diffusion import (
    GaussianMixture,
    NoiseSchedule,
    reference_solution,
    sample,
    timestep_spacing,
)


def rotated_mixture():
    angle = 0.6
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle)],
                             [math.sin(angle), math.cos(angle)]], dtype=torch.float64)
    return GaussianMixture(torch.tensor([0.3, 0.7]),
                           torch.tensor([[-2.0, 0.0], [1.5, 1.0]]),
                           torch.tensor([[0.2, 0.5], [0.3, 0.05]]),
                           torch.stack([rotation, rotation.T]))


def test_exact_denoiser_equals_a_monte_carlo_posterior_mean():
    mixture = rotated_mixture()
    prior = mixture.sample(400_000, torch.Generator().manual_seed(0))
    points = torch.tensor([[0.5, -0.3], [-1.5, 0.8], [1.0, 1.0]], dtype=torch.float64)
    for alpha, sigma in ((0.8, 0.6), (0.3, math.sqrt(1 - 0.09))):
        exact = mixture.denoise(points, alpha, sigma)
        for point, expected in zip(points, exact):
            log_weight = -((point - alpha * prior) ** 2).sum(dim=1) / (2 * sigma ** 2)
            weight = torch.softmax(log_weight, dim=0)
            estimate = (weight[:, None] * prior).sum(dim=0)
            assert torch.allclose(estimate, expected, atol=0.02), (estimate, expected)


def test_mixture_samples_have_the_mixture_mean_and_covariance():
    mixture = rotated_mixture()
    draws = mixture.sample(200_000, torch.Generator().manual_seed(1))
    weights = mixture.log_weights.exp()
    mean = (weights[:, None] * mixture.means).sum(dim=0)
    covariances = torch.einsum("kde,ke,kfe->kdf", mixture.eigenvectors, mixture.eigenvalues,
                               mixture.eigenvectors)
    second = (weights[:, None, None] * (covariances + torch.einsum(
        "kd,kf->kdf", mixture.means, mixture.means))).sum(dim=0)
    assert torch.allclose(draws.mean(dim=0), mean, atol=0.01)
    assert torch.allclose(torch.cov(draws.T), second - torch.outer(mean, mean), atol=0.02)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_is_variance_preserving_and_lambda_inverts(kind):
    schedule = NoiseSchedule(kind)
    times = torch.linspace(1e-3, schedule.t_max, 50, dtype=torch.float64)
    assert torch.allclose(schedule.alpha(times) ** 2 + schedule.sigma(times) ** 2,
                          torch.ones(50, dtype=torch.float64))
    assert bool((schedule.lambda_(times)[1:] < schedule.lambda_(times)[:-1]).all())
    assert torch.allclose(schedule.time_of_lambda(schedule.lambda_(times)), times, atol=1e-9)


def test_edm_process_is_variance_exploding():
    schedule = NoiseSchedule("edm")
    times = torch.tensor([0.002, 0.5, 80.0], dtype=torch.float64)
    assert torch.equal(schedule.alpha(times), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(schedule.sigma(times), times)
    assert torch.allclose(schedule.time_of_lambda(schedule.lambda_(times)), times)
    assert schedule.drift_and_diffusion(3.0) == pytest.approx((0.0, 6.0))   # g^2 = d t^2/dt


@pytest.mark.parametrize("kind", ["linear", "cosine", "edm"])
def test_ode_solutions_match_the_closed_form_for_one_gaussian(kind):
    """For data N(mu, diag(s^2)) the probability-flow ODE moves each coordinate as
    x_t = alpha_t mu + (x_T - alpha_T mu) sqrt(alpha_t^2 s^2 + sigma_t^2)
    / sqrt(alpha_T^2 s^2 + sigma_T^2)."""
    schedule = NoiseSchedule(kind)
    mean, variance = torch.tensor([[0.7, -1.2]]), torch.tensor([[0.3, 2.0]])
    gaussian = GaussianMixture(torch.tensor([1.0]), mean, variance)
    start, end = torch.tensor(schedule.t_max), torch.tensor(schedule.t_min)
    noise = torch.randn(16, 2, generator=torch.Generator().manual_seed(11),
                        dtype=torch.float64) * schedule.sigma(start)

    def spread(t):
        return torch.sqrt(schedule.alpha(t) ** 2 * variance[0] + schedule.sigma(t) ** 2)

    exact = (schedule.alpha(end) * mean[0] + (noise - schedule.alpha(start) * mean[0])
             * spread(end) / spread(start))
    solved = reference_solution(gaussian, schedule, noise, schedule.t_max, schedule.t_min)
    assert torch.allclose(solved, exact, atol=1e-7)
    times = timestep_spacing(schedule, 100, "uniform_lambda")
    stepped = sample(gaussian, schedule, noise, times, [min(3, i + 1) for i in range(100)])
    assert torch.allclose(stepped, exact, atol=1e-5)


def test_schedule_batch_rows_equal_their_own_schedules():
    from tunegym.simulators.diffusion import ScheduleBatch

    schedules = [NoiseSchedule(kind) for kind in ("linear", "cosine", "edm")]
    batch = ScheduleBatch(schedules, torch.tensor([2, 0, 1, 2]))
    times = torch.stack([timestep_spacing(schedules[k], 5, "edm") for k in (2, 0, 1, 2)])
    mixture = rotated_mixture()
    x = torch.randn(4, 8, 2, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    together = sample(mixture, batch, x, times, [1, 2, 3, 3, 2])
    for row, k in enumerate((2, 0, 1, 2)):
        assert torch.allclose(batch.lambda_(times)[row], schedules[k].lambda_(times[row]))
        alone = sample(mixture, schedules[k], x[row], times[row], [1, 2, 3, 3, 2])
        assert torch.allclose(together[row], alone, atol=1e-12)
    assert batch.t_max.tolist() == [80.0, 1.0, 0.9946, 80.0]


def test_padded_mixtures_denoise_like_the_unpadded_ones():
    from tunegym.core.random import hash_keys
    from tunegym.simulators.diffusion import mixture_parameters, padded_mixture_parameters

    keys = hash_keys(torch.arange(4))
    parameters = padded_mixture_parameters(
        ("ill_conditioned", "many_modes"), (3, 5), torch.tensor([0, 1, 0, 1]),
        torch.tensor([0, 0, 1, 1]), keys)
    assert parameters["eigenvectors"].shape == (4, 3, 5, 5)       # rotated: the first 3 of 16
    padded = GaussianMixture(**parameters)
    x = torch.randn(4, 10, 5, generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    for row, (kind, dimension) in enumerate([("ill_conditioned", 3), ("many_modes", 3),
                                             ("ill_conditioned", 5), ("many_modes", 5)]):
        x[row, :, dimension:] = 0.0
        alone = GaussianMixture(**{name: value[0] for name, value in mixture_parameters(
            kind, dimension, keys[row:row + 1]).items()})
        expected = alone.denoise(x[row, :, :dimension], 0.6, 0.8)
        denoised = padded.denoise(x, torch.full((4,), 0.6), torch.full((4,), 0.8))[row]
        assert torch.allclose(denoised[:, :dimension], expected, atol=1e-12)
        assert bool((denoised[:, dimension:] == 0).all())


def test_linear_schedule_matches_the_integral_of_beta():
    schedule = NoiseSchedule("linear", beta_min=0.1, beta_max=20.0)
    for t in (0.1, 0.5, 1.0):
        integral, _ = quad(lambda s: 0.1 + s * (20.0 - 0.1), 0.0, t)
        assert float(schedule.log_alpha(torch.tensor(t))) == pytest.approx(-0.5 * integral)


@pytest.mark.parametrize("prediction", ["data", "noise"])
def test_first_order_step_is_ddim(prediction):
    mixture, schedule = rotated_mixture(), NoiseSchedule("linear")
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    times = torch.tensor([0.8, 0.5], dtype=torch.float64)
    alpha, sigma = schedule.alpha(times), schedule.sigma(times)
    data = mixture.denoise(x, alpha[0], sigma[0])
    noise = (x - alpha[0] * data) / sigma[0]
    ddim = alpha[1] * data + sigma[1] * noise
    stepped = sample(mixture, schedule, x, times, [1], [prediction])
    assert torch.allclose(stepped, ddim, atol=1e-12)


@pytest.mark.parametrize("kind", ["linear", "cosine", "edm"])
@pytest.mark.parametrize("prediction, order, slope", [
    ("data", 1, 0.85), ("data", 2, 1.8), ("data", 3, 2.6),
    ("noise", 1, 0.85), ("noise", 2, 1.6), ("noise", 3, 2.3),
])
def test_empirical_convergence_order(kind, prediction, order, slope):
    """Error against a DOP853 solve (rtol 1e-10) on uniform-lambda steps: the slope of
    log error vs log NFE between NFE 40 and 80 is at least the order (minus a margin
    for the pre-asymptotic range)."""
    mixture, schedule = rotated_mixture(), NoiseSchedule(kind)
    start, end = schedule.t_max, schedule.t_min
    noise = torch.randn(32, 2, generator=torch.Generator().manual_seed(3),
                        dtype=torch.float64) * schedule.sigma(torch.tensor(start))
    reference = reference_solution(mixture, schedule, noise, start, end)
    errors = []
    for steps in (40, 80):
        lambdas = torch.linspace(float(schedule.lambda_(torch.tensor(start))),
                                 float(schedule.lambda_(torch.tensor(end))), steps + 1,
                                 dtype=torch.float64)
        times = schedule.time_of_lambda(lambdas)
        times[0], times[-1] = start, end
        out = sample(mixture, schedule, noise, times,
                     [min(order, step + 1) for step in range(steps)], [prediction] * steps)
        errors.append(float((out - reference).norm(dim=1).mean()))
    assert math.log2(errors[0] / errors[1]) >= slope, errors


@pytest.mark.parametrize("estimate, order, low, high", [
    ("dpm_solver", 2, 1.8, 2.3), ("unipc_bh1", 2, 1.8, 2.3), ("dpm_solver", 3, 1.8, 2.4)])
def test_published_estimates_convergence_orders(estimate, order, low, high):
    """The 2M midpoint and UniPC-bh1 rules are second order; the published 3M rule
    weighs the curvature by half its Taylor weight, so it is second order too (slope
    about 2.1 where the exact "taylor" estimate reaches 3)."""
    mixture, schedule = rotated_mixture(), NoiseSchedule("linear")
    noise = torch.randn(32, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    reference = reference_solution(mixture, schedule, noise, schedule.t_max, schedule.t_min)
    errors = []
    for steps in (40, 80):
        times = timestep_spacing(schedule, steps, "uniform_lambda")
        out = sample(mixture, schedule, noise, times, [min(order, i + 1) for i in range(steps)],
                     estimates=[estimate] * steps)
        errors.append(float((out - reference).norm(dim=1).mean()))
    assert low <= math.log2(errors[0] / errors[1]) <= high, errors


def test_bad_input_is_rejected():
    mixture, schedule = rotated_mixture(), NoiseSchedule()
    x = torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="decrease"):
        sample(mixture, schedule, x, torch.tensor([0.5, 0.7]))
    with pytest.raises(ValueError, match="NFE"):
        sample(mixture, schedule, x, torch.tensor([0.5]))
    with pytest.raises(ValueError, match=r"orders\[1\]"):
        sample(mixture, schedule, x, torch.tensor([0.9, 0.5, 0.1]), orders=[1, 3])
    with pytest.raises(ValueError, match="predictions"):
        sample(mixture, schedule, x, torch.tensor([0.9, 0.5]), predictions=["score"])
    with pytest.raises(ValueError, match="estimates"):
        sample(mixture, schedule, x, torch.tensor([0.9, 0.5]), estimates=["heun"])
    with pytest.raises(ValueError, match="t_max"):
        sample(mixture, schedule, x, torch.tensor([1.5, 0.5]))
    with pytest.raises(ValueError, match="schedule"):
        NoiseSchedule("sigmoid")
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture(torch.tensor([-1.0]), torch.zeros(1, 2), torch.ones(1, 2))


@pytest.mark.parametrize("spacing", ["uniform_time", "uniform_lambda", "edm"])
def test_timestep_spacings(spacing):
    schedule = NoiseSchedule("linear")
    times = timestep_spacing(schedule, 6, spacing)
    assert times.shape == (7,) and times[0] == 1.0 and times[-1] == 1e-3
    assert bool((times[1:] < times[:-1]).all())
    lambdas = schedule.lambda_(times)
    if spacing == "uniform_time":
        assert torch.allclose(times.diff(), times.diff()[:1].expand(6))
    elif spacing == "uniform_lambda":
        assert torch.allclose(lambdas.diff(), lambdas.diff()[:1].expand(6))
    else:                                   # equal steps in (sigma/alpha)^(1/7)
        root = torch.exp(-lambdas / 7.0)
        assert torch.allclose(root.diff(), root.diff()[:1].expand(6))


def test_frechet_distance_matches_scipy_sqrtm():
    import numpy as np
    from scipy.linalg import sqrtm

    from tunegym.simulators.diffusion import frechet_distance

    generator = torch.Generator().manual_seed(4)
    first = torch.randn(500, 3, generator=generator, dtype=torch.float64)
    second = torch.randn(700, 3, generator=generator, dtype=torch.float64) @ torch.tensor(
        [[1.0, 0.3, 0.0], [0.0, 2.0, 0.1], [0.0, 0.0, 0.5]], dtype=torch.float64) + 0.4
    m1, m2 = first.mean(0).numpy(), second.mean(0).numpy()
    c1, c2 = np.cov(first.numpy().T), np.cov(second.numpy().T)
    expected = ((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * sqrtm(c1 @ c2).real)
    assert float(frechet_distance(first, second)) == pytest.approx(expected, rel=1e-8)
    assert float(frechet_distance(first, first)) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("name", ["two_modes", "ill_conditioned", "many_modes"])
def test_shipped_mixtures_sample_and_denoise_in_high_dimension(name):
    from tunegym.simulators.diffusion import make_mixture

    mixture = make_mixture(name, 64)
    draws = mixture.sample(256, torch.Generator().manual_seed(5))
    assert draws.shape == (256, 64) and bool(torch.isfinite(draws).all())
    # at tiny noise the denoiser returns (nearly) the point itself
    assert torch.allclose(mixture.denoise(draws, 1.0, 1e-6), draws, atol=1e-4)
    with pytest.raises(ValueError, match="dimension"):
        make_mixture(name, 1)


@pytest.mark.parametrize("kind", ["cosine", "edm"])
@pytest.mark.parametrize("prediction", ["data", "noise"])
@pytest.mark.parametrize("order", [2, 3])
def test_dpm_solver_estimates_are_the_published_dpm_solver_multistep(kind, prediction, order):
    """DPM-Solver++(2M/3M) (data) and DPM-Solver-2M/3M (noise) on uneven steps."""
    mixture, schedule = rotated_mixture(), NoiseSchedule(kind)
    times = timestep_spacing(schedule, 7, "edm")
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(6),
                    dtype=torch.float64) * schedule.sigma(times[:1])
    ours = sample(mixture, schedule, x, times, [min(order, i + 1) for i in range(7)],
                  [prediction] * 7, estimates=["dpm_solver"] * 7)
    published = dpm_solver_multistep(mixture, schedule, x, times, order, prediction)
    assert torch.allclose(ours, published, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["linear", "edm"])
@pytest.mark.parametrize("prediction", ["data", "noise"])
@pytest.mark.parametrize("variant, estimate", [("bh1", "unipc_bh1"), ("bh2", "dpm_solver")])
def test_unipc_2_is_a_fixed_schedule(kind, prediction, variant, estimate):
    """UniP-2 with UniC-2 after every step but the last (UniC-1 after the first)."""
    mixture, schedule = rotated_mixture(), NoiseSchedule(kind)
    times = timestep_spacing(schedule, 6, "uniform_time")
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(9),
                    dtype=torch.float64) * schedule.sigma(times[:1])
    orders = [1, 2, 2, 2, 2, 2]
    ours = sample(mixture, schedule, x, times, orders, [prediction] * 6,
                  correctors=[True] * 5 + [False], estimates=[estimate] * 6)
    published = unipc(mixture, schedule, x, times, orders, variant, prediction)
    assert torch.allclose(ours, published, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("variant", ["bh1", "bh2"])
def test_unip_3_mixes_estimates_per_step(variant):
    """UniP-3 without corrector: its order-2 warm-up step uses B(h), its order-3 steps
    solve for the exact weights ("taylor")."""
    mixture, schedule = rotated_mixture(), NoiseSchedule("linear")
    times = timestep_spacing(schedule, 6, "uniform_lambda")
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    orders = [1, 2, 3, 3, 3, 3]
    warm_up = "unipc_bh1" if variant == "bh1" else "dpm_solver"
    ours = sample(mixture, schedule, x, times, orders,
                  estimates=["taylor", warm_up] + ["taylor"] * 4)
    published = unipc(mixture, schedule, x, times, orders, variant, corrector=False)
    assert torch.allclose(ours, published, rtol=1e-10, atol=1e-10)


def test_schedules_batched_equal_schedules_one_at_a_time():
    mixture, schedule = rotated_mixture(), NoiseSchedule("linear")
    times = torch.stack([timestep_spacing(schedule, 5, spacing)
                         for spacing in ("uniform_time", "uniform_lambda", "edm")])
    orders = torch.tensor([[1, 2, 3, 3, 2], [1, 1, 2, 2, 2], [1, 2, 2, 3, 1]])
    data = torch.tensor([[True] * 5, [False] * 5, [True, False, True, False, True]])
    correctors = torch.tensor([[True, False, True, False, False], [False] * 5,
                               [True, True, True, True, False]])
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    together = sample(mixture, schedule, x, times, orders, data, correctors)
    for s in range(3):
        alone = sample(mixture, schedule, x, times[s], orders[s], data[s], correctors[s])
        assert torch.allclose(together[s], alone, atol=1e-13)


@pytest.mark.parametrize("order, slope", [(1, 1.8), (2, 2.6)])
def test_a_corrector_raises_the_order_by_one(order, slope):
    mixture, schedule = rotated_mixture(), NoiseSchedule("linear")
    start, end = 1.0, 1e-3
    noise = torch.randn(32, 2, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    reference = reference_solution(mixture, schedule, noise, start, end)
    errors = []
    for steps in (40, 80):
        times = timestep_spacing(schedule, steps, "uniform_lambda", start, end)
        out = sample(mixture, schedule, noise, times, [min(order, i + 1) for i in range(steps)],
                     correctors=[True] * (steps - 1) + [False])
        errors.append(float((out - reference).norm(dim=1).mean()))
    assert math.log2(errors[0] / errors[1]) >= slope, errors


def test_a_corrector_on_the_last_step_is_rejected():
    mixture, schedule = rotated_mixture(), NoiseSchedule()
    with pytest.raises(ValueError, match="correctors"):
        sample(mixture, schedule, torch.zeros(2, 2), torch.tensor([0.9, 0.5]),
               correctors=[True])
