"""Multi-agent coverage: PettingZoo API, team value against brute force, reward split."""

import numpy as np
import pytest
import torch
from pettingzoo.test import parallel_api_test

from tests.envs.test_coverage import brute_force_coverage
from tunegym.multiagent import coverage_v0


def test_parallel_api_test_passes():
    parallel_api_test(coverage_v0.parallel_env(n_agents=3, horizon=8), num_cycles=20)


def test_rewards_sum_to_the_team_coverage_gain():
    env = coverage_v0.parallel_env(n_agents=3, task="coverage_bimodal", height=12, width=12,
                                   horizon=15)
    env.reset(seed=4)
    weights = env.world.state["weights"][0].numpy()
    cells = [tuple(position) for position in env.positions.tolist()]
    start_value = brute_force_coverage(weights, cells, 1)
    rng = np.random.default_rng(0)
    total = 0.0
    while env.agents:
        _, rewards, _, _, infos = env.step({agent: int(rng.integers(5)) for agent in env.agents})
        total += sum(rewards.values())
        cells += [tuple(position) for position in env.positions.tolist()]
    final_value = brute_force_coverage(weights, cells, 1)
    assert total == pytest.approx(final_value - start_value, rel=1e-9)
    assert infos["agent_0"]["team_objective_value"] == pytest.approx(final_value, rel=1e-9)


def test_later_agents_are_credited_given_the_earlier_agents_cells():
    env = coverage_v0.parallel_env(n_agents=2, footprint=0, height=6, width=6, horizon=3)
    env.reset(seed=0)
    env.positions = torch.tensor([[2, 2], [2, 4]])
    _, rewards, _, _, _ = env.step({"agent_0": 4, "agent_1": 3})   # both move to (2, 3)
    assert rewards == {"agent_0": 1.0, "agent_1": 0.0}


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="n_agents"):
        coverage_v0.parallel_env(n_agents=0)
    env = coverage_v0.parallel_env(n_agents=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="missing"):
        env.step({"agent_0": 1})
    with pytest.raises(ValueError, match="actions"):
        env.step({"agent_0": 1, "agent_1": 7})


def test_team_d_optimal_value_is_the_log_determinant_of_every_agents_cells():
    from tests.simulators.test_coverage import d_optimal_value

    env = coverage_v0.parallel_env(n_agents=3, task="d_optimal", height=10, width=10,
                                   horizon=12)
    env.reset(seed=2)
    cells = [tuple(position) for position in env.positions.tolist()]
    rng = np.random.default_rng(1)
    while env.agents:
        _, _, _, _, infos = env.step({agent: int(rng.integers(5)) for agent in env.agents})
        cells += [tuple(position) for position in env.positions.tolist()]
    assert len(cells) == 3 * 13
    assert infos["agent_0"]["team_objective_value"] == pytest.approx(
        d_optimal_value(cells, 2.0, 0.1), rel=1e-9)


@pytest.mark.parametrize("kwargs", [{"observe_map": True}, {"observe_values": True,
                                                            "task": "biodiversity"}])
def test_parallel_api_with_map_and_value_observations(kwargs):
    env = coverage_v0.parallel_env(n_agents=2, horizon=5, height=6, width=6, **kwargs)
    parallel_api_test(env, num_cycles=10)
    observations, _ = env.reset(seed=3)
    assert observations["agent_1"].shape == env.observation_space("agent_1").shape
    assert observations["agent_1"][3:].sum() > 0
