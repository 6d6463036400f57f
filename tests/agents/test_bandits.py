"""Tests of tunegym.agents.bandits against independent references.

* the Tsallis-INF normaliser against scipy's brentq on the same equation;
* regret on a synthetic stochastic bandit, against the closed-form regret of uniform play;
* contextual agents against the best fixed arm, brute-forced from the known mean losses;
* batching: copy i of a B-copy agent equals a one-copy agent fed copy i's data.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import scipy.optimize
import torch

from tunegym.agents.bandits import (
    EXP3,
    UCB1,
    BanditAgent,
    ChebCB,
    TsallisINF,
    TsallisINFContextBins,
    chebyshev_features,
    tsallis_inf_normaliser,
    tsallis_inf_probabilities,
)

torch.set_num_threads(1)

NON_CONTEXTUAL = [TsallisINF, EXP3, UCB1]
CONTEXTUAL = [TsallisINFContextBins, ChebCB]
ALL_AGENTS = NON_CONTEXTUAL + CONTEXTUAL


def make_agent(agent_class: type[BanditAgent], num_arms: int, num_envs: int,
               seed: int = 0) -> BanditAgent:
    return agent_class(num_arms=num_arms, num_envs=num_envs, seed=seed)


def random_round(num_arms: int, num_envs: int, generator: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Observation (B, 2) in [0, 1), arms (B,), rewards (B,) in [-1, 0)."""
    observation = torch.rand(num_envs, 2, generator=generator)
    actions = torch.randint(num_arms, (num_envs,), generator=generator)
    rewards = -torch.rand(num_envs, generator=generator) - 1e-3
    return observation, actions, rewards


# ------------------------------------------------------------------ Tsallis-INF maths
def tsallis_excess_sum(x: float, losses: np.ndarray, learning_rate: float) -> float:
    """sum_i 4 / (eta (L_i - x))^2 - 1, written independently of the agent code."""
    return float(np.sum(4.0 / (learning_rate * (losses - x)) ** 2) - 1.0)


def test_tsallis_normaliser_matches_brentq():
    generator = torch.Generator().manual_seed(0)
    num_arms = 12
    losses = torch.randn(200, num_arms, generator=generator, dtype=torch.float64)
    losses = losses * torch.logspace(-2, 3, 200, dtype=torch.float64)[:, None]
    losses[:5] = 0.0  # the all-equal start of every run
    learning_rate = 2.0 / torch.sqrt(torch.randint(1, 5000, (200,), generator=generator)
                                     .to(torch.float64))
    normaliser = tsallis_inf_normaliser(losses, learning_rate)
    probabilities = tsallis_inf_probabilities(losses, learning_rate)
    unnormalised = 4.0 / (learning_rate[:, None] * (losses - normaliser[:, None])) ** 2
    assert torch.allclose(unnormalised.sum(dim=1), torch.ones(200, dtype=torch.float64),
                          rtol=0, atol=1e-12)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(200, dtype=torch.float64),
                          rtol=0, atol=1e-14)
    for row in range(200):
        row_losses = losses[row].numpy()
        eta = float(learning_rate[row])

        upper = row_losses.min() - 2.0 / eta  # sum >= 1 here
        lower = row_losses.min() - 4.0 * np.sqrt(num_arms) / eta  # sum <= 1/4 here
        root = scipy.optimize.brentq(tsallis_excess_sum, lower, upper, args=(row_losses, eta),
                                     xtol=1e-14, rtol=1e-15)
        reference = 4.0 / (eta * (row_losses - root)) ** 2
        np.testing.assert_allclose(probabilities[row].numpy(), reference, rtol=0, atol=1e-10)
        assert float(normaliser[row]) == pytest.approx(root, rel=1e-12, abs=1e-12)


def test_tsallis_uniform_at_start_and_one_arm():
    assert torch.allclose(tsallis_inf_probabilities(torch.zeros(3, 4, dtype=torch.float64),
                                                    torch.tensor(2.0, dtype=torch.float64)),
                          torch.full((3, 4), 0.25, dtype=torch.float64))
    agent = TsallisINF(num_arms=1, num_envs=3)
    assert torch.equal(agent.act(), torch.zeros(3, dtype=torch.int64))
    agent.update(None, torch.zeros(3, dtype=torch.int64), torch.tensor([-1.0, 0.0, 2.0]))
    assert torch.allclose(agent.probabilities(), torch.ones(3, 1, dtype=torch.float64))


