"""Every agent ``tunegym train`` can train, in one table: :data:`AGENTS`.

An entry names the agent's class (imported only when used), how it is trained, the
action spaces it acts on, the family it needs (if any), and the allowed ranges of its
numeric hyperparameters; its hyperparameter schema (names and defaults) is read from the
class's constructor, so it cannot drift from the code.

Trainers:

| trainer | agents | what one unit of training is |
| --- | --- | --- |
| ``online`` | TsallisINF, EXP3, UCB1, TsallisINFCB, ChebCB | every env's bandit copy plays one round and learns from it |
| ``policy_gradient`` | SubPO | one rollout of ``num_envs`` whole episodes and one Adam step of the SubPO loss |
| ``ask_tell`` | DesignRandomWalk, GeneticAlgorithm, AntColony, BayesianOptimisation | ``ask`` ``num_envs`` designs, evaluate them in one batched step, ``tell`` the rewards |
| ``schedule_search`` | ScheduleSearch | the whole S^3 search; ``timesteps`` is its budget of one-shot episodes |
| ``sb3`` | PPO, A2C, DQN, SAC, MaskablePPO | Stable-Baselines3's own ``learn`` on the SB3 VecEnv |
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium

from tunegym.core import did_you_mean, load_attribute

TRAINERS = ("online", "policy_gradient", "ask_tell", "schedule_search", "sb3")
#: trainer -> the constructor arguments it sets itself (never hyperparameters in a config).
SET_BY_TRAINER = {
    "online": frozenset({"self", "num_arms", "num_envs", "seed", "device"}),
    "policy_gradient": frozenset({"self", "observation_size", "num_actions", "seed",
                                  "device"}),
    "ask_tell": frozenset({"self", "nvec", "start", "seed"}),
    "schedule_search": frozenset({"self", "env_kwargs", "seed", "device", "rounds"}),
    "sb3": frozenset({"self", "policy", "env", "seed", "verbose", "tensorboard_log",
                      "_init_setup_model"}),
}
#: Allowed (low, high) of common numeric hyperparameters, bounds included.
RANGES: dict[str, tuple[float, float]] = {
    "learning_rate": (0.0, math.inf), "gamma": (0.0, 1.0), "gae_lambda": (0.0, 1.0),
    "ent_coef": (0.0, math.inf), "vf_coef": (0.0, math.inf), "clip_range": (0.0, math.inf),
    "n_steps": (1, math.inf), "batch_size": (1, math.inf), "n_epochs": (1, math.inf),
    "buffer_size": (1, math.inf), "tau": (0.0, 1.0), "max_grad_norm": (0.0, math.inf),
    "population_size": (1, math.inf), "mutation_rate": (0.0, 1.0),
    "evaporation": (0.0, 1.0), "degree": (0, math.inf), "num_bins": (1, math.inf),
    "exploration_fraction": (0.0, 1.0), "exploration_final_eps": (0.0, 1.0),
    "hidden_size": (1, math.inf), "num_instances": (1, math.inf),
}
_ANY = (gymnasium.spaces.Discrete, gymnasium.spaces.Box, gymnasium.spaces.MultiDiscrete)
_DISCRETE = (gymnasium.spaces.Discrete,)
_DESIGN = (gymnasium.spaces.Discrete, gymnasium.spaces.MultiDiscrete)


@dataclass(frozen=True)
class AgentEntry:
    """How ``tunegym train`` builds and trains one agent.

    Args:
        name: the name configs use (``agent:``).
        reference: ``"module:Class"`` of the agent.
        trainer: one of :data:`TRAINERS`.
        spaces: the action space types it acts on.
        family: the env family it needs, None for any.
        env_class_name: a substring the env's batched class name must hold (e.g. the
            one-shot solver-schedule env), None for any of the family.
    """

    name: str
    reference: str
    trainer: str
    spaces: tuple[type, ...]
    family: str | None = None
    env_class_name: str | None = None
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=lambda: RANGES)

    def agent_class(self) -> type:
        """The agent's class (imports its module)."""
        return load_attribute(self.reference)

    @property
    def native(self) -> bool:
        """Whether tunegym trains it itself (not Stable-Baselines3)."""
        return self.trainer != "sb3"

    def schema(self) -> dict[str, dict[str, Any]]:
        """{hyperparameter: {"default": value or None when required, "range": (low, high)
        or None}} from the constructor (and, for ScheduleSearch, its ``run``)."""
        agent_class = self.agent_class()
        functions = [agent_class.__init__] + ([agent_class.run]
                                               if self.trainer == "schedule_search" else [])
        schema = {}
        for function in functions:
            for name, parameter in inspect.signature(function).parameters.items():
                if name in SET_BY_TRAINER[self.trainer] or parameter.kind in (parameter.VAR_POSITIONAL,
                                                                parameter.VAR_KEYWORD):
                    continue
                default = None if parameter.default is parameter.empty else parameter.default
                schema[name] = {"default": default, "range": self.ranges.get(name)}
        return schema

    def check_kwargs(self, kwargs: Mapping[str, Any]) -> None:
        """Raise ValueError naming ``agent_kwargs`` when a key is not a hyperparameter of
        the agent or a numeric value is outside its range."""
        schema = self.schema()
        for name, value in kwargs.items():
            if name not in schema:
                raise ValueError(f"config key 'agent_kwargs': {self.name} takes no argument "
                                 f"{name!r}{did_you_mean(name, list(schema))} (it takes "
                                 f"{', '.join(schema)})")
            bounds = schema[name]["range"]
            if bounds is not None and isinstance(value, (int, float)) \
                    and not isinstance(value, bool) and not bounds[0] <= value <= bounds[1]:
                raise ValueError(f"config key 'agent_kwargs': {self.name}'s {name} must be in "
                                 f"[{bounds[0]}, {bounds[1]}], got {value!r}")

    def check_env(self, env_id: str, family: str, class_name: str,
                  action_space: gymnasium.Space) -> None:
        """Raise ValueError naming ``agent`` when the agent cannot train on this env."""
        if self.family is not None and (family != self.family or (
                self.env_class_name is not None and self.env_class_name not in class_name)):
            needs = self.family + (f" ({self.env_class_name})" if self.env_class_name else "")
            raise ValueError(f"config key 'agent': {self.name} needs a {needs} env, not "
                             f"{env_id}")
        if not isinstance(action_space, self.spaces):
            raise ValueError(f"config key 'agent': {self.name} cannot act on {env_id}'s "  # noqa: TRY004
                             f"action space {action_space} (it takes "
                             f"{', '.join(space.__name__ for space in self.spaces)})")


