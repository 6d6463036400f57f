"""Tests of the S^3-style schedule search (tunegym/agents/schedule_search.py)."""

from __future__ import annotations

import pytest
import torch

from tunegym.agents.schedule_search import ScheduleSearch, ddim_schedule, spearman_correlation
from tunegym.envs.solver_schedule import SolverScheduleOneShotEnv

ENV_KWARGS = {"nfe": 4, "num_samples": 32, "dimension": 4}
SMALL_RUN = {"initial_samples": 32, "generations": 10, "population": 128, "evaluate_top": 8,
             "rounds": 2}


@pytest.fixture(scope="module")
def search_result():
    search = ScheduleSearch(ENV_KWARGS, num_instances=8, seed=0)
    return search, search.run(**SMALL_RUN)


def test_evaluate_matches_stepping_the_env_directly():
    search = ScheduleSearch(ENV_KWARGS, num_instances=8, seed=3)
    schedules = torch.cat([ddim_schedule(4)[None], search.random_schedules(2)])
    seeds = torch.tensor([5, 11, 2])
    scores = search.evaluate(schedules, split="test", seeds=seeds)
    assert scores.shape == (3,)
    expected = []
    for schedule in schedules:
        env = SolverScheduleOneShotEnv(3, split="test", **ENV_KWARGS)
        env.reset(seeds)
        _, reward, terminated, _, info = env.step(schedule.expand(3, -1))
        assert bool(terminated.all())
        expected.append(-torch.log(info["error"].to(torch.float64)).mean())
        assert torch.allclose(reward.double().mean(), expected[-1], atol=1e-5)
    torch.testing.assert_close(scores, torch.stack(expected), atol=1e-5, rtol=0)
    # A single (L,) schedule gives a (1,) result; the default seeds are 0..I-1.
    single = search.evaluate(schedules[0])
    assert single.shape == (1,)
    torch.testing.assert_close(single, search.evaluate(schedules[:1], seeds=torch.arange(8)))


def test_search_beats_ddim_and_random_on_test(search_result):
    search, result = search_result
    best = result["best_schedule"]
    assert best.dtype == torch.int64 and best.shape == (20,)
    evaluated = result["evaluated"]
    assert evaluated["schedules"].shape == (32 + 2 * 8, 20)
    assert evaluated["rewards"].shape == (32 + 2 * 8,)
    assert result["best_train_reward"] == pytest.approx(float(evaluated["rewards"].max()))
    assert len(result["rounds"]) == 2
    assert result["rounds"][-1]["best_train_reward"] == pytest.approx(
        result["best_train_reward"])
    # Every evaluated schedule is distinct.
    assert torch.unique(evaluated["schedules"], dim=0).shape[0] == 48
    best_test = float(search.evaluate(best, split="test"))
    ddim_test = float(search.evaluate(ddim_schedule(4), split="test"))
    random_test = search.evaluate(search.random_schedules(32), split="test")
    # Measured (seed 0): best 1.25, DDIM 0.33, random median 0.41.
    assert best_test > ddim_test + 0.5
    assert best_test > float(random_test.median()) + 0.5


def test_predictor_fits_and_generalises():
    search = ScheduleSearch(ENV_KWARGS, num_instances=8, seed=1)
    schedules = search.random_schedules(128)
    rewards = search.evaluate(schedules, split="train")
    train, held_out = slice(0, 64), slice(64, 128)
    losses = search.fit_predictor(schedules[train], rewards[train])
    assert len(losses) == search.predictor_steps
    assert losses[-1] < 0.1 * losses[0]
    assert spearman_correlation(search.predict(schedules[train]), rewards[train]) > 0.9
    # Measured held-out Spearman 0.29 to 0.44 over splits and seeds.
    assert spearman_correlation(search.predict(schedules[held_out]), rewards[held_out]) > 0.15


def test_same_seed_same_result(search_result):
    _, result = search_result
    again = ScheduleSearch(ENV_KWARGS, num_instances=8, seed=0).run(**SMALL_RUN)
    torch.testing.assert_close(again["best_schedule"], result["best_schedule"])
    torch.testing.assert_close(again["evaluated"]["schedules"],
                               result["evaluated"]["schedules"])
    torch.testing.assert_close(again["evaluated"]["rewards"], result["evaluated"]["rewards"])
    other = ScheduleSearch(ENV_KWARGS, num_instances=8, seed=1).random_schedules(8)
    first = ScheduleSearch(ENV_KWARGS, num_instances=8, seed=0).random_schedules(8)
    assert not torch.equal(other, first)


@pytest.mark.parametrize("kwargs, name", [
    ({"env_kwargs": {"nfe": [4, 6]}}, "nfe"),
    ({"env_kwargs": {"nfe": 4.0}}, "nfe"),
    ({"env_kwargs": {"nfe": 4, "split": "test"}}, "split"),
    ({"env_kwargs": {"nfe": 4}, "num_instances": 0}, "num_instances"),
    ({"env_kwargs": {"nfe": 4}, "mutation_probability": 0.0}, "mutation_probability"),
])
def test_bad_constructor_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ScheduleSearch(**kwargs)


@pytest.mark.parametrize("run_kwargs, name", [
    ({"initial_samples": 0}, "initial_samples"),
    ({"population": -1}, "population"),
    ({"evaluate_top": 0}, "evaluate_top"),
    ({"rounds": -1}, "rounds"),
    ({"generations": 1.5}, "generations"),
])
def test_bad_run_arguments(run_kwargs, name):
    with pytest.raises(ValueError, match=name):
        ScheduleSearch(ENV_KWARGS, num_instances=2).run(**run_kwargs)


def test_bad_schedules():
    search = ScheduleSearch(ENV_KWARGS, num_instances=2)
    with pytest.raises(ValueError, match="schedule"):
        search.evaluate(torch.zeros(19, dtype=torch.int64))
    too_large = ddim_schedule(4)
    too_large[2] = 3  # order - 1 has 3 options
    with pytest.raises(ValueError, match="schedule"):
        search.evaluate(too_large)
    with pytest.raises(ValueError, match="schedule"):
        search.evaluate(-torch.ones(20, dtype=torch.int64))
    with pytest.raises(ValueError, match="schedule"):
        search.evaluate(torch.zeros(20))
    with pytest.raises(ValueError, match="seeds"):
        search.evaluate(ddim_schedule(4), seeds=torch.zeros(2, 2, dtype=torch.int64))
    with pytest.raises(RuntimeError, match="fit_predictor"):
        search.predict(ddim_schedule(4))