def test_chebyshev_features_match_cosine_form():
    points = torch.linspace(-1, 1, 41, dtype=torch.float64)
    features = chebyshev_features(points, 5)
    angles = torch.arccos(points)
    reference = torch.stack([torch.cos(n * angles) for n in range(6)], dim=-1)
    assert torch.allclose(features, reference, atol=1e-12)
    assert chebyshev_features(points, 0).shape == (41, 1)


# ----------------------------------------------------------------------- regret
@pytest.mark.parametrize("agent_class", NON_CONTEXTUAL)
def test_regret_on_stochastic_bandit(agent_class):
    num_arms, num_envs, horizon = 10, 64, 2000
    generator = torch.Generator().manual_seed(123)
    mean_losses = torch.linspace(0.5, 0.9, num_arms, dtype=torch.float64)
    mean_losses = mean_losses[torch.randperm(num_arms, generator=generator)]
    best_arm = int(mean_losses.argmin())
    mean_losses[best_arm] = 0.3
    agent = agent_class(num_arms=num_arms, num_envs=num_envs, seed=1)
    play_counts = torch.zeros(num_envs, num_arms, dtype=torch.int64)
    pseudo_regret = torch.zeros(num_envs, dtype=torch.float64)
    copies = torch.arange(num_envs)
    for _ in range(horizon):
        actions = agent.act(None)
        losses = torch.bernoulli(mean_losses[actions], generator=generator)
        agent.update(None, actions, -losses)
        pseudo_regret += mean_losses[actions] - mean_losses[best_arm]
        play_counts[copies, actions] += 1
    uniform_regret = horizon * float(mean_losses.mean() - mean_losses[best_arm])
    assert float(pseudo_regret.mean()) < 0.25 * uniform_regret
    assert float((play_counts.argmax(dim=1) == best_arm).double().mean()) >= 0.9


# ------------------------------------------------------------------- contextual
@pytest.mark.parametrize("agent_class", CONTEXTUAL)
def test_contextual_agent_beats_best_fixed_arm(agent_class):
    num_arms, num_envs, horizon = 5, 64, 3000
    arm_centers = torch.linspace(0, 1, num_arms, dtype=torch.float64)

    def mean_losses(context: torch.Tensor) -> torch.Tensor:
        """(N,) -> (N, K): arm k is best near context k / (K - 1)."""
        return 1.0 - 0.6 * torch.exp(-((context[:, None] - arm_centers) / 0.25) ** 2)

    midpoints = (torch.arange(100_000, dtype=torch.float64) + 0.5) / 100_000
    best_fixed_arm_loss = float(mean_losses(midpoints).mean(dim=0).min())

    generator = torch.Generator().manual_seed(5)
    agent = agent_class(num_arms=num_arms, num_envs=num_envs, seed=0,
                        context_low=0.0, context_high=1.0)
    late_mean_losses = []
    for round_index in range(horizon):
        observation = torch.rand(num_envs, 1, generator=generator, dtype=torch.float64)
        actions = agent.act(observation)
        played_mean = mean_losses(observation[:, 0]).gather(1, actions[:, None])[:, 0]
        losses = played_mean + 0.1 * torch.randn(num_envs, generator=generator,
                                                  dtype=torch.float64)
        agent.update(observation, actions, -losses)
        if round_index >= horizon - 1000:
            late_mean_losses.append(played_mean.mean())
    assert float(torch.stack(late_mean_losses).mean()) < best_fixed_arm_loss


def test_context_bins_use_paper_centers():
    agent = TsallisINFContextBins(num_arms=3, num_envs=4, context_low=1.0, context_high=2.2,
                                  num_bins=6)
    assert torch.allclose(agent.bin_centers, 1.0 + 1.2 * torch.tensor(
        [1, 3, 5, 7, 9, 11], dtype=torch.float64) / 12)
    contexts = torch.tensor([0.0, 1.19, 1.21, 5.0], dtype=torch.float64)
    assert agent.context_bins(contexts).tolist() == [0, 0, 1, 5]


