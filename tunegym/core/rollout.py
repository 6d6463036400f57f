"""The one episode loop: a :class:`Policy` plays whole episodes of a batched env.

Every caller that runs episodes (``tunegym evaluate`` and ``validate``, the shipped
baselines, ``tunegym reproduce``, the exercise graders, the tests) goes through
:func:`rollout`; the vector envs' own autoreset is the only other place episodes follow
each other.

A policy is anything with ``act(observation (B, *obs_shape)) -> action (B,
*action_shape)`` on the env's device. A learner also has ``observe(transition)``, called
after every step with the :class:`Transition` it took part in, and a policy whose
behaviour depends on the episodes it starts (an online bandit reseeded per episode) has
``reset(seeds (B,) int64)``, called once before the first step. A policy that needs the
env itself (a look-ahead baseline, an action mask) is passed as a factory
``make(env) -> Policy`` and built on the env the rollout creates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from tunegym.core.batched import BatchedEnv, check_integer


@runtime_checkable
class Policy(Protocol):
    """Chooses actions for B envs at once (see the module docstring for the optional
    ``observe`` and ``reset``)."""

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        """Actions (B, *action_shape) for observations (B, *obs_shape)."""


class ActFunction:
    """A plain function ``act(observation (B, *obs_shape)) -> action (B, *action_shape)``
    as a :class:`Policy` (a bare callable passed to :func:`rollout` is a factory)."""

    def __init__(self, act: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.act = act


@dataclass(frozen=True)
class Transition:
    """One batched step, as a learner's ``observe`` receives it: every tensor (B, ...)."""

    observation: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_observation: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    info: Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class EpisodeRecords:
    """E episodes, one per seed, as :func:`rollout` returns them.

    Attributes:
        env_id: the registered id played, or None for a batched env passed in directly.
        env_kwargs: the kwargs the env was built with beyond its registered ones.
        split: "train" or "test".
        seeds: int64 (E,) episode seeds (the instance ids).
        returns: float64 (E,) sums of rewards.
        lengths: int64 (E,) steps of each episode.
        raw_metric: the family's raw-metric info key (units in the name), e.g. ``iterations``.
        raw_metric_values: float64 (E,) the raw metric at each episode's last step (NaN
            where the info lacks it).
        final_info: {info key: (E, ...)} the info of each episode's last step.
        trace: {info key or "reward": float64 (T, E)} per-step values for the keys asked
            for, T = the longest episode; steps after an episode ended are NaN.
        wall_seconds: wall time of the whole rollout, seconds.
    """

    env_id: str | None
    env_kwargs: Mapping[str, Any]
    split: str
    seeds: torch.Tensor
    returns: torch.Tensor
    lengths: torch.Tensor
    raw_metric: str
    raw_metric_values: torch.Tensor
    final_info: Mapping[str, torch.Tensor] = field(default_factory=dict)
    trace: Mapping[str, torch.Tensor] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.seeds.numel())

    @staticmethod
    def concatenate(parts: Sequence[EpisodeRecords]) -> EpisodeRecords:
        """The episodes of ``parts`` (same env, split and raw metric) in order; traces are
        padded with NaN to the longest."""
        if not parts:
            raise ValueError("parts must hold at least one EpisodeRecords")
        first = parts[0]
        steps = max((next(iter(part.trace.values())).shape[0] if part.trace else 0)
                    for part in parts)

        def padded(values: torch.Tensor) -> torch.Tensor:
            pad = values.new_full((steps - values.shape[0], values.shape[1]), torch.nan)
            return torch.cat([values, pad])

        return EpisodeRecords(
            first.env_id, first.env_kwargs, first.split,
            torch.cat([part.seeds for part in parts]),
            torch.cat([part.returns for part in parts]),
            torch.cat([part.lengths for part in parts]), first.raw_metric,
            torch.cat([part.raw_metric_values for part in parts]),
            {key: torch.cat([part.final_info[key] for part in parts])
             for key in first.final_info},
            {key: torch.cat([padded(part.trace[key]) for part in parts], dim=1)
             for key in first.trace},
            sum(part.wall_seconds for part in parts))


PolicyOrFactory = Policy | Callable[[BatchedEnv], Policy]


def _as_seeds(seeds: Sequence[int] | torch.Tensor) -> torch.Tensor:
    values = torch.as_tensor(seeds, dtype=torch.int64).reshape(-1)
    if values.numel() == 0:
        raise ValueError("seeds must hold at least one episode seed")
    if bool((values < 0).any()):
        raise ValueError(f"seeds must be non-negative integers, got {values.tolist()}")
    return values


