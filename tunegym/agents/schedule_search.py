"""S^3-style predictor-guided search over diffusion solver schedules.

After Liu et al., "A Unified Sampling Framework for Solver Searching of Diffusion
Probabilistic Models" (ICLR 2024), on :class:`tunegym.envs.solver_schedule.
SolverScheduleOneShotEnv`. A schedule is the flat vector of the 5 choices (timestep
factor, prediction, order - 1, derivative, corrector) of each of ``nfe`` solver steps,
length L = 5 * nfe. The search

1. samples ``initial_samples`` schedules uniformly and evaluates them truly (mean
   reward over ``num_instances`` fixed training instances, all candidates in one
   batched env call, so candidates are compared on the same instances);
2. fits a performance predictor, a small MLP on the one-hot encoding of the L
   categorical choices, to all (schedule, mean train reward) pairs evaluated so far
   (full-batch Adam on the MSE of standardised rewards);
3. runs an evolutionary search scored by the predictor: ``generations`` generations of
   ``population`` children, each a parent from the current elite (uniform crossover
   with a second parent with probability ``crossover_probability``) with every choice
   resampled with probability ``mutation_probability``; the elite is the best
   ``elite_size`` schedules by predicted reward;
4. evaluates truly the ``evaluate_top`` distinct, not yet evaluated children with the
   highest predicted reward, adds them to the data, and repeats 2-4 for ``rounds``.

Interface::

    search = ScheduleSearch({"nfe": 4, "dimension": 8}, num_instances=16, seed=0)
    result = search.run(initial_samples=64, generations=20, population=256,
                        evaluate_top=16, rounds=2)
    result["best_schedule"]            # int64 (L,), the best truly evaluated schedule
    search.evaluate(result["best_schedule"], split="test")   # (1,) mean test reward

Random draws come from a CPU ``torch.Generator`` seeded with ``seed`` and the predictor
of round r is initialised from (seed, r), so the same seed gives the same result.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tunegym.core import check_integer
from tunegym.core.batched import resolve_device
from tunegym.envs.solver_schedule import CHOICES, SolverScheduleOneShotEnv

#: Choices of one solver step, in the order of ``tunegym.envs.solver_schedule.CHOICES``.
CHOICE_NAMES = ("timestep_factor", "prediction", "order_minus_one", "derivative",
                "corrector")


def ddim_schedule(nfe: int) -> torch.Tensor:
    """The DDIM schedule (int64 (5 * nfe,)): uniform-lambda timesteps (factor index 2),
    data prediction, first order, Taylor derivative, no corrector, at every step."""
    nfe = check_integer("nfe", nfe)
    return torch.tensor([2, 0, 0, 0, 0], dtype=torch.int64).repeat(nfe)


def spearman_correlation(first: torch.Tensor, second: torch.Tensor) -> float:
    """Spearman rank correlation of two (n,) tensors (ties ranked by position)."""
    if first.shape != second.shape or first.dim() != 1 or first.numel() < 2:
        raise ValueError("first and second must be 1-D tensors of the same length >= 2, "
                         f"got shapes {tuple(first.shape)} and {tuple(second.shape)}")
    ranks = [values.argsort().argsort().to(torch.float64) for values in (first, second)]
    centred = [rank - rank.mean() for rank in ranks]
    denominator = (centred[0].norm() * centred[1].norm()).clamp_min(1e-12)
    return float((centred[0] * centred[1]).sum() / denominator)


class SchedulePredictor(nn.Module):
    """MLP predicting the mean reward of schedules from their one-hot encoding.

    Args:
        choice_sizes: int64 (L,) number of options of each schedule entry.
        hidden_size: width of the two hidden ReLU layers.
    """

    def __init__(self, choice_sizes: torch.Tensor, hidden_size: int = 64) -> None:
        super().__init__()
        self.register_buffer("offsets", torch.cumsum(choice_sizes, 0) - choice_sizes)
        self.encoding_size = int(choice_sizes.sum())
        self.network = nn.Sequential(
            nn.Linear(self.encoding_size, hidden_size), nn.ReLU(),
            nn.Linear(hidden_size, hidden_size), nn.ReLU(),
            nn.Linear(hidden_size, 1))
        # Targets are standardised for training; predictions are mapped back.
        self.register_buffer("target_mean", torch.zeros((), dtype=torch.float32))
        self.register_buffer("target_scale", torch.ones((), dtype=torch.float32))

    def encode(self, schedules: torch.Tensor) -> torch.Tensor:
        """One-hot encoding (C, sum of choice sizes) float32 of schedules (C, L) int64."""
        encoding = torch.zeros(schedules.shape[0], self.encoding_size,
                               dtype=torch.float32, device=schedules.device)
        return encoding.scatter_(1, schedules + self.offsets, 1.0)

    def forward(self, schedules: torch.Tensor) -> torch.Tensor:
        """Predicted mean reward (C,) float32 of schedules (C, L) int64."""
        standardised = self.network(self.encode(schedules))[:, 0]
        return standardised * self.target_scale + self.target_mean

    def fit(self, schedules: torch.Tensor, rewards: torch.Tensor, steps: int = 300,
            learning_rate: float = 3e-3, weight_decay: float = 1e-4) -> list[float]:
        """Full-batch Adam on the MSE of standardised rewards.

        Args:
            schedules: int64 (E, L) evaluated schedules.
            rewards: (E,) their mean rewards.

        Returns:
            The training loss (standardised MSE) of every step, ``steps`` floats.
        """
        targets = rewards.to(torch.float32)
        self.target_mean = targets.mean()
        self.target_scale = targets.std().clamp_min(1e-6) if targets.numel() > 1 \
            else torch.ones((), dtype=torch.float32, device=targets.device)
        standardised = (targets - self.target_mean) / self.target_scale
        encoding = self.encode(schedules)
        optimiser = torch.optim.Adam(self.network.parameters(), lr=learning_rate,
                                     weight_decay=weight_decay)
        losses = []
        for _ in range(steps):
            loss = (self.network(encoding)[:, 0] - standardised).pow(2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        return losses


class ScheduleSearch:
    """Predictor-guided evolutionary search over one-shot solver schedules (S^3).

    Args:
        env_kwargs: keyword arguments of ``SolverScheduleOneShotEnv`` other than
            ``num_envs``, ``split`` and ``device``; ``nfe`` must be a single int.
        num_instances: I, training instances (train-split seeds 0..I-1) on which every
            candidate is evaluated; also the default number of test instances.
        seed: seeds the sampling generator and the predictor initialisation.
        device: torch device of the envs and the predictor.
        hidden_size: predictor hidden width.
        predictor_steps: Adam steps per predictor fit.
        learning_rate: predictor Adam step size.
        mutation_probability: probability that a child's entry is resampled; default
            1.5 / L (about 1.5 changed choices per child).
        crossover_probability: probability that a child is a uniform crossover of two
            elite parents before mutation.
        elite_size: number of parents kept each generation.
    """

    def __init__(self, env_kwargs: dict[str, Any], num_instances: int = 16, seed: int = 0,
                 device: str = "cpu", hidden_size: int = 64, predictor_steps: int = 300,
                 learning_rate: float = 3e-3, mutation_probability: float | None = None,
                 crossover_probability: float = 0.5, elite_size: int = 16) -> None:
        if not isinstance(env_kwargs, dict):
            raise TypeError(f"env_kwargs must be a dict, got {type(env_kwargs).__name__}")
        for reserved in ("num_envs", "split", "device"):
            if reserved in env_kwargs:
                raise ValueError(f"env_kwargs must not contain {reserved!r}; it is set by "
                                 "ScheduleSearch")
        nfe = env_kwargs.get("nfe", 6)
        if isinstance(nfe, bool) or not isinstance(nfe, int):
            # ValueError like the env's own nfe check, which callers already catch.
            raise ValueError(f"nfe in env_kwargs must be an int, got {nfe!r}")  # noqa: TRY004
        self.device = resolve_device(device)
        self.env_kwargs = dict(env_kwargs)
        # Validates the remaining env kwargs (construction does no sampling work).
        SolverScheduleOneShotEnv(1, split="train", device=self.device, **self.env_kwargs)
        self.nfe = nfe
        self.num_instances = check_integer("num_instances", num_instances)
        self.seed = check_integer("seed", seed, minimum=0)
        self.hidden_size = check_integer("hidden_size", hidden_size)
        self.predictor_steps = check_integer("predictor_steps", predictor_steps)
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        self.choice_sizes = torch.tensor(CHOICES, dtype=torch.int64,
                                         device=self.device).repeat(nfe)
        self.schedule_length = self.choice_sizes.numel()
        if mutation_probability is None:
            mutation_probability = 1.5 / self.schedule_length
        if not 0 < mutation_probability <= 1:
            raise ValueError("mutation_probability must be in (0, 1], "
                             f"got {mutation_probability!r}")
        if not 0 <= crossover_probability <= 1:
            raise ValueError("crossover_probability must be in [0, 1], "
                             f"got {crossover_probability!r}")
        self.mutation_probability = float(mutation_probability)
        self.crossover_probability = float(crossover_probability)
        self.elite_size = check_integer("elite_size", elite_size)
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)
        self.predictor: SchedulePredictor | None = None

    # ---------------------------------------------------------------- helpers
    def _uniform(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Uniform [0, 1) draws from the seeded CPU generator, moved to the device."""
        return torch.rand(shape, generator=self.generator).to(self.device)

    def _check_schedules(self, schedule: torch.Tensor, name: str = "schedule") -> torch.Tensor:
        """Return ``schedule`` (L,) or (C, L) as int64 (C, L), or raise a ValueError."""
        schedules = torch.as_tensor(schedule, device=self.device)
        if schedules.dim() == 1:
            schedules = schedules[None]
        if schedules.dim() != 2 or schedules.shape[1] != self.schedule_length \
                or schedules.shape[0] == 0:
            raise ValueError(f"{name} must have shape ({self.schedule_length},) or "
                             f"(C, {self.schedule_length}) with C >= 1 (5 choices per "
                             f"step, nfe={self.nfe}), got {tuple(schedules.shape)}")
        if schedules.is_floating_point() or schedules.is_complex() \
                or schedules.dtype == torch.bool:
            raise ValueError(f"{name} must hold integers, got dtype {schedules.dtype}")
        schedules = schedules.long()
        if bool(((schedules < 0) | (schedules >= self.choice_sizes)).any()):
            raise ValueError(f"{name} entries must lie in [0, size) with sizes {CHOICES} "
                             "per step (timestep factor, prediction, order - 1, "
                             "derivative, corrector)")
        return schedules

    def random_schedules(self, count: int) -> torch.Tensor:
        """``count`` schedules drawn uniformly, int64 (count, L)."""
        count = check_integer("count", count)
        return (self._uniform((count, self.schedule_length))
                * self.choice_sizes).long().clamp(max=self.choice_sizes - 1)

    # ------------------------------------------------------------- evaluation
    def evaluate(self, schedule: torch.Tensor, split: str = "test",
                 seeds: torch.Tensor | list[int] | None = None) -> torch.Tensor:
        """Mean reward of each schedule over a set of instances.

        All C schedules run in one ``SolverScheduleOneShotEnv`` with C * I envs: env
        c * I + i plays schedule c on instance ``seeds[i]``.

        Args:
            schedule: int64 (L,) or (C, L).
            split: "train" or "test".
            seeds: int64 (I,) instance seeds; default 0..num_instances-1.

        Returns:
            float64 (C,) mean of -log(mean distance to the reference) over the instances.
        """
        schedules = self._check_schedules(schedule)
        if seeds is None:
            seeds = torch.arange(self.num_instances, device=self.device)
        seeds = torch.as_tensor(seeds, dtype=torch.int64, device=self.device)
        if seeds.dim() != 1 or seeds.numel() == 0:
            raise ValueError(f"seeds must be a non-empty 1-D sequence of instance seeds, "
                             f"got shape {tuple(seeds.shape)}")
        count, instances = schedules.shape[0], seeds.numel()
        env = SolverScheduleOneShotEnv(count * instances, split=split, device=self.device,
                                       **self.env_kwargs)
        env.reset(seeds.repeat(count))
        _, reward, _, _, _ = env.step(schedules.repeat_interleave(instances, dim=0))
        return reward.to(torch.float64).reshape(count, instances).mean(dim=1)

    # ---------------------------------------------------------------- search
    def fit_predictor(self, schedules: torch.Tensor, rewards: torch.Tensor,
                      round_index: int = 0) -> list[float]:
        """Fit a fresh predictor (initialised from (seed, round_index)) to evaluated
        schedules (E, L) and their mean rewards (E,); returns the per-step losses."""
        schedules = self._check_schedules(schedules, "schedules")
        rewards = torch.as_tensor(rewards, device=self.device)
        if rewards.shape != (schedules.shape[0],):
            raise ValueError(f"rewards must have shape ({schedules.shape[0]},), "
                             f"got {tuple(rewards.shape)}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + round_index)
            self.predictor = SchedulePredictor(self.choice_sizes, self.hidden_size)
        self.predictor.to(self.device)
        return self.predictor.fit(schedules, rewards, self.predictor_steps,
                                  self.learning_rate)

    def predict(self, schedule: torch.Tensor) -> torch.Tensor:
        """Predicted mean train reward float64 (C,) of schedules (L,) or (C, L)."""
        if self.predictor is None:
            raise RuntimeError("fit_predictor() (or run()) must be called before predict()")
        schedules = self._check_schedules(schedule)
        with torch.no_grad():
            return self.predictor(schedules).to(torch.float64)

    def _children(self, elite: torch.Tensor, population: int) -> torch.Tensor:
        """``population`` children (population, L) of the elite (P, L): crossover, then
        mutation."""
        parent_count = elite.shape[0]
        first = elite[(self._uniform((population,)) * parent_count).long()]
        second = elite[(self._uniform((population,)) * parent_count).long()]
        crossover = self._uniform((population, 1)) < self.crossover_probability
        from_second = crossover & (self._uniform((population, self.schedule_length)) < 0.5)
        children = torch.where(from_second, second, first)
        mutate = self._uniform((population, self.schedule_length)) < self.mutation_probability
        return torch.where(mutate, self.random_schedules(population), children)

    def _evolve(self, seeds: torch.Tensor, generations: int, population: int) -> torch.Tensor:
        """Evolutionary search on the predictor from the seed schedules (S, L); returns
        every distinct schedule seen, int64 (U, L)."""
        elite = seeds
        elite_score = self.predict(elite)
        seen = [seeds]
        for _ in range(generations):
            children = self._children(elite, population)
            seen.append(children)
            pool = torch.cat([elite, children])
            score = torch.cat([elite_score, self.predict(children)])
            best = score.topk(min(self.elite_size, pool.shape[0])).indices
            elite, elite_score = pool[best], score[best]
        return torch.unique(torch.cat(seen), dim=0)

    def run(self, initial_samples: int = 64, generations: int = 20, population: int = 256,
            evaluate_top: int = 16, rounds: int = 2) -> dict[str, Any]:
        """Run the search (see module docstring).

        Returns:
            dict with ``best_schedule`` int64 (L,), ``best_train_reward`` float,
            ``evaluated`` {"schedules": int64 (E, L), "rewards": float64 (E,)} (every truly
            evaluated schedule in evaluation order), ``initial_best_train_reward`` float,
            and ``rounds``: one dict of figures per round (``predictor_final_loss``,
            ``candidates`` distinct unevaluated schedules found,
            ``new_evaluated``, ``predicted_best``, ``new_best_train_reward``,
            ``best_train_reward`` so far, ``candidate_spearman`` of predicted vs true
            reward of the newly evaluated schedules, NaN if fewer than 2).
        """
        initial_samples = check_integer("initial_samples", initial_samples)
        generations = check_integer("generations", generations, minimum=0)
        population = check_integer("population", population)
        evaluate_top = check_integer("evaluate_top", evaluate_top)
        rounds = check_integer("rounds", rounds, minimum=0)
        schedules = torch.unique(self.random_schedules(initial_samples), dim=0)
        rewards = self.evaluate(schedules, split="train")
        initial_best = float(rewards.max())
        figures = []
        for round_index in range(rounds):
            losses = self.fit_predictor(schedules, rewards, round_index)
            parents = schedules[rewards.topk(min(self.elite_size, rewards.numel())).indices]
            explored = self._evolve(parents, generations, population)
            # Drop schedules already evaluated: a row of the union occurring in both sets.
            _, inverse = torch.unique(torch.cat([schedules, explored]), dim=0,
                                      return_inverse=True)
            is_new = ~torch.isin(inverse[schedules.shape[0]:], inverse[:schedules.shape[0]])
            candidates = explored[is_new]
            figure = {"round": round_index, "predictor_final_loss": losses[-1],
                      "candidates": int(candidates.shape[0])}
            if candidates.shape[0] == 0:
                figure.update(new_evaluated=0, best_train_reward=float(rewards.max()),
                              candidate_spearman=float("nan"))
                figures.append(figure)
                continue
            predicted = self.predict(candidates)
            top = predicted.topk(min(evaluate_top, candidates.shape[0])).indices
            new_schedules, new_predicted = candidates[top], predicted[top]
            new_rewards = self.evaluate(new_schedules, split="train")
            schedules = torch.cat([schedules, new_schedules])
            rewards = torch.cat([rewards, new_rewards])
            figure.update(
                new_evaluated=int(new_schedules.shape[0]),
                predicted_best=float(new_predicted.max()),
                new_best_train_reward=float(new_rewards.max()),
                best_train_reward=float(rewards.max()),
                candidate_spearman=(spearman_correlation(new_predicted, new_rewards)
                                    if new_rewards.numel() > 1 else float("nan")))
            figures.append(figure)
        best = int(rewards.argmax())
        return {"best_schedule": schedules[best].clone(),
                "best_train_reward": float(rewards[best]),
                "initial_best_train_reward": initial_best,
                "evaluated": {"schedules": schedules, "rewards": rewards},
                "rounds": figures}
