"""Baselines for the coverage family: random walk, greedy marginal gain, brute force.

Policies follow the agents' interface (``act(observation) -> actions (B,)``, no-op
``update``); those that look ahead read the batched env they were built with
(:class:`tunegym.envs.coverage.CoverageEnv`).
"""

from __future__ import annotations

import torch

from tunegym.core import EpisodeRecords, check_integer, rollout
from tunegym.envs.coverage import NUM_ACTIONS, CoverageEnv
from tunegym.simulators.coverage import step_positions


class RandomMoves:
    """Uniformly random moves.

    Args:
        num_envs: B.
        seed: seed of the CPU generator.
    """

    def __init__(self, num_envs: int, seed: int = 0) -> None:
        self.num_envs = check_integer("num_envs", num_envs)
        self.generator = torch.Generator().manual_seed(seed)

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        """int64 (B,) actions in 0..4, on the observation's device."""
        return torch.randint(0, NUM_ACTIONS, (self.num_envs,),
                             generator=self.generator).to(observation.device)

    def update(self, observation, actions, rewards) -> None:
        """No learning."""


class GreedyMarginalGain:
    """The move with the largest one-step marginal gain (ties broken at random, so an
    agent whose neighbourhood is fully covered keeps moving instead of staying).

    Args:
        env: the batched coverage env to look ahead in.
        seed: seed of the tie-breaking generator.
    """

    def __init__(self, env: CoverageEnv, seed: int = 0) -> None:
        self.env = env
        self.num_envs = env.num_envs
        self.generator = torch.Generator().manual_seed(seed)

    def one_step_gains(self) -> torch.Tensor:
        """Marginal gain (B, 5) float64 of each action from the env's current state."""
        state = self.env.state
        objective_state = self.env.objective_state(state)
        gains = []
        for action in range(NUM_ACTIONS):
            actions = torch.full((self.num_envs,), action, dtype=torch.int64,
                                 device=self.env.device)
            position = step_positions(state["free"], state["position"], actions)
            gains.append(self.env.objective.gain(objective_state, position)[1])
        return torch.stack(gains, dim=1)

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        """int64 (B,) actions."""
        gains = self.one_step_gains()
        best = gains >= gains.max(dim=1, keepdim=True).values - 1e-12
        noise = torch.rand(gains.shape, generator=self.generator).to(gains.device)
        return torch.where(best, noise, -1.0).argmax(dim=1)

    def update(self, observation, actions, rewards) -> None:
        """No learning."""


def final_values(env: CoverageEnv, seeds: torch.Tensor, policy) -> torch.Tensor:
    """F(S) (B,) float64 of the visited cells at the end of one episode per seed (B,) of
    ``env`` (num_envs = B), played by ``policy`` (a :class:`tunegym.core.Policy`)."""
    return rollout(env, policy, seeds).raw_metric_values


def greedy_episodes(env_id: str, seeds: torch.Tensor) -> EpisodeRecords:
    """The family record's ``greedy`` baseline: one test episode per seed of ``env_id``,
    each played alone with its tie-breaking generator seeded by the episode seed (so an
    episode's outcome does not depend on the other seeds). seeds: int64 (E,)."""
    return EpisodeRecords.concatenate([
        rollout(env_id, lambda env, seed=seed: GreedyMarginalGain(env, seed=seed), [seed])
        for seed in seeds.tolist()])


greedy_episodes.episodes = True


def brute_force_optimum(env_kwargs: dict, seed: int) -> tuple[float, torch.Tensor]:
    """Best episode return over all 5**horizon action sequences of one episode.

    All sequences are played at once in one batched env (every copy reset with the same
    seed), so this is only for tiny horizons (<= 7: 78125 episodes).

    Args:
        env_kwargs: CoverageEnv kwargs (``horizon`` included).
        seed: the episode seed.

    Returns:
        (best return, the best action sequence int64 (horizon,)).
    """
    horizon = env_kwargs.get("horizon", 40)
    if horizon > 7:
        raise ValueError(f"brute force needs horizon <= 7, got {horizon}")
    count = NUM_ACTIONS ** horizon
    env = CoverageEnv(num_envs=count, **env_kwargs)
    env.reset(torch.full((count,), seed, dtype=torch.int64))
    sequences = torch.arange(count)
    digits = torch.stack([(sequences // NUM_ACTIONS ** step) % NUM_ACTIONS
                          for step in range(horizon)], dim=1).to(env.device)
    total = torch.zeros(count, dtype=torch.float64, device=env.device)
    for step in range(horizon):
        _, reward, _, _, _ = env.step(digits[:, step])
        total += reward.to(torch.float64)
    best = int(total.argmax())
    return float(total[best]), digits[best].cpu()
