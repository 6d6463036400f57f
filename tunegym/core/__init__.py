"""The contract every tunegym env family shares (docs/contract.md)."""

from tunegym.core.adapters import SingleEnv, TorchVectorEnv, derive_envs
from tunegym.core.batched import (
    BatchedEnv,
    check_action,
    check_choice,
    check_integer,
    check_real,
    did_you_mean,
    split_choices,
)
from tunegym.core.family import FamilyRecord, load_attribute
from tunegym.core.registration import (
    env_class,
    family_record,
    make_batched_env,
    register_family,
    registered_ids,
    spec_hash,
)
from tunegym.core.rollout import ActFunction, EpisodeRecords, Policy, Transition, rollout

__all__ = [
    "ActFunction",
    "BatchedEnv",
    "EpisodeRecords",
    "FamilyRecord",
    "Policy",
    "SingleEnv",
    "TorchVectorEnv",
    "Transition",
    "check_action",
    "check_choice",
    "check_integer",
    "check_real",
    "derive_envs",
    "did_you_mean",
    "env_class",
    "family_record",
    "load_attribute",
    "make_batched_env",
    "register_family",
    "registered_ids",
    "rollout",
    "spec_hash",
    "split_choices",
]
