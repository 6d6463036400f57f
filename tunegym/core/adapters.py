"""Gymnasium and Stable-Baselines3 front ends derived from one :class:`BatchedEnv`.

* :class:`SingleEnv`: a ``gymnasium.Env`` (B = 1, numpy in and out);
* :class:`TorchVectorEnv`: a ``gymnasium.vector.VectorEnv`` stepping all B envs in
  one batched call, with same-step autoreset by masked reset;
* :class:`SB3VecEnv`: a ``stable_baselines3`` ``VecEnv`` on the same machinery.

:func:`derive_envs` builds the first two for a family in one line, so families
contain no vectorisation, seeding or autoreset code.

Seeding rules, shared by all three: an explicit seed s starts episode seed s (env i
of a vector env gets s + i); a reset without a seed continues with
``next_episode_seed`` of the previous episode, or draws from the env's
``np_random`` before the first episode. Hence vector env i behaves exactly like a
single env reset with seed s + i, across autoresets too.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from tunegym.core.batched import BatchedEnv
from tunegym.core.random import next_episode_seed

_MAX_SEED = 2**63 - 1


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def _info_entry(value: torch.Tensor):
    """One env's info value: a Python scalar, or a numpy array for vector-valued keys
    (e.g. an action mask)."""
    return value.item() if value.dim() == 0 else _to_numpy(value)


def _action_tensor(action: Any, batched: BatchedEnv, batch_shape: tuple[int, ...]) -> torch.Tensor:
    """Convert a numpy/python action to a tensor with leading batch shape."""
    space = batched.single_action_space
    array = np.asarray(action)
    if isinstance(space, gymnasium.spaces.Box):
        array = array.astype(space.dtype, copy=False) if array.dtype.kind in "fiu" else array
    expected_shape = (*batch_shape, *space.shape)
    if array.size != int(np.prod(expected_shape)):
        raise ValueError(f"action must have shape {expected_shape} for action space {space}, "
                         f"got shape {array.shape}")
    return torch.as_tensor(array, device=batched.device).reshape(expected_shape)


def _forwarded(env, name: str):
    """Attribute ``name`` of ``env.batched`` if its family forwards it, else AttributeError."""
    if name != "batched_env_class" and name in env.batched_env_class.forwarded \
            and "batched" in vars(env):
        return getattr(env.batched, name)
    raise AttributeError(f"{type(env).__name__!r} object has no attribute {name!r}")


def _seeds_for_reset(batched: BatchedEnv, seed: int | list[int] | None,
                     rng: np.random.Generator) -> torch.Tensor:
    """Episode seeds (B,) per the module's seeding rules."""
    count = batched.num_envs
    if seed is None:
        if batched.state is not None:
            return next_episode_seed(batched.episode_seeds())
        first = int(rng.integers(0, _MAX_SEED - count))
        return torch.arange(first, first + count, dtype=torch.int64, device=batched.device)
    if isinstance(seed, (int, np.integer)):
        if not 0 <= int(seed) <= _MAX_SEED - count:
            raise ValueError(f"seed must be an integer in [0, 2**63 - 1 - num_envs], got {seed}")
        return torch.arange(int(seed), int(seed) + count, dtype=torch.int64,
                            device=batched.device)
    seeds = [int(s) for s in seed]
    if len(seeds) != count or min(seeds) < 0:
        raise ValueError(f"seed must be None, an int, or a list of {count} non-negative ints; "
                         f"got {seed!r}")
    return torch.tensor(seeds, dtype=torch.int64, device=batched.device)