def rollout(env: str | BatchedEnv, policy: PolicyOrFactory,
            seeds: Sequence[int] | torch.Tensor, split: str = "test",
            device: str | torch.device = "cpu", env_kwargs: Mapping[str, Any] | None = None,
            trace: Sequence[str] = ()) -> EpisodeRecords:
    """Play one episode per seed, all E at once in one batched env.

    Args:
        env: a registered tunegym id (an env with E = len(seeds) envs is built on ``split``
            and ``device`` with ``env_kwargs``), or a :class:`BatchedEnv` with
            ``num_envs == len(seeds)`` (then ``env_kwargs`` must be None; its own split
            and device are used).
        policy: a :class:`Policy`, or a factory ``make(env) -> Policy``.
        seeds: E non-negative episode seeds.
        split: "train" or "test" (ids only).
        device: torch device of the env (ids only).
        env_kwargs: env kwargs over the registered ones (ids only).
        trace: info keys (or "reward") to record at every step into ``trace``.

    Returns:
        :class:`EpisodeRecords` of the E episodes. An env whose episode has ended starts
        its next episode (``autoreset``) and keeps stepping until every episode has ended
        (the batch moves together); what it does then is not recorded.

    Raises:
        RuntimeError: when an episode runs past the env's ``max_episode_steps``.
    """
    seeds = _as_seeds(seeds)
    if isinstance(env, str):
        from tunegym.core.registration import make_batched_env

        env_id, kwargs = env, dict(env_kwargs or {})
        batched = make_batched_env(env_id, seeds.numel(), split=split, device=device, **kwargs)
    elif isinstance(env, BatchedEnv):
        if env_kwargs is not None:
            raise ValueError("env_kwargs applies to a registered id only, not to a "
                             "BatchedEnv passed in")
        if env.num_envs != seeds.numel():
            raise ValueError(f"seeds must hold one seed per env of the batched env "
                             f"({env.num_envs}), got {seeds.numel()}")
        env_id, kwargs, batched = None, {}, env
    else:
        raise TypeError(f"env must be a registered id or a BatchedEnv, got "
                        f"{type(env).__name__}")
    if isinstance(policy, type) or not isinstance(policy, Policy):   # a class is a factory
        if not callable(policy):
            raise TypeError(f"policy must have act(observation) or be a factory "
                            f"make(env) -> policy, got {type(policy).__name__}")
        policy = policy(batched)
    limit = check_integer("max_episode_steps", batched.max_episode_steps)
    seeds = seeds.to(batched.device)
    start = time.perf_counter()
    observation = batched.reset(seeds)
    if hasattr(policy, "reset"):
        policy.reset(seeds)
    count = seeds.numel()
    total = torch.zeros(count, dtype=torch.float64, device=batched.device)
    length = torch.zeros(count, dtype=torch.int64, device=batched.device)
    done = torch.zeros(count, dtype=torch.bool, device=batched.device)
    final_info: dict[str, torch.Tensor] = {}
    traced: dict[str, list[torch.Tensor]] = {key: [] for key in trace}
    observe = getattr(policy, "observe", None)
    while not bool(done.all()):
        if int(length.max()) >= limit:
            raise RuntimeError(f"an episode of {env_id or type(batched).__name__} ran past "
                               f"its max_episode_steps ({limit}): the env breaks the contract")
        action = policy.act(observation)
        next_observation, reward, terminated, truncated, info = batched.step(action)
        if observe is not None:
            observe(Transition(observation, action, reward, next_observation, terminated,
                               truncated, info))
        running = ~done
        total = total + torch.where(running, reward.to(torch.float64), 0.0)
        length = length + running.long()
        for key, value in info.items():
            mask = running.reshape(-1, *[1] * (value.dim() - 1))
            final_info[key] = torch.where(mask, value, final_info[key]) if key in final_info \
                else value
        for key, values in traced.items():
            value = reward if key == "reward" else info[key]
            values.append(torch.where(running, value.to(torch.float64), torch.nan))
        ended = terminated | truncated
        done = done | ended
        if bool(ended.any()) and not bool(done.all()):
            # an env past its episode's end starts the next one (its steps are not
            # recorded), so the policy never sees a terminal state stepped on
            next_observation = batched.autoreset(ended)
        observation = next_observation
    metric = final_info.get(batched.raw_metric)
    metric = (torch.full((count,), torch.nan, dtype=torch.float64, device=batched.device)
              if metric is None else metric.to(torch.float64))
    return EpisodeRecords(env_id, kwargs, batched.split, seeds, total, length,
                          batched.raw_metric, metric, final_info,
                          {key: torch.stack(values) for key, values in traced.items()},
                          time.perf_counter() - start)
