"""Registration of tunegym ids with gymnasium (namespace ``tunegym/``)."""

from __future__ import annotations

import hashlib
from typing import Any

import gymnasium

from tunegym.core.batched import BatchedEnv, did_you_mean
from tunegym.core.family import FamilyRecord

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


def env_class(env_id: str) -> type[BatchedEnv]:
    """The batched class (:class:`tunegym.core.BatchedEnv` subclass) of a registered id,
    read from its registry entry without building an env.

    Raises:
        ValueError: naming the id (with a did-you-mean) when it is not a registered
            tunegym batched env.
    """
    if not isinstance(env_id, str) or env_id not in gymnasium.registry:
        raise ValueError(f"env_id {env_id!r} is not registered"
                         f"{did_you_mean(env_id, registered_ids())} (tunegym ids: "
                         f"{', '.join(registered_ids())})")
    creator = gymnasium.spec(env_id).vector_entry_point
    if isinstance(creator, str):
        creator = gymnasium.envs.registration.load_env_creator(creator)
    batched_class = getattr(creator, "batched_env_class", None)
    if batched_class is None:
        raise ValueError(f"env_id {env_id!r} is not a tunegym batched env")
    return batched_class


def is_batched_env(env_id: str) -> bool:
    """Whether ``env_id`` is registered with a tunegym batched class (any namespace: a
    user's own family counts)."""
    try:
        env_class(env_id)
    except ValueError:
        return False
    return True


def family_record(env_id: str) -> FamilyRecord:
    """The :class:`~tunegym.core.family.FamilyRecord` of a registered id's family."""
    batched_class = env_class(env_id)
    if batched_class.record is None:
        raise ValueError(f"env_id {env_id!r}: its class {batched_class.__name__} declares "
                         f"no family record")
    return batched_class.record


def make_batched_env(env_id: str, num_envs: int = 1, **kwargs: Any) -> BatchedEnv:
    """The batched env (:class:`tunegym.core.BatchedEnv`, tensors in and out) of a
    registered tunegym id, with ``num_envs`` envs.

    Args:
        env_id: a registered id, e.g. "tunegym/SOR-v0".
        num_envs: batch size B.
        **kwargs: env kwargs overriding the registered ones (device, split, ...).
    """
    batched_class = env_class(env_id)
    return batched_class(num_envs=num_envs, **{**gymnasium.spec(env_id).kwargs, **kwargs})


def registered_ids() -> list[str]:
    """Every registered tunegym id, sorted."""
    return sorted(env_id for env_id in gymnasium.registry
                  if env_id.startswith(NAMESPACE + "/"))


def spec_hash(env_id: str) -> str:
    """SHA-256 (hex) of the registered ``EnvSpec`` JSON of ``env_id``: result rows carry it,
    so a row recorded under another spec is recognised as not comparable."""
    return hashlib.sha256(gymnasium.spec(env_id).to_json().encode()).hexdigest()
