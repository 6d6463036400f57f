"""Training configs: one YAML file names the env, the agent, the budget and the seeds.

Example (``configs/qas_h2_maskable_ppo.yaml``):

    env: tunegym/QuantumArchSearch-v0
    env_kwargs: {max_gates: 12}
    agent: MaskablePPO
    agent_kwargs: {n_steps: 64, batch_size: 256, learning_rate: 0.001, ent_coef: 0.01}
    timesteps: 24576
    num_envs: 16
    seeds: [0]

Keys (anything else is an error, with a did-you-mean):

* ``env`` (str, a registered tunegym id) and ``env_kwargs`` (mapping, default {});
* ``agent``: a name of :data:`tunegym.agents.catalog.AGENTS` (SB3's PPO, A2C, DQN, SAC,
  sb3-contrib's MaskablePPO, or one of tunegym's own agents: bandits, contextual
  bandits, SubPO, search agents); ``policy`` (SB3 only, default "MlpPolicy") and
  ``agent_kwargs`` (mapping, passed to the constructor; each key must be a
  hyperparameter of the agent's schema, numeric values within its range);
* ``timesteps`` (int >= 1, env steps per seed), ``num_envs`` (int >= 1, default 16),
  ``seeds`` (list of ints, default [0]), ``device`` (the env's, default "cpu"),
  ``checkpoint_every`` (env steps, default timesteps // 10, at least one rollout);
* ``curriculum`` (mapping of :class:`tunegym.agents.qas_curriculum.ThresholdCurriculum`
  kwargs; quantum architecture search only);
* ``name`` (default: the file's stem).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium

import tunegym
from tunegym.agents.catalog import agent_entry
from tunegym.configs import config_names, config_path
from tunegym.core import did_you_mean
from tunegym.core.registration import is_batched_env

#: key -> (types allowed, whether required).
KEYS: dict[str, tuple[tuple[type, ...], bool]] = {
    "name": ((str,), False), "env": ((str,), True), "env_kwargs": ((dict,), False),
    "agent": ((str,), True), "policy": ((str,), False), "agent_kwargs": ((dict,), False),
    "timesteps": ((int,), True), "num_envs": ((int,), False), "seeds": ((list,), False),
    "device": ((str,), False), "checkpoint_every": ((int,), False),
    "curriculum": ((dict,), False),
}


@dataclass(frozen=True)
class TrainConfig:
    """A validated training config (see the module docstring for the keys)."""

    name: str
    env: str
    agent: str
    timesteps: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    policy: str = "MlpPolicy"
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    num_envs: int = 16
    seeds: tuple[int, ...] = (0,)
    device: str = "cpu"
    checkpoint_every: int | None = None
    curriculum: dict[str, Any] | None = None

    @classmethod
    def from_mapping(cls, values: dict[str, Any], name: str = "run") -> TrainConfig:
        """Validate ``values`` (a parsed YAML mapping); errors name the key."""
        if not isinstance(values, dict):
            raise ValueError(f"a config must be a mapping of keys to values, got "  # noqa: TRY004
                             f"{type(values).__name__}")
        for key, value in values.items():
            if key not in KEYS:
                raise ValueError(f"unknown config key {key!r}{did_you_mean(key, KEYS)} "
                                 f"(known keys: {', '.join(KEYS)})")
            types, _ = KEYS[key]
            if isinstance(value, bool) or not isinstance(value, types):
                raise ValueError(f"config key {key!r} must be "  # noqa: TRY004
                                 f"{' or '.join(t.__name__ for t in types)}, got "
                                 f"{type(value).__name__} {value!r}")
        missing = [key for key, (_, required) in KEYS.items() if required and key not in values]
        if missing:
            raise ValueError(f"config is missing the required key(s) {missing}")
        env = values["env"]
        if not is_batched_env(env):
            raise ValueError(f"config key 'env': unknown env id {env!r}"
                             f"{did_you_mean(env, tunegym.registered_ids())}")
        agent = values["agent"]
        entry = agent_entry(agent)
        if entry.native and "policy" in values:
            raise ValueError(f"config key 'policy' applies to SB3 agents only, not {agent}")
        for key in ("timesteps", "num_envs", "checkpoint_every"):
            if key in values and values[key] < 1:
                raise ValueError(f"config key {key!r} must be >= 1, got {values[key]}")
        seeds = values.get("seeds", [0])
        if not seeds or not all(isinstance(seed, int) and not isinstance(seed, bool)
                                and seed >= 0 for seed in seeds):
            raise ValueError(f"config key 'seeds' must be a non-empty list of ints >= 0, "
                             f"got {seeds!r}")
        config = cls(name=values.get("name", name), env=env, agent=agent,
                     timesteps=values["timesteps"], env_kwargs=values.get("env_kwargs", {}),
                     policy=values.get("policy", "MlpPolicy"),
                     agent_kwargs=values.get("agent_kwargs", {}),
                     num_envs=values.get("num_envs", 16), seeds=tuple(seeds),
                     device=values.get("device", "cpu"),
                     checkpoint_every=values.get("checkpoint_every"),
                     curriculum=values.get("curriculum"))
        entry.check_kwargs(config.agent_kwargs)
        config.check_spaces()
        return config

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """Read and validate a YAML config file, or a shipped config by name (e.g.
        ``"sor_chebcb"``, see :mod:`tunegym.configs`); ``overrides`` replace top-level keys
        before validation (e.g. ``{"timesteps": 64}``)."""
        import yaml

        path = Path(path)
        if not path.is_file():
            if path.suffix or len(path.parts) > 1 or str(path) not in config_names():
                raise ValueError(f"config file {str(path)!r} does not exist (nor is it a "
                                 f"shipped config: {', '.join(config_names())})")
            path = config_path(str(path))
        try:
            values = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise ValueError(f"config file {str(path)!r} is not valid YAML: {error}") from error
        if overrides and isinstance(values, dict):
            values = {**values, **overrides}
        return cls.from_mapping(values, name=path.stem)

    def check_spaces(self) -> None:
        """Build one env with the config's kwargs and check the agent can act on it."""
        try:
            env = gymnasium.make(self.env, **self.env_kwargs)
        except (TypeError, ValueError) as error:
            raise ValueError(f"config key 'env_kwargs' is rejected by {self.env}: "
                             f"{error}") from error
        batched_class = type(env.unwrapped.batched)
        entry = agent_entry(self.agent)
        entry.check_env(self.env, batched_class.family, batched_class.__name__,
                        env.action_space)
        if self.curriculum is not None and (entry.native
                                            or batched_class.family != "quantum_arch_search"):
            raise ValueError("config key 'curriculum' applies to SB3 agents on quantum "
                             f"architecture search envs only, not {self.agent} on {self.env}")
        env.close()
