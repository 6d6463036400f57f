"""Fixed diffusion solvers as baselines for the solver-schedule family.

Each baseline is a per-step recipe applied on a fixed timestep spacing:

* DDIM: first order;
* DPM-Solver++(2M): data prediction, second order with the published midpoint
  combination (tested equal to Algorithm 2 of Lu et al. 2022);
* DPM-Solver++(3M): data prediction, third order (exact Taylor integrals of the
  quadratic through the last three evaluations);
* UniPC-2: data prediction, second order plus the UniC-style corrector on every step
  but the last (our corrector: one more interpolation point, no extra evaluation; the
  B(h) variants of the UniPC paper are not reproduced);

with spacings uniform in time, uniform in log-SNR or EDM (rho = 7).
"""

from __future__ import annotations

import torch

from tunegym.envs.solver_schedule import T_END, SolverScheduleEnv, _mixture
from tunegym.simulators.diffusion import SPACINGS, sample, timestep_spacing

#: name -> (order, midpoint, corrector); all use data prediction.
FIXED_SOLVERS = {
    "DDIM": (1, False, False),
    "DPM-Solver++(2M)": (2, True, False),
    "DPM-Solver++(3M)": (3, False, False),
    "UniPC-2": (2, False, True),
}


def fixed_solver_errors(env: SolverScheduleEnv, solver: str, spacing: str,
                        nfe: int) -> torch.Tensor:
    """Mean distance (B,) to the reference of a fixed solver on the env's current
    instances (call right after ``env.reset``: the samples are still the initial noise).

    Args:
        env: a reset SolverScheduleEnv.
        solver: a key of :data:`FIXED_SOLVERS`.
        spacing: one of "uniform_time", "uniform_lambda", "edm".
        nfe: number of steps M.
    """
    if solver not in FIXED_SOLVERS:
        raise ValueError(f"solver must be one of {tuple(FIXED_SOLVERS)}, got {solver!r}")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    if bool((env.state["step"] != 0).any()):
        raise ValueError("env must be freshly reset (its samples are the initial noise)")
    order, midpoint, corrector = FIXED_SOLVERS[solver]
    count = env.num_envs
    times = timestep_spacing(env.schedule, nfe, spacing, t_end=T_END).to(env.device)
    orders = torch.tensor([min(order, step + 1) for step in range(nfe)])
    correctors = torch.tensor([corrector] * (nfe - 1) + [False])
    samples = sample(_mixture(env.state), env.schedule, env.state["x"],
                     times.expand(count, -1), orders.expand(count, -1),
                     correctors=correctors.expand(count, -1),
                     midpoints=torch.full((count, nfe), midpoint))
    return (samples - env.state["reference"]).norm(dim=2).mean(dim=1)
