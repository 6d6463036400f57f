"""``tunegym list``: every registered id with its family, spaces and reward."""

from __future__ import annotations

import gymnasium

from tunegym.core.registration import env_class, registered_ids


def _describe_space(space: gymnasium.Space) -> str:
    if isinstance(space, gymnasium.spaces.Box):
        return f"Box{tuple(space.shape)}"
    return str(space)


def list_envs() -> list[str]:
    """One line per registered id: id, family, observation and action spaces, reward."""
    lines = []
    for env_id in registered_ids():
        env = gymnasium.make(env_id).unwrapped
        lines.append(f"{env_id:34s} family={env_class(env_id).family:8s} "
                     f"obs={_describe_space(env.observation_space):10s} "
                     f"action={_describe_space(env.action_space):12s} "
                     f"reward={env.batched.reward_description}")
    return lines


def register(commands) -> None:
    """Add ``tunegym list``."""
    commands.add_parser("list", help="list every registered env id: family, spaces, reward"
                        ).set_defaults(handler=run, threads=None)


def run(arguments) -> int:
    print("\n".join(list_envs()))
    return 0
