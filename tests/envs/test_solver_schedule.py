"""Solver-schedule envs: episodes equal the simulator's fixed schedules, the reference is
accurate, one-shot equals sequential, bad input is rejected."""

import math

import pytest
import torch

from tests.simulators.test_diffusion import dpm_solver_pp_2m
from tunegym.envs.solver_schedule import (
    SolverScheduleEnv,
    SolverScheduleOneShotEnv,
    _mixture,
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
    times = timestep_spacing(env.schedule, 5, "uniform_lambda", t_end=1e-3)
    for b in range(2):
        mixture = _mixture({name: initial[name][b] for name in
                            ("weights", "means", "eigenvalues", "eigenvectors")})
        expected = dpm_solver_pp_2m(mixture, env.schedule, initial["x"][b], times)
        assert torch.allclose(env.state["x"][b], expected, atol=1e-10)
        error = (expected - initial["reference"][b]).norm(dim=1).mean()
        assert info["error"][b].item() == pytest.approx(error.item(), rel=1e-6)
        assert total[b].item() == pytest.approx(-math.log(error.item()), rel=1e-5)


def test_reference_is_far_more_accurate_than_any_schedule():
    env = SolverScheduleEnv(num_envs=1, num_samples=8, dimension=3, mixture="many_modes")
    env.reset(torch.tensor([3]))
    state = env.state
    mixture = _mixture({name: state[name][0] for name in
                        ("weights", "means", "eigenvalues", "eigenvectors")})
    exact = reference_solution(mixture, env.schedule, state["x"][0], env.schedule.t_max, 1e-3)
    reference_error = (state["reference"][0] - exact).norm(dim=1).mean().item()
    times = timestep_spacing(env.schedule, 20, "uniform_lambda", t_end=1e-3)
    twenty_steps = dpm_solver_pp_2m(mixture, env.schedule, state["x"][0], times)
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
])
def test_bad_kwargs_are_rejected(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SolverScheduleEnv(**kwargs)
