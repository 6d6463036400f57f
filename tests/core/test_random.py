import numpy as np
import scipy.stats
import torch

from tunegym.core.random import hash_keys, mix32, next_episode_seed, standard_normal, uniform


def test_mix32_is_a_bijection_on_a_sample():
    values = torch.arange(0, 1 << 16, dtype=torch.int64) * 65_537
    mixed = mix32(values)
    assert mixed.unique().numel() == values.numel()
    assert int(mixed.min()) >= 0 and int(mixed.max()) < 2**32


def test_hash_distinguishes_high_bits_and_order():
    assert int(hash_keys(1, 2)) != int(hash_keys(2, 1))
    assert int(hash_keys(1)) != int(hash_keys(1 + (1 << 40)))


def test_uniform_matches_scipy_uniform_distribution():
    draws = uniform(torch.arange(4000), (5,), stream=0).flatten().numpy()
    assert draws.min() > 0 and draws.max() < 1
    assert scipy.stats.kstest(draws, "uniform").pvalue > 1e-3


def test_standard_normal_matches_scipy_normal_distribution():
    draws = standard_normal(torch.arange(5000), (4,), stream=3).flatten().numpy()
    assert scipy.stats.kstest(draws, "norm").pvalue > 1e-3


def test_draws_do_not_depend_on_batch_layout():
    keys = hash_keys(torch.arange(7), 11)
    batch = uniform(keys, (3, 2), stream=5)
    for index in range(7):
        alone = uniform(keys[index:index + 1], (3, 2), stream=5)
        assert torch.equal(alone[0], batch[index])


def test_streams_are_independent():
    keys = torch.arange(3000)
    first = uniform(keys, (1,), stream=0).flatten().numpy()
    second = uniform(keys, (1,), stream=1).flatten().numpy()
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.06


def test_next_episode_seed_is_non_negative_and_spreads():
    seeds = next_episode_seed(torch.arange(1000))
    assert int(seeds.min()) >= 0
    assert seeds.unique().numel() == 1000
