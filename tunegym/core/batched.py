"""The one contract every env family implements: a batched env on torch tensors.

A family subclasses :class:`BatchedEnv` and writes three pure, batched hooks:

* ``initial_state(seeds) -> state``: a dict of tensors with leading dim b, built
  only from the episode seeds (instances are pure functions of the seed);
* ``observe(state) -> obs`` of shape (b, *single_observation_space.shape);
* ``transition(state, action) -> (state, reward, terminated, truncated, info)``.

The base class owns the state, the masked (partial) reset used for autoreset,
episode-seed bookkeeping and action validation. :mod:`tunegym.core.adapters`
derives the gymnasium single env, the gymnasium vector env and the SB3 VecEnv
from it, so no family writes vectorisation, seeding or autoreset code.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import gymnasium
import numpy as np
import torch

from tunegym.core.family import FamilyRecord
from tunegym.core.random import next_episode_seed

State = dict[str, torch.Tensor]
StepResult = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]

SPLITS = ("train", "test")
#: Keys mixed into every instance hash, one per split: the two splits draw from
#: independent instance streams whatever seeds a user passes.
SPLIT_KEYS = {"train": 0x7A11, "test": 0x7E57}


def resolve_device(device: str | torch.device) -> torch.device:
    """Validate a ``device`` kwarg ("cpu", "cuda", "cuda:1", ...)."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be a torch device string such as 'cpu' or 'cuda', "
                         f"got {device!r}") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; "
                         "use device='cpu'")
    return resolved


