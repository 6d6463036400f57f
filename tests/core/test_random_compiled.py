"""The compiled (numba) kernels of tunegym.core.random give the torch reference's bits.

Every public function is called twice on the same inputs, once with the compiled path
(``COMPILED = True``) and once with the torch path forced (``COMPILED = False``), and the
two results must be ``torch.equal`` with the same dtype, shape and device.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import tunegym
import tunegym.core.random as random_module
from tunegym.core.random import (
    choice_index,
    hash_keys,
    mix32,
    next_episode_seed,
    standard_normal,
    uniform,
)

pytestmark = pytest.mark.skipif(not random_module.compiled_available(),
                                reason="numba is not importable")

EDGES = [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**48 + 12345, 2**62,
         2**63 - 1, -1, -2, -(2**31), -(2**32), -(2**32) - 1, -(2**63)]


def int64_sample(shape, seed, edges=True):
    """int64 (shape) over the whole int64 range, the EDGES first (when they fit)."""
    generator = np.random.default_rng(seed)
    values = generator.integers(-(2**63), 2**63 - 1, size=shape, dtype=np.int64,
                                endpoint=True).reshape(-1)
    if edges:
        count = min(len(EDGES), values.size)
        values[:count] = EDGES[:count]
    return torch.from_numpy(values.reshape(shape).copy())


def both_paths(monkeypatch, function, *args, **kwargs):
    """(compiled result, torch result) of ``function(*args, **kwargs)``."""
    monkeypatch.setattr(random_module, "COMPILED", True)
    compiled = function(*args, **kwargs)
    monkeypatch.setattr(random_module, "COMPILED", False)
    reference = function(*args, **kwargs)
    monkeypatch.setattr(random_module, "COMPILED", True)
    return compiled, reference


def assert_identical(compiled, reference):
    assert compiled.dtype == reference.dtype
    assert compiled.shape == reference.shape
    assert compiled.device == reference.device
    assert torch.equal(compiled, reference)


def assert_same_error(monkeypatch, function, *args):
    """Both paths raise, and the same exception type."""
    errors = []
    for compiled in (True, False):
        monkeypatch.setattr(random_module, "COMPILED", compiled)
        with pytest.raises(Exception) as error:   # any type: the two are compared below
            function(*args)
        errors.append(error.type)
    monkeypatch.setattr(random_module, "COMPILED", True)
    assert errors[0] is errors[1]


def test_the_compiled_path_is_taken_on_cpu_tensors(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the torch path ran")

    for name in ("_mix32_torch", "_hash_tensors_torch", "_uniform_torch",
                 "_standard_normal_torch", "_next_episode_seed_torch", "_choice_index_torch"):
        monkeypatch.setattr(random_module, name, refuse)
    monkeypatch.setattr(random_module, "COMPILED", True)
    keys = torch.arange(5)
    mix32(keys)
    hash_keys(3, keys)
    uniform(keys, (2,), stream=1)
    standard_normal(keys, (2,), stream=1)
    next_episode_seed(keys)
    choice_index(keys, 4, stream=1)


@pytest.mark.parametrize("shape", [(), (0,), (1,), (len(EDGES),), (37,), (4, 5, 6)])
def test_mix32(monkeypatch, shape):
    values = int64_sample(shape, seed=1)
    assert_identical(*both_paths(monkeypatch, mix32, values))
    assert_identical(*both_paths(monkeypatch, mix32, values.T if values.dim() == 2 else values))


@pytest.mark.parametrize("shapes", [
    [(len(EDGES),)],
    [(len(EDGES),), (len(EDGES),)],
    [(), ()],
    [(5, 1), (1, 7)],
    [(), (9,)],
    [(9,), ()],
    [(20, 100), (20, 1)],
    [(2, 1, 3), (4, 1), (), (3,)],
    [(0,), ()],
    [(3, 0), (1, 1)],
])
def test_hash_keys_broadcasts_tensors(monkeypatch, shapes):
    keys = [int64_sample(shape, seed=index + 10) for index, shape in enumerate(shapes)]
    assert_identical(*both_paths(monkeypatch, hash_keys, *keys))


def test_hash_keys_of_python_ints_and_other_integer_types(monkeypatch):
    for key in EDGES:
        assert_identical(*both_paths(monkeypatch, hash_keys, key))
        assert_identical(*both_paths(monkeypatch, hash_keys, key, 0x3A9, key))
    seeds = torch.arange(-50, 50)
    assert_identical(*both_paths(monkeypatch, hash_keys, 0x51ED, seeds))
    assert_identical(*both_paths(monkeypatch, hash_keys, seeds.to(torch.int32), 7))
    assert_identical(*both_paths(monkeypatch, hash_keys, torch.tensor(5), seeds[::3]))
    assert_identical(*both_paths(monkeypatch, hash_keys, seeds.reshape(10, 10).T, 3))
    assert_identical(*both_paths(monkeypatch, hash_keys, np.int64(2**40), [1, 2, 3]))
    assert_same_error(monkeypatch, hash_keys)
    assert_same_error(monkeypatch, hash_keys, torch.arange(3), torch.arange(4))
    assert_same_error(monkeypatch, hash_keys, 2**64)


STREAMS = [0, 1, 7, -5, 12_345, 2**40 + 3, 2**63 - 1]


@pytest.mark.parametrize("counter_shape", [(), (1,), (7,), (3, 4), (0,), (2, 0, 3)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_uniform(monkeypatch, counter_shape, dtype):
    for batch in (0, 1, 17):
        keys = int64_sample((batch,), seed=batch)
        for stream in STREAMS:
            assert_identical(*both_paths(monkeypatch, uniform, keys, counter_shape,
                                         stream, dtype))


def test_uniform_other_streams_dtypes_and_keys(monkeypatch):
    keys = int64_sample((13,), seed=3)
    assert_identical(*both_paths(monkeypatch, uniform, keys, (4,), torch.tensor(9)))
    assert_identical(*both_paths(monkeypatch, uniform, keys, (4,), np.int64(9)))
    assert_identical(*both_paths(monkeypatch, uniform, keys, (2, 3), 5, torch.float16))
    assert_identical(*both_paths(monkeypatch, uniform, keys, (2, 3), 5, torch.bfloat16))
    assert_identical(*both_paths(monkeypatch, uniform, keys.to(torch.int32), (3,), 2))
    assert_identical(*both_paths(monkeypatch, uniform, keys.reshape(13, 1), (3,), 2))
    assert_identical(*both_paths(monkeypatch, uniform, keys[::2], (3,), 2))
    assert_identical(*both_paths(monkeypatch, uniform, keys, torch.Size([2, 2]), 2))
    assert_same_error(monkeypatch, uniform, torch.tensor(3), (2,), 0)         # 0-d keys
    assert_same_error(monkeypatch, uniform, keys.reshape(1, 13), (3,), 0)     # (B, C > 1)
    assert_same_error(monkeypatch, uniform, keys, (2,), 2**63)                # stream > int64


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_uniform_on_a_million_draws(monkeypatch, dtype):
    """Many draws, so that the float64 -> float32 rounding meets every kind of value."""
    keys = hash_keys(torch.arange(4096), 99)
    compiled, reference = both_paths(monkeypatch, uniform, keys, (16, 16), 3, dtype)
    assert_identical(compiled, reference)
    assert float(compiled.min()) > 0 and float(compiled.max()) <= 1


@pytest.mark.parametrize("counter_shape", [(), (1,), (5,), (3, 2), (0,)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_standard_normal(monkeypatch, counter_shape, dtype):
    for batch in (0, 1, 11, 300):
        keys = int64_sample((batch,), seed=batch + 100)
        for stream in (0, 3, -4, 45, 2**40):
            assert_identical(*both_paths(monkeypatch, standard_normal, keys, counter_shape,
                                         stream, dtype))
    keys = int64_sample((6,), seed=5)
    assert_identical(*both_paths(monkeypatch, standard_normal, keys, (4,), torch.tensor(2)))
    # 2 * stream + 1 overflows int64: the torch path runs (and raises) either way.
    assert_same_error(monkeypatch, standard_normal, keys, (4,), 2**62)


def test_choice_index(monkeypatch):
    keys = int64_sample((500,), seed=7)
    for count in (1, 2, 3, 7, 20, 1000, 2**31 + 11, 2**53, 2**53 + 1, 2**62, 0, -3):
        for stream in (0, 44, 71, -1):
            assert_identical(*both_paths(monkeypatch, choice_index, keys, count, stream))
    assert_identical(*both_paths(monkeypatch, choice_index, keys[:0], 5, 1))
    assert_identical(*both_paths(monkeypatch, choice_index, keys.reshape(500, 1), 5, 1))
    assert_identical(*both_paths(monkeypatch, choice_index, keys, 5, torch.tensor(1)))


def test_next_episode_seed(monkeypatch):
    for shape in [(), (0,), (len(EDGES),), (64,), (4, 3)]:
        seeds = int64_sample(shape, seed=11)
        assert_identical(*both_paths(monkeypatch, next_episode_seed, seeds))
    assert_identical(*both_paths(monkeypatch, next_episode_seed, [0, 1, 2**62]))


def test_non_cpu_tensors_take_the_torch_path():
    """Meta tensors stand in for CUDA ones: the kernels would fail on them."""
    keys = torch.arange(6, device="meta")
    for result, shape, dtype in [
            (hash_keys(keys, 3), (6,), torch.int64),
            (hash_keys(torch.tensor(1), keys.reshape(2, 3)), (2, 3), torch.int64),
            (mix32(keys), (6,), torch.int64),
            (uniform(keys, (2, 3), 1, torch.float32), (6, 2, 3), torch.float32),
            (standard_normal(keys, (4,), 1), (6, 4), torch.float64),
            (choice_index(keys, 5, 2), (6,), torch.int64),
            (next_episode_seed(keys), (6,), torch.int64)]:
        assert result.device.type == "meta"
        assert result.shape == shape and result.dtype == dtype


def test_environment_variable_forces_the_torch_path_and_numba_loads_lazily():
    code = ("import sys, torch, tunegym, tunegym.core.random as r\n"
            "assert 'numba' not in sys.modules\n"
            "assert r.COMPILED is {expected}\n"
            "r.hash_keys(1, torch.arange(3))\n"
            "assert ('numba' in sys.modules) is {expected}\n")
    for value, expected in (("0", False), ("1", True)):
        environment = {**os.environ, "TUNEGYM_COMPILED": value}
        subprocess.run([sys.executable, "-c", code.format(expected=expected)],
                       check=True, env=environment, timeout=120)


def rollout(compiled: bool, monkeypatch, env_id="tunegym/SOR-v0", steps=12):
    """Observations, rewards and infos of a seeded rollout with autoresets."""
    monkeypatch.setattr(random_module, "COMPILED", compiled)
    env = tunegym.make_batched_env(env_id, 4, split="test", sequence_length=5)
    generator = torch.Generator().manual_seed(0)
    record = [env.reset(torch.tensor([0, 1, 5, 2**40]))]
    for _ in range(steps):
        action = torch.randint(0, env.single_action_space.n, (4,), generator=generator)
        observation, reward, terminated, truncated, info = env.step(action)
        record += [observation, reward, terminated, truncated, *info.values()]
        done = terminated | truncated
        if bool(done.any()):
            record.append(env.autoreset(done))
    return record


def test_sor_env_rollouts_are_identical_on_both_paths(monkeypatch):
    compiled = rollout(True, monkeypatch)
    reference = rollout(False, monkeypatch)
    assert len(compiled) == len(reference)
    for ours, theirs in zip(compiled, reference):
        assert_identical(ours, theirs)
