"""Shared pieces of the architecture-design families (ArchGym): named knobs, the
target-spec reward and a batched env in which one step evaluates one design.

A design is one choice per knob. The action is a MultiDiscrete vector of choice
indices, one entry per knob in :attr:`DesignSpace.knob_names` order;
:meth:`DesignSpace.decode` and :meth:`DesignSpace.encode` translate between that
vector and ``{knob name: value}``, so users speak in knob names.

Reward (maximised): minus the distance of a design's metrics to a target spec,
``-sum_m d_m`` over the targeted metrics m, with the relative distance

* ``target_mode="match"``: ``d_m = |x_m - t_m| / t_m`` (ArchGym's distance: every
  departure from the spec costs, faster or slower alike);
* ``target_mode="at_most"``: ``d_m = max(0, x_m - t_m) / t_m`` (a budget: meeting the
  target is enough, so the best reward is 0).

A design the simulator cannot realise (a buffer too small for any tile, say) is not
an error mid-batch: it earns ``invalid_reward`` (default -10, below any design
within 10x of its targets), its metrics are +inf in ``info`` (it never completes;
+inf rather than NaN, so equal runs compare equal) and ``info["invalid_reason"]``
holds a code, 0 for valid designs, decoded by ``invalid_reasons[code]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium
import numpy as np
import torch

from tunegym.core import BatchedEnv, FamilyRecord, check_choice, check_integer, did_you_mean

TARGET_MODES = ("match", "at_most")
#: Observations are log10(metric / scale), clipped to this range.
OBSERVATION_LIMIT = 10.0


@dataclass(frozen=True)
class Knob:
    """One design knob: its name, its allowed values (the action entry indexes them)
    and the unit of numeric values ("" for categorical knobs)."""

    name: str
    choices: tuple
    unit: str = ""

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError(f"knob {self.name!r} must have at least one choice")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"knob {self.name!r} has repeated choices {self.choices}")


class DesignSpace:
    """An ordered set of knobs: the MultiDiscrete action space of a design env.

    Args:
        knobs: the knobs, in action-entry order.
    """

    def __init__(self, knobs: Sequence[Knob]) -> None:
        self.knobs = tuple(knobs)
        self.knob_names = tuple(knob.name for knob in self.knobs)
        if len(set(self.knob_names)) != len(self.knob_names):
            raise ValueError(f"knob names must be unique, got {self.knob_names}")
        self.nvec = np.array([len(knob.choices) for knob in self.knobs], dtype=np.int64)
        self._columns = {name: column for column, name in enumerate(self.knob_names)}

    @property
    def action_space(self) -> gymnasium.spaces.MultiDiscrete:
        """MultiDiscrete(nvec): entry k indexes the choices of knob k."""
        return gymnasium.spaces.MultiDiscrete(self.nvec)

    @property
    def size(self) -> int:
        """Number of distinct designs."""
        return math.prod(int(count) for count in self.nvec)

    def column(self, name: str) -> int:
        """Action entry of knob ``name``."""
        if name not in self._columns:
            raise ValueError(f"unknown knob {name!r}{did_you_mean(name, self.knob_names)} "
                             f"(knobs: {self.knob_names})")
        return self._columns[name]

    def decode(self, action: Sequence[int] | np.ndarray | torch.Tensor) -> dict[str, Any]:
        """``{knob name: value}`` of one design, action (K,) choice indices."""
        indices = np.asarray(torch.as_tensor(action).cpu()).reshape(-1)
        if indices.shape != self.nvec.shape or indices.dtype.kind not in "iu":
            raise ValueError(f"action must hold {len(self.nvec)} integer choice indices (one "
                             f"per knob {self.knob_names}), got {np.asarray(action)!r}")
        if bool(((indices < 0) | (indices >= self.nvec)).any()):
            raise ValueError(f"action entries must lie in [0, nvec) with nvec = "
                             f"{self.nvec.tolist()}, got {indices.tolist()}")
        return {knob.name: knob.choices[int(index)] for knob, index in zip(self.knobs, indices)}

    def encode(self, design: Mapping[str, Any]) -> np.ndarray:
        """Action (K,) int64 of a design given as ``{knob name: value}`` for every knob."""
        unknown = [name for name in design if name not in self._columns]
        if unknown:
            raise ValueError(f"unknown knob {unknown[0]!r}"
                             f"{did_you_mean(unknown[0], self.knob_names)} "
                             f"(knobs: {self.knob_names})")
        missing = [name for name in self.knob_names if name not in design]
        if missing:
            raise ValueError(f"design lacks the knobs {missing}")
        action = np.empty(len(self.knobs), dtype=np.int64)
        for column, knob in enumerate(self.knobs):
            value = design[knob.name]
            if value not in knob.choices:
                raise ValueError(f"knob {knob.name!r} must be one of {knob.choices}, got "
                                 f"{value!r}{did_you_mean(value, knob.choices)}")
            action[column] = knob.choices.index(value)
        return action

    def values(self, designs: torch.Tensor, name: str,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Numeric values (B,) of knob ``name`` for designs (B, K) of choice indices."""
        knob = self.knobs[self.column(name)]
        table = torch.tensor([float(choice) for choice in knob.choices], dtype=dtype,
                             device=designs.device)
        return table[designs[:, self.column(name)]]


