"""The uniform random policy every family is scored against (``baseline:random``).

Its draws come from counter-based hashes of (episode seed, step), so an episode's actions
are the same in any batch layout and a row of it replays exactly.
"""

from __future__ import annotations

import gymnasium
import torch

from tunegym.core import BatchedEnv
from tunegym.core.random import hash_keys, uniform

#: Key mixed into the random policy's hashes, apart from every instance stream.
_RANDOM_POLICY_KEY = 0x5A4D


def random_actions(env: BatchedEnv, step: int) -> torch.Tensor:
    """Uniform random actions (B, *action_shape) for step ``step`` of the env's current
    episodes, drawn from counter-based hashes of (episode seed, step). Only actions allowed
    by ``env.action_masks()`` are drawn where the env has one.

    Raises:
        ValueError: for an action space other than Discrete or MultiDiscrete.
    """
    space = env.single_action_space
    keys = hash_keys(_RANDOM_POLICY_KEY, env.episode_seeds(), step)
    if isinstance(space, gymnasium.spaces.Discrete):
        draws = uniform(keys, (int(space.n),), stream=0)
        if hasattr(env, "action_masks"):
            draws = draws * env.action_masks()          # illegal actions draw 0: never the max
        return draws.argmax(dim=1) + int(space.start)
    if isinstance(space, gymnasium.spaces.MultiDiscrete):
        sizes = torch.as_tensor(space.nvec.reshape(-1), device=env.device)
        draws = uniform(keys, (sizes.numel(),), stream=0)
        choices = (draws * sizes).long().clamp(max=sizes - 1)
        starts = torch.as_tensor(space.start.reshape(-1), device=env.device)
        return (choices + starts).reshape(-1, *space.shape)
    raise ValueError(f"the random baseline supports Discrete and MultiDiscrete action "
                     f"spaces, got {space}")


class UniformRandom:
    """:func:`random_actions` as a policy of ``env`` (the step count restarts at
    ``reset``)."""

    def __init__(self, env: BatchedEnv) -> None:
        self.env, self.step = env, 0

    def reset(self, seeds: torch.Tensor) -> None:
        self.step = 0

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        """Actions (B, *action_shape); ``observation`` is not read."""
        actions = random_actions(self.env, self.step)
        self.step += 1
        return actions
