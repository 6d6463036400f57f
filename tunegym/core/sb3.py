"""Stable-Baselines3 ``VecEnv`` over a batched tunegym env (no Python loop over envs).

Stable-Baselines3 is imported when this module is, so ``import tunegym`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv

from tunegym.core.adapters import _action_tensor, _seeds_for_reset, _to_numpy
from tunegym.core.batched import BatchedEnv
from tunegym.core.registration import make_batched_env


class SB3VecEnv(VecEnv):
    """SB3 ``VecEnv`` with same-step autoreset.

    Infos are one dict per env; only envs that ended this step get entries:
    ``terminal_observation`` (numpy), ``TimeLimit.truncated`` and the family's raw
    metrics of the last step (``iterations``, ...), which is what SB3's
    ``Monitor``-free logging and bootstrapping read.

    Args:
        batched: the batched env, already constructed with B = num_envs.
    """

    def __init__(self, batched: BatchedEnv) -> None:
        self.batched = batched
        super().__init__(batched.num_envs, batched.single_observation_space,
                         batched.single_action_space)
        self._actions: torch.Tensor | None = None
        self._rng = np.random.default_rng()

    def reset(self) -> np.ndarray:
        seeds_given = [s for s in self._seeds if s is not None]
        seed = [int(s) for s in self._seeds] if len(seeds_given) == self.num_envs else None
        seeds = _seeds_for_reset(self.batched, seed, self._rng)
        observation = self.batched.reset(seeds)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return _to_numpy(observation)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = _action_tensor(actions, self.batched, (self.num_envs,))

    def step_wait(self):
        observation, reward, terminated, truncated, info = self.batched.step(self._actions)
        done = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if bool(done.any()):
            ended = torch.nonzero(done).flatten().tolist()
            final_observation = _to_numpy(observation)
            time_limit = _to_numpy(truncated & ~terminated)
            metrics = {name: _to_numpy(value) for name, value in info.items()}
            for index in ended:
                infos[index] = {"terminal_observation": final_observation[index],
                                "TimeLimit.truncated": bool(time_limit[index]),
                                **{name: values[index].item() if values[index].ndim == 0
                                   else values[index] for name, values in metrics.items()}}
            observation = self.batched.autoreset(done)
        return (_to_numpy(observation), _to_numpy(reward).astype(np.float32),
                _to_numpy(done), infos)

    def close(self) -> None:
        self.batched.state = None

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self.batched, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        raise AttributeError(f"{type(self).__name__} envs share one batched simulator; "
                             f"set {attr_name!r} on the batched env instead")

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs):
        """Call a batched method that returns one row per env (B, ...), e.g.
        ``action_masks`` for sb3-contrib's MaskablePPO; one numpy row per index."""
        method = getattr(self.batched, method_name, None)
        if method is None:
            raise AttributeError(f"{type(self.batched).__name__} has no method "
                                 f"{method_name!r} to call per env")
        rows = _to_numpy(method(*method_args, **method_kwargs))
        return [rows[index] for index in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gymnasium.Wrapper], indices=None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        return super().seed(seed)


def make_sb3_vec_env(env_id: str, num_envs: int = 64, **kwargs: Any) -> SB3VecEnv:
    """Build an SB3 ``VecEnv`` of ``num_envs`` envs of a registered tunegym id.

    Args:
        env_id: a registered id, e.g. "tunegym/SOR-v0".
        num_envs: batch size B, stepped in one batched call.
        **kwargs: env kwargs overriding the registered ones.
    """
    return SB3VecEnv(make_batched_env(env_id, num_envs, **kwargs))
