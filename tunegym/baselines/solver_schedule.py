"""Fixed diffusion solvers as baselines for the solver-schedule family.

Each baseline is a per-step recipe applied on a fixed timestep spacing (warm-up steps
use the orders the evaluations allow; no lower-order final steps):

* DDIM: first order;
* DPM-Solver++(2M) and DPM-Solver++(3M): data prediction with the published multistep
  rules (tested equal to an independent implementation of Lu et al. 2022);
* UniPC-2 with B(h) = h ("bh1") or B(h) = e^h - 1 ("bh2"): UniP-2 plus UniC after
  every step but the last (tested equal to an independent implementation of Zhao et al.
  2023);
* UniP-3 (bh1): the third-order UniPC predictor without corrector (exact third-order
  weights once three evaluations exist);

with spacings uniform in time, uniform in log-SNR or EDM (rho = 7).
"""

from __future__ import annotations

import time

import torch

from tunegym.core import EpisodeRecords, make_batched_env
from tunegym.envs.solver_schedule import SolverScheduleEnv, state_mixture
from tunegym.simulators.diffusion import SPACINGS, sample

#: The timestep spacing the fixed solvers are scored on (the leaderboard's baseline
#: entries and exercise 6's bar): uniform in log-SNR, as DPM-Solver++ samples.
BASELINE_SPACING = "uniform_lambda"
#: name -> (order, derivative estimate, corrector); all use data prediction.
FIXED_SOLVERS = {
    "DDIM": (1, "taylor", False),
    "DPM-Solver++(2M)": (2, "dpm_solver", False),
    "DPM-Solver++(3M)": (3, "dpm_solver", False),
    "UniPC-2 (bh1)": (2, "unipc_bh1", True),
    "UniPC-2 (bh2)": (2, "dpm_solver", True),
    "UniP-3 (bh1)": (3, "unipc_bh1", False),
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
    order, estimate, corrector = FIXED_SOLVERS[solver]
    count = env.num_envs
    orders = torch.tensor([min(order, step + 1) for step in range(nfe)])
    correctors = torch.tensor([corrector] * (nfe - 1) + [False])
    samples = sample(state_mixture(env.state), env.schedule_batch(env.state), env.state["x"],
                     env.timesteps(env.state, nfe, spacing), orders.expand(count, -1),
                     correctors=correctors.expand(count, -1), estimates=[estimate] * nfe)
    return (samples - env.state["reference"]).norm(dim=2).mean(dim=1)


def fixed_solver_episodes(solver: str, env_id: str, seeds: torch.Tensor) -> EpisodeRecords:
    """Fixed solver ``solver`` (a key of :data:`FIXED_SOLVERS`) on the
    :data:`BASELINE_SPACING` at each test episode's NFE budget: one episode per seed of
    ``env_id``, returns the env's final reward (float32 as the env pays it), the error as
    raw metric. seeds: int64 (E,)."""
    start = time.perf_counter()
    env = make_batched_env(env_id, seeds.numel(), split="test")
    env.reset(seeds)
    budgets = env.state["nfe"]
    errors = torch.zeros(seeds.shape[0], dtype=torch.float64, device=env.device)
    for budget in budgets.unique().tolist():
        errors = torch.where(budgets == budget,
                             fixed_solver_errors(env, solver, BASELINE_SPACING, budget), errors)
    lengths = torch.ones_like(budgets) if env.max_episode_steps == 1 else budgets
    returns = (-torch.log(errors)).to(torch.float32).to(torch.float64)
    return EpisodeRecords(env_id, {}, "test", seeds, returns, lengths.long(), env.raw_metric,
                          errors, {env.raw_metric: errors}, {}, time.perf_counter() - start)


def _fixed_solver_baseline(solver: str):
    """The family record's baseline entry of ``solver``: an episodes function."""
    def play(env_id: str, seeds: torch.Tensor) -> EpisodeRecords:
        return fixed_solver_episodes(solver, env_id, seeds)

    play.episodes = True
    play.__doc__ = f"{solver} on the uniform log-SNR spacing (see fixed_solver_episodes)."
    return play


ddim = _fixed_solver_baseline("DDIM")
dpm_solver_pp_2m = _fixed_solver_baseline("DPM-Solver++(2M)")
dpm_solver_pp_3m = _fixed_solver_baseline("DPM-Solver++(3M)")
unipc_2_bh1 = _fixed_solver_baseline("UniPC-2 (bh1)")
unipc_2_bh2 = _fixed_solver_baseline("UniPC-2 (bh2)")
unip_3_bh1 = _fixed_solver_baseline("UniP-3 (bh1)")
