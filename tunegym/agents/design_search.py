"""Black-box design search over a Discrete or MultiDiscrete action space (ArchGym's agents).

Written for design-space exploration as in Krishnan et al., "ArchGym: An Open-Source
Gymnasium for Machine Learning Assisted Architecture Design" (ISCA 2023): one env step
evaluates one design (one value per knob), the reward (e.g. minus the distance to a
target spec) is maximised, and an agent proposes whole populations that one batched env
step evaluates. The agents only see the space, so they run on any tunegym env whose
action space is ``MultiDiscrete(nvec)`` (K = nvec.size knobs) or ``Discrete(n)`` (one
knob, nvec = (n,)).

Agents
------
:class:`DesignRandomWalk`
    ArchGym's random walker. ``mode="uniform"`` draws every design uniformly (random
    search); ``mode="local"`` walks from the incumbent (the best design told so far):
    each knob moves to another value with probability ``step_probability``, at least
    one knob per design (the (1 + lambda) evolutionary algorithm).
:class:`GeneticAlgorithm`
    Generational GA: tournament selection, uniform crossover, per-gene mutation and
    elitism over a population of ``population_size`` designs.
:class:`AntColony`
    Ant colony optimisation with one pheromone per (knob, value): each ant draws every
    knob's value with probability proportional to pheromone ** ``alpha``; after each
    generation of ``ants`` designs the pheromone evaporates by ``evaporation`` and the
    ants deposit in proportion to their rank-normalised reward.
:class:`BayesianOptimisation`
    BoTorch's ``SingleTaskGP`` on the encoded designs and the ``qLogExpectedImprovement``
    acquisition, maximised over a discrete candidate pool. Needs the optional extra
    ``pip install tunegym[bo]``.

Interface
---------
Agents work on designs, int64 (count, K) tensors whose column k lies in
[start_k, start_k + nvec_k) (the space's own values):

    agent = GeneticAlgorithm.from_space(env.single_action_space, seed=0, population_size=32)
    designs = agent.ask(32)              # int64 (32, K)
    agent.tell(designs, rewards)         # rewards: float (32,), maximised
    agent.best_design, agent.best_reward

``tell`` accepts any evaluated designs, asked or not, in chunks of any size.
Population agents (GA, ant colony) act on whole generations: told designs are queued
until a generation is complete. Randomness comes from one CPU ``torch.Generator``
seeded with ``seed``; agent state lives on the CPU.

:func:`run_search` drives an agent on a :class:`~tunegym.core.BatchedEnv` (or a
registered id) and evaluates each batch of designs in one batched env step.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium
import numpy as np
import torch

from tunegym.core.batched import BatchedEnv, check_choice, check_integer, check_real
from tunegym.core.registration import make_batched_env

__all__ = [
    "AntColony",
    "BayesianOptimisation",
    "DesignRandomWalk",
    "DesignSearchAgent",
    "GeneticAlgorithm",
    "SearchResult",
    "run_search",
]

REWARD_DTYPE = torch.float64


def _space_knobs(space: gymnasium.Space) -> tuple[torch.Tensor, torch.Tensor]:
    """(nvec, start), int64 (K,) each, of a Discrete or MultiDiscrete space (flattened)."""
    if isinstance(space, gymnasium.spaces.Discrete):
        return torch.tensor([int(space.n)]), torch.tensor([int(space.start)])
    if isinstance(space, gymnasium.spaces.MultiDiscrete):
        return (torch.as_tensor(np.asarray(space.nvec, dtype=np.int64).reshape(-1)),
                torch.as_tensor(np.asarray(space.start, dtype=np.int64).reshape(-1)))
    # A wrong space is a wrong value of the argument: ValueError, as the API documents.
    raise ValueError(f"space must be a gymnasium.spaces.Discrete or MultiDiscrete, "
                     f"got {space!r}")


def _integer_vector(name: str, value: Any, minimum: int) -> torch.Tensor:
    """``value`` as a non-empty int64 (K,) tensor with entries >= minimum, or a ValueError."""
    tensor = torch.as_tensor(np.asarray(value)).reshape(-1)
    if tensor.numel() == 0 or tensor.is_floating_point() or tensor.is_complex() \
            or tensor.dtype == torch.bool or bool((tensor < minimum).any()):
        raise ValueError(f"{name} must be a non-empty sequence of integers >= {minimum}, "
                         f"got {value!r}")
    return tensor.to(torch.int64)


def _rows_not_in(rows: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """bool (R,): which rows of ``rows`` (R, K) occur nowhere in ``reference`` (E, K)."""
    _, inverse = torch.unique(torch.cat([reference, rows]), dim=0, return_inverse=True)
    return ~torch.isin(inverse[reference.shape[0]:], inverse[:reference.shape[0]])


# ---------------------------------------------------------------------- base class
class DesignSearchAgent:
    """Base of the design search agents: validation, the incumbent and shared sampling.

    Subclasses implement :meth:`_ask` and :meth:`_tell` on value indices, int64
    (count, K) with column k in [0, nvec_k); this class adds and removes ``start``.

    Args:
        nvec: K values per knob, each >= 1 (``Discrete(n)`` is ``nvec=(n,)``).
        start: K first values of the knobs (default all 0): knob k takes the values
            start_k, ..., start_k + nvec_k - 1.
        seed: seed (int >= 0) of the CPU ``torch.Generator`` behind every draw.

    Attributes:
        best_design: int64 (K,) the best design told so far (None before any tell).
        best_reward: its reward (-inf before any tell); ties keep the earlier design.
        evaluations: number of designs told.
    """

    def __init__(self, nvec: Any, start: Any = None, seed: int = 0) -> None:
        self.nvec = _integer_vector("nvec", nvec, minimum=1)
        self.num_knobs = self.nvec.numel()
        if start is None:
            start = [0] * self.num_knobs
        self.start = torch.as_tensor(np.asarray(start)).reshape(-1)
        if self.start.shape != self.nvec.shape or self.start.is_floating_point() \
                or self.start.is_complex() or self.start.dtype == torch.bool:
            raise ValueError(f"start must hold {self.num_knobs} integers (one per knob of "
                             f"nvec), got {start!r}")
        self.start = self.start.to(torch.int64)
        self.seed = check_integer("seed", seed, minimum=0)
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)
        self.best_design: torch.Tensor | None = None
        self.best_reward = -math.inf
        self.evaluations = 0

    @classmethod
    def from_space(cls, space: gymnasium.Space, seed: int = 0,
                   **hyperparameters: Any) -> DesignSearchAgent:
        """The agent for an env's ``single_action_space`` (Discrete or MultiDiscrete; a
        multi-dimensional MultiDiscrete is flattened to K = nvec.size knobs).
        ``hyperparameters`` go to the constructor."""
        nvec, start = _space_knobs(space)
        return cls(nvec, start=start, seed=seed, **hyperparameters)

    # ----------------------------------------------------------------- public API
    def ask(self, count: int) -> torch.Tensor:
        """Propose ``count`` designs to evaluate: int64 (count, K), every entry in the
        knob's range [start_k, start_k + nvec_k)."""
        count = check_integer("count", count)
        return self._ask(count) + self.start

    def tell(self, designs: Any, rewards: Any) -> None:
        """Learn from evaluated designs.

        Args:
            designs: int (count, K), each row within the knob ranges.
            rewards: float (count,), finite; maximised.
        """
        indices = self._check_designs(designs)
        rewards = torch.as_tensor(rewards)
        if tuple(rewards.shape) != (indices.shape[0],):
            raise ValueError(f"rewards must have shape ({indices.shape[0]},) (one per design), "
                             f"got {tuple(rewards.shape)}")
        if rewards.is_complex() or rewards.dtype == torch.bool:
            raise ValueError(f"rewards must be real numbers, got dtype {rewards.dtype}")
        rewards = rewards.detach().to(device="cpu", dtype=REWARD_DTYPE)
        if not bool(torch.isfinite(rewards).all()):
            raise ValueError("rewards must be finite; got NaN or infinite entries")
        best = int(rewards.argmax())
        if float(rewards[best]) > self.best_reward:
            self.best_reward = float(rewards[best])
            self.best_design = indices[best] + self.start
        self.evaluations += indices.shape[0]
        self._tell(indices, rewards)

    # ----------------------------------------------------------------------- hooks
    def _ask(self, count: int) -> torch.Tensor:
        """``count`` designs as value indices, int64 (count, K)."""
        raise NotImplementedError

    def _tell(self, indices: torch.Tensor, rewards: torch.Tensor) -> None:
        """Learn from value indices int64 (count, K) and rewards float64 (count,)."""
        raise NotImplementedError

    # ------------------------------------------------------------ shared helpers
    def _check_designs(self, designs: Any) -> torch.Tensor:
        """Validate designs (count, K); return their value indices, int64 (count, K)."""
        designs = torch.as_tensor(designs).detach().cpu()
        if designs.dim() != 2 or designs.shape[1] != self.num_knobs or designs.shape[0] == 0:
            raise ValueError(f"designs must have shape (count, {self.num_knobs}) with "
                             f"count >= 1, got {tuple(designs.shape)}")
        if designs.is_floating_point() or designs.is_complex() or designs.dtype == torch.bool:
            raise ValueError(f"designs must hold integers, got dtype {designs.dtype}")
        indices = designs.to(torch.int64) - self.start
        if bool(((indices < 0) | (indices >= self.nvec)).any()):
            raise ValueError(f"designs entries must lie in [start, start + nvec) with "
                             f"start={self.start.tolist()}, nvec={self.nvec.tolist()}")
        return indices

    def _uniform(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Uniform [0, 1) float64 draws of ``shape`` from the agent's generator."""
        return torch.rand(shape, generator=self.generator, dtype=torch.float64)

    def _uniform_indices(self, count: int) -> torch.Tensor:
        """``count`` designs drawn uniformly, value indices int64 (count, K)."""
        return (self._uniform((count, self.num_knobs)) * self.nvec).long().clamp(
            max=self.nvec - 1)

    def _mutate(self, indices: torch.Tensor, rate: float, force_change: bool = False
                ) -> torch.Tensor:
        """Move each entry of ``indices`` (count, K) to another value of its knob, drawn
        uniformly, with probability ``rate``; knobs with one value never move. With
        ``force_change`` a row left unchanged moves one knob drawn uniformly among the
        movable ones (if any). Returns int64 (count, K)."""
        count = indices.shape[0]
        movable = self.nvec > 1
        moves = (self._uniform((count, self.num_knobs)) < rate) & movable
        if force_change and bool(movable.any()):
            still = ~moves.any(dim=1)
            forced = torch.multinomial(movable.double().expand(count, -1), 1,
                                       generator=self.generator)[:, 0]
            moves[still, forced[still]] = True
        # An offset in [1, nvec - 1] modulo nvec is a uniform draw among the other values.
        offsets = 1 + (self._uniform((count, self.num_knobs)) * (self.nvec - 1)).long().clamp(
            max=(self.nvec - 2).clamp(min=0))
        return torch.where(moves, (indices + offsets) % self.nvec, indices)


class _GenerationalAgent(DesignSearchAgent):
    """An agent that learns from whole generations of ``generation_size`` designs: told
    designs are queued, and every complete generation (in telling order) goes to
    :meth:`_tell_generation`."""

    def __init__(self, nvec: Any, start: Any, seed: int, generation_size: int) -> None:
        super().__init__(nvec, start, seed)
        self.generation_size = generation_size
        self._queued_indices = torch.zeros(0, self.num_knobs, dtype=torch.int64)
        self._queued_rewards = torch.zeros(0, dtype=REWARD_DTYPE)

    def _tell(self, indices: torch.Tensor, rewards: torch.Tensor) -> None:
        self._queued_indices = torch.cat([self._queued_indices, indices])
        self._queued_rewards = torch.cat([self._queued_rewards, rewards])
        while self._queued_indices.shape[0] >= self.generation_size:
            size = self.generation_size
            self._tell_generation(self._queued_indices[:size], self._queued_rewards[:size])
            self._queued_indices = self._queued_indices[size:]
            self._queued_rewards = self._queued_rewards[size:]

    def _tell_generation(self, indices: torch.Tensor, rewards: torch.Tensor) -> None:
        """Learn from one generation: indices int64 (G, K), rewards float64 (G,)."""
        raise NotImplementedError


# -------------------------------------------------------------------------- agents
class DesignRandomWalk(DesignSearchAgent):
    """ArchGym's random walker, uniform or local (see module docstring).

    Args:
        nvec: as in :class:`DesignSearchAgent`.
        start: as in :class:`DesignSearchAgent`.
        seed: as in :class:`DesignSearchAgent`.
        mode: "uniform" (every design uniform at random) or "local" (mutations of the
            incumbent; uniform until the first tell).
        step_probability: in (0, 1], the probability that a knob of the incumbent moves
            in "local" mode (default 1 / K); ignored in "uniform" mode.
    """

    MODES: ClassVar[tuple[str, ...]] = ("uniform", "local")

    def __init__(self, nvec: Any, start: Any = None, seed: int = 0, mode: str = "uniform",
                 step_probability: float | None = None) -> None:
        super().__init__(nvec, start, seed)
        check_choice("mode", mode, self.MODES)
        self.mode = mode
        if step_probability is None:
            step_probability = 1.0 / self.num_knobs
        self.step_probability = check_real("step_probability", step_probability, 0.0, 1.0,
                                            low_inclusive=False)

    def _ask(self, count: int) -> torch.Tensor:
        if self.mode == "uniform" or self.best_design is None:
            return self._uniform_indices(count)
        incumbent = (self.best_design - self.start).expand(count, -1)
        return self._mutate(incumbent, self.step_probability, force_change=True)

    def _tell(self, indices: torch.Tensor, rewards: torch.Tensor) -> None:
        """The walk only needs the incumbent, which the base class keeps."""


class GeneticAlgorithm(_GenerationalAgent):
    """Generational genetic algorithm.

    Until the first generation is told, designs are uniform at random. A child has two
    parents, each the best of ``tournament_size`` population members drawn with
    replacement; with probability ``crossover_rate`` it takes each gene from either parent
    with probability 1/2 (uniform crossover), otherwise it copies the first parent; then
    each gene moves to another value with probability ``mutation_rate``. When a
    generation of ``population_size`` children is told, the next population is the
    ``elitism`` best of the current population plus the ``population_size - elitism``
    best children (the first generation is the first ``population_size`` designs told).

    Args:
        nvec: as in :class:`DesignSearchAgent`.
        start: as in :class:`DesignSearchAgent`.
        seed: as in :class:`DesignSearchAgent`.
        population_size: P >= 2, the population and generation size.
        tournament_size: >= 1, contestants per tournament (1 = uniform parent choice).
        crossover_rate: in [0, 1].
        mutation_rate: per-gene mutation probability in [0, 1] (default 1 / K).
        elitism: in [0, P - 1], population members kept into the next generation.
    """

    def __init__(self, nvec: Any, start: Any = None, seed: int = 0, population_size: int = 32,
                 tournament_size: int = 3, crossover_rate: float = 0.9,
                 mutation_rate: float | None = None, elitism: int = 2) -> None:
        population_size = check_integer("population_size", population_size, minimum=2)
        super().__init__(nvec, start, seed, generation_size=population_size)
        self.population_size = population_size
        self.tournament_size = check_integer("tournament_size", tournament_size)
        self.crossover_rate = check_real("crossover_rate", crossover_rate, 0.0, 1.0)
        if mutation_rate is None:
            mutation_rate = 1.0 / self.num_knobs
        self.mutation_rate = check_real("mutation_rate", mutation_rate, 0.0, 1.0)
        self.elitism = check_integer("elitism", elitism, minimum=0)
        if self.elitism >= population_size:
            raise ValueError(f"elitism must be in [0, population_size - 1] = "
                             f"[0, {population_size - 1}], got {elitism!r}")
        self.population = torch.zeros(0, self.num_knobs, dtype=torch.int64)
        self.fitness = torch.zeros(0, dtype=REWARD_DTYPE)

    def _tournament(self, count: int) -> torch.Tensor:
        """Population indices int64 (count,) of ``count`` tournament winners."""
        contestants = (self._uniform((count, self.tournament_size)) * self.population_size
                       ).long().clamp(max=self.population_size - 1)
        winner = self.fitness[contestants].argmax(dim=1)
        return contestants.gather(1, winner[:, None])[:, 0]

    def _ask(self, count: int) -> torch.Tensor:
        if self.population.shape[0] == 0:
            return self._uniform_indices(count)
        first = self.population[self._tournament(count)]
        second = self.population[self._tournament(count)]
        crossover = self._uniform((count, 1)) < self.crossover_rate
        from_second = crossover & (self._uniform((count, self.num_knobs)) < 0.5)
        return self._mutate(torch.where(from_second, second, first), self.mutation_rate)

    def _tell_generation(self, indices: torch.Tensor, rewards: torch.Tensor) -> None:
        if self.population.shape[0] == 0:
            self.population, self.fitness = indices, rewards
            return
        elite = self.fitness.topk(self.elitism).indices
        children = rewards.topk(self.population_size - self.elitism).indices
        self.population = torch.cat([self.population[elite], indices[children]])
        self.fitness = torch.cat([self.fitness[elite], rewards[children]])


class AntColony(_GenerationalAgent):
    """Ant colony optimisation over a pheromone table, one entry per (knob, value).

    The pheromone starts uniform (1 / nvec_k per value of knob k). An ant draws knob k's
    value v with probability tau[k, v] ** alpha / sum_u tau[k, u] ** alpha. After a
    generation of ``ants`` designs, ant a of rank r_a (0 the worst, ants - 1 the best;
    tied rewards ranked in telling order, the earlier lower) gets the weight
    w_a = r_a / (ants - 1) (1 for a single ant) and

        tau <- (1 - evaporation) tau + evaporation sum_a w_a onehot(design_a) / sum_a w_a,

    so each knob's pheromone stays a distribution over its values.

    Args:
        nvec: as in :class:`DesignSearchAgent`.
        start: as in :class:`DesignSearchAgent`.
        seed: as in :class:`DesignSearchAgent`.
        ants: >= 1, designs per generation.
        evaporation: in (0, 1], the fraction of pheromone replaced per generation.
        alpha: >= 0, the greed exponent (0: uniform sampling; larger: greedier).
    """

    def __init__(self, nvec: Any, start: Any = None, seed: int = 0, ants: int = 16,
                 evaporation: float = 0.3, alpha: float = 1.0) -> None:
        ants = check_integer("ants", ants)
        super().__init__(nvec, start, seed, generation_size=ants)
        self.ants = ants
        self.evaporation = check_real("evaporation", evaporation, 0.0, 1.0,
                                       low_inclusive=False)
        self.alpha = check_real("alpha", alpha, 0.0)
        #: (K, max nvec) bool: which table entries are values of their knob.
        self.valid = torch.arange(int(self.nvec.max())) < self.nvec[:, None]
        self.pheromone = self.valid.to(REWARD_DTYPE) / self.nvec[:, None]

    def probabilities(self) -> torch.Tensor:
        """Per-knob sampling distribution, float64 (K, max nvec), rows summing to 1 (0 on
        entries past a knob's nvec)."""
        weights = torch.where(self.valid, self.pheromone.pow(self.alpha), 0.0)
        return weights / weights.sum(dim=1, keepdim=True)

    def _ask(self, count: int) -> torch.Tensor:
        cumulative = self.probabilities().cumsum(dim=1)                       # (K, V)
        targets = self._uniform((count, self.num_knobs, 1)) * cumulative[:, -1:]
        return (cumulative < targets).sum(dim=2).clamp(max=self.nvec - 1)

    def _tell_generation(self, indices: torch.Tensor, rewards: torch.Tensor) -> None:
        ranks = torch.empty_like(rewards)
        ranks[rewards.argsort(stable=True)] = torch.arange(
            rewards.numel(), dtype=REWARD_DTYPE)
        weights = ranks / (rewards.numel() - 1) if rewards.numel() > 1 else torch.ones_like(
            rewards)
        deposit = torch.zeros_like(self.pheromone)
        knob = torch.arange(self.num_knobs).expand_as(indices)
        deposit.index_put_((knob, indices), weights[:, None].expand_as(indices),
                           accumulate=True)
        self.pheromone = ((1.0 - self.evaporation) * self.pheromone
                          + self.evaporation * deposit / weights.sum())


class BayesianOptimisation(DesignSearchAgent):
    """Bayesian optimisation with BoTorch (optional extra: ``pip install tunegym[bo]``).

    The first ``initial_evaluations`` designs are uniform at random. Afterwards every
    :meth:`ask` fits a ``SingleTaskGP`` (BoTorch's default priors, rewards standardised)
    to all designs told so far, encoded per ``encoding``:

    * "ordinal": knob k's value index divided by nvec_k - 1, in [0, 1] (K features; for
      ordered knobs such as sizes and counts);
    * "onehot": one indicator per (knob, value) (sum nvec features; for categories).

    It then maximises ``qLogExpectedImprovement`` (quasi-Monte-Carlo, ``mc_samples``
    Sobol samples) over a candidate pool: ``random_candidates`` uniform designs plus
    ``mutation_candidates`` neighbours of the ``incumbents`` best designs told (each knob
    moved with probability 1 / K, at least one), without duplicates or designs already
    told. The ``screened_candidates`` candidates of highest single-design acquisition
    go on to the batch choice: ``ask(count)`` picks among them by sequential greedy
    conditioning (BoTorch's ``optimize_acqf_discrete``: each pick is added as a pending
    point before the next). That choice costs about count * screened_candidates joint
    posteriors of up to count + 1 designs, hence the screening. If fewer than ``count``
    candidates remain, the rest of the batch is uniform.

    The fit and the acquisition draw from torch's global generator inside a forked RNG
    seeded from the agent's generator, so a seed fixes the agent's designs.

    Args:
        nvec: as in :class:`DesignSearchAgent`.
        start: as in :class:`DesignSearchAgent`.
        seed: as in :class:`DesignSearchAgent`.
        initial_evaluations: >= 2, designs told before the model is used.
        encoding: "ordinal" or "onehot".
        random_candidates: >= 0, uniform designs in the candidate pool.
        mutation_candidates: >= 0, incumbent neighbours in the candidate pool.
        incumbents: >= 1, best designs whose neighbours join the pool.
        screened_candidates: >= 1, candidates left for the sequential greedy batch choice.
        mc_samples: >= 1, quasi-Monte-Carlo samples of the acquisition.
    """

    ENCODINGS: ClassVar[tuple[str, ...]] = ("ordinal", "onehot")
    #: Candidates per acquisition call when screening (bounds the memory of one call).
    SCREEN_CHUNK: ClassVar[int] = 2048

    def __init__(self, nvec: Any, start: Any = None, seed: int = 0,
                 initial_evaluations: int = 16, encoding: str = "ordinal",
                 random_candidates: int = 2048, mutation_candidates: int = 1024,
                 incumbents: int = 8, screened_candidates: int = 256,
                 mc_samples: int = 128) -> None:
        try:
            import botorch  # noqa: F401
        except ImportError as error:
            raise ImportError("BayesianOptimisation needs BoTorch, an optional dependency: "
                              "pip install tunegym[bo]") from error
        super().__init__(nvec, start, seed)
        self.initial_evaluations = check_integer("initial_evaluations", initial_evaluations,
                                                 minimum=2)
        check_choice("encoding", encoding, self.ENCODINGS)
        self.encoding = encoding
        self.random_candidates = check_integer("random_candidates", random_candidates,
                                               minimum=0)
        self.mutation_candidates = check_integer("mutation_candidates", mutation_candidates,
                                                 minimum=0)
        self.incumbents = check_integer("incumbents", incumbents)
        self.screened_candidates = check_integer("screened_candidates", screened_candidates)
        self.mc_samples = check_integer("mc_samples", mc_samples)
        self.told_indices = torch.zeros(0, self.num_knobs, dtype=torch.int64)
        self.told_rewards = torch.zeros(0, dtype=REWARD_DTYPE)

    def encode(self, indices: torch.Tensor) -> torch.Tensor:
        """Model features of value indices int64 (count, K): float64 (count, K) for
        "ordinal", (count, sum nvec) for "onehot"."""
        if self.encoding == "ordinal":
            return indices.to(REWARD_DTYPE) / (self.nvec - 1).clamp(min=1)
        offsets = torch.cat([torch.zeros(1, dtype=torch.int64), self.nvec.cumsum(0)[:-1]])
        features = torch.zeros(indices.shape[0], int(self.nvec.sum()), dtype=REWARD_DTYPE)
        return features.scatter_(1, indices + offsets, 1.0)

    def _candidate_pool(self) -> torch.Tensor:
        """Distinct untold candidates, value indices int64 (C, K), C >= 0."""
        top = self.told_rewards.topk(min(self.incumbents, self.told_rewards.numel())).indices
        parents = self.told_indices[top]
        choice = (self._uniform((self.mutation_candidates,)) * parents.shape[0]).long().clamp(
            max=parents.shape[0] - 1)
        neighbours = self._mutate(parents[choice], 1.0 / self.num_knobs, force_change=True)
        pool = torch.unique(torch.cat([self._uniform_indices(self.random_candidates),
                                       neighbours]), dim=0)
        return pool[_rows_not_in(pool, self.told_indices)]

    def _ask(self, count: int) -> torch.Tensor:
        if self.evaluations < self.initial_evaluations:
            return self._uniform_indices(count)
        from botorch.acquisition.logei import qLogExpectedImprovement
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms.outcome import Standardize
        from botorch.optim.optimize import optimize_acqf_discrete
        from botorch.sampling import SobolQMCNormalSampler
        from gpytorch.mlls import ExactMarginalLogLikelihood

        pool = self._candidate_pool()
        fill = self._uniform_indices(max(count - pool.shape[0], 0))
        if pool.shape[0] == 0:
            return fill
        fork_seed = int(torch.randint(2**31 - 1, (), generator=self.generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(fork_seed)
            model = SingleTaskGP(self.encode(self.told_indices), self.told_rewards[:, None],
                                 outcome_transform=Standardize(m=1))
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            sampler = SobolQMCNormalSampler(torch.Size([self.mc_samples]), seed=fork_seed)
            acquisition = qLogExpectedImprovement(model, best_f=self.told_rewards.max(),
                                                  sampler=sampler)
            features = self.encode(pool)
            with torch.no_grad():
                single = torch.cat([acquisition(chunk[:, None])
                                    for chunk in features.split(self.SCREEN_CHUNK)])
            screened = features[single.topk(min(self.screened_candidates, pool.shape[0]))
                                .indices]
            picked, _ = optimize_acqf_discrete(acquisition, q=min(count, screened.shape[0]),
                                               choices=screened, return_acq_values=False)
        # Map the picked features back to pool rows (the encoding is injective).
        rows = torch.cdist(picked, features).argmin(dim=1)
        return torch.cat([pool[rows], fill])

    def _tell(self, indices: torch.Tensor, rewards: torch.Tensor) -> None:
        self.told_indices = torch.cat([self.told_indices, indices])
        self.told_rewards = torch.cat([self.told_rewards, rewards])


# -------------------------------------------------------------------------- driver
@dataclass
class SearchResult:
    """The outcome of :func:`run_search`.

    Attributes:
        best_design: int64, the best action found, shaped like one env action
            (``single_action_space.shape``: () for Discrete, (K,) for a flat
            MultiDiscrete), on the CPU.
        best_reward: its reward (the first evaluation reaching the maximum).
        designs: int64 (evaluations, *single_action_space.shape), every evaluated
            action in order, on the CPU.
        rewards: float64 (evaluations,), the reward of every evaluation in order.
        best_info: the env's info entries of the best evaluation, {name: CPU tensor
            of the entry's per-env shape}.
        best_episode_seed: the episode seed in which the best design was evaluated.
        wall_seconds: wall-clock time of the search loop (env steps and agent).
    """

    best_design: torch.Tensor
    best_reward: float
    designs: torch.Tensor
    rewards: torch.Tensor
    best_info: dict[str, torch.Tensor]
    best_episode_seed: int
    wall_seconds: float


def _batched_env(env: BatchedEnv | str, batch_size: int | None,
                 env_kwargs: dict[str, Any] | None) -> BatchedEnv:
    """The batched env of ``batch_size`` envs that :func:`run_search` steps."""
    if isinstance(env, BatchedEnv):
        if env_kwargs:
            raise ValueError("env_kwargs must be empty when env is a BatchedEnv instance "
                             f"(it is already built), got {env_kwargs!r}")
        if batch_size is not None and batch_size != env.num_envs:
            raise ValueError(f"batch_size must equal env.num_envs={env.num_envs} for a "
                             f"BatchedEnv instance (or be None), got {batch_size!r}")
        return env
    if not isinstance(env, str):
        raise TypeError(f"env must be a BatchedEnv or a registered env id string, "
                        f"got {type(env).__name__}")
    batch_size = check_integer("batch_size", 32 if batch_size is None else batch_size)
    return make_batched_env(env, batch_size, **(env_kwargs or {}))


def run_search(agent: DesignSearchAgent, env: BatchedEnv | str, evaluations: int,
               batch_size: int | None = None, seed: int = 0,
               env_kwargs: dict[str, Any] | None = None) -> SearchResult:
    """Search ``env``'s action space with ``agent``, one batched env step per batch.

    Every env of the batch is reset to episode ``seed``, so all designs are evaluated on
    the same instance (the env's split: pass ``split`` in ``env_kwargs`` or build the env
    with it). Each step evaluates ``batch_size`` designs from ``agent.ask``, one per env,
    and tells the agent their rewards. Envs whose episode ended (the env's own
    ``terminated | truncated``) are reset to episode ``seed`` again; in a multi-step env
    each design is one step of the episode running in its env. A last, partial batch
    fills its idle envs with copies of its first design, whose rewards are discarded.

    Args:
        agent: built for the env's ``single_action_space`` (same nvec and start).
        env: a :class:`~tunegym.core.BatchedEnv`, or a registered tunegym id
            (e.g. "tunegym/SolverScheduleOneShot-v0") built with ``batch_size`` envs.
        evaluations: >= 1, designs to evaluate.
        batch_size: envs per step; default ``env.num_envs`` for an env, 32 for an id.
        seed: >= 0, the episode seed of every reset.
        env_kwargs: kwargs overriding the registered ones (only with an id).

    Returns:
        :class:`SearchResult`.
    """
    if not isinstance(agent, DesignSearchAgent):
        raise TypeError(f"agent must be a DesignSearchAgent, got {type(agent).__name__}")
    evaluations = check_integer("evaluations", evaluations)
    seed = check_integer("seed", seed, minimum=0)
    batched = _batched_env(env, batch_size, env_kwargs)
    space = batched.single_action_space
    nvec, start = _space_knobs(space)
    if not (torch.equal(nvec, agent.nvec) and torch.equal(start, agent.start)):
        raise ValueError(f"agent must be built for the env's action space {space} "
                         f"(nvec={nvec.tolist()}, start={start.tolist()}); got an agent with "
                         f"nvec={agent.nvec.tolist()}, start={agent.start.tolist()}")
    width = batched.num_envs
    seeds = torch.full((width,), seed, dtype=torch.int64, device=batched.device)
    actions = torch.empty((evaluations, *space.shape), dtype=torch.int64)
    rewards = torch.empty(evaluations, dtype=REWARD_DTYPE)
    best_reward, best_design, best_info, best_episode_seed = -math.inf, None, {}, seed
    began = time.perf_counter()
    batched.reset(seeds)
    for first in range(0, evaluations, width):
        count = min(width, evaluations - first)
        designs = agent.ask(count)
        idle = designs[:1].expand(width - count, -1)
        action = torch.cat([designs, idle]).to(batched.device).reshape(width, *space.shape)
        _, reward, terminated, truncated, info = batched.step(action)
        batch_rewards = reward[:count].detach().to(device="cpu", dtype=REWARD_DTYPE)
        agent.tell(designs, batch_rewards)
        actions[first:first + count] = action[:count].cpu()
        rewards[first:first + count] = batch_rewards
        row = int(batch_rewards.argmax())
        if float(batch_rewards[row]) > best_reward:
            best_reward = float(batch_rewards[row])
            best_design = action[row].cpu().clone()
            best_info = {name: value[row].detach().cpu().clone() for name, value in info.items()}
            best_episode_seed = int(batched.episode_seeds()[row])
        ended = terminated | truncated
        if bool(ended.any()):
            batched.reset(seeds, mask=ended)
    return SearchResult(best_design=best_design, best_reward=best_reward, designs=actions,
                        rewards=rewards, best_info=best_info,
                        best_episode_seed=best_episode_seed,
                        wall_seconds=time.perf_counter() - began)
