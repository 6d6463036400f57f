"""Tests of the design search agents and run_search (tunegym/agents/design_search.py).

The search tests use a synthetic design env defined here whose optimum is found by brute
force; the env tests check that run_search records exactly the rewards the env pays.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
from functools import cache

import gymnasium
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tunegym  # noqa: F401  (registers the env ids)
from tunegym.agents.design_search import (
    AntColony,
    BayesianOptimisation,
    DesignRandomWalk,
    GeneticAlgorithm,
    run_search,
)
from tunegym.core import BatchedEnv
from tunegym.core.random import hash_keys, uniform
from tunegym.envs.quantum_arch_search import QuantumArchSearchEnv
from tunegym.envs.solver_schedule import SolverScheduleOneShotEnv

HAS_BOTORCH = importlib.util.find_spec("botorch") is not None
needs_botorch = pytest.mark.skipif(not HAS_BOTORCH, reason="botorch is not installed")

#: Cheap BoTorch settings for the tests (the defaults pool thousands of candidates).
SMALL_BO = {"initial_evaluations": 16, "random_candidates": 512, "mutation_candidates": 256,
            "screened_candidates": 32, "mc_samples": 32}
SEARCH_SPACE = (6, 6, 6, 6, 6)
SEARCH_SEEDS = range(5)


class TargetSpecEnv(BatchedEnv):
    """Synthetic design env, one design per episode: reward = -(L1 distance of the design
    to a target spec drawn from the episode seed) + ``ruggedness`` * u(design), u a hash
    of the design uniform in [0, 1). With ruggedness > 1 a neighbour of the target can
    beat it, so the optimum needs brute force and the landscape has local optima."""

    family = "target_spec_test"

    def __init__(self, num_envs: int = 1, nvec=SEARCH_SPACE, ruggedness: float = 1.5,
                 **kwargs) -> None:
        super().__init__(num_envs, **kwargs)
        self.nvec = torch.tensor(nvec)
        self.ruggedness = ruggedness
        self.single_action_space = gymnasium.spaces.MultiDiscrete(list(nvec))
        self.single_observation_space = gymnasium.spaces.Box(0.0, 1.0, (1,), np.float32)

    def initial_state(self, seeds):
        draws = uniform(hash_keys(seeds, self.split_key), (len(self.nvec),), stream=1)
        return {"target": (draws * self.nvec).long()}

    def observe(self, state):
        return torch.zeros(state["target"].shape[0], 1)

    def reward(self, target, designs):
        """float32 (b,) reward of designs (b, K) for targets (b, K)."""
        radix = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.int64), self.nvec[:-1]]), 0)
        bump = uniform(hash_keys((designs * radix).sum(dim=1), 0xBEEF), (1,), stream=0)[:, 0]
        return (self.ruggedness * bump - (designs - target).abs().sum(dim=1)).float()

    def transition(self, state, action):
        reward = self.reward(state["target"], action.long())
        ended = torch.ones_like(reward, dtype=torch.bool)
        info = {"distance": (action.long() - state["target"]).abs().sum(dim=1)}
        return dict(state), reward, ended, torch.zeros_like(ended), info

    def brute_force_optimum(self, seed: int) -> float:
        """The best reward over every design, for the instance of episode ``seed``."""
        designs = torch.cartesian_prod(*[torch.arange(int(n)) for n in self.nvec])
        target = self.initial_state(torch.tensor([seed]))["target"]
        return float(self.reward(target.expand_as(designs), designs).max())


@cache
def best_rewards(agent_class, hyperparameters: tuple, evaluations: int, batch_size: int,
                 ) -> tuple[list[float], list[float]]:
    """(best reward per seed, brute-force optimum per seed) on the synthetic env."""
    found, optimum = [], []
    for seed in SEARCH_SEEDS:
        env = TargetSpecEnv(batch_size)
        agent = agent_class.from_space(env.single_action_space, seed=seed,
                                       **dict(hyperparameters))
        found.append(run_search(agent, env, evaluations, seed=seed).best_reward)
        optimum.append(env.brute_force_optimum(seed))
    return found, optimum


def check_search(agent_class, hyperparameters: dict, evaluations: int, batch_size: int):
    found, optimum = best_rewards(agent_class, tuple(hyperparameters.items()), evaluations,
                                  batch_size)
    uniform_found, _ = best_rewards(DesignRandomWalk, (), evaluations, batch_size)
    assert found == pytest.approx(optimum, abs=1e-6)
    assert statistics.median(found) > statistics.median(uniform_found) + 0.5


@pytest.mark.parametrize(("agent_class", "hyperparameters"), [
    (DesignRandomWalk, {"mode": "local"}),
    (GeneticAlgorithm, {}),
    (AntColony, {}),
], ids=["random_walk_local", "genetic_algorithm", "ant_colony"])
def test_agent_finds_brute_force_optimum_and_beats_uniform(agent_class, hyperparameters):
    check_search(agent_class, hyperparameters, evaluations=512, batch_size=32)


@needs_botorch
def test_bayesian_optimisation_finds_optimum_and_beats_uniform():
    check_search(BayesianOptimisation, SMALL_BO, evaluations=64, batch_size=16)


# ----------------------------------------------------------------- ask / tell
def agent_factories() -> dict:
    """name -> (nvec, start, seed) -> agent, with small generations so they complete."""
    factories = {
        "uniform": lambda nvec, start, seed: DesignRandomWalk(nvec, start, seed),
        "local": lambda nvec, start, seed: DesignRandomWalk(nvec, start, seed, mode="local",
                                                      step_probability=0.3),
        "genetic": lambda nvec, start, seed: GeneticAlgorithm(nvec, start, seed,
                                                              population_size=3, elitism=1),
        "ants": lambda nvec, start, seed: AntColony(nvec, start, seed, ants=3),
    }
    if HAS_BOTORCH:
        factories["bayesian"] = lambda nvec, start, seed: BayesianOptimisation(
            nvec, start, seed, initial_evaluations=4, random_candidates=16,
            mutation_candidates=8, screened_candidates=8, mc_samples=8,
            encoding="onehot" if seed % 2 else "ordinal")
    return factories


@settings(max_examples=40, deadline=None)
@given(factory=st.sampled_from(list(agent_factories().values())),
       knobs=st.lists(st.tuples(st.integers(1, 5), st.integers(-3, 3)), min_size=1,
                      max_size=4),
       counts=st.lists(st.integers(1, 7), min_size=1, max_size=3),
       seed=st.integers(0, 2**31))
def test_ask_returns_in_range_designs_and_tell_tracks_the_best(factory, knobs, counts, seed):
    nvec = [size for size, _ in knobs]
    start = [first for _, first in knobs]
    agent = factory(nvec, start, seed)
    low, high = torch.tensor(start), torch.tensor(start) + torch.tensor(nvec)
    told_best = -float("inf")
    for count in counts * 2:
        designs = agent.ask(count)
        assert designs.dtype == torch.int64
        assert designs.shape == (count, len(nvec))
        assert bool(((designs >= low) & (designs < high)).all())
        rewards = torch.rand(count, generator=torch.Generator().manual_seed(count))
        agent.tell(designs, rewards)
        told_best = max(told_best, float(rewards.max()))
        assert agent.best_reward == told_best
        assert agent.best_design.shape == (len(nvec),)
    assert agent.evaluations == 2 * sum(counts)


def test_genetic_algorithm_elitism_keeps_the_best_design():
    agent = GeneticAlgorithm([4] * 6, seed=3, population_size=8, elitism=1)
    env = TargetSpecEnv(8, nvec=(4,) * 6)
    env.reset(torch.zeros(8, dtype=torch.int64))
    for _ in range(6):
        designs = agent.ask(8)
        agent.tell(designs, env.step(designs)[1])
        assert float(agent.fitness.max()) == agent.best_reward


def test_ant_colony_pheromone_stays_a_distribution_per_knob():
    agent = AntColony([2, 5, 3], seed=0, ants=4, evaporation=0.5)
    for _ in range(3):
        designs = agent.ask(4)
        agent.tell(designs, designs.sum(dim=1).double())
    probabilities = agent.probabilities()
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(3, dtype=torch.float64))
    assert bool((probabilities[~agent.valid] == 0).all())
    assert torch.allclose(agent.pheromone.sum(dim=1), torch.ones(3, dtype=torch.float64))


def test_from_space_reads_discrete_and_multidiscrete_spaces():
    discrete = DesignRandomWalk.from_space(gymnasium.spaces.Discrete(7, start=2))
    assert discrete.nvec.tolist() == [7] and discrete.start.tolist() == [2]
    grid = gymnasium.spaces.MultiDiscrete(np.array([[2, 3], [4, 5]]),
                                          start=np.array([[0, 1], [-1, 0]]))
    flat = GeneticAlgorithm.from_space(grid, seed=1, population_size=4)
    assert flat.nvec.tolist() == [2, 3, 4, 5] and flat.start.tolist() == [0, 1, -1, 0]
    with pytest.raises(ValueError, match="space"):
        AntColony.from_space(gymnasium.spaces.Box(0.0, 1.0, (2,)))


# ----------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", list(agent_factories()))
def test_same_seed_same_search(name):
    make_agent = agent_factories()[name]

    def search(seed):
        env = TargetSpecEnv(8, nvec=(3, 4, 5))
        return run_search(make_agent([3, 4, 5], None, seed), env, 20, seed=11)

    first, again, other = search(5), search(5), search(6)
    assert torch.equal(first.designs, again.designs)
    assert torch.equal(first.rewards, again.rewards)
    assert not torch.equal(first.designs, other.designs)


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("agent_class", "kwargs", "name"), [
    (DesignRandomWalk, {"mode": "greedy"}, "mode"),
    (DesignRandomWalk, {"mode": "local", "step_probability": 0.0}, "step_probability"),
    (DesignRandomWalk, {"seed": -1}, "seed"),
    (GeneticAlgorithm, {"population_size": 1}, "population_size"),
    (GeneticAlgorithm, {"tournament_size": 0}, "tournament_size"),
    (GeneticAlgorithm, {"crossover_rate": 1.5}, "crossover_rate"),
    (GeneticAlgorithm, {"mutation_rate": -0.1}, "mutation_rate"),
    (GeneticAlgorithm, {"population_size": 4, "elitism": 4}, "elitism"),
    (AntColony, {"ants": 0}, "ants"),
    (AntColony, {"evaporation": 0.0}, "evaporation"),
    (AntColony, {"alpha": -1.0}, "alpha"),
])
def test_bad_hyperparameters_raise_naming_the_argument(agent_class, kwargs, name):
    with pytest.raises(ValueError, match=name):
        agent_class([3, 3], **kwargs)


@needs_botorch
@pytest.mark.parametrize(("kwargs", "name"), [
    ({"initial_evaluations": 1}, "initial_evaluations"),
    ({"encoding": "binary"}, "encoding"),
    ({"random_candidates": -1}, "random_candidates"),
    ({"mutation_candidates": -1}, "mutation_candidates"),
    ({"incumbents": 0}, "incumbents"),
    ({"screened_candidates": 0}, "screened_candidates"),
    ({"mc_samples": 0}, "mc_samples"),
])
def test_bad_bayesian_optimisation_hyperparameters_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        BayesianOptimisation([3, 3], **kwargs)


def test_bayesian_optimisation_without_botorch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "botorch", None)
    with pytest.raises(ImportError, match=r"pip install tunegym\[bo\]"):
        BayesianOptimisation([3, 3])


@pytest.mark.parametrize(("call", "name"), [
    (lambda agent: DesignRandomWalk([0, 3]), "nvec"),
    (lambda agent: DesignRandomWalk([2, 3], start=[0]), "start"),
    (lambda agent: agent.ask(0), "count"),
    (lambda agent: agent.tell(torch.tensor([[0, 0]]), torch.tensor([1.0, 2.0])), "rewards"),
    (lambda agent: agent.tell(torch.tensor([[0, 3]]), torch.tensor([1.0])), "designs"),
    (lambda agent: agent.tell(torch.tensor([[0.0, 1.0]]), torch.tensor([1.0])), "designs"),
    (lambda agent: agent.tell(torch.tensor([[0, 1]]), torch.tensor([float("nan")])),
     "rewards"),
])
def test_bad_agent_input_raises_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call(DesignRandomWalk([2, 3]))


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"agent": DesignRandomWalk([3, 3])}, "agent"),
    ({"evaluations": 0}, "evaluations"),
    ({"batch_size": 5}, "batch_size"),
    ({"seed": -2}, "seed"),
    ({"env_kwargs": {"nfe": 2}}, "env_kwargs"),
])
def test_bad_run_search_arguments_raise_naming_the_argument(kwargs, name):
    env = TargetSpecEnv(4)
    arguments = {"agent": DesignRandomWalk.from_space(env.single_action_space), "env": env,
                 "evaluations": 8, **kwargs}
    with pytest.raises(ValueError, match=name):
        run_search(**arguments)


# ------------------------------------------------------------------ real envs
def test_run_search_on_solver_schedule_records_what_the_env_pays():
    env_kwargs = {"num_samples": 16}
    space = SolverScheduleOneShotEnv(1, **env_kwargs).single_action_space
    agent = GeneticAlgorithm.from_space(space, seed=0, population_size=8)
    result = run_search(agent, "tunegym/SolverScheduleOneShot-v0", evaluations=20,
                        batch_size=8, seed=3, env_kwargs=env_kwargs)
    assert result.designs.shape == (20, *space.shape)
    assert result.rewards.shape == (20,)
    assert agent.evaluations == 20
    assert result.best_reward == float(result.rewards.max())
    assert result.best_episode_seed == 3
    # Independent check: replay every design (and the best one alone) in fresh envs.
    replay = SolverScheduleOneShotEnv(20, **env_kwargs)
    replay.reset(torch.full((20,), 3))
    replayed = replay.step(result.designs)[1].double()
    assert torch.allclose(replayed, result.rewards, rtol=1e-5, atol=1e-6)
    single = SolverScheduleOneShotEnv(1, **env_kwargs)
    single.reset([result.best_episode_seed])
    _, reward, _, _, info = single.step(result.best_design[None])
    assert float(reward[0]) == pytest.approx(result.best_reward, rel=1e-5, abs=1e-6)
    assert float(info["error"][0]) == pytest.approx(float(result.best_info["error"]),
                                                    rel=1e-5)


def test_run_search_on_a_multistep_discrete_env_resets_ended_episodes():
    # max_gates=2: every episode ends at its second gate, so the third design is the
    # first step of a fresh episode with the same seed.
    env_kwargs = {"max_gates": 2, "optimiser_steps": 5}
    env = QuantumArchSearchEnv(4, **env_kwargs)
    agent = DesignRandomWalk.from_space(env.single_action_space, seed=2)
    result = run_search(agent, env, evaluations=12, seed=7)
    assert result.designs.shape == (12,)
    fresh = QuantumArchSearchEnv(4, **env_kwargs)
    fresh.reset(torch.full((4,), 7))
    first_steps = fresh.step(result.designs[8:])[1].double()
    assert torch.allclose(first_steps, result.rewards[8:], atol=1e-6)
