"""Diffusion sampling with an exact denoiser: the simulator under the solver-schedule family.

After Liu et al., "A Unified Sampling Framework for Solver Searching of Diffusion
Probabilistic Models" (USF / S^3, ICLR 2024). Sampling a diffusion model means solving
its probability-flow ODE from noise at t = 1 to data at t ~ 0; with a handful of
function evaluations (NFE) the per-step choices (timesteps, prediction type, order)
decide the quality.

Here the data distribution is a Gaussian mixture, so the denoiser E[x_0 | x_t] is exact
and cheap in closed form: every error is the sampler's own.

* :class:`NoiseSchedule`: x_t = alpha_t x_0 + sigma_t eps, variance preserving
  (alpha_t^2 + sigma_t^2 = 1: "linear", beta from 0.1 to 20, or "cosine") or the
  variance-exploding EDM process ("edm": alpha_t = 1, sigma_t = t from 0.002 to 80); the
  half-log-SNR lambda_t = log(alpha_t / sigma_t) and its inverse in closed form.
  :class:`ScheduleBatch` gives every batch row its own schedule.
* :class:`GaussianMixture`: weights (K,), means (K, d) and covariances given by their
  eigendecompositions; exact denoiser for N samples at once.
* :func:`sample`: the multistep exponential integrator in lambda. Every step may choose
  its own order (1 to 3, from the previous evaluations), prediction type ("data":
  DPM-Solver++, "noise": DPM-Solver), derivative estimate (exact Taylor integrals or the
  published DPM-Solver / UniPC combinations) and a UniC corrector. DDIM,
  DPM-Solver++(2M), DPM-Solver++(3M) and UniPC (B(h) = h or e^h - 1) are fixed choices.
* :func:`reference_solution`: a high-accuracy solve of the probability-flow ODE with
  scipy's ``solve_ivp`` (an independent integrator, for errors and tests).
* :func:`timestep_spacing` (uniform in t, uniform in lambda, EDM), :func:`frechet_distance`
  and the shipped mixtures of :func:`make_mixture`.

Shapes: samples are (N, d) float64; times are floats in (0, t_max] (t_max = 1 for
"linear", 0.9946 for "cosine", 80 for "edm", where t is the noise level sigma).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tunegym.core.random import hash_keys, standard_normal

SCHEDULES = ("linear", "cosine", "edm")
PREDICTIONS = ("data", "noise")
#: Derivative estimates of a step (see :func:`sample`).
ESTIMATES = ("taylor", "dpm_solver", "unipc_bh1")


@dataclass(frozen=True)
class NoiseSchedule:
    """A diffusion process x_t = alpha_t x_0 + sigma_t eps.

    Attributes:
        kind: "linear" (variance preserving, beta(t) = beta_min + t (beta_max - beta_min),
            t in [1e-3, 1]), "cosine" (variance preserving, alpha_t = cos((t + s) / (1 + s)
            pi / 2) / cos(s / (1 + s) pi / 2), t in [1e-3, 0.9946]) or "edm" (variance
            exploding as in Karras et al. 2022: alpha_t = 1, sigma_t = t, t in
            [sigma_min, sigma_max]).
        beta_min, beta_max: the linear schedule's rates.
        cosine_offset: s of the cosine schedule.
        sigma_min, sigma_max: the EDM process's noise-level range.
    """

    kind: str = "linear"
    beta_min: float = 0.1
    beta_max: float = 20.0
    cosine_offset: float = 0.008
    sigma_min: float = 0.002
    sigma_max: float = 80.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.kind!r}")

    @property
    def t_max(self) -> float:
        """Largest usable time (the cosine schedule's alpha reaches 0 at t = 1)."""
        return {"linear": 1.0, "cosine": 0.9946, "edm": self.sigma_max}[self.kind]

    @property
    def t_min(self) -> float:
        """The time sampling ends at by default (1e-3, or sigma_min for "edm")."""
        return self.sigma_min if self.kind == "edm" else 1e-3

    def log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        """log alpha_t for times t (any shape)."""
        t = torch.as_tensor(t, dtype=torch.float64)
        if self.kind == "linear":
            return -0.25 * t ** 2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min
        if self.kind == "edm":
            return torch.zeros_like(t)
        s = self.cosine_offset
        return (torch.log(torch.cos((t + s) / (1 + s) * math.pi / 2))
                - math.log(math.cos(s / (1 + s) * math.pi / 2)))

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_alpha(t))

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        if self.kind == "edm":
            return torch.as_tensor(t, dtype=torch.float64).clone()
        return torch.sqrt(-torch.expm1(2.0 * self.log_alpha(t)))

    def lambda_(self, t: torch.Tensor) -> torch.Tensor:
        """Half log-SNR lambda_t = log alpha_t - log sigma_t (decreasing in t)."""
        if self.kind == "edm":
            return -torch.log(torch.as_tensor(t, dtype=torch.float64))
        log_alpha = self.log_alpha(t)
        return log_alpha - 0.5 * torch.log(-torch.expm1(2.0 * log_alpha))

    def time_of_lambda(self, value: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`lambda_`: the time with half log-SNR ``value``."""
        value = torch.as_tensor(value, dtype=torch.float64)
        if self.kind == "edm":
            return torch.exp(-value)
        log_alpha = -0.5 * torch.nn.functional.softplus(-2.0 * value)
        if self.kind == "linear":
            difference = self.beta_max - self.beta_min
            return (-self.beta_min + torch.sqrt(self.beta_min ** 2 - 4.0 * difference * log_alpha)
                    ) / difference
        s = self.cosine_offset
        cosine = torch.exp(log_alpha + math.log(math.cos(s / (1 + s) * math.pi / 2)))
        return 2.0 * (1 + s) / math.pi * torch.arccos(cosine) - s

    def drift_and_diffusion(self, t: float) -> tuple[float, float]:
        """f(t) = d log alpha / dt and g(t)^2 = d sigma^2 / dt - 2 f(t) sigma^2 at time t
        (the forward SDE dx = f x dt + g dw with these marginals)."""
        t_tensor = torch.tensor(float(t), dtype=torch.float64, requires_grad=True)
        log_alpha, variance = self.log_alpha(t_tensor), self.sigma(t_tensor) ** 2
        drift = torch.autograd.grad(log_alpha, t_tensor, allow_unused=True)[0] \
            if log_alpha.requires_grad else None
        (variance_rate,) = torch.autograd.grad(variance, t_tensor)
        drift = 0.0 if drift is None else float(drift)
        return drift, float(variance_rate) - 2.0 * drift * float(variance.detach())


class ScheduleBatch:
    """One noise schedule per batch row, each row's picked from a few schedules.

    Args:
        schedules: the distinct schedules (a sequence of :class:`NoiseSchedule`).
        index: (B,) int64, row -> position in ``schedules``.

    The methods take times or half log-SNRs of shape (B, ...) and return (B, ...);
    ``t_max`` and ``t_min`` are (B,) float64.
    """

    def __init__(self, schedules, index: torch.Tensor) -> None:
        self.schedules = tuple(schedules)
        self.index = index

    def _pick(self, method: str, values: torch.Tensor) -> torch.Tensor:
        values = torch.as_tensor(values, dtype=torch.float64)
        picked = getattr(self.schedules[0], method)(values)
        for position, schedule in enumerate(self.schedules[1:], start=1):
            rows = (self.index == position).reshape(-1, *[1] * (values.dim() - 1))
            picked = torch.where(rows, getattr(schedule, method)(values), picked)
        return picked

    def _per_row(self, name: str) -> torch.Tensor:
        values = torch.tensor([getattr(schedule, name) for schedule in self.schedules],
                              dtype=torch.float64, device=self.index.device)
        return values[self.index]

    @property
    def t_max(self) -> torch.Tensor:
        return self._per_row("t_max")

    @property
    def t_min(self) -> torch.Tensor:
        return self._per_row("t_min")

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return self._pick("alpha", t)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return self._pick("sigma", t)

    def lambda_(self, t: torch.Tensor) -> torch.Tensor:
        return self._pick("lambda_", t)

    def time_of_lambda(self, value: torch.Tensor) -> torch.Tensor:
        return self._pick("time_of_lambda", value)


class GaussianMixture:
    """Gaussian mixture data distributions with an exact denoiser, optionally a batch of
    them (one per schedule or env).

    Args:
        weights: (..., K) non-negative mixture weights with a positive sum (normalised
            here; a zero weight pads a mixture with fewer components).
        means: (..., K, d).
        eigenvalues: (..., K, d) non-negative covariance eigenvalues (a zero makes the
            component a point mass along that direction: how a mixture in fewer
            dimensions is padded).
        eigenvectors: (..., R, d, d) orthonormal columns of the first R <= K
            components (the others are axis-aligned), or None for the identity
            (axis-aligned covariances).
    The leading dims (...) are the mixture batch (empty for one mixture).
    """

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, eigenvalues: torch.Tensor,
                 eigenvectors: torch.Tensor | None = None) -> None:
        weights = torch.as_tensor(weights, dtype=torch.float64)
        if weights.dim() < 1 or bool((weights < 0).any()) \
                or bool((weights.sum(dim=-1) <= 0).any()):
            raise ValueError("weights must be non-negative with a positive sum, shape (..., K)")
        self.log_weights = torch.log(weights / weights.sum(dim=-1, keepdim=True))
        self.means = torch.as_tensor(means, dtype=torch.float64)
        self.eigenvalues = torch.as_tensor(eigenvalues, dtype=torch.float64)
        if self.means.shape[:-1] != weights.shape or self.eigenvalues.shape != self.means.shape:
            raise ValueError(f"means and eigenvalues must have shape (..., K, d) matching "
                             f"weights {tuple(weights.shape)}, got {tuple(self.means.shape)} "
                             f"and {tuple(self.eigenvalues.shape)}")
        if bool((self.eigenvalues < 0).any()):
            raise ValueError("eigenvalues must be non-negative")
        self.eigenvectors = (None if eigenvectors is None
                             else torch.as_tensor(eigenvectors, dtype=torch.float64))
        if self.eigenvectors is not None and (
                self.eigenvectors.shape[:-3] != self.means.shape[:-2]
                or self.eigenvectors.shape[-1:] != self.means.shape[-1:]
                or not 1 <= self.eigenvectors.shape[-3] <= self.means.shape[-2]
                or self.eigenvectors.shape[-2] != self.means.shape[-1]):
            raise ValueError(f"eigenvectors must have shape (..., R <= K, d, d) within "
                             f"{(*self.means.shape, self.means.shape[-1])}")

    @property
    def dimension(self) -> int:
        return self.means.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.means.shape[:-2])

    def _to_eigenbasis(self, values: torch.Tensor) -> torch.Tensor:
        """(..., N, K, d) -> coordinates in each component's eigenbasis."""
        return self._rotate(values, "...nkd,...kde->...nke")

    def _from_eigenbasis(self, values: torch.Tensor) -> torch.Tensor:
        return self._rotate(values, "...nke,...kde->...nkd")

    def _rotate(self, values: torch.Tensor, equation: str) -> torch.Tensor:
        """Apply the eigenvectors to the first R components of (..., N, K, d) values."""
        if self.eigenvectors is None:
            return values
        rotated = self.eigenvectors.shape[-3]
        turned = torch.einsum(equation, values[..., :rotated, :], self.eigenvectors)
        if rotated == values.shape[-2]:
            return turned
        return torch.cat([turned, values[..., rotated:, :]], dim=-2)

    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(count, d) exact samples of an unbatched mixture."""
        if self.batch_shape:
            raise ValueError("sample() draws from one mixture; index the batch first")
        component = torch.multinomial(self.log_weights.exp(), count, replacement=True,
                                      generator=generator)
        noise = torch.randn(count, self.dimension, dtype=torch.float64, generator=generator)
        scaled = noise * self.eigenvalues[component].sqrt()
        if self.eigenvectors is not None:
            rotated = component < self.eigenvectors.shape[-3]
            turned = torch.einsum("nde,ne->nd", self.eigenvectors[
                component.clamp(max=self.eigenvectors.shape[-3] - 1)], scaled)
            scaled = torch.where(rotated[:, None], turned, scaled)
        return self.means[component] + scaled

    def denoise(self, x: torch.Tensor, alpha: float | torch.Tensor,
                sigma: float | torch.Tensor) -> torch.Tensor:
        """E[x_0 | x_t = x] for x_t = alpha x_0 + sigma eps.

        Args:
            x: (..., N, d), the leading dims broadcasting with the mixture batch.
            alpha: a float, or a tensor of the batch shape (one value per batch element).
            sigma: as ``alpha``.

        Returns:
            (..., N, d).
        """
        alpha = torch.as_tensor(alpha, dtype=torch.float64)[..., None, None]        # (..., 1, 1)
        sigma = torch.as_tensor(sigma, dtype=torch.float64)[..., None, None]
        centred = x[..., :, None, :] - (alpha[..., None] * self.means[..., None, :, :])
        coordinates = self._to_eigenbasis(centred)                                   # (..,N,K,d)
        variance = alpha ** 2 * self.eigenvalues + sigma ** 2                        # (..., K, d)
        log_likelihood = (-0.5 * (coordinates ** 2 / variance[..., None, :, :]).sum(dim=-1)
                          - 0.5 * torch.log(2 * math.pi * variance).sum(dim=-1)[..., None, :])
        responsibility = torch.softmax(self.log_weights[..., None, :] + log_likelihood, dim=-1)
        shrink = (alpha * self.eigenvalues / variance)[..., None, :, :]
        posterior_means = self.means[..., None, :, :] + self._from_eigenbasis(coordinates * shrink)
        return (responsibility[..., None] * posterior_means).sum(dim=-2)


def _check_timesteps(schedule: NoiseSchedule | ScheduleBatch,
                     timesteps: torch.Tensor) -> torch.Tensor:
    """(S, M + 1) strictly decreasing times in (0, t_max]; a (M + 1,) input becomes S = 1."""
    timesteps = torch.as_tensor(timesteps, dtype=torch.float64)
    timesteps = timesteps[None] if timesteps.dim() == 1 else timesteps
    if timesteps.dim() != 2 or timesteps.shape[1] < 2:
        raise ValueError("timesteps must be (M + 1,) or (S, M + 1) with M = NFE >= 1 steps")
    if not bool((timesteps[:, 1:] < timesteps[:, :-1]).all()):
        raise ValueError(f"timesteps must strictly decrease, got {timesteps.tolist()}")
    t_max = torch.as_tensor(schedule.t_max, dtype=torch.float64, device=timesteps.device)
    if not (float(timesteps.min()) > 0 and bool((timesteps.max(dim=1).values <= t_max).all())):
        raise ValueError(f"timesteps must lie in (0, t_max], t_max = {t_max.tolist()}")
    return timesteps


def _per_step(name: str, values, shape: tuple[int, int], default, dtype,
              device: torch.device, allowed: tuple[str, ...] = ()) -> torch.Tensor:
    """A per-step choice as an (S, M) tensor on ``device`` from None, a list (M,) or a
    tensor (S, M); strings in a list are replaced by their position in ``allowed``."""
    if values is None:
        return torch.full(shape, default, dtype=dtype, device=device)
    if allowed and not isinstance(values, torch.Tensor):
        if any(isinstance(value, str) and value not in allowed for value in values):
            raise ValueError(f"{name} must be in {allowed}, got {list(values)!r}")
        values = [allowed.index(value) if isinstance(value, str) else value
                  for value in values]
    tensor = torch.as_tensor(values, device=device).to(dtype)
    tensor = tensor[None].expand(shape[0], -1) if tensor.dim() == 1 else tensor
    if tuple(tensor.shape) != shape:
        raise ValueError(f"{name} must have one entry per step: shape {shape[1:]} or {shape}, "
                         f"got {tuple(tensor.shape)}")
    return tensor


def _derivatives(values: list[torch.Tensor], lambdas: list[torch.Tensor]
                 ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """First and second lambda-derivatives at lambdas[0] of the polynomial through the
    points (lambdas[j], values[j]) (Newton divided differences); lambdas are (S, 1, 1).
    Returns (None, None) for one point, (slope, None) for two."""
    if len(values) == 1:
        return None, None
    first_01 = (values[0] - values[1]) / (lambdas[0] - lambdas[1])
    if len(values) == 2:
        return first_01, None
    first_12 = (values[1] - values[2]) / (lambdas[1] - lambdas[2])
    second = (first_01 - first_12) / (lambdas[0] - lambdas[2])
    return first_01 + second * (lambdas[0] - lambdas[1]), 2.0 * second


def _exponential_weights(h: torch.Tensor, data: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Exact integrals of the Taylor terms 1, u, u^2/2 against exp(-(h-u)) (data
    prediction, where ``data`` (S, 1, 1) is True) or exp(u) scaled (noise prediction),
    for steps h (S, 1, 1) > 0."""
    decay, growth = torch.expm1(-h), torch.expm1(h)
    return (torch.where(data, -decay, growth), torch.where(data, h + decay, growth - h),
            torch.where(data, h * h / 2 - h - decay, growth - h - h * h / 2))


def _increment(values, lambdas, order, estimate, h, data, corrector):
    """The model integral of one step for every schedule: (S, N, d).

    values/lambdas: the available evaluations, the step's own first (a corrector's
    second is the new point); order (S,) 1..3; estimate (S,) a position in
    :data:`ESTIMATES`; data (S, 1, 1) bool, the data (True) or noise form; corrector:
    whether this is a corrector's re-take (a Python bool)."""
    weights = _exponential_weights(h, data)
    increment = weights[0] * values[0]
    if len(values) >= 2:
        order_view, estimate_view = order[:, None, None], estimate[:, None, None]
        slope, _ = _derivatives(values[:2], lambdas[:2])
        # UniPC's B(h) rho h slope with rho = 1/2: B(h) = weights[0] (= e^h - 1 in the noise
        # form: DPM-Solver's 2M midpoint, UniPC "bh2") or B(h) = h (UniPC "bh1").
        published = torch.where(estimate_view == 1, weights[0], h) * slope * h / 2
        second_order = torch.where(estimate_view == 0, weights[1] * slope, published)
        increment = increment + torch.where(order_view >= 2, second_order, 0.0)
        if len(values) >= 3:
            slope, curvature = _derivatives(values[:3], lambdas[:3])
            if not corrector:          # DPM-Solver(++)-3M weighs the curvature term by 1/2
                curvature = torch.where(estimate_view == 1, 0.5 * curvature, curvature)
            third_order = weights[1] * slope + weights[2] * curvature
            increment = torch.where(order_view >= 3,
                                    weights[0] * values[0] + third_order, increment)
    return increment


def sample(mixture: GaussianMixture, schedule: NoiseSchedule | ScheduleBatch,
           noise: torch.Tensor, timesteps: torch.Tensor, orders=None, predictions=None,
           correctors=None, estimates=None, block_elements: int | None = None
           ) -> torch.Tensor:
    """Solve the probability-flow ODE for S solver schedules at once.

    Exponential integrator in lambda with the model (the data prediction x0_hat or the
    noise prediction eps_hat) replaced by the polynomial through its last ``order``
    evaluations, integrated exactly. With h = lambda_next - lambda_now > 0 and a, b the
    first and second lambda-derivatives of that polynomial:

    * data:  x' = sigma'/sigma x + alpha' [(1 - e^-h) x0 + (h - 1 + e^-h) a
      + (h^2/2 - h + 1 - e^-h) b]  (the DPM-Solver++ family);
    * noise: x' = alpha'/alpha x - sigma' [(e^h - 1) eps + (e^h - 1 - h) a
      + (e^h - 1 - h - h^2/2) b]  (the DPM-Solver family).

    Order 1 is DDIM for either prediction; order k has local error O(h^(k+1)).

    ``estimates`` picks how the derivatives enter, per step:

    * "taylor": the exact integrals above (for three points this is UniPC's UniP-3 and,
      in a corrector, UniC-2: both solve for the exact weights);
    * "dpm_solver": the published DPM-Solver(++) multistep combinations: with two points
      B(h) h a / 2, B(h) = 1 - e^-h (data) or e^h - 1 (noise) in place of the a term
      (the 2M midpoint rule, which is also UniPC's UniP-2 / UniC-1 with B(h) = "bh2");
      with three points the curvature term weighted by 1/2 (the published 3M rule);
    * "unipc_bh1": two points as UniPC's UniP-2 / UniC-1 with B(h) = h, i.e. h^2 a / 2;
      three points as "taylor".

    A ``corrector`` step (UniC, no extra evaluation) re-takes the step with the polynomial
    through one more point (order + 1, at most 3), the model evaluated at the predicted
    x' (that evaluation is the next step's); it is not allowed on the last step.

    Args:
        mixture: one mixture, or a batch of S (one per schedule); anything with
            ``denoise(x, alpha, sigma)`` (e.g. a trained denoiser) works.
        schedule: the noise schedule, or a :class:`ScheduleBatch` of S rows.
        noise: (N, d) or (S, N, d) samples at timesteps[..., 0].
        timesteps: (M + 1,) or (S, M + 1) strictly decreasing; M = NFE.
        orders: per step 1..3 (default 1), step i may use order <= i + 1: list (M,) or
            tensor (S, M).
        predictions: per step "data" / "noise", or bool tensor (S, M) (True = data);
            default data.
        correctors: per step bool, default False.
        estimates: per step a name in :data:`ESTIMATES` or its position (tensor (S, M));
            default "taylor".
        block_elements: the samples are independent, so they are integrated in blocks
            of about this many (S x block x K x d, K the mixture's components) float64
            elements, which keeps the denoiser's intermediates in cache on a CPU.
            Default 2^18 on CPU, no blocks on GPU.

    Returns:
        (N, d) for one schedule given as (M + 1,), else (S, N, d).
    """
    single = torch.as_tensor(timesteps).dim() == 1
    timesteps = _check_timesteps(schedule, timesteps)
    count, steps = timesteps.shape[0], timesteps.shape[1] - 1
    shape = (count, steps)
    device = timesteps.device
    orders = _per_step("orders", orders, shape, 1, torch.int64, device)
    data_steps = _per_step("predictions", predictions, shape, True, torch.bool, device,
                           allowed=("noise", "data"))
    correctors = _per_step("correctors", correctors, shape, False, torch.bool, device)
    estimates = _per_step("estimates", estimates, shape, 0, torch.int64, device,
                          allowed=ESTIMATES)
    for index in range(steps):
        bad = (orders[:, index] < 1) | (orders[:, index] > min(3, index + 1))
        if bool(bad.any()):
            raise ValueError(f"orders[{index}] must be in 1..{min(3, index + 1)} (step {index} "
                             f"has {index + 1} evaluations), got {orders[:, index].tolist()}")
    if bool(((estimates < 0) | (estimates >= len(ESTIMATES))).any()):
        raise ValueError(f"estimates must be positions in {ESTIMATES}")
    if bool(correctors[:, -1].any()):
        raise ValueError("correctors must be False on the last step (it would need an extra "
                         "model evaluation)")

    lambdas = schedule.lambda_(timesteps)[..., None, None]                        # (S, M+1, 1, 1)
    alphas, sigmas = schedule.alpha(timesteps), schedule.sigma(timesteps)         # (S, M+1)
    x = noise.to(torch.float64).expand(count, *noise.shape[-2:])
    block = _block_size(mixture, x, block_elements)
    solved = torch.cat([_integrate(mixture, part.clone(), lambdas, alphas, sigmas, orders,
                                   data_steps, correctors, estimates)
                        for part in x.split(block, dim=1)], dim=1)
    return solved[0] if single else solved


def _integrate(mixture, x, lambdas, alphas, sigmas, orders, data_steps, correctors,
               estimates) -> torch.Tensor:
    """The body of :func:`sample` for samples x (S, n, d), inputs already checked."""
    steps = orders.shape[1]
    history = {True: [], False: []}                            # model values, newest first
    evaluation = evaluate_model(mixture, x, alphas[:, 0], sigmas[:, 0])
    for index in range(steps):
        history[True].insert(0, evaluation[0])
        history[False].insert(0, evaluation[1])
        step_lambdas = [lambdas[:, index - j] for j in range(min(index + 1, 3))]
        h = lambdas[:, index + 1] - lambdas[:, index]
        step_alphas, step_sigmas = alphas[:, index:index + 2], sigmas[:, index:index + 2]
        predicted = solver_step(x, history, step_lambdas, orders[:, index],
                                estimates[:, index], data_steps[:, index], h, step_alphas,
                                step_sigmas)
        if index + 1 == steps:
            return predicted
        # The model at the predicted point: the next step's evaluation for every schedule,
        # and the extra point of this step's corrector where one is asked for.
        evaluation = evaluate_model(mixture, predicted, alphas[:, index + 1], sigmas[:, index + 1])
        if bool(correctors[:, index].any()):
            corrected = corrector_step(x, history, evaluation, step_lambdas,
                                       lambdas[:, index + 1], orders[:, index],
                                       estimates[:, index], data_steps[:, index], h,
                                       step_alphas, step_sigmas)
            x = torch.where(correctors[:, index, None, None], corrected, predicted)
        else:
            x = predicted
    raise AssertionError("unreachable: the loop returns at its last step")


def _block_size(mixture, x: torch.Tensor, block_elements: int | None = None) -> int:
    """Samples per block so that the denoiser's (S, block, K, d) intermediates hold
    about ``block_elements`` (default 2^18 on CPU, where that keeps them in cache; all
    samples at once on GPU) float64 entries, for x (S, N, d)."""
    if block_elements is None:
        block_elements = 2 ** 18 if x.device.type == "cpu" else x.numel()
    components = mixture.means.shape[-2] if isinstance(mixture, GaussianMixture) else 1
    return max(1, block_elements // (x.shape[0] * x.shape[-1] * components))


def evaluate_model(mixture: GaussianMixture, x: torch.Tensor, alpha: torch.Tensor,
                   sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One model evaluation at x (S, N, d) with alpha, sigma (S,): (data prediction,
    noise prediction), each (S, N, d); the samples go through the model in
    cache-sized blocks."""
    parts = x.split(_block_size(mixture, x), dim=1)
    data = (mixture.denoise(x, alpha, sigma) if len(parts) == 1 else
            torch.cat([mixture.denoise(part, alpha, sigma) for part in parts], dim=1))
    return data, (x - alpha[:, None, None] * data) / sigma[:, None, None]


def solver_step(x, history, step_lambdas, order, estimate, data_step, h, alphas, sigmas,
                corrector: bool = False):
    """One exponential-integrator step for every schedule, in the data or the noise form
    per schedule: (S, N, d).

    Args:
        x: (S, N, d) samples at the step's start.
        history: {True: data predictions, False: noise predictions}, lists of (S, N, d),
            the step's own evaluation first (then the corrector's new point, if any).
        step_lambdas: the lambdas of those evaluations, each (S, 1, 1).
        order: (S,) int64.
        estimate: (S,) int64.
        data_step: (S,) bool.
        h: (S, 1, 1) the step in lambda.
        alphas: (S, 2) at the step's start and end.
        sigmas: (S, 2) at the step's start and end.
        corrector: whether this is a corrector's re-take.
    """
    count = len(step_lambdas)
    if bool(data_step.all()) or not bool(data_step.any()):
        values = history[bool(data_step[0])][:count]
    else:                                   # each schedule's own form, no wasted branch
        rows = data_step[:, None, None]
        values = [torch.where(rows, data, noise)
                  for data, noise in zip(history[True][:count], history[False][:count])]
    increment = _increment(values, step_lambdas, order, estimate, h, data_step[:, None, None],
                           corrector)
    ratio = torch.where(data_step, sigmas[:, 1] / sigmas[:, 0], alphas[:, 1] / alphas[:, 0])
    scale = torch.where(data_step, alphas[:, 1], -sigmas[:, 1])
    return ratio[:, None, None] * x + scale[:, None, None] * increment


def corrector_step(x, history, evaluation, step_lambdas, lambda_next, order, estimate,
                   data_step, h, alphas, sigmas):
    """The UniC re-take of a step: :func:`solver_step` with the model ``evaluation``
    (data, noise) at the predicted point (lambda ``lambda_next`` (S, 1, 1)) as one more
    interpolation point, at order + 1 (at most 3): (S, N, d)."""
    extended = {data: [history[data][0], evaluation[0 if data else 1], *history[data][1:]]
                for data in (True, False)}
    return solver_step(x, extended, [step_lambdas[0], lambda_next, *step_lambdas[1:]],
                       (order + 1).clamp(max=3), estimate, data_step, h, alphas, sigmas,
                       corrector=True)


def reference_solution(mixture: GaussianMixture, schedule: NoiseSchedule, noise: torch.Tensor,
                       t_start: float, t_end: float, rtol: float = 1e-10,
                       atol: float = 1e-12) -> torch.Tensor:
    """The probability-flow ODE dx/dt = f(t) x - g(t)^2 / 2 * score(x, t), with
    score = -(x - alpha_t x0_hat) / sigma_t^2, solved by scipy's ``solve_ivp`` (DOP853)
    from ``noise`` (N, d) at ``t_start`` to ``t_end``: (N, d)."""
    from scipy.integrate import solve_ivp

    shape = noise.shape

    def velocity(t: float, flat):
        x = torch.from_numpy(flat).reshape(shape)
        alpha, sigma = schedule.alpha(torch.tensor(t)), schedule.sigma(torch.tensor(t))
        drift, diffusion = schedule.drift_and_diffusion(t)
        score = -(x - alpha * mixture.denoise(x, alpha, sigma)) / sigma ** 2
        return (drift * x - 0.5 * diffusion * score).reshape(-1).numpy()

    solution = solve_ivp(velocity, (t_start, t_end), noise.to(torch.float64).reshape(-1).numpy(),
                         method="DOP853", rtol=rtol, atol=atol)
    if not solution.success:
        raise RuntimeError(f"reference ODE solve failed: {solution.message}")
    return torch.from_numpy(solution.y[:, -1]).reshape(shape)


# ----------------------------------------------------------------- timestep spacings
SPACINGS = ("uniform_time", "uniform_lambda", "edm")


def timestep_spacing(schedule: NoiseSchedule, steps: int, spacing: str = "uniform_lambda",
                     t_start: float | None = None, t_end: float | None = None,
                     rho: float = 7.0) -> torch.Tensor:
    """The (steps + 1,) decreasing times of a fixed solver schedule, from ``t_start``
    (default ``schedule.t_max``) to ``t_end`` (default ``schedule.t_min``).

    * "uniform_time": equal steps in t;
    * "uniform_lambda": equal steps in the half log-SNR (DPM-Solver's default);
    * "edm": Karras et al.'s spacing, equal steps in sigma_edm^(1/rho) with
      sigma_edm = sigma_t / alpha_t = exp(-lambda_t) and rho = 7.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps (NFE) must be an integer >= 1, got {steps!r}")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    start = schedule.t_max if t_start is None else t_start
    t_end = schedule.t_min if t_end is None else t_end
    if not 0 < t_end < start <= schedule.t_max:
        raise ValueError(f"need 0 < t_end < t_start <= {schedule.t_max}, got {t_end}, {start}")
    fraction = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    if spacing == "uniform_time":
        times = start + (t_end - start) * fraction
    else:
        bounds = schedule.lambda_(torch.tensor([start, t_end], dtype=torch.float64))
        if spacing == "uniform_lambda":
            lambdas = bounds[0] + (bounds[1] - bounds[0]) * fraction
        else:
            edm_sigma = torch.exp(-bounds / rho)                      # sigma_edm^(1/rho)
            lambdas = -rho * torch.log(edm_sigma[0] + (edm_sigma[1] - edm_sigma[0]) * fraction)
        times = schedule.time_of_lambda(lambdas)
    times[0], times[-1] = start, t_end
    return times


# -------------------------------------------------------------------------- metrics
def frechet_distance(samples: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Frechet distance between Gaussians fitted to two sample sets (N, d) and (M, d):
    |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1^(1/2) S_2 S_1^(1/2))^(1/2)), float64 scalar."""
    def moments(values):
        values = values.to(torch.float64)
        return values.mean(dim=0), torch.cov(values.T).reshape(values.shape[1], -1)

    def psd_sqrt(matrix):
        eigenvalues, eigenvectors = torch.linalg.eigh(0.5 * (matrix + matrix.T))
        return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T

    mean_1, covariance_1 = moments(samples)
    mean_2, covariance_2 = moments(reference)
    root_1 = psd_sqrt(covariance_1)
    cross = psd_sqrt(root_1 @ covariance_2 @ root_1)
    return ((mean_1 - mean_2) ** 2).sum() + torch.trace(covariance_1 + covariance_2 - 2 * cross)


# --------------------------------------------------------------------- mixtures
MIXTURES = ("two_modes", "ill_conditioned", "many_modes")
#: The kinds whose components have rotated (non-isotropic) covariances.
ROTATED_MIXTURES = ("ill_conditioned",)


def mixture_parameters(kind: str, dimension: int,
                       keys: torch.Tensor) -> dict[str, torch.Tensor]:
    """Parameters of b mixtures of one kind, drawn counter-based from keys (b,) (see
    :func:`make_mixture` for the kinds): ``weights`` (b, K), ``means`` (b, K, d),
    ``eigenvalues`` (b, K, d) and, for the kinds with rotated covariances
    (:data:`ROTATED_MIXTURES`), ``eigenvectors`` (b, K, d, d) (the isotropic kinds need
    none: a rotation leaves their covariances unchanged)."""
    count, device = keys.shape[0], keys.device
    if kind == "two_modes":
        direction = standard_normal(keys, (dimension,), stream=40)
        direction = direction / direction.norm(dim=1, keepdim=True)
        means = torch.stack([-2.0 * direction, 1.5 * direction], dim=1)
        weights = torch.tensor([0.3, 0.7], dtype=torch.float64, device=device).expand(count, -1)
        eigenvalues = torch.full((count, 2, dimension), 0.25, dtype=torch.float64, device=device)
    elif kind == "ill_conditioned":
        means = standard_normal(keys, (3, dimension), stream=41)
        weights = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64,
                               device=device).expand(count, -1)
        eigenvalues = torch.logspace(-3, 1, dimension, dtype=torch.float64,
                                     device=device).expand(count, 3, -1)
    else:
        means = standard_normal(keys, (16, dimension), stream=42)
        means = 3.0 * means / means.norm(dim=2, keepdim=True)
        weights = torch.ones(count, 16, dtype=torch.float64, device=device)
        eigenvalues = torch.full((count, 16, dimension), 0.05, dtype=torch.float64,
                                 device=device)
    parameters = {"weights": weights.contiguous(), "means": means,
                  "eigenvalues": eigenvalues.contiguous()}
    if kind in ROTATED_MIXTURES:
        random_matrices = standard_normal(keys, (means.shape[1], dimension, dimension),
                                          stream=43)
        parameters["eigenvectors"] = torch.linalg.qr(random_matrices)[0]
    return parameters


#: Components of each shipped mixture kind.
MIXTURE_COMPONENTS = {"two_modes": 2, "ill_conditioned": 3, "many_modes": 16}


def padded_mixture_parameters(kinds: tuple[str, ...], dimensions: tuple[int, ...],
                              kind_index: torch.Tensor, dimension_index: torch.Tensor,
                              keys: torch.Tensor) -> dict[str, torch.Tensor]:
    """Parameters of b mixtures of different kinds and dimensions, padded to one shape so
    they batch: row i is :func:`mixture_parameters` of ``kinds[kind_index[i]]`` in
    ``dimensions[dimension_index[i]]`` dimensions from ``keys[i]``, padded with
    zero-weight components and, past its dimension, with zero means and zero eigenvalues
    (a point mass at 0: with zero initial noise there the samples, the model and every
    solver stay exactly 0 in the padded coordinates).

    Args:
        kinds: the mixture kinds to choose from.
        dimensions: the dimensions to choose from.
        kind_index: (b,) int64, each row's index into ``kinds``.
        dimension_index: (b,) int64, each row's index into ``dimensions``.
        keys: (b,) int64, each row's random key.

    Returns:
        ``weights`` (b, K), ``means`` and ``eigenvalues`` (b, K, D) and, if a kind has
        rotated covariances, ``eigenvectors`` (b, R, D, D) of the first R components
        (R the most components of a rotated kind; identity for the other rows), with K
        the most components and D the largest dimension.
    """
    count, device = keys.shape[0], keys.device
    components = max(MIXTURE_COMPONENTS[kind] for kind in kinds)
    largest = max(dimensions)
    padded = {"weights": torch.zeros(count, components, dtype=torch.float64, device=device),
              "means": torch.zeros(count, components, largest, dtype=torch.float64,
                                   device=device),
              "eigenvalues": torch.ones(count, components, largest, dtype=torch.float64,
                                        device=device)}
    rotated = [MIXTURE_COMPONENTS[kind] for kind in kinds if kind in ROTATED_MIXTURES]
    if rotated:
        padded["eigenvectors"] = torch.eye(largest, dtype=torch.float64,
                                           device=device).repeat(count, max(rotated), 1, 1)
    for kind_position, kind in enumerate(kinds):
        for dimension_position, dimension in enumerate(dimensions):
            rows = ((kind_index == kind_position)
                    & (dimension_index == dimension_position)).nonzero()[:, 0]
            if rows.numel() == 0:
                continue
            parameters = mixture_parameters(kind, dimension, keys[rows])
            used = parameters["weights"].shape[1]
            padded["weights"][rows, :used] = parameters["weights"]
            padded["means"][rows, :used, :dimension] = parameters["means"]
            padded["eigenvalues"][rows, :used, :dimension] = parameters["eigenvalues"]
            padded["eigenvalues"][rows, :used, dimension:] = 0.0
            if "eigenvectors" in parameters:
                padded["eigenvectors"][rows, :used, :dimension, :dimension] = \
                    parameters["eigenvectors"]
    return padded


def make_mixture(name: str, dimension: int, seed: int = 0) -> GaussianMixture:
    """A shipped Gaussian mixture in ``dimension`` (2 to 256) dimensions.

    * "two_modes": two well-separated isotropic modes (weights 0.3 / 0.7);
    * "ill_conditioned": three modes with random rotations and covariance eigenvalues
      spread over four decades (condition number 1e4);
    * "many_modes": 16 equal modes of small isotropic width on a sphere of radius 3.
    """
    if name not in MIXTURES:
        raise ValueError(f"mixture must be one of {MIXTURES}, got {name!r}")
    if isinstance(dimension, bool) or not isinstance(dimension, int) \
            or not 2 <= dimension <= 256:
        raise ValueError(f"dimension must be an integer in [2, 256], got {dimension!r}")
    parameters = mixture_parameters(name, dimension, hash_keys(torch.tensor([seed])))
    return GaussianMixture(**{key: value[0] for key, value in parameters.items()})
