"""The contract every tunegym env family shares (see DESIGN.md, "The one contract")."""

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
from tunegym.core.registration import make_batched_env, register_family, registered_ids

__all__ = [
           "BatchedEnv",
           "SingleEnv",
           "TorchVectorEnv",
           "check_action",
           "check_choice",
           "check_integer",
           "check_real",
           "derive_envs",
           "did_you_mean",
           "make_batched_env",
           "register_family",
           "registered_ids",
           "split_choices",
]
