"""Checks that a registered env keeps the tunegym contract (docs/contract.md).

The registry test runs them on every tunegym id, exercise 1's grader on a student's
env, and anyone adding a family can run them on theirs:

    from tunegym.core.conformance import check_contract
    check_contract("tunegym/SOR-v0", sequence_length=3)

Each check raises :class:`ContractViolation` with a message that says what differed,
where (env index, step) and by how much.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium.utils.env_checker import check_env


class ContractViolation(AssertionError):
    """An env breaks the tunegym contract; the message says how."""


def same(first: Any, second: Any) -> bool:
    """Equal as arrays, NaN equal to NaN (an info value may be undefined mid-episode)."""
    return bool(np.array_equal(np.asarray(first), np.asarray(second), equal_nan=True))


def check_gymnasium_checker(env_id: str, **env_kwargs: Any) -> None:
    """Gymnasium's own ``check_env`` on ``gymnasium.make(env_id, **env_kwargs)``.

    Raises:
        ContractViolation: carrying the message of a failed assertion of the checker
            (exceptions raised by the env itself propagate unchanged).
    """
    try:
        check_env(gymnasium.make(env_id, **env_kwargs).unwrapped, skip_render_check=True)
    except AssertionError as error:
        raise ContractViolation(f"gymnasium's check_env failed: {error}") from error


def _rollout(env_id: str, seed: int, steps: int, action_seed: int,
             env_kwargs: dict[str, Any]) -> tuple[list[np.ndarray], list[float]]:
    env = gymnasium.make(env_id, **env_kwargs)
    env.action_space.seed(action_seed)
    observations, rewards = [env.reset(seed=seed)[0]], []
    for _ in range(steps):
        observation, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        rewards.append(float(reward))
        observations.append(observation)
        if terminated or truncated:
            observations.append(env.reset()[0])
    return observations, rewards


def check_determinism(env_id: str, seed: int = 42, steps: int = 5, **env_kwargs: Any) -> None:
    """Two fresh envs reset with ``seed`` and given the same ``steps`` random actions
    (crossing episode ends by seedless resets) produce the same observations and rewards.

    Raises:
        ContractViolation: naming the first observation or reward that differs.
    """
    first, second = (_rollout(env_id, seed, steps, 5, env_kwargs) for _ in range(2))
    for index, (one, other) in enumerate(zip(first[0], second[0])):
        if not same(one, other):
            raise ContractViolation(f"same seed, different observations: observation {index} "
                                    f"of two runs with seed {seed}: {one} vs {other}")
    for index, (one, other) in enumerate(zip(first[1], second[1])):
        if not same(one, other):
            raise ContractViolation(f"same seed, different rewards at step {index}: "
                                    f"{one} vs {other}")


def check_vector_matches_single(env_id: str, num_envs: int = 3, seed: int = 100,
                                steps: int = 7, **env_kwargs: Any) -> None:
    """Env i of the vector env (``vector_entry_point``) reset with ``seed`` behaves bit for
    bit like a single env reset with ``seed + i``: observations, rewards, episode ends,
    infos, ``final_obs``/``final_info`` and same-step autoreset, over ``steps`` random
    actions.

    Raises:
        ContractViolation: naming the env index, step and the quantity that differs.
    """
    vector = gymnasium.make_vec(env_id, num_envs=num_envs,
                                vectorization_mode="vector_entry_point", **env_kwargs)
    mode = vector.metadata.get("autoreset_mode")
    if mode != gymnasium.vector.AutoresetMode.SAME_STEP:
        raise ContractViolation(f"the vector env must declare metadata['autoreset_mode'] = "
                                f"AutoresetMode.SAME_STEP, got {mode!r}")
    singles = [gymnasium.make(env_id, **env_kwargs) for _ in range(num_envs)]
    vector.action_space.seed(1)
    actions = [vector.action_space.sample() for _ in range(steps)]

    def differ(what: str, index: int, step: int, vector_value: Any, single_value: Any):
        return ContractViolation(
            f"vector env {index} differs from a single env reset with seed {seed + index} "
            f"at step {step}: {what} {vector_value!r} (vector) vs {single_value!r} (single)")

    vector_observation, _ = vector.reset(seed=seed)
    for index, env in enumerate(singles):
        observation = env.reset(seed=seed + index)[0]
        if not same(vector_observation[index], observation):
            raise differ("reset observation", index, 0, vector_observation[index], observation)
    for step, action in enumerate(actions, start=1):
        vector_observation, reward, terminated, truncated, info = vector.step(action)
        for index, env in enumerate(singles):
            observation, single_reward, single_terminated, single_truncated, single_info = \
                env.step(action[index])
            if not same(single_reward, reward[index]):
                raise differ("reward", index, step, reward[index], single_reward)
            if (single_terminated, single_truncated) != (terminated[index], truncated[index]):
                raise differ("(terminated, truncated)", index, step,
                             (terminated[index], truncated[index]),
                             (single_terminated, single_truncated))
            for name, value in single_info.items():
                if name not in info or not same(value, info[name][index]):
                    raise differ(f"info[{name!r}]", index, step, info.get(name, "missing"),
                                 value)
            if single_terminated or single_truncated:
                if not same(info["final_obs"][index], observation):
                    raise differ("final_obs", index, step, info["final_obs"][index],
                                 observation)
                for name, value in single_info.items():
                    if not same(info["final_info"][name][index], value):
                        raise differ(f"final_info[{name!r}]", index, step,
                                     info["final_info"][name][index], value)
                observation, _ = env.reset()
            if not same(observation, vector_observation[index]):
                raise differ("observation (after autoreset if the episode ended)", index, step,
                             vector_observation[index], observation)


def check_contract(env_id: str, **env_kwargs: Any) -> None:
    """Every check of this module on ``env_id`` with ``env_kwargs``."""
    check_gymnasium_checker(env_id, **env_kwargs)
    check_determinism(env_id, **env_kwargs)
    check_vector_matches_single(env_id, **env_kwargs)