def test_chebcb_fits_loss_functions():
    """With exact polynomial losses, ridge predictions recover them."""
    agent = ChebCB(num_arms=2, num_envs=1, context_low=-2.0, context_high=2.0, degree=3,
                   ridge=1e-9)
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        context = 4.0 * torch.rand(1, 1, generator=generator, dtype=torch.float64) - 2.0
        arm = torch.randint(2, (1,), generator=generator)
        # Constant-magnitude losses keep the running-mean normaliser at exactly 1.
        loss = torch.where(arm == 0, torch.ones(1), -torch.ones(1)).to(torch.float64)
        agent.update(context, arm, -loss)
    predictions = agent.predicted_losses(torch.tensor([[0.7]]))
    assert torch.allclose(predictions, torch.tensor([[1.0, -1.0]], dtype=torch.float64),
                          atol=1e-6)
    probabilities = agent.probabilities(torch.tensor([[0.7]]))
    gamma = 10.0 * np.sqrt(2 * 201)
    assert float(probabilities[0, 0]) == pytest.approx(1.0 / (2 + gamma * 2.0), rel=1e-5)


# ------------------------------------------------------------------ vectorisation
@pytest.mark.parametrize("agent_class", ALL_AGENTS)
def test_batched_copies_are_independent_learners(agent_class):
    """Copy i of a B-copy agent evolves exactly like a 1-copy agent given copy i's data."""
    num_arms, num_envs = 6, 5
    batched = make_agent(agent_class, num_arms, num_envs)
    singles = [make_agent(agent_class, num_arms, 1) for _ in range(num_envs)]
    generator = torch.Generator().manual_seed(7)
    for _ in range(30):
        observation, actions, rewards = random_round(num_arms, num_envs, generator)
        probabilities = batched.probabilities(observation)
        assert probabilities.shape == (num_envs, num_arms)
        assert bool((probabilities >= 0).all())
        assert torch.allclose(probabilities.sum(dim=1), torch.ones(num_envs, dtype=torch.float64),
                              atol=1e-12)
        sampled = batched.act(observation)
        assert sampled.shape == (num_envs,) and sampled.dtype == torch.int64
        assert bool(((sampled >= 0) & (sampled < num_arms)).all())
        assert bool((probabilities.gather(1, sampled[:, None]) > 0).all())
        for index, single in enumerate(singles):
            single_probabilities = single.probabilities(observation[index:index + 1])
            assert torch.allclose(single_probabilities, probabilities[index:index + 1],
                                  rtol=1e-12, atol=1e-14)
            single.update(observation[index:index + 1], actions[index:index + 1],
                          rewards[index:index + 1])
        batched.update(observation, actions, rewards)


@pytest.mark.parametrize("agent_class", ALL_AGENTS)
def test_same_seed_same_actions(agent_class):
    def play(seed: int) -> torch.Tensor:
        agent = make_agent(agent_class, 7, 16, seed=seed)
        generator = torch.Generator().manual_seed(3)
        history = []
        for _ in range(40):
            observation = torch.rand(16, 3, generator=generator)
            actions = agent.act(observation)
            rewards = -(1.0 + actions.to(torch.float32)) * torch.rand(16, generator=generator)
            agent.update(observation, actions, rewards)
            history.append(actions)
        return torch.stack(history)

    first = play(seed=11)
    assert torch.equal(first, play(seed=11))
    if agent_class is not UCB1:  # UCB1 is deterministic and ignores the seed
        assert not torch.equal(first, play(seed=12))


@pytest.mark.parametrize("agent_class", ALL_AGENTS)
def test_numpy_inputs_accepted(agent_class):
    agent = make_agent(agent_class, 4, 3)
    observation = np.full((3, 2), 0.5, dtype=np.float32)
    actions = agent.act(observation)
    agent.update(observation, actions.numpy(), np.array([-1.0, -2.0, -0.5]))
    assert agent.act(observation).shape == (3,)


# ------------------------------------------------------------------------ spaces
@pytest.mark.parametrize("agent_class", ALL_AGENTS)
def test_from_spaces(agent_class):
    observation_space = gymnasium.spaces.Box(low=np.array([0.5, -np.inf], dtype=np.float32),
                                             high=np.array([1.5, np.inf], dtype=np.float32))
    agent = agent_class.from_spaces(observation_space, gymnasium.spaces.Discrete(9),
                                    num_envs=4, seed=3)
    assert (agent.num_arms, agent.num_envs, agent.seed) == (9, 4, 3)
    if agent.is_contextual:
        assert (agent.context_low, agent.context_high) == (0.5, 1.5)
    assert agent.act(np.full((4, 2), 1.0, dtype=np.float32)).shape == (4,)


