"""What the top floors need to know about an env family, declared once beside its env.

A family module (``tunegym/envs/<family>.py``) sets ``record = FamilyRecord(...)`` on its
batched class. Evaluation, the leaderboard, ``tunegym reproduce``, the tests and the
exercises read it from the class (:func:`tunegym.core.registration.env_class`), so adding
a family needs no table edited anywhere else: its modules and one registry line.

Baselines and the report are named by ``"module:attribute"`` strings and imported only
when used, so an env module never imports the floors above it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def load_attribute(reference: str) -> Any:
    """The object a ``"package.module:attribute"`` reference names.

    Raises:
        ValueError: naming ``reference`` when it is not of that form.
    """
    module, separator, attribute = reference.partition(":")
    if not separator or not module or not attribute:
        raise ValueError(f"reference must look like 'package.module:attribute', got "
                         f"{reference!r}")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class FamilyRecord:
    """A family's declaration for the top floors.

    Args:
        name: the family's name, e.g. ``"sor"`` (the batched class's ``family``).
        title: a human title for tables and plots, e.g. ``"SOR (Learning to Relax)"``.
        short_episode_kwargs: env kwargs that make episodes a few steps long, so tests and
            graders cross episode ends quickly (empty when episodes are short anyway).
        baselines: {baseline name: ``"module:attribute"``} of the family's fixed
            baselines, ``random`` excluded (every family has it); a family defined outside
            tunegym (one script) may give the object itself. The attribute is either
            a policy factory ``make(env) -> Policy`` (played by
            :func:`tunegym.core.rollout.rollout` on a batched test env with one episode per
            seed) or, marked by ``episodes = True`` on the callable, a function
            ``play(env_id, seeds (E,) int64) -> EpisodeRecords`` for a baseline that is not
            a per-step policy.
        comparison: names of the configs (``configs/<name>.yaml``) the family's ids are
            compared on by default.
    """

    name: str
    title: str
    short_episode_kwargs: Mapping[str, Any] = field(default_factory=dict)
    baselines: Mapping[str, Any] = field(default_factory=dict)
    comparison: tuple[str, ...] = ()
