"""The one episode loop (tunegym.core.rollout), the family records and env_class.

References: the shipped baseline entries (computed by the evaluation layer's own episode
loop, before rollout existed), closed forms of the SOR reward, and gymnasium's built env.
"""

import json
from pathlib import Path

import gymnasium
import pytest
import torch

import tunegym
from tunegym.core import (
    EpisodeRecords,
    env_class,
    family_record,
    load_attribute,
    make_batched_env,
    rollout,
)

ENTRIES = (Path(tunegym.__file__).parent / "evaluation" / "data" / "baseline_entries.jsonl")


def shipped(env_id, agent):
    rows = [json.loads(line) for line in ENTRIES.read_text().splitlines()]
    rows = sorted((row for row in rows if row["env_id"] == env_id and row["agent"] == agent),
                  key=lambda row: row["seed"])
    return rows


@pytest.mark.parametrize("env_id", tunegym.registered_ids())
def test_env_class_reads_the_registry_without_building(env_id):
    assert env_class(env_id) is type(gymnasium.make(env_id).unwrapped.batched)
    assert family_record(env_id).name == env_class(env_id).family


def test_env_class_names_an_unknown_id():
    with pytest.raises(ValueError, match="tunegym/SOR-v1.*did you mean 'tunegym/SOR-v0'"):
        env_class("tunegym/SOR-v1")


@pytest.mark.parametrize("env_id", tunegym.registered_ids())
def test_every_record_baseline_resolves(env_id):
    for reference in family_record(env_id).baselines.values():
        assert callable(load_attribute(reference))


@pytest.mark.parametrize("env_id", tunegym.registered_ids())
def test_record_comparison_names_configs_of_the_family(env_id):
    import yaml

    from tunegym.configs import config_path

    for name in family_record(env_id).comparison:
        config = yaml.safe_load(config_path(name).read_text())
        assert env_class(config["env"]).family == family_record(env_id).name


class FirstAction:
    """Action 0 everywhere (the lowest corner of the action space)."""

    def __init__(self, env):
        self.env = env

    def act(self, observation):
        space = self.env.single_action_space
        if isinstance(space, gymnasium.spaces.Box):
            return torch.as_tensor(space.low, device=self.env.device).expand(
                observation.shape[0], *space.shape).clone()
        return torch.zeros((observation.shape[0], *space.shape), dtype=torch.int64,
                           device=self.env.device)


@pytest.mark.parametrize("env_id", tunegym.registered_ids())
def test_short_episodes_end_within_max_episode_steps(env_id):
    kwargs = dict(family_record(env_id).short_episode_kwargs)
    records = rollout(env_id, FirstAction, [3, 4], env_kwargs=kwargs, trace=["reward"])
    limit = make_batched_env(env_id, 1, **kwargs).max_episode_steps
    assert bool((records.lengths >= 1).all()) and bool((records.lengths <= limit).all())
    # the return is the sum of the traced rewards, NaN-padded after an episode's end
    assert torch.allclose(records.returns, records.trace["reward"].nansum(dim=0))
    assert records.seeds.tolist() == [3, 4] and records.split == "test"


def test_sor_returns_are_minus_iterations_over_max_iters():
    from tunegym.baselines.sor import gauss_seidel

    records = rollout("tunegym/SOR-v0", gauss_seidel, [0, 1, 2],
                      env_kwargs={"sequence_length": 4}, trace=["iterations", "omega"])
    assert records.lengths.tolist() == [4, 4, 4]
    assert bool((records.trace["omega"] == 1.0).all())
    expected = -(records.trace["iterations"] / 10_000).sum(dim=0)
    assert torch.allclose(records.returns, expected, atol=1e-6)
    assert torch.equal(records.raw_metric_values, records.trace["iterations"][-1])


@pytest.mark.parametrize("env_id, agent", [
    ("tunegym/AcceleratorDesign-v0", "default_design"),
    ("tunegym/DRAMController-v0", "default_design"),
    ("tunegym/Coverage-v0", "greedy"),
    ("tunegym/SolverSchedule-v0", "ddim"),
    ("tunegym/SolverScheduleOneShot-v0", "dpm_solver++(2m)"),
    ("tunegym/QuantumArchSearch-v0", "hardware_efficient_ansatz"),
])
def test_record_baselines_through_rollout_match_the_shipped_entries(env_id, agent):
    rows = shipped(env_id, "baseline:" + agent)
    seeds = [row["seed"] for row in rows]
    target = load_attribute(family_record(env_id).baselines[agent])
    records = (target(env_id, torch.tensor(seeds)) if getattr(target, "episodes", False)
               else rollout(env_id, target, seeds))
    assert isinstance(records, EpisodeRecords) and len(records) == len(rows)
    assert records.returns.tolist() == pytest.approx([row["episode_return"] for row in rows],
                                                     abs=1e-6)
    assert records.lengths.tolist() == [row["episode_length"] for row in rows]
    assert records.raw_metric_values.tolist() == pytest.approx(
        [row["raw_metric_value"] for row in rows], rel=1e-6)


def test_rollout_checks_its_arguments():
    env = make_batched_env("tunegym/Coverage-v0", 2, horizon=3)
    with pytest.raises(ValueError, match="one seed per env"):
        rollout(env, FirstAction, [0, 1, 2])
    with pytest.raises(ValueError, match="env_kwargs"):
        rollout(env, FirstAction, [0, 1], env_kwargs={"horizon": 2})
    with pytest.raises(ValueError, match="non-negative"):
        rollout("tunegym/Coverage-v0", FirstAction, [-1])
    with pytest.raises(TypeError, match="policy"):
        rollout(env, 3, [0, 1])


def test_learners_observe_every_transition():
    class Counting(FirstAction):
        def __init__(self, env):
            super().__init__(env)
            self.seen, self.started = 0, None

        def reset(self, seeds):
            self.started = seeds.tolist()

        def observe(self, transition):
            self.seen += 1
            assert transition.reward.shape == (2,)

    env = make_batched_env("tunegym/Coverage-v0", 2, horizon=5, split="test")
    policy = Counting(env)
    rollout(env, policy, [7, 8])
    assert policy.seen == 5 and policy.started == [7, 8]


def test_an_env_past_its_episode_end_shows_the_policy_a_fresh_episode():
    """Episodes of different lengths (NFE budgets drawn per episode): an env whose episode
    ended starts its next one, so the policy never acts on a stepped-on terminal state
    (on SolverScheduleMixed-v0 that state's observation is not finite; a trained SB3
    policy then fails on NaN logits)."""
    from tunegym.baselines.random import UniformRandom

    class FiniteOnly(UniformRandom):
        def act(self, observation):
            assert bool(torch.isfinite(observation).all())
            return super().act(observation)

    records = rollout("tunegym/SolverScheduleMixed-v0", FiniteOnly, torch.arange(20))
    assert len(set(records.lengths.tolist())) > 1
    alone = rollout("tunegym/SolverScheduleMixed-v0", FiniteOnly, torch.arange(2, 3))
    assert records.returns[2] == alone.returns[0] and records.lengths[2] == alone.lengths[0]