class SingleEnv(gymnasium.Env):
    """A ``gymnasium.Env`` over one env of a :class:`BatchedEnv` family (B = 1).

    Keyword arguments are the family's kwargs. Observations and actions are numpy;
    the batched env stays reachable as ``env.unwrapped.batched``.
    """

    batched_env_class: ClassVar[type[BatchedEnv]]

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode must be None (tunegym envs do not render), "
                             f"got {render_mode!r}")
        self.batched = self.batched_env_class(num_envs=1, **kwargs)
        self.observation_space = self.batched.single_observation_space
        self.action_space = self.batched.single_action_space
        self.metadata = dict(self.batched.metadata)
        self.render_mode = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options:
            raise ValueError(f"options are not supported by {type(self).__name__}, "
                             f"got {options!r}")
        seeds = _seeds_for_reset(self.batched, seed, self.np_random)
        observation = self.batched.reset(seeds)
        return _to_numpy(observation[0]), {"episode_seed": int(seeds[0])}

    def step(self, action):
        tensor = _action_tensor(action, self.batched, (1,))
        observation, reward, terminated, truncated, info = self.batched.step(tensor)
        return (_to_numpy(observation[0]), float(reward[0]), bool(terminated[0]),
                bool(truncated[0]), {name: _info_entry(value[0]) for name, value in info.items()})

    def __getattr__(self, name: str):
        return _forwarded(self, name)

    def action_masks(self) -> np.ndarray:
        """(n_actions,) bool legal actions, for families that mask (sb3-contrib's
        MaskablePPO calls this)."""
        return _to_numpy(self.batched.action_masks()[0])


class TorchVectorEnv(gymnasium.vector.VectorEnv):
    """A ``gymnasium.vector.VectorEnv`` stepping B envs of a family in one batched call.

    Autoreset is same-step (``metadata["autoreset_mode"]``): envs that end are reset
    by masked select inside ``step``; their last observation is in
    ``infos["final_obs"]`` (object array, None for envs that did not end) and the info of
    their last step in ``infos["final_info"]``, with masks ``infos["_final_obs"]`` and
    ``infos["_final_info"]``, as gymnasium's own vector envs do in same-step mode.
    Observations, rewards and flags are numpy arrays; ``self.batched`` gives tensors.
    """

    batched_env_class: ClassVar[type[BatchedEnv]]

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        self.batched = self.batched_env_class(num_envs=num_envs, **kwargs)
        self.num_envs = self.batched.num_envs
        self.single_observation_space = self.batched.single_observation_space
        self.single_action_space = self.batched.single_action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = {**self.batched.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        self.render_mode = None

    def __getattr__(self, name: str):
        return _forwarded(self, name)

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        if isinstance(seed, (int, np.integer)):
            self._np_random, self._np_random_seed = gymnasium.utils.seeding.np_random(int(seed))
        if options:
            raise ValueError(f"options are not supported by {type(self).__name__}, "
                             f"got {options!r}")
        seeds = _seeds_for_reset(self.batched, seed, self.np_random)
        observation = self.batched.reset(seeds)
        return _to_numpy(observation), {"episode_seed": _to_numpy(seeds)}

    def step(self, actions):
        tensor = _action_tensor(actions, self.batched, (self.num_envs,))
        observation, reward, terminated, truncated, info = self.batched.step(tensor)
        infos: dict[str, Any] = {}
        all_envs = np.ones(self.num_envs, dtype=bool)
        for name, value in info.items():
            infos[name] = _to_numpy(value)
            infos["_" + name] = all_envs
        done = terminated | truncated
        if bool(done.any()):
            done_numpy = _to_numpy(done)
            final_obs = np.full(self.num_envs, None, dtype=object)
            for index, last in zip(np.flatnonzero(done_numpy), _to_numpy(observation[done])):
                final_obs[index] = last
            infos["final_obs"], infos["_final_obs"] = final_obs, done_numpy
            infos["final_info"] = {**{name: infos[name] for name in info},
                                   **{"_" + name: done_numpy for name in info}}
            infos["_final_info"] = done_numpy
            observation = self.batched.autoreset(done)
        return (_to_numpy(observation), _to_numpy(reward), _to_numpy(terminated),
                _to_numpy(truncated), infos)


def derive_envs(batched_env_class: type[BatchedEnv]) -> tuple[type[SingleEnv],
                                                               type[TorchVectorEnv]]:
    """Return (gymnasium.Env class, gymnasium VectorEnv class) for a family.

    Usage in a family module: ``SORGymEnv, SORVectorEnv = derive_envs(SOREnv)``.
    """
    name = batched_env_class.__name__.removesuffix("Env")
    single = type(f"{name}GymEnv", (SingleEnv,), {"batched_env_class": batched_env_class,
                                                  "__module__": batched_env_class.__module__})
    vector = type(f"{name}VectorEnv", (TorchVectorEnv,),
                  {"batched_env_class": batched_env_class,
                   "__module__": batched_env_class.__module__})
    return single, vector
