"""tunegym: Gymnasium environments for learned tuning agents.

Importing the package registers every env id under the ``tunegym/`` namespace:

    import gymnasium, tunegym
    env = gymnasium.make("tunegym/SOR-v0")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunegym.core.registration import make_batched_env, registered_ids
from tunegym.envs import register_all

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tunegym.core.sb3 import SB3VecEnv


def make_sb3_vec_env(env_id: str, num_envs: int = 64, **kwargs: Any) -> SB3VecEnv:
    """An SB3 ``VecEnv`` of ``num_envs`` envs of ``env_id`` stepped in one batched call.

    Example: ``stable_baselines3.PPO("MlpPolicy", tunegym.make_sb3_vec_env("tunegym/SOR-v0"))``.
    """
    from tunegym.core.sb3 import make_sb3_vec_env as make

    return make(env_id, num_envs=num_envs, **kwargs)


register_all()

__all__ = ["__version__", "make_batched_env", "make_sb3_vec_env", "registered_ids"]
