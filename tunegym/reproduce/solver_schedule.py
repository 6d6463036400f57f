"""The solver-schedule family's paper experiment (``tunegym reproduce``): searched schedules vs fixed solvers.

The paper-style table of Liu et al. (ICLR 2024): the sampling error of every fixed
solver (DDIM, DPM-Solver++ 2M/3M, UniPC-2) on every timestep spacing (uniform time,
uniform log-SNR, EDM), of the schedule found by the S^3-style search for each NFE, and
of a PPO policy trained on the sequential env (one policy for all budgets), on the same
test-split instances. The error is the mean distance to the high-accuracy
solution of the same ODE from the same noise (lower is better).
"""

from __future__ import annotations

import time
from pathlib import Path

import gymnasium
import torch

from tunegym.agents.catalog import agent_entry
from tunegym.agents.policies import SB3Policy
from tunegym.agents.schedule_search import ScheduleSearch
from tunegym.baselines.solver_schedule import FIXED_SOLVERS, fixed_solver_errors
from tunegym.core import check_integer, rollout
from tunegym.envs.solver_schedule import SolverScheduleEnv, SolverScheduleOneShotEnv
from tunegym.io import pyplot, save_figure, write_report
from tunegym.simulators.diffusion import SPACINGS
from tunegym.training import TrainConfig

SEARCHED = "S^3-style search (ours)"
PPO = "PPO on the sequential env"


def train_ppo(env_kwargs: dict, nfes: tuple[int, ...], timesteps: int | None, seed: int,
              device: str):
    """SB3 PPO on the sequential env as the shipped config ``solver_schedule_ppo`` says
    (its hyperparameters, env count and env kwargs under ``env_kwargs``), the NFE budget
    drawn from ``nfes`` per episode (the policy sees nfe_left), for ``timesteps``
    (default: the config's)."""
    from stable_baselines3 import PPO as StableBaselinesPPO

    import tunegym

    config = TrainConfig.load("solver_schedule_ppo")
    vec_env = tunegym.make_sb3_vec_env("tunegym/SolverSchedule-v0", num_envs=config.num_envs,
                                       device=device, **{**config.env_kwargs, **env_kwargs,
                                                         "nfe": list(nfes)})
    vec_env.seed(seed)
    model = StableBaselinesPPO(config.policy, vec_env, seed=seed, device="cpu", verbose=0,
                               **config.agent_kwargs)
    return model.learn(total_timesteps=config.timesteps if timesteps is None else timesteps)


def ppo_errors(model, env: SolverScheduleEnv, seeds: torch.Tensor) -> torch.Tensor:
    """Errors (B,) of the trained PPO policy, acting deterministically, on ``env`` (the
    one rollout)."""
    return rollout(env, lambda env: SB3Policy(model, env), seeds).final_info["error"]