def target_distance(metrics: Mapping[str, torch.Tensor], targets: Mapping[str, float],
                    mode: str = "match") -> torch.Tensor:
    """Relative distance (B,) of metrics to their targets, summed over the targets.

    Args:
        metrics: {metric key: (B,) value in the key's unit}; must hold every target.
        targets: {metric key: target value > 0}.
        mode: "match" (|x - t| / t) or "at_most" (max(0, x - t) / t).
    """
    check_choice("target_mode", mode, TARGET_MODES)
    distance = None
    for key, target in targets.items():
        excess = (metrics[key] - target) / target
        term = excess.abs() if mode == "match" else excess.clamp(min=0)
        distance = term if distance is None else distance + term
    return distance


def check_targets(targets: Mapping[str, float], metric_keys: Sequence[str]) -> dict[str, float]:
    """Validate a ``targets`` kwarg: a non-empty {metric key: positive number}."""
    if not isinstance(targets, Mapping) or not targets:
        raise ValueError(f"targets must be a non-empty dict of metric key -> positive target "
                         f"value, keys from {tuple(metric_keys)}; got {targets!r}")
    checked = {}
    for key, value in targets.items():
        if key not in metric_keys:
            raise ValueError(f"targets has unknown metric {key!r}"
                             f"{did_you_mean(key, metric_keys)} (metrics: {tuple(metric_keys)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value <= 0:
            raise ValueError(f"targets[{key!r}] must be a positive finite number, got {value!r}")
        checked[key] = float(value)
    return checked


class DesignEnv(BatchedEnv):
    """Base of the design families: each step evaluates one design per env.

    A family sets :attr:`design_space`, :attr:`metric_keys` (info keys with units),
    :attr:`metric_scales` (a typical magnitude per metric, for observations),
    :attr:`invalid_reasons`, :attr:`default_design` and :attr:`raw_metric`, and implements
    :meth:`instance_state` and :meth:`evaluate_designs`.

    Observation (float32, ``len(metric_keys) + 2 + instance_feature_count``):
    log10(metric / scale) of the last design per metric (0 before the first design;
    clipped to +-10), a flag set when the last design was invalid, the fraction of the
    episode elapsed, and the family's features of the episode's instance (e.g. the
    workload's size), so that a policy knows what it designs for from the first step.

    Args:
        num_envs: see :class:`tunegym.core.BatchedEnv`.
        device: see :class:`tunegym.core.BatchedEnv`.
        split: see :class:`tunegym.core.BatchedEnv`.
        targets: {metric key: target}; the reward is minus the distance to it.
        target_mode: "match" or "at_most" (see the module docstring).
        horizon: designs per episode (truncated after ``horizon`` steps).
        invalid_reward: reward of a design the simulator cannot realise (< 0).
    """

    family = "architecture_design"
    reward_description = "-(relative distance of the design's metrics to the target spec)"
    record = FamilyRecord(
        name="architecture_design", title="Architecture design (ArchGym, Krishnan et al., "
        "ISCA 2023)",
        short_episode_kwargs={"horizon": 3},
        baselines={"default_design": "tunegym.baselines.architecture_design:FixedDesign"},
        comparison=tuple(f"{env}_{agent}" for env in ("dram", "accelerator") for agent in (
            "random_walk", "genetic_algorithm", "ant_colony", "bayesian_optimisation",
            "ppo")))
    design_space: ClassVar[DesignSpace]
    metric_keys: ClassVar[tuple[str, ...]]
    metric_scales: ClassVar[dict[str, float]]
    invalid_reasons: ClassVar[tuple[str, ...]] = ("valid",)
    #: The family's reference design, {knob name: value} (the fixed-design baseline).
    default_design: ClassVar[dict[str, Any]]
    #: Length of :meth:`instance_features`.
    instance_feature_count: ClassVar[int] = 0
    #: Methods and attributes the gymnasium front ends forward to this env.
    forwarded = ("knob_names", "decode", "encode", "invalid_reasons", "design_space")

    def __init__(self, num_envs: int = 1, device: str = "cpu", split: str = "train",
                 targets: Mapping[str, float] | None = None, target_mode: str = "match",
                 horizon: int = 10, invalid_reward: float = -10.0) -> None:
        super().__init__(num_envs, device, split)
        self.targets = check_targets(self.default_targets() if targets is None else targets,
                                     self.metric_keys)
        check_choice("target_mode", target_mode, TARGET_MODES)
        self.target_mode = target_mode
        self.horizon = check_integer("horizon", horizon)
        if isinstance(invalid_reward, bool) or not isinstance(invalid_reward, (int, float)) \
                or not math.isfinite(invalid_reward) or invalid_reward >= 0:
            raise ValueError(f"invalid_reward must be a negative finite number, "
                             f"got {invalid_reward!r}")
        self.invalid_reward = float(invalid_reward)
        self.single_action_space = self.design_space.action_space
        size = len(self.metric_keys) + 2 + self.instance_feature_count
        self.single_observation_space = gymnasium.spaces.Box(
            -OBSERVATION_LIMIT, OBSERVATION_LIMIT, shape=(size,), dtype=np.float32)
        self._log_scales = torch.tensor([math.log10(self.metric_scales[key])
                                         for key in self.metric_keys], dtype=torch.float64,
                                        device=self.device)

    @property
    def max_episode_steps(self) -> int:
        """Episodes are truncated after ``horizon`` designs."""
        return self.horizon

    # ---------------------------------------------------------------- family hooks
    def default_targets(self) -> dict[str, float]:
        """The family's default target spec."""
        raise NotImplementedError

    def instance_state(self, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-episode instance tensors (b, ...) (e.g. a trace or a workload id) of the
        episodes ``seeds`` (b,) on this split."""
        raise NotImplementedError

    def instance_features(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """Features (b, instance_feature_count) float64 of the episodes' instances, within
        +-10; none by default."""
        return torch.zeros(state["step"].shape[0], 0, dtype=torch.float64, device=self.device)

    def evaluate_designs(self, state: dict[str, torch.Tensor], designs: torch.Tensor
                         ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Metrics of designs (b, K) choice indices on the instances in ``state``:
        ({metric key: (b,) float64, any finite value where invalid}, invalid reason code
        (b,) int64, 0 where valid)."""
        raise NotImplementedError

    # ------------------------------------------------------------------- public API
    @property
    def knob_names(self) -> tuple[str, ...]:
        """Knob names in action-entry order."""
        return self.design_space.knob_names

    def decode(self, action) -> dict[str, Any]:
        """``{knob name: value}`` of one action (K,)."""
        return self.design_space.decode(action)

    def encode(self, design: Mapping[str, Any]) -> np.ndarray:
        """Action (K,) int64 of ``{knob name: value}``."""
        return self.design_space.encode(design)

    def reward_of(self, metrics: Mapping[str, torch.Tensor], invalid: torch.Tensor
                  ) -> torch.Tensor:
        """Reward (b,) float32 of evaluated designs (metrics as returned by
        :meth:`evaluate_designs`, invalid (b,) bool)."""
        distance = target_distance(metrics, self.targets, self.target_mode)
        reward = torch.where(invalid, torch.full_like(distance, self.invalid_reward),
                             -distance)
        return reward.to(torch.float32)

    # ---------------------------------------------------------------- BatchedEnv
    def initial_state(self, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        count = seeds.shape[0]
        return {**self.instance_state(seeds),
                "step": torch.zeros(count, dtype=torch.int64, device=self.device),
                "last_log_metrics": torch.zeros(count, len(self.metric_keys),
                                                dtype=torch.float64, device=self.device),
                "last_invalid": torch.zeros(count, dtype=torch.bool, device=self.device)}

    def observe(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        elapsed = state["step"].to(torch.float64) / self.horizon
        features = torch.cat([state["last_log_metrics"],
                              state["last_invalid"].to(torch.float64)[:, None],
                              elapsed[:, None], self.instance_features(state)], dim=1)
        return features.to(torch.float32)

    def transition(self, state, action):
        metrics, invalid_code = self.evaluate_designs(state, action.to(torch.int64))
        invalid = invalid_code != 0
        stacked = torch.stack([metrics[key] for key in self.metric_keys], dim=1)
        log_metrics = (torch.log10(stacked.clamp(min=1e-300)) - self._log_scales)
        log_metrics = torch.where(invalid[:, None], torch.zeros_like(log_metrics),
                                  log_metrics.clamp(-OBSERVATION_LIMIT, OBSERVATION_LIMIT))
        step = state["step"] + 1
        new_state = {**state, "step": step, "last_log_metrics": log_metrics,
                     "last_invalid": invalid}
        terminated = torch.zeros_like(invalid)
        truncated = step >= self.horizon
        info = {key: value.masked_fill(invalid, math.inf) for key, value in metrics.items()}
        info["invalid_reason"] = invalid_code
        return new_state, self.reward_of(metrics, invalid), terminated, truncated, info
