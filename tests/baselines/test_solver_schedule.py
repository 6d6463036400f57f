"""Fixed-solver baselines: each equals an independent implementation of its published
update rule; accuracy grows with the solver's order at fixed NFE; bad names are
rejected."""

import pytest
import torch

from tests.simulators.published_solvers import dpm_solver_multistep, unipc
from tunegym.baselines.solver_schedule import fixed_solver_errors
from tunegym.envs.solver_schedule import SolverScheduleEnv, row_mixture

PUBLISHED = {
    "DPM-Solver++(2M)": lambda *args: dpm_solver_multistep(*args, order=2),
    "DPM-Solver++(3M)": lambda *args: dpm_solver_multistep(*args, order=3),
    "UniPC-2 (bh1)": lambda *args: unipc(*args, orders=[1] + [2] * 5, variant="bh1"),
    "UniPC-2 (bh2)": lambda *args: unipc(*args, orders=[1] + [2] * 5, variant="bh2"),
    "UniP-3 (bh1)": lambda *args: unipc(*args, orders=[1, 2, 3, 3, 3, 3], variant="bh1",
                                        corrector=False),
}


@pytest.mark.parametrize("solver", sorted(PUBLISHED))
@pytest.mark.parametrize("schedule", ["cosine", "edm"])
def test_baselines_equal_the_published_algorithms(solver, schedule):
    env = SolverScheduleEnv(num_envs=2, nfe=6, num_samples=16, dimension=3, schedule=schedule)
    env.reset(torch.arange(2))
    errors = fixed_solver_errors(env, solver, "edm", 6)
    times = env.timesteps(env.state, 6, "edm")
    for b in range(2):
        mixture = row_mixture(env.state, b)
        expected = PUBLISHED[solver](mixture, env.schedules[0], env.state["x"][b], times[b])
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