def run_comparison(env_id: str = "tunegym/SolverSchedule-v0", num_seeds: int = 32,
                   seed: int = 0, device: str = "cpu", nfes: tuple[int, ...] | None = None,
                   search_instances: int | None = None, search_samples: int | None = None,
                   search_rounds: int | None = None, ppo_timesteps: int | None = None,
                   **env_overrides) -> dict:
    """Errors (num_seeds,) per solver and NFE on the test split.

    The NFE budgets and PPO are the shipped config ``solver_schedule_ppo``'s, the search
    (per budget) ``solver_schedule_search_per_nfe``'s: its instances, samples, initial and
    top schedules, and rounds = (timesteps / instances - initial) / top; the arguments
    override them for a smoke run (``ppo_timesteps=0`` leaves PPO out).

    Returns:
        {"errors": {row name: {nfe: tensor (num_seeds,)}}, "schedules": {nfe: the
        searched schedule as a list}, "search_seconds": {nfe: seconds}}.
    """
    num_seeds = check_integer("num_seeds", num_seeds)
    env_kwargs = {key: value for key, value in {**gymnasium.spec(env_id).kwargs,
                                                 **env_overrides}.items()
                  if key not in ("split", "device", "nfe")}
    seeds = torch.arange(seed, seed + num_seeds)
    errors: dict[str, dict[int, torch.Tensor]] = {}
    schedules, search_seconds = {}, {}
    ppo_config = TrainConfig.load("solver_schedule_ppo")
    search_config = TrainConfig.load("solver_schedule_search_per_nfe")
    nfes = tuple(ppo_config.env_kwargs["nfe"]) if nfes is None else tuple(nfes)
    search_kwargs = dict(search_config.agent_kwargs)
    if search_instances is not None:
        search_kwargs["num_instances"] = search_instances
    if search_samples is None:
        search_samples = search_config.env_kwargs["num_samples"]
    schema = agent_entry("ScheduleSearch").schema()
    initial = search_kwargs.pop("initial_samples", schema["initial_samples"]["default"])
    top = search_kwargs.pop("evaluate_top", schema["evaluate_top"]["default"])
    if search_rounds is None:
        search_rounds = (search_config.timesteps // search_kwargs["num_instances"] - initial) // top
    ppo = (train_ppo(env_kwargs, nfes, ppo_timesteps, seed, device)
           if ppo_timesteps != 0 else None)
    for nfe in nfes:
        env = SolverScheduleEnv(num_envs=num_seeds, split="test", device=device, nfe=nfe,
                                **env_kwargs)
        env.reset(seeds)
        for solver in FIXED_SOLVERS:
            for spacing in SPACINGS:
                errors.setdefault(f"{solver}, {spacing}", {})[nfe] = fixed_solver_errors(
                    env, solver, spacing, nfe)
        if ppo is not None:
            errors.setdefault(PPO, {})[nfe] = ppo_errors(ppo, env, seeds)
        start = time.perf_counter()
        search = ScheduleSearch({**env_kwargs, "nfe": nfe, "num_samples": search_samples},
                                seed=seed, device=device, **search_kwargs)
        best = search.run(initial_samples=initial, evaluate_top=top,
                          rounds=search_rounds)["best_schedule"]
        search_seconds[nfe] = time.perf_counter() - start
        schedules[nfe] = best.tolist()
        one_shot = SolverScheduleOneShotEnv(num_envs=num_seeds, split="test", device=device,
                                            nfe=nfe, **env_kwargs)
        one_shot.reset(seeds)
        _, _, _, _, info = one_shot.step(best.to(one_shot.device).expand(num_seeds, -1))
        errors.setdefault(SEARCHED, {})[nfe] = info["error"]
    return {"errors": errors, "schedules": schedules, "search_seconds": search_seconds}


def format_table(errors: dict[str, dict[int, torch.Tensor]]) -> str:
    """Markdown: mean error per row and NFE, best fixed solver, and the search's ratio."""
    nfes = sorted(next(iter(errors.values())))
    lines = ["| solver, spacing | " + " | ".join(f"NFE {nfe}" for nfe in nfes) + " |",
             "|---" * (len(nfes) + 1) + "|"]
    means = {name: {nfe: float(values[nfe].mean()) for nfe in nfes}
             for name, values in errors.items()}
    for name, row in sorted(means.items(), key=lambda item: item[1][nfes[0]]):
        lines.append(f"| {name} | " + " | ".join(f"{row[nfe]:.4f}" for nfe in nfes) + " |")
    fixed = {name: row for name, row in means.items() if name not in (SEARCHED, PPO)}
    best = {nfe: min(row[nfe] for row in fixed.values()) for nfe in nfes}
    lines.append("| best fixed solver | " + " | ".join(f"{best[nfe]:.4f}" for nfe in nfes)
                 + " |")
    if SEARCHED in means:
        lines.append("| search / best fixed | " + " | ".join(
            f"{means[SEARCHED][nfe] / best[nfe]:.3f}" for nfe in nfes) + " |")
    return "\n".join(lines)


def plot_errors(errors: dict[str, dict[int, torch.Tensor]], path: Path, title: str) -> Path:
    """PNG: mean error against NFE (log scale), one line per solver and spacing."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(9, 5.5))
    for name, values in sorted(errors.items()):
        nfes = sorted(values)
        style = ({"linewidth": 3, "color": "black"} if name == SEARCHED else
                 {"linewidth": 3, "color": "tab:red"} if name == PPO else {"linewidth": 1})
        axes.plot(nfes, [float(values[nfe].mean()) for nfe in nfes], marker="o", label=name,
                  **style)
    axes.set_yscale("log")
    axes.set_xlabel("NFE")
    axes.set_ylabel("mean distance to the exact ODE solution")
    axes.set_title(title)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=7, ncol=2)
    return save_figure(figure, path, dpi=110)


def compare(env_id: str = "tunegym/SolverSchedule-v0", num_seeds: int = 32, seed: int = 0,
            device: str = "cpu", output_dir: str | Path = "results", **env_overrides) -> dict:
    """Run :func:`run_comparison`; write the table, JSON and PNG atomically."""
    start = time.perf_counter()
    outcome = run_comparison(env_id, num_seeds, seed, device, **env_overrides)
    title = f"{env_id}: {num_seeds} test instances"
    summary = {"env_id": env_id, "num_seeds": num_seeds, "first_seed": seed,
               "env_overrides": env_overrides, "seconds": time.perf_counter() - start,
               "search_seconds": outcome["search_seconds"],
               "searched_schedules": outcome["schedules"],
               "mean_errors": {name: {str(nfe): float(value.mean())
                                      for nfe, value in values.items()}
                               for name, values in outcome["errors"].items()}}
    return write_report(env_id, output_dir, title, format_table(outcome["errors"]),
                        lambda path: plot_errors(outcome["errors"], path, title),
                        "_errors.png", summary)
