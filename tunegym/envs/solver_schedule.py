"""``tunegym/SolverSchedule-v0``: choose a diffusion sampler's per-step strategy.

After Liu et al., "A Unified Sampling Framework for Solver Searching of Diffusion
Probabilistic Models" (USF / S^3, ICLR 2024). An episode is one sampling run of
``num_samples`` samples with an NFE budget; each env step chooses the next solver step
(a MultiDiscrete action):

* timestep: the next half log-SNR is lambda + f (lambda_end - lambda) / nfe_left with
  f in (0.5, 0.75, 1, 1.25, 1.5) (f = 1: uniform-lambda spacing); the last step always
  ends at the schedule's ``t_min``;
* prediction: data (DPM-Solver++ form) or noise (DPM-Solver form);
* order: 1, 2 or 3 (capped by the model evaluations available: step k has k);
* derivative estimate: "taylor" (exact integrals), "dpm_solver" (the published
  DPM-Solver(++) 2M / 3M rules, = UniPC with B(h) = e^h - 1 for two points) or
  "unipc_bh1" (UniPC with B(h) = h); see :func:`tunegym.simulators.diffusion.sample`;
* corrector: off or on (UniC, no extra evaluation; ignored on the last step).

Instances. The data distribution is a Gaussian mixture (``mixture``: "two_modes",
"ill_conditioned", "many_modes") in ``dimension`` dimensions whose means and rotations
are drawn from the episode seed (the split picks an independent stream); the noise
``schedule`` is "linear", "cosine" (variance preserving) or "edm" (variance
exploding). Each of ``mixture``, ``dimension``, ``schedule`` and ``nfe`` is one value, a
list (one drawn per episode) or a dict {"train": ..., "test": ...} of either, so train
and test can hold different instance sets (``tunegym/SolverScheduleMixed-v0`` does).
Mixtures of fewer components or dimensions are padded exactly (zero-weight components,
and coordinates that are 0 in the data and the noise). The exact denoiser is the model,
so the error is the sampler's own.

Reward: 0 until the last step, then -log(error) with error the mean Euclidean distance
(per sample, in data units) to a high-accuracy solution of the same probability-flow
ODE from the same noise (200 uniform-lambda third-order steps with correctors; its own
error is far below any NFE <= 20 schedule's). With ``reward_shaping=True`` step k pays
Phi_(k+1) - Phi_k instead, with Phi_0 = 0 and Phi_k = -log(distance of the samples to
the reference trajectory at the current lambda) (the last Phi uses the final reference),
so an episode's return is exactly the unshaped one and each step is told how much
error it added; it costs 20 extra model evaluations per step (the reference trajectory
is advanced alongside). Info: ``error`` (at the end; -1 before), ``nfe_used``.

Observation (9 features in [0, 1]): step / nfe, t / t_max, remaining lambda fraction,
nfe_left / nfe, s / (1 + s) for s the RMS of the sample coordinates and for s their
mean per-coordinate standard deviation (both divided by sqrt(alpha^2 + sigma^2)),
sigmoid(lambda / 4), log2(dimension) / 8, and 1 for the variance-exploding schedule.

``tunegym/SolverScheduleOneShot-v0`` takes the whole schedule as one action (the 5
choices for each of ``max(nfe)`` steps, flattened) and ends after one step: the search
agents' view.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import torch

from tunegym.core import (
    BatchedEnv,
    FamilyRecord,
    check_choice,
    check_integer,
    derive_envs,
    split_choices,
)
from tunegym.core.random import choice_index, hash_keys, standard_normal
from tunegym.simulators.diffusion import (
    ESTIMATES,
    MIXTURES,
    SCHEDULES,
    GaussianMixture,
    NoiseSchedule,
    ScheduleBatch,
    corrector_step,
    evaluate_model,
    padded_mixture_parameters,
    sample,
    solver_step,
    timestep_spacing,
)

#: Multipliers of the uniform-lambda step for the timestep choice.
TIMESTEP_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5)
#: Per step: timestep factor, prediction (0 data, 1 noise), order - 1, derivative
#: estimate (a position in ESTIMATES), corrector (0 off, 1 on).
CHOICES = (len(TIMESTEP_FACTORS), 2, 3, len(ESTIMATES), 2)
REFERENCE_STEPS = 200
#: Reference steps per env step when the reward is shaped.
SHAPING_STEPS = 20
MIXTURE_KEYS = ("weights", "means", "eigenvalues", "eigenvectors")


def state_mixture(state: dict[str, torch.Tensor]) -> GaussianMixture:
    """The batch of mixtures (b envs) held in an env ``state`` (no eigenvectors: isotropic
    covariances)."""
    return GaussianMixture(*(state.get(key) for key in MIXTURE_KEYS))


def row_mixture(state: dict[str, torch.Tensor], row: int) -> GaussianMixture:
    """The (padded) mixture of env ``row`` alone, unbatched."""
    return state_mixture({key: state[key][row] for key in MIXTURE_KEYS if key in state})


def _check_dimension(value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 256:
        raise ValueError(f"dimension must be an int in [2, 256] (or a list of them), "
                         f"got {value!r}")


def _check_nfe(value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 20:
        raise ValueError(f"nfe must be an int in [1, 20] (or a list of them), got {value!r}")


class SolverScheduleEnv(BatchedEnv):
    """Batched sequential solver-schedule env (see module docstring).

    Args:
        mixture: data distribution family, or a list / per-split dict of them.
        dimension: d, 2 to 256, or a list / per-split dict.
        schedule: "linear", "cosine" or "edm", or a list / per-split dict.
        nfe: NFE budget, 1 to 20, or a list / per-split dict.
        num_samples: samples per sampling run.
        reward_shaping: pay the potential-based per-step reward (see module docstring).
    """

    family = "solver_schedule"
    raw_metric = "error"
    record = FamilyRecord(
        name="solver_schedule", title="Solver schedules (USF, Liu et al., ICLR 2024)",
        short_episode_kwargs={"nfe": 3, "num_samples": 16},
        baselines={slug: "tunegym.baselines.solver_schedule:" + attribute for slug, attribute in (
            ("ddim", "ddim"), ("dpm_solver++(2m)", "dpm_solver_pp_2m"),
            ("dpm_solver++(3m)", "dpm_solver_pp_3m"), ("unipc_2(bh1)", "unipc_2_bh1"),
            ("unipc_2(bh2)", "unipc_2_bh2"), ("unip_3(bh1)", "unip_3_bh1"))},
        comparison=("solver_schedule_ppo", "solver_schedule_search"))
    reward_description = "-log(mean distance to the exact ODE solution) at the last step"

    def __init__(self, num_envs: int = 1, device: str = "cpu", split: str = "train",
                 mixture: str | list[str] | dict[str, str | list[str]] = "two_modes",
                 dimension: int | list[int] | dict[str, int | list[int]] = 8,
                 schedule: str | list[str] | dict[str, str | list[str]] = "linear",
                 nfe: int | list[int] | dict[str, int | list[int]] = 6,
                 num_samples: int = 256, reward_shaping: bool = False) -> None:
        super().__init__(num_envs, device, split)
        self.mixture_kinds = split_choices(
            "mixture", mixture, split, lambda value: check_choice("mixture", value, MIXTURES))
        self.dimensions = split_choices("dimension", dimension, split, _check_dimension)
        self.schedules = tuple(NoiseSchedule(kind) for kind in split_choices(
            "schedule", schedule, split,
            lambda value: check_choice("schedule", value, SCHEDULES)))
        self.variance_exploding = torch.tensor(
            [schedule.kind == "edm" for schedule in self.schedules], dtype=torch.float64,
            device=self.device)
        self.nfe_choices = torch.tensor(sorted(split_choices("nfe", nfe, split, _check_nfe)),
                                        device=self.device)
        self.max_nfe = int(self.nfe_choices.max())
        self.num_samples = check_integer("num_samples", num_samples, minimum=2)
        check_choice("reward_shaping", reward_shaping, (True, False))
        self.reward_shaping = reward_shaping
        self.single_observation_space = gymnasium.spaces.Box(
            np.zeros(9, dtype=np.float32), np.ones(9, dtype=np.float32))
        self.single_action_space = gymnasium.spaces.MultiDiscrete(list(CHOICES))

    @property
    def max_episode_steps(self) -> int:
        """One step per function evaluation of the largest NFE budget."""
        return self.max_nfe

    # ------------------------------------------------------------------ helpers
    def schedule_batch(self, state: dict[str, torch.Tensor]) -> ScheduleBatch:
        """The rows' noise schedules."""
        return ScheduleBatch(self.schedules, state["schedule_index"])

    def timesteps(self, state: dict[str, torch.Tensor], steps: int,
                  spacing: str = "uniform_lambda") -> torch.Tensor:
        """(B, steps + 1) times of a fixed ``spacing`` from each row's t_max to t_min."""
        per_schedule = torch.stack([timestep_spacing(schedule, steps, spacing)
                                    for schedule in self.schedules]).to(self.device)
        return per_schedule[state["schedule_index"]]

    # ------------------------------------------------------------------ hooks
    def initial_state(self, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        keys = hash_keys(self.split_key, seeds)
        kind_index = choice_index(keys, len(self.mixture_kinds), 46)
        dimension_index = choice_index(keys, len(self.dimensions), 47)
        state = padded_mixture_parameters(self.mixture_kinds, self.dimensions, kind_index,
                                          dimension_index, keys)
        dimension = torch.tensor(self.dimensions, device=self.device)[dimension_index]
        state.update({"schedule_index": choice_index(keys, len(self.schedules), 48),
                      "dimension": dimension,
                      "nfe": self.nfe_choices[choice_index(keys, self.nfe_choices.numel(), 44)]})
        schedules = self.schedule_batch(state)
        start, end = schedules.t_max, schedules.t_min
        used = torch.arange(max(self.dimensions), device=self.device) < dimension[:, None]
        noise = (standard_normal(keys, (self.num_samples, max(self.dimensions)), stream=45)
                 * schedules.sigma(start)[:, None, None] * used[:, None, :])
        data, eps = evaluate_model(state_mixture(state), noise, schedules.alpha(start),
                                   schedules.sigma(start))
        count, shape = seeds.shape[0], noise.shape[1:]
        zeros = torch.zeros(count, 2, *shape, dtype=torch.float64, device=self.device)
        state.update({
            "reference": self.reference(state, noise), "x": noise,
            "data": data, "noise_prediction": eps,
            "previous_data": zeros, "previous_noise": zeros.clone(),
            "previous_lambda": torch.zeros(count, 2, dtype=torch.float64, device=self.device),
            "lambda_start": schedules.lambda_(start), "lambda_end": schedules.lambda_(end),
            "lambda": schedules.lambda_(start),
            "step": torch.zeros(count, dtype=torch.int64, device=self.device)})
        if self.reward_shaping:
            state.update({"reference_now": noise.clone(),
                          "potential": torch.zeros(count, dtype=torch.float64,
                                                   device=self.device)})
        return state

    def reference(self, state: dict[str, torch.Tensor], noise: torch.Tensor) -> torch.Tensor:
        """High-accuracy samples (b, N, d): 200 uniform-lambda order-3 steps with
        correctors, from ``noise`` at t_max to t_min."""
        return _accurate_solve(state_mixture(state), self.schedule_batch(state), noise,
                               self.timesteps(state, REFERENCE_STEPS))

    def advance_reference(self, state: dict[str, torch.Tensor],
                          lambda_next: torch.Tensor) -> torch.Tensor:
        """The reference trajectory (b, N, d) moved from the current lambda to
        ``lambda_next`` (b,) by 20 uniform-lambda order-3 steps with correctors."""
        schedules = self.schedule_batch(state)
        fraction = torch.linspace(0.0, 1.0, SHAPING_STEPS + 1, dtype=torch.float64,
                                  device=self.device)
        lambdas = state["lambda"][:, None] + fraction * (lambda_next - state["lambda"])[:, None]
        times = torch.minimum(schedules.time_of_lambda(lambdas), schedules.t_max[:, None])
        return _accurate_solve(state_mixture(state), schedules, state["reference_now"], times)

    def observe(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        schedules = self.schedule_batch(state)
        nfe = state["nfe"].to(torch.float64)
        time = schedules.time_of_lambda(state["lambda"])
        remaining = ((state["lambda_end"] - state["lambda"])
                     / (state["lambda_end"] - state["lambda_start"]))
        dimension = state["dimension"].to(torch.float64)
        scale = torch.sqrt(schedules.alpha(time) ** 2 + schedules.sigma(time) ** 2)
        x = state["x"] / scale[:, None, None]
        rms = (x.pow(2).sum(dim=(1, 2)) / (x.shape[1] * dimension)).sqrt()
        spread = x.std(dim=1).sum(dim=1) / dimension
        features = torch.stack([state["step"] / nfe, time / schedules.t_max, remaining,
                                (nfe - state["step"]) / nfe, rms / (1 + rms),
                                spread / (1 + spread), torch.sigmoid(state["lambda"] / 4),
                                torch.log2(dimension) / 8,
                                self.variance_exploding[state["schedule_index"]]], dim=1)
        return features.to(torch.float32)

    def transition(self, state, action):
        action = action.long()
        step, nfe = state["step"], state["nfe"]
        left = (nfe - step).to(torch.float64)
        factor = torch.tensor(TIMESTEP_FACTORS, dtype=torch.float64,
                              device=self.device)[action[:, 0]]
        last = left <= 1
        lambda_now, lambda_end = state["lambda"], state["lambda_end"]
        lambda_next = torch.where(last, lambda_end,
                                  lambda_now + factor * (lambda_end - lambda_now) / left)
        order = torch.minimum(action[:, 2] + 1, (step + 1).clamp(max=3))
        data_step, estimate = action[:, 1] == 0, action[:, 3]
        corrector = (action[:, 4] == 1) & ~last
        schedules = self.schedule_batch(state)
        times = schedules.time_of_lambda(torch.stack([lambda_now, lambda_next], dim=1))
        alphas, sigmas = schedules.alpha(times), schedules.sigma(times)
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
        predicted = solver_step(x, history, step_lambdas, order, estimate, data_step, h,
                                alphas, sigmas)
        evaluation = evaluate_model(state_mixture(state), predicted, alphas[:, 1], sigmas[:, 1])
        corrected = corrector_step(x, history, evaluation, step_lambdas,
                                   lambda_next[:, None, None], order, estimate, data_step, h,
                                   alphas, sigmas)
        new_x = torch.where(corrector[:, None, None], corrected, predicted)
        next_step = step + 1
        done = next_step >= nfe
        error = (new_x - state["reference"]).norm(dim=2).mean(dim=1)
        new_state = {**state, "x": new_x, "data": evaluation[0],
                     "noise_prediction": evaluation[1],
                     "previous_data": torch.stack([state["data"],
                                                   state["previous_data"][:, 0]], dim=1),
                     "previous_noise": torch.stack([state["noise_prediction"],
                                                    state["previous_noise"][:, 0]], dim=1),
                     "previous_lambda": torch.stack([lambda_now,
                                                     state["previous_lambda"][:, 0]], dim=1),
                     "lambda": lambda_next, "step": next_step}
        if self.reward_shaping:
            reference_now = torch.where(done[:, None, None], state["reference"],
                                        self.advance_reference(state, lambda_next))
            distance = (new_x - reference_now).norm(dim=2).mean(dim=1)
            potential = -torch.log(distance.clamp(min=1e-300))
            reward = potential - state["potential"]
            new_state.update({"reference_now": reference_now, "potential": potential})
        else:
            reward = torch.where(done, -torch.log(error), torch.zeros_like(error))
        info = {"error": torch.where(done, error, -1.0), "nfe_used": next_step}
        return new_state, reward.to(torch.float32), done, torch.zeros_like(done), info


def _accurate_solve(mixture: GaussianMixture, schedules: ScheduleBatch, noise: torch.Tensor,
                    times: torch.Tensor) -> torch.Tensor:
    """Order-3 steps with correctors over ``times`` (b, M + 1) from ``noise`` (b, N, d)."""
    count, steps = times.shape[0], times.shape[1] - 1
    orders = torch.tensor([min(3, index + 1) for index in range(steps)], device=times.device)
    correctors = torch.arange(steps, device=times.device) < steps - 1
    return sample(mixture, schedules, noise, times, orders.expand(count, -1),
                  correctors=correctors.expand(count, -1))


class SolverScheduleOneShotEnv(SolverScheduleEnv):
    """The whole schedule as one action: MultiDiscrete of the 5 choices for each of
    ``max(nfe)`` steps, flattened (entries past an episode's budget are ignored); one
    env step plays the schedule and ends the episode."""

    reward_description = "-log(mean distance to the exact ODE solution) of the schedule"

    def __init__(self, num_envs: int = 1, **kwargs) -> None:
        super().__init__(num_envs, **kwargs)
        if self.reward_shaping:
            raise ValueError("reward_shaping must be False for the one-shot env (its one "
                             "step already pays the final reward)")
        self.single_action_space = gymnasium.spaces.MultiDiscrete(list(CHOICES) * self.max_nfe)

    @property
    def max_episode_steps(self) -> int:
        """One step plays the whole schedule."""
        return 1

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
