"""``tunegym/SolverSchedule-v0``: choose a diffusion sampler's per-step strategy.

After Liu et al., "A Unified Sampling Framework for Solver Searching of Diffusion
Probabilistic Models" (USF / S^3, ICLR 2024). An episode is one sampling run of
``num_samples`` samples with an NFE budget; each env step chooses the next solver step
(a MultiDiscrete action):

* timestep: the next half log-SNR is lambda + f (lambda_end - lambda) / nfe_left with
  f in (0.5, 0.75, 1, 1.25, 1.5) (f = 1: uniform-lambda spacing); the last step always
  ends at ``t_end``;
* prediction: data (DPM-Solver++ form) or noise (DPM-Solver form);
* order: 1, 2 or 3 (capped by the model evaluations available: step k has k);
* derivative: Taylor, or the published 2M midpoint combination (order-2 steps);
* corrector: off or on (UniC-style, no extra evaluation; ignored on the last step).

The data distribution is a Gaussian mixture (``mixture``: "two_modes",
"ill_conditioned", "many_modes") in ``dimension`` dimensions whose means and rotations
are drawn from the episode seed (the split picks an independent stream), so a learned
policy must generalise across mixtures. The exact denoiser is the model, so the error
is the sampler's own. Reward: 0 until the last step, then -log(error) with error the
mean Euclidean distance (per sample, in data units) to a high-accuracy solution of the
same probability-flow ODE from the same noise (200 uniform-lambda third-order steps
with correctors; its own error is far below any NFE <= 20 schedule's). Info:
``error`` (at the end), ``nfe_used``.

Observation (6 features): step / nfe, t / t_max, remaining lambda fraction,
nfe_left / nfe, and s / (1 + s) for s the RMS of the sample coordinates and for s their
mean per-coordinate standard deviation. ``info["error"]`` is -1 before the last step.

``tunegym/SolverScheduleOneShot-v0`` takes the whole schedule as one action (the 5
choices for each of ``nfe`` steps, flattened) and ends after one step: the search
agents' view.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import torch

from tunegym.core import BatchedEnv, check_choice, check_integer, derive_envs
from tunegym.core.random import hash_keys, standard_normal, uniform
from tunegym.simulators.diffusion import (
    MIXTURES,
    SCHEDULES,
    GaussianMixture,
    NoiseSchedule,
    evaluate_model,
    mixture_parameters,
    sample,
    solver_step,
    timestep_spacing,
)

#: Multipliers of the uniform-lambda step for the timestep choice.
TIMESTEP_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5)
#: Per step: timestep factor, prediction (0 data, 1 noise), order - 1, derivative
#: (0 Taylor, 1 midpoint), corrector (0 off, 1 on).
CHOICES = (len(TIMESTEP_FACTORS), 2, 3, 2, 2)
T_END = 1e-3
REFERENCE_STEPS = 200


def _mixture(state: dict[str, torch.Tensor]) -> GaussianMixture:
    return GaussianMixture(state["weights"], state["means"], state["eigenvalues"],
                           state["eigenvectors"])


class SolverScheduleEnv(BatchedEnv):
    """Batched sequential solver-schedule env (see module docstring).

    Args:
        mixture: data distribution family.
        dimension: d, 2 to 256.
        schedule: "linear" or "cosine" noise schedule.
        nfe: NFE budget, an int (1 to 20) or a list of ints drawn per episode.
        num_samples: samples per sampling run.
    """

    family = "solver_schedule"
    reward_description = "-log(mean distance to the exact ODE solution) at the last step"

    def __init__(self, num_envs: int = 1, device: str = "cpu", split: str = "train",
                 mixture: str = "two_modes", dimension: int = 8, schedule: str = "linear",
                 nfe: int | list[int] = 6, num_samples: int = 256) -> None:
        super().__init__(num_envs, device, split)
        check_choice("mixture", mixture, MIXTURES)
        check_choice("schedule", schedule, SCHEDULES)
        self.mixture_kind, self.schedule = mixture, NoiseSchedule(schedule)
        self.dimension = check_integer("dimension", dimension, minimum=2)
        if self.dimension > 256:
            raise ValueError(f"dimension must be in [2, 256], got {dimension}")
        budgets = [nfe] if isinstance(nfe, int) and not isinstance(nfe, bool) else nfe
        if not isinstance(budgets, (list, tuple)) or not budgets or not all(
                isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 20 for n in budgets):
            raise ValueError(f"nfe must be an int in [1, 20] or a list of them, got {nfe!r}")
        self.nfe_choices = torch.tensor(sorted(set(budgets)), device=self.device)
        self.max_nfe = int(self.nfe_choices.max())
        self.num_samples = check_integer("num_samples", num_samples, minimum=2)
        bounds = self.schedule.lambda_(torch.tensor([self.schedule.t_max, T_END]))
        self.lambda_start, self.lambda_end = float(bounds[0]), float(bounds[1])
        self.single_observation_space = gymnasium.spaces.Box(
            np.array([0, 0, 0, 0, 0, 0], dtype=np.float32),
            np.array([1, 1, 1, 1, 1, 1], dtype=np.float32))
        self.single_action_space = gymnasium.spaces.MultiDiscrete(list(CHOICES))

    # ------------------------------------------------------------------ hooks
    def initial_state(self, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        keys = hash_keys(self.split_key, seeds)
        state = mixture_parameters(self.mixture_kind, self.dimension, keys)
        count = seeds.shape[0]
        nfe_index = (uniform(keys, (1,), stream=44)[:, 0] * self.nfe_choices.numel()).long()
        sigma_start = self.schedule.sigma(torch.tensor(self.schedule.t_max))
        noise = standard_normal(keys, (self.num_samples, self.dimension), stream=45) * sigma_start
        start = torch.full((count,), self.schedule.t_max, dtype=torch.float64,
                           device=self.device)
        data, eps = evaluate_model(_mixture(state), noise, self.schedule.alpha(start),
                              self.schedule.sigma(start))
        state.update({
            "reference": self.reference(state, noise), "x": noise,
            "data": data, "noise_prediction": eps,
            "previous_data": torch.zeros(count, 2, self.num_samples, self.dimension,
                                         dtype=torch.float64, device=self.device),
            "previous_noise": torch.zeros(count, 2, self.num_samples, self.dimension,
                                          dtype=torch.float64, device=self.device),
            "previous_lambda": torch.zeros(count, 2, dtype=torch.float64, device=self.device),
            "lambda": torch.full((count,), self.lambda_start, dtype=torch.float64,
                                 device=self.device),
            "nfe": self.nfe_choices[nfe_index],
            "step": torch.zeros(count, dtype=torch.int64, device=self.device)})
        return state

    def reference(self, state: dict[str, torch.Tensor], noise: torch.Tensor) -> torch.Tensor:
        """High-accuracy samples (b, N, d): 200 uniform-lambda order-3 steps with
        correctors, from ``noise`` at t_max to t_end."""
        times = timestep_spacing(self.schedule, REFERENCE_STEPS, "uniform_lambda",
                                 t_end=T_END).to(self.device)
        orders = [min(3, index + 1) for index in range(REFERENCE_STEPS)]
        correctors = [True] * (REFERENCE_STEPS - 1) + [False]
        return sample(_mixture(state), self.schedule, noise,
                      times.expand(noise.shape[0], -1), torch.tensor(orders).expand(
                          noise.shape[0], -1), correctors=torch.tensor(correctors).expand(
                          noise.shape[0], -1))

    def observe(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        nfe = state["nfe"].to(torch.float64)
        time = self.schedule.time_of_lambda(state["lambda"])
        remaining = ((self.lambda_end - state["lambda"])
                     / (self.lambda_end - self.lambda_start))
        x = state["x"]
        rms = x.pow(2).mean(dim=(1, 2)).sqrt()
        spread = x.std(dim=1).mean(dim=1)
        features = torch.stack([state["step"] / nfe, time / self.schedule.t_max, remaining,
                                (nfe - state["step"]) / nfe, rms / (1 + rms),
                                spread / (1 + spread)], dim=1)
        return features.to(torch.float32)

    def transition(self, state, action):
        action = action.long()
        step, nfe = state["step"], state["nfe"]
        left = (nfe - step).to(torch.float64)
        factor = torch.tensor(TIMESTEP_FACTORS, dtype=torch.float64,
                              device=self.device)[action[:, 0]]
        last = left <= 1
        lambda_now = state["lambda"]
        lambda_next = torch.where(last, torch.full_like(lambda_now, self.lambda_end),
                                  lambda_now + factor * (self.lambda_end - lambda_now) / left)
        available = (step + 1).clamp(max=3)
        order = torch.minimum(action[:, 2] + 1, available)
        data_step = action[:, 1] == 0
        midpoint = action[:, 3] == 1
        corrector = (action[:, 4] == 1) & ~last
        lambdas = torch.stack([lambda_now, lambda_next], dim=1)
        times = self.schedule.time_of_lambda(lambdas)
        alphas, sigmas = self.schedule.alpha(times), self.schedule.sigma(times)
        # Unavailable history slots get distinct dummy lambdas: never selected, never 0/0.
        previous_lambda = torch.where(
            torch.arange(2, device=self.device)[None, :] < step[:, None],
            state["previous_lambda"], lambda_now[:, None] - 1.0 - torch.arange(
                2, dtype=torch.float64, device=self.device)[None, :])
        history = {True: [state["data"], *state["previous_data"].unbind(1)],
                   False: [state["noise_prediction"], *state["previous_noise"].unbind(1)]}
        step_lambdas = [value[:, None, None] for value in
                        (lambda_now, *previous_lambda.unbind(1))]
        h = (lambda_next - lambda_now)[:, None, None]
        x = state["x"]
        predicted = solver_step(x, history, step_lambdas, order, midpoint, data_step, h,
                               alphas, sigmas, 0)
        mixture = _mixture(state)
        data, eps = evaluate_model(mixture, predicted, alphas[:, 1], sigmas[:, 1])
        extended = {True: [history[True][0], data, *history[True][1:2]],
                    False: [history[False][0], eps, *history[False][1:2]]}
        corrected = solver_step(x, extended, [step_lambdas[0], lambda_next[:, None, None],
                                             step_lambdas[1]],
                               (order + 1).clamp(max=3), torch.zeros_like(midpoint),
                               data_step, h, alphas, sigmas, 0)
        new_x = torch.where(corrector[:, None, None], corrected, predicted)
        next_step = step + 1
        done = next_step >= nfe
        error = (new_x - state["reference"]).norm(dim=2).mean(dim=1)
        reward = torch.where(done, -torch.log(error), torch.zeros_like(error))
        new_state = {**state, "x": new_x, "data": data, "noise_prediction": eps,
                     "previous_data": torch.stack([state["data"],
                                                   state["previous_data"][:, 0]], dim=1),
                     "previous_noise": torch.stack([state["noise_prediction"],
                                                    state["previous_noise"][:, 0]], dim=1),
                     "previous_lambda": torch.stack([lambda_now,
                                                     state["previous_lambda"][:, 0]], dim=1),
                     "lambda": lambda_next, "step": next_step}
        info = {"error": torch.where(done, error, -1.0), "nfe_used": next_step}
        return new_state, reward.to(torch.float32), done, torch.zeros_like(done), info


class SolverScheduleOneShotEnv(SolverScheduleEnv):
    """The whole schedule as one action: MultiDiscrete of the 5 choices for each of
    ``max(nfe)`` steps, flattened (entries past an episode's budget are ignored); one
    env step plays the schedule and ends the episode."""

    reward_description = "-log(mean distance to the exact ODE solution) of the schedule"

    def __init__(self, num_envs: int = 1, **kwargs) -> None:
        super().__init__(num_envs, **kwargs)
        self.single_action_space = gymnasium.spaces.MultiDiscrete(list(CHOICES) * self.max_nfe)

    def transition(self, state, action):
        per_step = action.long().reshape(action.shape[0], self.max_nfe, len(CHOICES))
        reward = torch.zeros(action.shape[0], dtype=torch.float32, device=self.device)
        done = torch.zeros(action.shape[0], dtype=torch.bool, device=self.device)
        info = {}
        for index in range(self.max_nfe):
            running = ~done
            new_state, step_reward, step_done, _, step_info = super().transition(
                state, per_step[:, index])
            state = {name: torch.where(running.reshape(-1, *[1] * (value.dim() - 1)),
                                       new_state[name], value)
                     for name, value in state.items()}
            reward = torch.where(running, step_reward, reward)
            info = {name: torch.where(running, value, info[name]) if info else value
                    for name, value in step_info.items()}
            done = done | step_done
        return state, reward, done, torch.zeros_like(done), info


SolverScheduleGymEnv, SolverScheduleVectorEnv = derive_envs(SolverScheduleEnv)
SolverScheduleOneShotGymEnv, SolverScheduleOneShotVectorEnv = derive_envs(
    SolverScheduleOneShotEnv)