def test_from_spaces_passes_kwargs():
    agent = ChebCB.from_spaces(gymnasium.spaces.Box(0.0, 1.0, (1,)),
                               gymnasium.spaces.Discrete(3), degree=2, exploration=1.0)
    assert (agent.degree, agent.exploration) == (2, 1.0)
    agent = TsallisINFContextBins.from_spaces(None, gymnasium.spaces.Discrete(3),
                                              context_low=-1.0, context_high=1.0)
    assert agent.context_low == -1.0


@pytest.mark.parametrize("agent_class", ALL_AGENTS)
def test_from_spaces_rejects_non_discrete_actions(agent_class):
    observation_space = gymnasium.spaces.Box(0.0, 1.0, (2,))
    with pytest.raises(ValueError, match="action_space"):
        agent_class.from_spaces(observation_space, gymnasium.spaces.Box(0.0, 1.0, (1,)))
    with pytest.raises(ValueError, match="action_space"):
        agent_class.from_spaces(observation_space, gymnasium.spaces.Discrete(3, start=1))


@pytest.mark.parametrize("agent_class", CONTEXTUAL)
def test_from_spaces_rejects_unbounded_context(agent_class):
    with pytest.raises(ValueError, match="observation_space"):
        agent_class.from_spaces(gymnasium.spaces.Box(-np.inf, np.inf, (2,)),
                                gymnasium.spaces.Discrete(3))
    with pytest.raises(ValueError, match="observation_space"):
        agent_class.from_spaces(gymnasium.spaces.Discrete(4), gymnasium.spaces.Discrete(3))


# --------------------------------------------------------------------- bad input
@pytest.mark.parametrize("agent_class", ALL_AGENTS)
@pytest.mark.parametrize("argument, value", [("num_arms", 0), ("num_arms", 2.5),
                                             ("num_envs", 0), ("seed", -1)])
def test_bad_constructor_arguments(agent_class, argument, value):
    kwargs = {"num_arms": 3, "num_envs": 2, "seed": 0, argument: value}
    with pytest.raises(ValueError, match=argument):
        agent_class(**kwargs)


@pytest.mark.parametrize("agent_class, argument, value", [
    (EXP3, "exploration_rate", 1.5),
    (EXP3, "learning_rate_scale", 0.0),
    (TsallisINFContextBins, "num_bins", 0),
    (TsallisINFContextBins, "context_low", float("nan")),
    (TsallisINFContextBins, "context_high", -1.0),
    (ChebCB, "degree", -1),
    (ChebCB, "ridge", 0.0),
    (ChebCB, "exploration", -2.0),
    (ChebCB, "context_high", 0.0),
])
def test_bad_agent_specific_arguments(agent_class, argument, value):
    with pytest.raises(ValueError, match=argument):
        agent_class(num_arms=3, **{argument: value})


@pytest.mark.parametrize("agent_class", ALL_AGENTS)
def test_bad_shapes_and_values(agent_class):
    agent = make_agent(agent_class, 4, 3)
    observation = torch.zeros(3, 2)
    actions = torch.zeros(3, dtype=torch.int64)
    rewards = torch.zeros(3)
    for bad_observation in (torch.zeros(2, 2), torch.zeros(3), torch.zeros(3, 2, 1)):
        with pytest.raises(ValueError, match="observation"):
            agent.act(bad_observation)
        with pytest.raises(ValueError, match="observation"):
            agent.update(bad_observation, actions, rewards)
    for bad_actions in (torch.zeros(2, dtype=torch.int64), torch.zeros(3, 1, dtype=torch.int64),
                        torch.zeros(3), torch.tensor([0, 1, 4]), torch.tensor([0, -1, 2])):
        with pytest.raises(ValueError, match="actions"):
            agent.update(observation, bad_actions, rewards)
    for bad_rewards in (torch.zeros(4), torch.zeros(3, 1), torch.tensor([0.0, float("nan"), 1.0])):
        with pytest.raises(ValueError, match="rewards"):
            agent.update(observation, actions, bad_rewards)
    if agent.is_contextual:
        with pytest.raises(ValueError, match="observation"):
            agent.act(None)
        with pytest.raises(ValueError, match="observation"):
            agent.act(torch.zeros(3, 0))
