"""Trained agents as :class:`tunegym.core.Policy` objects, so the one rollout plays them.

:func:`load_policy` reads a ``tunegym train`` run folder's checkpoint (its
``summary.json`` names the agent and the env) and returns a policy factory
``make(env) -> Policy`` for :func:`tunegym.core.rollout`:

* an SB3 / sb3-contrib model acts deterministically (:class:`SB3Policy`, with the env's
  action mask where it has one);
* a trained bandit keeps learning online on each test episode, every episode starting
  from the trained state of copy 0 with its generator reseeded by the episode seed
  (:class:`OnlineBandit`), so an episode replays exactly whatever the batch;
* SubPO acts greedily;
* a search agent plays the best design it found (ScheduleSearch its best schedule) in
  every env (:class:`FixedAction`).

A checkpoint is a pickle: load only checkpoints you trust (as with SB3's zip files).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tunegym.agents.catalog import agent_entry
from tunegym.core import BatchedEnv, Policy, Transition
from tunegym.core.adapters import _action_tensor


class SB3Policy:
    """A Stable-Baselines3 model's deterministic actions for a batched env.

    Args:
        model: an SB3 / sb3-contrib algorithm (anything with SB3's ``predict``).
        env: the batched env it acts in (its ``action_masks()`` is passed where it has one).
    """

    def __init__(self, model: Any, env: BatchedEnv) -> None:
        self.model, self.env = model, env

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        """Actions (B, *action_shape) for observations (B, *obs_shape)."""
        extra = ({"action_masks": self.env.action_masks().cpu().numpy()}
                 if hasattr(self.env, "action_masks") else {})
        action, _ = self.model.predict(observation.detach().cpu().numpy(), deterministic=True,
                                       **extra)
        return _action_tensor(action, self.env, (self.env.num_envs,))


class OnlineBandit:
    """A trained bandit that keeps learning on each episode it plays, one copy per env,
    each started from ``trained`` with its generator reseeded by the episode seed.

    Args:
        trained: a one-copy :class:`tunegym.agents.bandits.BanditAgent`.
    """

    def __init__(self, trained: Any) -> None:
        self.trained = trained
        self.copies: list[Any] = []

    def reset(self, seeds: torch.Tensor) -> None:
        """Fresh copies of the trained state, one per episode seed (B,)."""
        self.copies = []
        for seed in seeds.tolist():
            agent = copy.deepcopy(self.trained)
            agent.generator.manual_seed(int(seed))
            self.copies.append(agent)

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        """Arms int64 (B,), copy i acting on observation i (a loop over the copies: each
        draws from its own generator)."""
        observation = observation.to(torch.float64)
        return torch.cat([agent.act(observation[index:index + 1])
                          for index, agent in enumerate(self.copies)])

    def observe(self, transition: Transition) -> None:
        """Copy i learns from env i's step."""
        observation = transition.observation.to(torch.float64)
        reward = transition.reward.to(torch.float64)
        for index, agent in enumerate(self.copies):
            agent.update(observation[index:index + 1], transition.action[index:index + 1],
                         reward[index:index + 1])


class GreedyPolicy:
    """An agent's most probable actions (``act_greedy``), e.g. a trained SubPO."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        return self.agent.act_greedy(observation)


class FixedAction:
    """The same action in every env at every step (a search agent's best design).

    Args:
        action: one action of the env's single action space (a list or tensor).
        env: the batched env.
    """

    def __init__(self, action: Any, env: BatchedEnv) -> None:
        action = torch.as_tensor(action).reshape(-1).cpu().numpy()
        self.actions = _action_tensor(action[None].repeat(env.num_envs, axis=0)
                                      .reshape(env.num_envs, *env.single_action_space.shape),
                                      env, (env.num_envs,))

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        return self.actions


PolicyFactory = Callable[[BatchedEnv], Policy]


def native_policy(checkpoint: dict[str, Any]) -> PolicyFactory:
    """The policy factory of a native agent's loaded ``checkpoint.pt`` (a dict with
    ``agent_name``, ``agent`` and ``result``)."""
    trainer = agent_entry(checkpoint["agent_name"]).trainer
    agent = checkpoint["agent"]
    if trainer == "online":
        trained = agent.select_copy(0)
        return lambda env: OnlineBandit(trained)
    if trainer == "policy_gradient":
        return lambda env: GreedyPolicy(agent)
    if trainer == "ask_tell":
        return lambda env: FixedAction(agent.best_design, env)
    return lambda env: FixedAction(checkpoint["result"]["best_design"], env)


def load_policy(checkpoint: str | Path) -> tuple[PolicyFactory, dict[str, Any]]:
    """The policy factory of a ``tunegym train`` checkpoint and its run's summary.

    Args:
        checkpoint: ``checkpoint.zip`` (SB3) or ``checkpoint.pt`` (tunegym's agents) with
            the run's ``summary.json`` beside it.

    Returns:
        (factory ``make(env) -> Policy``, the summary: ``agent``, ``env``,
        ``config_values`` ...).

    Raises:
        ValueError: naming the path when it is not such a checkpoint.
    """
    checkpoint = Path(checkpoint)
    summary_path = checkpoint.with_name("summary.json")
    if not checkpoint.is_file() or not summary_path.is_file():
        raise ValueError(f"agent {str(checkpoint)!r} must be a checkpoint (.zip or .pt) "
                         f"written by `tunegym train` (with its summary.json beside it)")
    summary = json.loads(summary_path.read_text())
    entry = agent_entry(summary["agent"])
    if entry.native:
        return native_policy(torch.load(checkpoint, weights_only=False)), summary
    model = entry.agent_class().load(checkpoint, device="cpu")
    return (lambda env: SB3Policy(model, env)), summary
