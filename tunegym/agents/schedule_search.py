"""S^3-style predictor-guided search over diffusion solver schedules.

After Liu et al., "A Unified Sampling Framework for Solver Searching of Diffusion
Probabilistic Models" (ICLR 2024), on :class:`tunegym.envs.solver_schedule.
SolverScheduleOneShotEnv`. A schedule is the flat vector of the 5 choices (timestep
factor, prediction, order - 1, derivative estimate, corrector) of each of ``nfe`` solver
steps, length L = 5 * nfe; :data:`tunegym.envs.solver_schedule.CHOICES` gives the number
of options of each. Many schedules play identically (the env ignores some entries, see
:func:`canonical_schedules`); the search works on canonical schedules only, so it never
spends a true evaluation on a schedule it has already played. The search

1. samples ``initial_samples`` schedules uniformly and evaluates them truly (mean
   reward over ``num_instances`` fixed training instances, all candidates in one
   batched env call, so candidates are compared on the same instances);
2. fits a performance predictor to all (schedule, mean train reward) pairs evaluated so
   far: an ensemble of small MLPs on structured per-step features (the one-hot choices,
   the effective order, the step sizes in log-SNR the timestep factors imply, see
   :func:`schedule_features`), alternately a global MLP on all steps' features and an
   additive model (one MLP shared by all steps, summed over the steps), each trained by
   full-batch AdamW with weight decay on the MSE of standardised rewards;
3. runs an evolutionary search scored by the predictor (ensemble mean) inside a trust
   region: it starts from the ``elite_size`` best truly evaluated schedules, and each of
   ``generations`` generations draws ``population`` children, each a parent from the
   current elite (uniform crossover with a second parent with probability
   ``crossover_probability``) with every choice resampled with probability
   ``mutation_probability``, keeps only the children that differ from one of the starting
   schedules in at most ``trust_radius`` canonical entries, and makes the best
   ``elite_size`` schedules by prediction the next elite;
4. evaluates truly the ``evaluate_top`` distinct, not yet evaluated children with the
   highest prediction, adds them to the data, and repeats 2-4 for ``rounds``.

The predictor is trustworthy only near the data (fitted to 64 to 128 uniform schedules,
its rank correlation on other uniform schedules is about 0.2 to 0.5), so an unbounded
evolution mostly finds its errors; inside the trust region the guided rounds reliably
improve on the best random schedule.

Interface:

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
from tunegym.envs.solver_schedule import CHOICES, TIMESTEP_FACTORS, SolverScheduleOneShotEnv

#: Choices of one solver step, in the order of ``tunegym.envs.solver_schedule.CHOICES``.
CHOICE_NAMES = ("timestep_factor", "prediction", "order_minus_one", "derivative_estimate",
                "corrector")
#: Per-step features of :func:`schedule_features`: 7 continuous ones, then the one-hot
#: encoding of the step's 5 canonical choices.
STEP_FEATURES = 7 + sum(CHOICES)


def ddim_schedule(nfe: int) -> torch.Tensor:
    """The DDIM schedule (int64 (5 * nfe,)): uniform-lambda timesteps (factor index 2),
    data prediction, first order, "taylor" derivative estimate (unused at first order),
    no corrector, at every step. It is canonical."""
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


def canonical_schedules(schedules: torch.Tensor) -> torch.Tensor:
    """The canonical form int64 (C, L) of valid schedules int64 (C, L), L = 5 * nfe: every
    entry the env ignores is set to a fixed value, so schedules the env plays identically
    become equal (and their rewards are the same):

    * order - 1 is capped by the evaluations available (step k has k + 1, at most 3);
    * the last step's timestep factor (it always ends at t_min) becomes index 2 (f = 1)
      and its corrector off (the env ignores a corrector on the last step);
    * the derivative estimate becomes "taylor" where nothing uses it (order 1 without a
      corrector), and "unipc_bh1" becomes "taylor" at order 3 (there they are the same
      rule, and a corrector at order 3 uses no estimate).
    """
    steps = schedules.reshape(schedules.shape[0], -1, len(CHOICES)).clone()
    nfe = steps.shape[1]
    available = (torch.arange(nfe, device=schedules.device) + 1).clamp(max=3)
    order = torch.minimum(steps[..., 2] + 1, available)
    steps[..., 2] = order - 1
    steps[:, -1, 0] = TIMESTEP_FACTORS.index(1.0)
    steps[:, -1, 4] = 0
    unused = (order == 1) & (steps[..., 4] == 0)
    same_as_taylor = (order == 3) & (steps[..., 3] == 2)
    steps[..., 3] = torch.where(unused | same_as_taylor, 0, steps[..., 3])
    return steps.reshape(schedules.shape)


def schedule_features(schedules: torch.Tensor) -> torch.Tensor:
    """Per-step features float32 (C, nfe, STEP_FEATURES) of valid schedules int64 (C, L).

    The schedules are made canonical first. With h_k the log-SNR step of step k as a
    fraction of the whole range (the timestep factors fix it: h_k = f_k r_k / (nfe - k)
    with r_k the range left, the last step takes r_k), the features of step k are: its
    start 1 - r_k, nfe h_k, log(nfe h_k), log(h_k / h_(k-1)) and log(h_(k-1) / h_(k-2))
    (0 where undefined; multistep rules depend on the step ratios), p log(nfe h_k) with
    p = min(order + corrector, 3) (a local error scales like h^(p + 1)), k / nfe, then
    the one-hot encoding of the 5 canonical choices.
    """
    steps = canonical_schedules(schedules).reshape(schedules.shape[0], -1, len(CHOICES))
    count, nfe = steps.shape[:2]
    factors = torch.tensor(TIMESTEP_FACTORS, dtype=torch.float64,
                           device=schedules.device)[steps[..., 0]]
    left = torch.ones(count, dtype=torch.float64, device=schedules.device)
    starts, sizes = [], []
    for index in range(nfe):
        size = left if index == nfe - 1 else left * factors[:, index] / (nfe - index)
        starts.append(1 - left)
        sizes.append(size)
        left = left - size
    log_size = torch.log(torch.stack(sizes, dim=1) * nfe)                          # (C, nfe)
    ratio = torch.nn.functional.pad(log_size.diff(dim=1), (1, 0))
    previous_ratio = torch.nn.functional.pad(ratio[:, :-1], (1, 0))
    accuracy = (steps[..., 2] + 1 + steps[..., 4]).clamp(max=3)
    position = torch.arange(nfe, dtype=torch.float64, device=schedules.device) / nfe
    continuous = torch.stack([
        torch.stack(starts, dim=1), log_size.exp(), log_size, ratio, previous_ratio,
        accuracy * log_size, position.expand(count, nfe)], dim=2)
    one_hot = [torch.nn.functional.one_hot(steps[..., index], size)
               for index, size in enumerate(CHOICES)]
    return torch.cat([continuous, *one_hot], dim=2).to(torch.float32)


def _mlp(inputs: int, hidden_size: int) -> nn.Sequential:
    """Two hidden ReLU layers of ``hidden_size``, one output."""
    return nn.Sequential(nn.Linear(inputs, hidden_size), nn.ReLU(),
                         nn.Linear(hidden_size, hidden_size), nn.ReLU(),
                         nn.Linear(hidden_size, 1))


class SchedulePredictor(nn.Module):
    """Ensemble of MLPs predicting the mean reward of schedules (see module docstring).

    Members alternate between a global MLP on all steps' features (C, nfe * F) and an
    additive model, one MLP on a step's features (F,) summed over the steps; F =
    ``STEP_FEATURES``. Features are standardised with the training set's mean and spread
    (over rows and steps), targets are standardised for training and predictions mapped
    back.

    Args:
        choice_sizes: int64 (L,) number of options of each schedule entry, ``CHOICES``
            repeated nfe times.
        hidden_size: width of the two hidden ReLU layers of every member.
        ensemble_size: K, number of members.
    """

    def __init__(self, choice_sizes: torch.Tensor, hidden_size: int = 64,
                 ensemble_size: int = 4) -> None:
        super().__init__()
        if choice_sizes.dim() != 1 or choice_sizes.numel() % len(CHOICES) != 0 \
                or choice_sizes.numel() == 0:
            raise ValueError(f"choice_sizes must be CHOICES {CHOICES} repeated nfe >= 1 "
                             f"times, got shape {tuple(choice_sizes.shape)}")
        hidden_size = check_integer("hidden_size", hidden_size)
        ensemble_size = check_integer("ensemble_size", ensemble_size)
        self.nfe = choice_sizes.numel() // len(CHOICES)
        self.members = nn.ModuleList(
            _mlp(STEP_FEATURES * (self.nfe if member % 2 == 0 else 1), hidden_size)
            for member in range(ensemble_size))
        self.register_buffer("feature_mean", torch.zeros(STEP_FEATURES))
        self.register_buffer("feature_scale", torch.ones(STEP_FEATURES))
        self.register_buffer("target_mean", torch.zeros((), dtype=torch.float32))
        self.register_buffer("target_scale", torch.ones((), dtype=torch.float32))

    def encode(self, schedules: torch.Tensor) -> torch.Tensor:
        """Standardised features float32 (C, nfe, F) of schedules int64 (C, L)."""
        return (schedule_features(schedules) - self.feature_mean) / self.feature_scale

    def _standardised(self, features: torch.Tensor) -> torch.Tensor:
        """Every member's standardised prediction (K, C) from features (C, nfe, F)."""
        return torch.stack([
            member(features.flatten(1))[:, 0] if index % 2 == 0
            else member(features)[..., 0].sum(dim=1)
            for index, member in enumerate(self.members)])

    def forward(self, schedules: torch.Tensor) -> torch.Tensor:
        """Ensemble-mean predicted mean reward (C,) float32 of schedules (C, L) int64."""
        standardised = self._standardised(self.encode(schedules)).mean(dim=0)
        return standardised * self.target_scale + self.target_mean

    def fit(self, schedules: torch.Tensor, rewards: torch.Tensor, steps: int = 300,
            learning_rate: float = 3e-3, weight_decay: float = 1.0) -> list[float]:
        """Full-batch AdamW (decoupled ``weight_decay``) on the MSE of standardised
        rewards, every member on all the data (members are independent: one optimiser
        on the sum of their losses trains each as if alone).

        Args:
            schedules: int64 (E, L) evaluated schedules.
            rewards: (E,) their mean rewards.

        Returns:
            The training loss (standardised MSE, mean over members) of every step,
            ``steps`` floats.
        """
        length = len(CHOICES) * self.nfe
        if schedules.dim() != 2 or schedules.shape[1] != length or schedules.shape[0] == 0:
            raise ValueError(f"schedules must have shape (E, {length}) with E >= 1, "
                             f"got {tuple(schedules.shape)}")
        if rewards.shape != (schedules.shape[0],):
            raise ValueError(f"rewards must have shape ({schedules.shape[0]},), "
                             f"got {tuple(rewards.shape)}")
        features = schedule_features(schedules)
        pooled = features.reshape(-1, STEP_FEATURES)
        self.feature_mean = pooled.mean(dim=0)
        self.feature_scale = pooled.std(dim=0, correction=0).clamp_min(0.1)
        targets = rewards.to(torch.float32)
        self.target_mean = targets.mean()
        self.target_scale = targets.std(correction=0).clamp_min(1e-6)
        standardised = (targets - self.target_mean) / self.target_scale
        encoding = (features - self.feature_mean) / self.feature_scale
        optimiser = torch.optim.AdamW(self.members.parameters(), lr=learning_rate,
                                      weight_decay=weight_decay)
        losses = []
        for _ in range(steps):
            loss = (self._standardised(encoding) - standardised).pow(2).mean(dim=1).sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()) / len(self.members))
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
        predictor_steps: AdamW steps per predictor fit.
        learning_rate: predictor AdamW step size.
        mutation_probability: probability that a child's entry is resampled; default
            1.5 / L (about 1.5 changed choices per child).
        crossover_probability: probability that a child is a uniform crossover of two
            elite parents before mutation.
        elite_size: number of parents kept each generation.
        ensemble_size: K, predictor ensemble members.
        weight_decay: predictor AdamW decoupled weight decay.
        trust_radius: most canonical entries in which a candidate may differ from its
            nearest starting schedule (one of the ``elite_size`` best evaluated).
    """

    def __init__(self, env_kwargs: dict[str, Any], num_instances: int = 16, seed: int = 0,
                 device: str = "cpu", hidden_size: int = 64, predictor_steps: int = 300,
                 learning_rate: float = 3e-3, mutation_probability: float | None = None,
                 crossover_probability: float = 0.5, elite_size: int = 16,
                 ensemble_size: int = 4, weight_decay: float = 1.0,
                 trust_radius: int = 2) -> None:
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
        self.ensemble_size = check_integer("ensemble_size", ensemble_size)
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)
        self.trust_radius = check_integer("trust_radius", trust_radius)
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
                             f"per step ({', '.join(CHOICE_NAMES)})")
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
            self.predictor = SchedulePredictor(self.choice_sizes, self.hidden_size,
                                               self.ensemble_size)
        self.predictor.to(self.device)
        return self.predictor.fit(schedules, rewards, self.predictor_steps,
                                  self.learning_rate, self.weight_decay)

    def predict(self, schedule: torch.Tensor) -> torch.Tensor:
        """Predicted (ensemble-mean) mean train reward float64 (C,) of schedules (L,) or
        (C, L)."""
        if self.predictor is None:
            raise RuntimeError("fit_predictor() (or run()) must be called before predict()")
        schedules = self._check_schedules(schedule)
        with torch.no_grad():
            return self.predictor(schedules).to(torch.float64)

    def _children(self, elite: torch.Tensor, population: int) -> torch.Tensor:
        """``population`` canonical children (population, L) of the elite (P, L):
        crossover, then mutation."""
        parent_count = elite.shape[0]
        first = elite[(self._uniform((population,)) * parent_count).long()]
        second = elite[(self._uniform((population,)) * parent_count).long()]
        crossover = self._uniform((population, 1)) < self.crossover_probability
        from_second = crossover & (self._uniform((population, self.schedule_length)) < 0.5)
        children = torch.where(from_second, second, first)
        mutate = self._uniform((population, self.schedule_length)) < self.mutation_probability
        return canonical_schedules(torch.where(mutate, self.random_schedules(population),
                                               children))

    def _evolve(self, seeds: torch.Tensor, generations: int, population: int) -> torch.Tensor:
        """Evolutionary search on the predictor from the canonical seed schedules (S, L),
        within ``trust_radius`` entries of them; returns every distinct schedule seen,
        int64 (U, L), canonical."""
        elite = seeds
        elite_score = self.predict(elite)
        seen = [seeds]
        for _ in range(generations):
            children = self._children(elite, population)
            distance = (children[:, None] != seeds[None]).sum(dim=2).min(dim=1).values  # (P,)
            children = children[distance <= self.trust_radius]
            if children.shape[0] == 0:
                continue
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
            evaluated schedule in evaluation order, canonical, all distinct),
            ``initial_best_train_reward`` float, and ``rounds``: one dict of figures per
            round (``predictor_final_loss``, ``candidates`` distinct unevaluated schedules
            found, ``new_evaluated``, ``predicted_best``, ``new_best_train_reward``,
            ``best_train_reward`` so far, ``candidate_spearman`` of predicted vs
            true reward of the newly evaluated schedules, NaN if fewer than 2).
        """
        initial_samples = check_integer("initial_samples", initial_samples)
        generations = check_integer("generations", generations, minimum=0)
        population = check_integer("population", population)
        evaluate_top = check_integer("evaluate_top", evaluate_top)
        rounds = check_integer("rounds", rounds, minimum=0)
        schedules = torch.unique(canonical_schedules(self.random_schedules(initial_samples)),
                                 dim=0)
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