def did_you_mean(value: Any, choices) -> str:
    """``"; did you mean 'x'?"`` for the choice closest to ``value`` (compared as
    strings), or "" when none is close."""
    close = difflib.get_close_matches(str(value), [str(choice) for choice in choices], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_choice(name: str, value: Any, allowed: tuple) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def check_integer(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as int, raising a clear error unless it is an int >= minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(name: str, value: Any, low: float = -math.inf, high: float = math.inf,
                low_inclusive: bool = True, high_inclusive: bool = True) -> float:
    """``value`` as float; TypeError/ValueError naming ``name`` unless a number in range."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    above_low = value >= low if low_inclusive else value > low
    below_high = value <= high if high_inclusive else value < high
    if not (math.isfinite(value) and above_low and below_high):
        interval = (f"{'[' if low_inclusive else '('}{low}, {high}"
                    f"{']' if high_inclusive else ')'}")
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return value


def split_choices(name: str, value, split: str, check: Callable[[object], None]) -> tuple:
    """The choices of instance parameter ``name`` on ``split``: ``value`` is one value, a
    list (drawn per episode) or a dict with exactly the split names as keys, each one
    value or a list. ``check`` raises for a bad single value."""
    if isinstance(value, Mapping):
        if set(value) != set(SPLIT_KEYS):
            raise ValueError(f"{name} given per split must have exactly the keys "
                             f"{sorted(SPLIT_KEYS)}, got {sorted(value)}")
        per_split = {key: split_choices(name, choice, key, check)
                     for key, choice in value.items()}
        return per_split[split]
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ValueError(f"{name} must not be an empty list")
    for single in values:
        check(single)
    return tuple(dict.fromkeys(values))


def check_action(space: gymnasium.Space, action: torch.Tensor, num_envs: int) -> None:
    """Raise a ValueError unless every row of ``action`` (num_envs, ...) lies in ``space``.

    Actions are never clipped: an out-of-space action is an error.
    """
    if isinstance(space, gymnasium.spaces.Discrete):
        expected_shape = (num_envs,)
        if action.shape != expected_shape:
            raise ValueError(f"action must have shape {expected_shape} (one arm index per env), "
                             f"got {tuple(action.shape)}")
        if action.is_floating_point() or action.is_complex():
            raise ValueError(f"action must hold integers for a Discrete({space.n}) space, "
                             f"got dtype {action.dtype}")
        low, high = int(space.start), int(space.start + space.n - 1)
        if bool(((action < low) | (action > high)).any()):
            raise ValueError(f"action must be an integer in [{low}, {high}], got "
                             f"values in [{int(action.min())}, {int(action.max())}]")
    elif isinstance(space, gymnasium.spaces.Box):
        expected_shape = (num_envs, *space.shape)
        if tuple(action.shape) != expected_shape:
            raise ValueError(f"action must have shape {expected_shape}, got {tuple(action.shape)}")
        if not bool(torch.isfinite(action).all()):
            raise ValueError("action must be finite; got NaN or infinite entries")
        low = torch.as_tensor(space.low, dtype=action.dtype, device=action.device)
        high = torch.as_tensor(space.high, dtype=action.dtype, device=action.device)
        if bool(((action < low) | (action > high)).any()):
            raise ValueError(f"action must lie in the Box [{space.low.tolist()}, "
                             f"{space.high.tolist()}]; got values in "
                             f"[{float(action.min())}, {float(action.max())}]")
    elif isinstance(space, gymnasium.spaces.MultiDiscrete):
        expected_shape = (num_envs, *space.shape)
        if tuple(action.shape) != expected_shape:
            raise ValueError(f"action must have shape {expected_shape}, got {tuple(action.shape)}")
        if action.is_floating_point() or action.is_complex():
            raise ValueError(f"action must hold integers for {space}, got dtype {action.dtype}")
        limits = torch.as_tensor(space.nvec, device=action.device)
        starts = torch.as_tensor(space.start, device=action.device)
        if bool(((action < starts) | (action >= starts + limits)).any()):
            raise ValueError(f"action entries must lie in [start, start + nvec) of {space}")
    else:
        raise TypeError(f"action space {space} is not supported by tunegym.core")


class BatchedEnv:
    """Base class of every tunegym env family: B independent envs on torch tensors.

    Subclasses set ``single_observation_space`` and ``single_action_space`` in their
    ``__init__`` and implement :meth:`initial_state`, :meth:`observe` and
    :meth:`transition`. Class attributes ``family`` and ``reward_description`` feed
    ``tunegym list``.

    Args:
        num_envs: batch size B.
        device: torch device of every tensor ("cpu" or "cuda").
        split: "train" or "test"; selects the independent instance stream.
    """

    family: ClassVar[str] = ""
    reward_description: ClassVar[str] = ""
    #: The info key of the family's raw metric (units in the key), logged by training.
    raw_metric: ClassVar[str] = ""
    #: Names of methods/attributes the gymnasium front ends (single and vector env)
    #: forward to this batched env, e.g. a design family's ``decode``.
    forwarded: ClassVar[tuple[str, ...]] = ()
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    render_mode: ClassVar[str | None] = None
    #: What the top floors need about the family (:class:`tunegym.core.family.FamilyRecord`):
    #: baselines, the default comparison, short-episode kwargs, labels.
    record: ClassVar[FamilyRecord | None] = None

    single_observation_space: gymnasium.spaces.Box
    single_action_space: gymnasium.Space

    def __init__(self, num_envs: int = 1, device: str | torch.device = "cpu",
                 split: str = "train") -> None:
        self.num_envs = check_integer("num_envs", num_envs)
        self.device = resolve_device(device)
        check_choice("split", split, SPLITS)
        self.split = split
        self.split_key = SPLIT_KEYS[split]
        self.state: State | None = None

    @property
    def max_episode_steps(self) -> int:
        """The most steps an episode of this env can take with its kwargs (every episode
        ends, terminated or truncated, by then). Families override it."""
        raise NotImplementedError(f"{type(self).__name__} must define max_episode_steps")

    # ----------------------------------------------------------------- hooks
    def initial_state(self, seeds: torch.Tensor) -> State:
        """State of b freshly reset envs. seeds: int64 (b,). Tensors in the state: (b, ...)."""
        raise NotImplementedError

    def observe(self, state: State) -> torch.Tensor:
        """Observation (b, *single_observation_space.shape), float32, on ``self.device``."""
        raise NotImplementedError

    def transition(self, state: State, action: torch.Tensor) -> tuple[State, torch.Tensor,
                                                                      torch.Tensor, torch.Tensor,
                                                                      dict[str, torch.Tensor]]:
        """Advance b envs: returns (state, reward (b,) float32, terminated (b,) bool,
        truncated (b,) bool, info {name: tensor (b,)}). Must not modify the tensors of
        ``state`` in place (build new ones): earlier observations and infos may share
        their memory."""
        raise NotImplementedError

    # ------------------------------------------------------------ public API
    def reset(self, seeds: torch.Tensor | np.ndarray | list[int],
              mask: torch.Tensor | None = None) -> torch.Tensor:
        """Reset the envs selected by ``mask`` (all if None) to the episodes ``seeds``.

        Args:
            seeds: int64 (B,) episode seeds, one per env (entries outside the mask
                are ignored). Non-negative.
            mask: bool (B,) envs to reset, or None for all.

        Returns:
            Observation of all B envs, (B, *obs_shape) float32.
        """
        seeds = torch.as_tensor(seeds, dtype=torch.int64, device=self.device)
        if seeds.shape != (self.num_envs,):
            raise ValueError(f"seeds must have shape ({self.num_envs},), got {tuple(seeds.shape)}")
        if bool((seeds < 0).any()):
            raise ValueError("seeds must be non-negative integers")
        if mask is None or self.state is None:
            state = self.initial_state(seeds)
            state["episode_seed"] = seeds.clone()
            self.state = state
        else:
            mask = torch.as_tensor(mask, dtype=torch.bool, device=self.device)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"mask must have shape ({self.num_envs},), "
                                 f"got {tuple(mask.shape)}")
            fresh = self.initial_state(seeds[mask])
            fresh["episode_seed"] = seeds[mask]
            # Out of place: tensors handed out earlier (observations, infos, numpy views of
            # them) must not change under the caller's feet.
            self.state = {name: self.state[name].index_put((mask,), value)
                          for name, value in fresh.items()}
        return self.observe(self.state)

    def step(self, action: torch.Tensor) -> StepResult:
        """Step all B envs with ``action`` (B, *action_shape); the action must lie in
        ``single_action_space`` row by row (ValueError otherwise).

        Returns:
            obs (B, *obs_shape) float32, reward (B,) float32, terminated (B,) bool,
            truncated (B,) bool, info {name: (B,) tensor}.
        """
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        action = torch.as_tensor(action, device=self.device)
        check_action(self.single_action_space, action, self.num_envs)
        episode_seed = self.state["episode_seed"]
        state, reward, terminated, truncated, info = self.transition(self.state, action)
        state["episode_seed"] = episode_seed
        self.state = state
        return self.observe(state), reward, terminated, truncated, info

    def autoreset(self, done: torch.Tensor) -> torch.Tensor:
        """Start the next episode (seed ``next_episode_seed`` of the last) in envs where
        ``done`` (B,) bool is set; returns the observation (B, *obs_shape) of all envs."""
        return self.reset(next_episode_seed(self.episode_seeds()), mask=done)

    def episode_seeds(self) -> torch.Tensor:
        """Seeds (B,) of the episodes currently running."""
        if self.state is None:
            raise RuntimeError("call reset() first")
        return self.state["episode_seed"]
