"""Baseline of the architecture-design family: the family's reference design, played at
every step (the Eyeriss-like accelerator, DRAMSys's example controller; see each env's
``default_design``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from tunegym.envs.design_space import DesignEnv


class FixedDesign:
    """Plays one design in every env and step.

    Args:
        env: a batched design env (:class:`tunegym.envs.design_space.DesignEnv`).
        design: {knob name: value}; default ``env.default_design``.
    """

    def __init__(self, env: DesignEnv, design: Mapping[str, Any] | None = None) -> None:
        self.env = env
        chosen = env.default_design if design is None else design
        self.action = torch.as_tensor(env.encode(chosen), device=env.device)

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        """Actions (B, K): the design for each of the B envs of ``observation`` (B, ...)."""
        return self.action.expand(observation.shape[0], -1).clone()
