"""Solver-schedule envs: episodes equal the simulator's fixed schedules, the reference is
accurate, one-shot equals sequential, bad input is rejected."""

import math

import pytest
import torch

from tests.simulators.published_solvers import dpm_solver_multistep
from tunegym.envs.solver_schedule import (
    MIXTURE_KEYS,
    SolverScheduleEnv,
    SolverScheduleOneShotEnv,
    _accurate_solve,
    row_mixture,
    state_mixture,
)
from tunegym.simulators.diffusion import reference_solution, timestep_spacing

#: timestep factor 1 (index 2: uniform lambda), data, order 2, midpoint, no corrector.
DPM_SOLVER_PP_2M = torch.tensor([2, 0, 1, 1, 0])


def run_episode(env, action):
    env.reset(torch.arange(env.num_envs))
    initial = {name: value.clone() for name, value in env.state.items()}
    total = torch.zeros(env.num_envs)
    for _ in range(int(env.state["nfe"].max())):
        _, reward, terminated, _, info = env.step(action.expand(env.num_envs, -1))
        total += reward
    assert bool(terminated.all())
    return initial, total, info


def test_uniform_midpoint_choices_reproduce_dpm_solver_pp_2m():
    env = SolverScheduleEnv(num_envs=2, nfe=5, num_samples=32, mixture="ill_conditioned",
                            dimension=4)
    initial, total, info = run_episode(env, DPM_SOLVER_PP_2M)
    times = timestep_spacing(env.schedules[0], 5, "uniform_lambda")
    for b in range(2):
        mixture = row_mixture(initial, b)
        expected = dpm_solver_multistep(mixture, env.schedules[0], initial["x"][b], times, 2)
        assert torch.allclose(env.state["x"][b], expected, atol=1e-10)
        error = (expected - initial["reference"][b]).norm(dim=1).mean()
        assert info["error"][b].item() == pytest.approx(error.item(), rel=1e-6)
        assert total[b].item() == pytest.approx(-math.log(error.item()), rel=1e-5)


def test_reference_is_far_more_accurate_than_any_schedule():
    env = SolverScheduleEnv(num_envs=1, num_samples=8, dimension=3, mixture="many_modes")
    env.reset(torch.tensor([3]))
    state = env.state
    mixture = row_mixture(state, 0)
    schedule = env.schedules[0]
    exact = reference_solution(mixture, schedule, state["x"][0], schedule.t_max, schedule.t_min)
    reference_error = (state["reference"][0] - exact).norm(dim=1).mean().item()
    times = timestep_spacing(schedule, 20, "uniform_lambda")
    twenty_steps = dpm_solver_multistep(mixture, schedule, state["x"][0], times, 2)
    schedule_error = (twenty_steps - exact).norm(dim=1).mean().item()
    assert reference_error < 1e-4 and reference_error < schedule_error / 100


def test_one_shot_equals_the_sequential_episode():
    sequential = SolverScheduleEnv(num_envs=3, nfe=4, num_samples=16)
    one_shot = SolverScheduleOneShotEnv(num_envs=3, nfe=4, num_samples=16)
    choices = torch.tensor([[4, 1, 2, 0, 1], [0, 0, 2, 1, 0], [2, 0, 1, 0, 1], [1, 1, 0, 0, 1]])
    sequential.reset(torch.arange(3))
    for step in range(4):
        _, reward, _, _, _ = sequential.step(choices[step].expand(3, -1))
    one_shot.reset(torch.arange(3))
    _, shot_reward, terminated, _, _ = one_shot.step(choices.reshape(1, -1).expand(3, -1))
    assert bool(terminated.all())
    assert torch.allclose(shot_reward, reward)


def test_order_is_capped_by_the_evaluations_available():
    first = SolverScheduleEnv(num_envs=1, nfe=3, num_samples=8)
    second = SolverScheduleEnv(num_envs=1, nfe=3, num_samples=8)
    first.reset(torch.tensor([0]))
    second.reset(torch.tensor([0]))
    first.step(torch.tensor([[2, 0, 2, 0, 0]]))        # order 3 at step 0 acts as order 1
    second.step(torch.tensor([[2, 0, 0, 0, 0]]))
    assert torch.equal(first.state["x"], second.state["x"])


def test_random_nfe_budgets_vary_per_episode():
    env = SolverScheduleEnv(num_envs=64, nfe=[4, 5, 6, 8, 10], num_samples=4)
    env.reset(torch.arange(64))
    assert set(env.state["nfe"].tolist()) == {4, 5, 6, 8, 10}


