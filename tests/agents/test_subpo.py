"""Tests of the SubPO agent (tunegym/agents/subpo.py) on small coverage grids."""

from __future__ import annotations

import pytest
import torch

from tunegym.agents.subpo import SubPO
from tunegym.envs.coverage import CoverageEnv

SMALL = {"task": "coverage_constant", "height": 8, "width": 8, "horizon": 12, "footprint": 1}


def observation_size(env: CoverageEnv) -> int:
    return env.single_observation_space.shape[0]


def random_policy_returns(env: CoverageEnv, seeds: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Episode returns (B,) of the uniform random policy."""
    generator = torch.Generator().manual_seed(seed)
    env.reset(seeds)
    total = torch.zeros(env.num_envs)
    for _ in range(env.horizon):
        _, reward, _, _, _ = env.step(torch.randint(0, 5, (env.num_envs,), generator=generator))
        total = total + reward
    return total


# ------------------------------------------------------------------ gradient
@pytest.mark.parametrize("policy", ["markov", "history"])
@pytest.mark.parametrize("entropy_coefficient", [0.0, 0.3])
def test_gradient_is_the_subpo_gradient(policy, entropy_coefficient):
    env = CoverageEnv(num_envs=4, height=5, width=5, horizon=4, footprint=1,
                      observe_map=policy == "history")
    agent = SubPO(observation_size(env), policy=policy, hidden_size=8,
                  entropy_coefficient=entropy_coefficient, seed=3)
    batch = agent.rollout(env, torch.arange(4))
    observations, actions, rewards = batch["observations"], batch["actions"], batch["rewards"]
    steps, batch_size = actions.shape
    assert rewards.abs().sum() > 0   # a non-trivial case: some advantages differ from 0

    parameters = list(agent.network.parameters())
    loss, _ = agent.loss(observations, actions, rewards)
    autograd = torch.autograd.grad(loss, parameters)

    # Independent computation: per-step gradients of log pi(a_t | s_t), weighted by the
    # return-to-go (sum of the marginal gains from t on) minus its batch mean.
    returns = [[sum(float(rewards[k, b]) for k in range(t, steps)) for b in range(batch_size)]
               for t in range(steps)]
    expected = [torch.zeros_like(p) for p in parameters]
    for t in range(steps):
        baseline = sum(returns[t]) / batch_size
        for b in range(batch_size):
            features = observations[t, b, :agent.input_size]
            log_probabilities = torch.log_softmax(agent.network(features), dim=-1)
            step_gradient = torch.autograd.grad(log_probabilities[actions[t, b]], parameters,
                                                retain_graph=True)
            entropy = -(log_probabilities.exp() * log_probabilities).sum()
            entropy_gradient = torch.autograd.grad(entropy, parameters)
            for total, g_log, g_entropy in zip(expected, step_gradient, entropy_gradient):
                total -= g_log * (returns[t][b] - baseline) / batch_size
                total -= entropy_coefficient * g_entropy / (steps * batch_size)
    assert any(bool(want.abs().sum() > 0) for want in expected)
    for got, want in zip(autograd, expected):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_returns_to_go_and_evaluate_match_objective():
    rewards = torch.tensor([[1.0, 0.0], [2.0, 3.0], [0.5, 1.0]])
    torch.testing.assert_close(SubPO.returns_to_go(rewards),
                               torch.tensor([[3.5, 4.0], [2.5, 4.0], [0.5, 1.0]]))
    env = CoverageEnv(num_envs=16, **SMALL)
    seeds = torch.arange(16)
    env.reset(seeds)
    start_value = env.state["value"].clone()
    agent = SubPO(observation_size(env), seed=0)
    returns = agent.evaluate(env, seeds, deterministic=False)
    assert returns.shape == (16,)
    torch.testing.assert_close(returns.double(), env.state["value"] - start_value)


# ------------------------------------------------------------------ learning
def test_learning_beats_random_policy():
    # Measured (8 x 8, horizon 12, footprint 1, B = 256, 40 steps): random ~11.5, SubPO
    # markov ~29.9-30.4 over seeds 0-2 (history ~33-35); the upper bound is 36.
    train = CoverageEnv(num_envs=256, **SMALL)
    test = CoverageEnv(num_envs=256, split="test", **SMALL)
    agent = SubPO(observation_size(train), seed=0)
    for step in range(40):
        figures = agent.train_step(train, torch.arange(256) + 256 * step)
    assert set(figures) == {"mean_return", "loss", "entropy", "episode_returns",
                            "final_raw_metric"}
    seeds = torch.arange(256)
    random_mean = float(random_policy_returns(test, seeds).mean())
    subpo_mean = float(agent.evaluate(test, seeds).mean())
    assert subpo_mean > 2.0 * random_mean, (subpo_mean, random_mean)
    assert subpo_mean > random_mean + 12.0, (subpo_mean, random_mean)


# ------------------------------------------------------------------- history
def test_history_policy_needs_the_visited_map():
    with pytest.raises(ValueError, match="policy"):
        SubPO(observation_size(CoverageEnv(num_envs=2, **SMALL)), policy="history")
    map_env = CoverageEnv(num_envs=2, observe_map=True, **SMALL)
    markov_agent = SubPO(3, policy="markov")
    with pytest.raises(ValueError, match="observation"):
        markov_agent.train_step(map_env, torch.arange(2))


def test_history_policy_reads_the_map_and_trains():
    env = CoverageEnv(num_envs=64, observe_map=True, **SMALL)
    history = SubPO(observation_size(env), policy="history", seed=0)
    markov = SubPO(observation_size(env), policy="markov", seed=0)
    observation = env.reset(torch.arange(64))
    other_map = observation.clone()
    other_map[:, 3:] = 1.0 - other_map[:, 3:]
    assert not torch.allclose(history.probabilities(observation),
                              history.probabilities(other_map))
    torch.testing.assert_close(markov.probabilities(observation), markov.probabilities(other_map))
    for step in range(3):
        figures = history.train_step(env, torch.arange(64) + 64 * step)
        assert all(bool(torch.isfinite(torch.as_tensor(v)).all()) for v in figures.values())
    returns = history.evaluate(env, torch.arange(64))
    assert returns.shape == (64,) and bool((returns >= 0).all())


# ------------------------------------------------------ determinism and errors
def test_same_seed_same_agent():
    def run(seed):
        env = CoverageEnv(num_envs=32, **SMALL)
        agent = SubPO(observation_size(env), seed=seed)
        figures = [{key: value.tolist() if torch.is_tensor(value) else value
                    for key, value in agent.train_step(env, torch.arange(32) + 32 * step).items()}
                   for step in range(3)]
        observation = env.reset(torch.arange(32))
        return figures, agent.act(observation), list(agent.network.parameters())

    figures_a, actions_a, parameters_a = run(7)
    figures_b, actions_b, parameters_b = run(7)
    figures_c, _, _ = run(8)
    assert figures_a == figures_b
    torch.testing.assert_close(actions_a, actions_b, rtol=0, atol=0)
    for a, b in zip(parameters_a, parameters_b):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert figures_a != figures_c


def test_act_shapes_and_greedy():
    agent = SubPO(3, seed=0)
    observation = torch.rand(10, 3)
    actions = agent.act(observation)
    assert actions.dtype == torch.int64 and actions.shape == (10,)
    assert bool(((actions >= 0) & (actions < 5)).all())
    greedy = agent.act_greedy(observation)
    torch.testing.assert_close(greedy, agent.probabilities(observation).argmax(dim=-1))
    torch.testing.assert_close(greedy, agent.act(observation, deterministic=True))
    with pytest.raises(ValueError, match="observation"):
        agent.act(torch.rand(10, 4))


@pytest.mark.parametrize("name, value", [
    ("observation_size", 2), ("observation_size", 3.5), ("num_actions", 1),
    ("policy", "lstm"), ("hidden_size", 0), ("learning_rate", 0.0),
    ("learning_rate", float("nan")), ("entropy_coefficient", -0.1), ("seed", -1),
    ("device", "not-a-device"),
])
def test_bad_arguments_raise_value_error(name, value):
    arguments = {"observation_size": 3, name: value}
    with pytest.raises(ValueError, match=name):
        SubPO(**arguments)
