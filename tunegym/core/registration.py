"""Registration of tunegym ids with gymnasium (namespace ``tunegym/``)."""

from __future__ import annotations

from typing import Any

import gymnasium

NAMESPACE = "tunegym"


def register_family(env_id: str, module: str, family_name: str, kwargs: dict[str, Any] | None
                    = None) -> None:
    """Register ``env_id`` with single and vector entry points of a family module.

    Args:
        env_id: full id, e.g. "tunegym/SOR-v0".
        module: module holding ``<family_name>GymEnv`` and ``<family_name>VectorEnv``
            (made by :func:`tunegym.core.derive_envs`).
        family_name: the prefix of those two class names, e.g. "SOR".
        kwargs: JSON-serialisable default kwargs stored in the spec.
    """
    if env_id in gymnasium.registry:
        return
    gymnasium.register(
        id=env_id,
        entry_point=f"{module}:{family_name}GymEnv",
        vector_entry_point=f"{module}:{family_name}VectorEnv",
        kwargs=dict(kwargs or {}),
    )


def registered_ids() -> list[str]:
    """Every registered tunegym id, sorted."""
    return sorted(env_id for env_id in gymnasium.registry
                  if env_id.startswith(NAMESPACE + "/"))
