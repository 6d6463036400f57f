"""Every registered tunegym id: env checkers, determinism, vector == single, SB3 adapter."""

import json

import gymnasium
import numpy as np
import pytest
import torch
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import tunegym
from tunegym.core import family_record
from tunegym.core.conformance import (
    check_determinism,
    check_gymnasium_checker,
    check_vector_matches_single,
)

ENV_IDS = tunegym.registered_ids()
def short(env_id):
    """Kwargs that make ``env_id``'s episodes short (its family record says which)."""
    return dict(family_record(env_id).short_episode_kwargs)


def test_registry_is_populated():
    assert "tunegym/SOR-v0" in ENV_IDS


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_and_sb3_env_checkers_pass(env_id):
    check_gymnasium_checker(env_id, **short(env_id))
    sb3_check_env(gymnasium.make(env_id, **short(env_id)).unwrapped, warn=False)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_trajectory(env_id):
    check_determinism(env_id, **short(env_id))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_env_i_equals_single_env_with_seed_plus_i(env_id):
    check_vector_matches_single(env_id, **short(env_id))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_vec_env_matches_gymnasium_vector_env(env_id):
    num_envs = 4
    sb3_env = tunegym.make_sb3_vec_env(env_id, num_envs=num_envs, **short(env_id))
    vector = gymnasium.make_vec(env_id, num_envs=num_envs,
                                vectorization_mode="vector_entry_point", **short(env_id))
    sb3_env.seed(9)
    assert np.array_equal(sb3_env.reset(), vector.reset(seed=9)[0])
    vector.action_space.seed(0)
    for _ in range(4):
        action = vector.action_space.sample()
        sb3_env.step_async(action)
        sb3_observation, sb3_reward, done, infos = sb3_env.step_wait()
        observation, reward, terminated, truncated, info = vector.step(action)
        assert np.array_equal(sb3_observation, observation)
        assert np.array_equal(sb3_reward, reward)
        assert np.array_equal(done, terminated | truncated)
        for i in range(num_envs):
            if done[i]:
                assert np.array_equal(infos[i]["terminal_observation"], info["final_obs"][i])
                assert infos[i]["TimeLimit.truncated"] == bool(truncated[i])
            else:
                assert infos[i] == {}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_spec_is_json_serialisable(env_id):
    env = gymnasium.make(env_id)
    assert json.loads(env.spec.to_json())["id"] == env_id


def test_tunegym_list_names_every_id(capsys):
    from tunegym.cli import main

    main(["list"])
    printed = capsys.readouterr().out
    for env_id in ENV_IDS:
        assert env_id in printed


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_cuda_matches_cpu(env_id):
    """Every family runs on CUDA and agrees with its CPU run on the same seeds and actions
    (to float rounding: reductions may be ordered differently on the GPU)."""
    num_envs, steps = 4, 4
    cpu = tunegym.make_batched_env(env_id, num_envs, **short(env_id))
    gpu = tunegym.make_batched_env(env_id, num_envs, device="cuda", **short(env_id))
    space = gymnasium.vector.utils.batch_space(cpu.single_action_space, num_envs)
    space.seed(3)
    seeds = torch.arange(num_envs) + 11
    torch.testing.assert_close(gpu.reset(seeds.cuda()).cpu(), cpu.reset(seeds),
                               rtol=1e-4, atol=1e-5)
    for _ in range(steps):
        action = torch.as_tensor(space.sample())
        cpu_step, gpu_step = cpu.step(action), gpu.step(action.cuda())
        for cpu_value, gpu_value in zip(cpu_step[:4], gpu_step[:4]):
            torch.testing.assert_close(gpu_value.cpu(), cpu_value, rtol=1e-3, atol=1e-4)
        done = cpu_step[2] | cpu_step[3]
        if bool(done.any()):
            cpu.autoreset(done)
            gpu.autoreset(done.cuda())