AGENTS: dict[str, AgentEntry] = {entry.name: entry for entry in (
    *(AgentEntry(name, f"tunegym.agents.bandits:{class_name}", "online", _DISCRETE)
      for name, class_name in (("TsallisINF", "TsallisINF"), ("EXP3", "EXP3"),
                               ("UCB1", "UCB1"), ("TsallisINFCB", "TsallisINFContextBins"),
                               ("ChebCB", "ChebCB"))),
    AgentEntry("SubPO", "tunegym.agents.subpo:SubPO", "policy_gradient", _DISCRETE,
               "coverage"),
    *(AgentEntry(name, f"tunegym.agents.design_search:{name}", "ask_tell", _DESIGN)
      for name in ("DesignRandomWalk", "GeneticAlgorithm", "AntColony",
                   "BayesianOptimisation")),
    AgentEntry("ScheduleSearch", "tunegym.agents.schedule_search:ScheduleSearch",
               "schedule_search", (gymnasium.spaces.MultiDiscrete,), "solver_schedule",
               "OneShot"),
    AgentEntry("PPO", "stable_baselines3:PPO", "sb3", _ANY),
    AgentEntry("A2C", "stable_baselines3:A2C", "sb3", _ANY),
    AgentEntry("DQN", "stable_baselines3:DQN", "sb3", _DISCRETE),
    AgentEntry("SAC", "stable_baselines3:SAC", "sb3", (gymnasium.spaces.Box,)),
    AgentEntry("MaskablePPO", "sb3_contrib:MaskablePPO", "sb3", _DESIGN),
)}


def agent_entry(name: str) -> AgentEntry:
    """The catalog entry of agent ``name``; ValueError naming the known agents otherwise."""
    if name not in AGENTS:
        raise ValueError(f"config key 'agent': unknown agent {name!r}"
                         f"{did_you_mean(name, list(AGENTS))} (supported: "
                         f"{', '.join(AGENTS)})")
    return AGENTS[name]