@pytest.mark.parametrize("kwargs, name", [
    ({"mixture": "one_mode"}, "mixture"), ({"schedule": "sigmoid"}, "schedule"),
    ({"dimension": 1}, "dimension"), ({"dimension": 300}, "dimension"), ({"nfe": 0}, "nfe"),
    ({"nfe": [3, 30]}, "nfe"), ({"num_samples": 1}, "num_samples"),
    ({"dimension": []}, "dimension"), ({"schedule": {"train": "linear"}}, "schedule"),
    ({"mixture": {"train": "two_modes", "test": "gaussian"}}, "mixture"),
    ({"reward_shaping": "yes"}, "reward_shaping"),
])
def test_bad_kwargs_are_rejected(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SolverScheduleEnv(**kwargs)


def test_one_shot_rejects_reward_shaping():
    with pytest.raises(ValueError, match="reward_shaping"):
        SolverScheduleOneShotEnv(reward_shaping=True)


MIXED = {"mixture": ["two_modes", "many_modes"], "dimension": [3, 5],
         "schedule": ["linear", "cosine", "edm"]}


def test_mixed_instances_are_padded_exactly():
    """Each row of a mixed env behaves as its own unpadded instance: the reference and a
    DPM-Solver++(2M) episode equal the unpadded computations, the padded coordinates
    stay exactly 0, and the error is the unpadded one."""
    env = SolverScheduleEnv(num_envs=12, nfe=5, num_samples=16, **MIXED)
    initial, _, info = run_episode(env, DPM_SOLVER_PP_2M)
    kinds = env.state["schedule_index"]
    assert len(set(kinds.tolist())) == 3 and set(env.state["dimension"].tolist()) == {3, 5}
    assert len({int(w.gt(0).sum()) for w in env.state["weights"]}) == 2
    for b in range(12):
        schedule, dimension = env.schedules[int(kinds[b])], int(env.state["dimension"][b])
        row = {name: initial[name][b] for name in MIXTURE_KEYS if name in initial}
        used = int(row["weights"].gt(0).sum())
        mixture = state_mixture({"weights": row["weights"][:used],
                            "means": row["means"][:used, :dimension],
                            "eigenvalues": row["eigenvalues"][:used, :dimension]})
        noise = initial["x"][b, :, :dimension]
        times = timestep_spacing(schedule, 200, "uniform_lambda")
        from tunegym.simulators.diffusion import ScheduleBatch

        reference = _accurate_solve(mixture, ScheduleBatch([schedule], torch.zeros(
            1, dtype=torch.int64)), noise[None], times[None])[0]
        assert torch.allclose(initial["reference"][b, :, :dimension], reference, atol=1e-12)
        expected = dpm_solver_multistep(mixture, schedule, noise,
                                        timestep_spacing(schedule, 5, "uniform_lambda"), 2)
        assert torch.allclose(env.state["x"][b, :, :dimension], expected, atol=1e-10)
        assert bool((env.state["x"][b, :, dimension:] == 0).all())
        error = (expected - reference).norm(dim=1).mean()
        assert info["error"][b].item() == pytest.approx(error.item(), rel=1e-8)


def test_per_split_instance_sets():
    kwargs = {"mixture": {"train": "two_modes", "test": ["ill_conditioned", "many_modes"]},
              "dimension": {"train": 4, "test": [6, 7]}}
    train = SolverScheduleEnv(num_envs=32, num_samples=4, **kwargs)
    test = SolverScheduleEnv(num_envs=32, num_samples=4, split="test", **kwargs)
    train.reset(torch.arange(32))
    test.reset(torch.arange(32))
    assert set(train.state["dimension"].tolist()) == {4}
    assert set(test.state["dimension"].tolist()) == {6, 7}
    assert {int(w.gt(0).sum()) for w in test.state["weights"]} == {3, 16}
    assert torch.allclose(train.observe(train.state)[:, 7], torch.tensor(2 / 8))


@pytest.mark.parametrize("action", [DPM_SOLVER_PP_2M, torch.tensor([0, 1, 0, 2, 1])])
def test_shaped_rewards_sum_to_the_unshaped_return(action):
    """Potential-based shaping: the return is unchanged, the steps are told the error
    added (negative rewards after the first step when the error grows)."""
    shaped = SolverScheduleEnv(num_envs=4, nfe=5, num_samples=16, reward_shaping=True, **MIXED)
    plain = SolverScheduleEnv(num_envs=4, nfe=5, num_samples=16, **MIXED)
    _, shaped_total, shaped_info = run_episode(shaped, action)
    _, plain_total, plain_info = run_episode(plain, action)
    assert torch.allclose(shaped_info["error"], plain_info["error"])
    assert torch.allclose(shaped_total, plain_total, rtol=1e-5)


def test_shaping_potential_is_the_distance_to_the_reference_trajectory():
    env = SolverScheduleEnv(num_envs=2, nfe=4, num_samples=16, reward_shaping=True)
    env.reset(torch.arange(2))
    initial = {name: value.clone() for name, value in env.state.items()}
    _, reward, _, _, _ = env.step(DPM_SOLVER_PP_2M.expand(2, -1))
    schedule = env.schedules[0]
    for b in range(2):
        mixture = row_mixture(initial, b)
        time = schedule.time_of_lambda(env.state["lambda"][b])
        exact = reference_solution(mixture, schedule, initial["x"][b], schedule.t_max,
                                   float(time))
        distance = (env.state["x"][b] - exact).norm(dim=1).mean()
        assert reward[b].item() == pytest.approx(-math.log(distance.item()), rel=1e-4)
