"""Fixed-solver baselines: DPM-Solver++(2M) equals its published form; accuracy grows
with the solver's order at fixed NFE; bad names are rejected."""

import pytest
import torch

from tests.simulators.test_diffusion import dpm_solver_pp_2m
from tunegym.baselines.solver_schedule import fixed_solver_errors
from tunegym.envs.solver_schedule import SolverScheduleEnv, _mixture
from tunegym.simulators.diffusion import timestep_spacing


def test_dpm_solver_pp_2m_baseline_equals_the_published_algorithm():
    env = SolverScheduleEnv(num_envs=2, nfe=6, num_samples=16, dimension=3)
    env.reset(torch.arange(2))
    errors = fixed_solver_errors(env, "DPM-Solver++(2M)", "edm", 6)
    times = timestep_spacing(env.schedule, 6, "edm", t_end=1e-3)
    for b in range(2):
        mixture = _mixture({name: env.state[name][b] for name in
                            ("weights", "means", "eigenvalues", "eigenvectors")})
        expected = dpm_solver_pp_2m(mixture, env.schedule, env.state["x"][b], times)
        error = (expected - env.state["reference"][b]).norm(dim=1).mean()
        assert errors[b].item() == pytest.approx(error.item(), rel=1e-9)


def test_higher_order_solvers_are_more_accurate_at_moderate_nfe():
    env = SolverScheduleEnv(num_envs=16, nfe=10, num_samples=64, split="test")
    env.reset(torch.arange(16))
    ddim = fixed_solver_errors(env, "DDIM", "uniform_lambda", 10).mean()
    second = fixed_solver_errors(env, "DPM-Solver++(2M)", "uniform_lambda", 10).mean()
    assert second < 0.5 * ddim


def test_bad_names_are_rejected():
    env = SolverScheduleEnv(num_envs=1, num_samples=4)
    env.reset(torch.arange(1))
    with pytest.raises(ValueError, match="solver"):
        fixed_solver_errors(env, "Heun", "edm", 4)
    with pytest.raises(ValueError, match="spacing"):
        fixed_solver_errors(env, "DDIM", "log", 4)
