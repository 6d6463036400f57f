"""``tunegym compare`` for the solver-schedule family: searched schedules vs fixed solvers.

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

from tunegym.agents.schedule_search import ScheduleSearch
from tunegym.baselines.solver_schedule import FIXED_SOLVERS, fixed_solver_errors
from tunegym.core import check_integer
from tunegym.envs.solver_schedule import SolverScheduleEnv, SolverScheduleOneShotEnv
from tunegym.io import pyplot, save_figure, write_report
from tunegym.simulators.diffusion import SPACINGS

SEARCHED = "S^3-style search (ours)"
PPO = "PPO on the sequential env"


def train_ppo(env_kwargs: dict, nfes: tuple[int, ...], timesteps: int, samples: int, seed: int,
              device: str):
    """SB3 PPO on the sequential env with the NFE budget drawn from ``nfes`` per
    episode (the policy sees nfe_left), ``samples`` samples per run."""
    from stable_baselines3 import PPO as StableBaselinesPPO

    import tunegym

    vec_env = tunegym.make_sb3_vec_env("tunegym/SolverSchedule-v0", num_envs=16,
                                       device=device, **{**env_kwargs, "nfe": list(nfes),
                                                         "num_samples": samples})
    vec_env.seed(seed)
    model = StableBaselinesPPO("MlpPolicy", vec_env, n_steps=32, batch_size=128, seed=seed,
                               device="cpu", verbose=0)
    return model.learn(total_timesteps=timesteps)


def ppo_errors(model, env: SolverScheduleEnv, seeds: torch.Tensor) -> torch.Tensor:
    """Errors (B,) of the trained PPO policy, acting deterministically, on ``env``."""
    observation = env.reset(seeds)
    for _ in range(int(env.state["nfe"].max())):
        action = model.predict(observation.cpu().numpy(), deterministic=True)[0]
        observation, _, _, _, info = env.step(torch.as_tensor(action, device=env.device))
    return info["error"]


def run_comparison(env_id: str = "tunegym/SolverSchedule-v0", num_seeds: int = 32,
                   seed: int = 0, device: str = "cpu", nfes: tuple[int, ...] = (4, 5, 6, 8, 10),
                   search_instances: int = 8, search_samples: int = 64,
                   search_rounds: int = 2, ppo_timesteps: int = 20_000,
                   **env_overrides) -> dict:
    """Errors (num_seeds,) per solver and NFE on the test split.

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
    ppo = (train_ppo(env_kwargs, nfes, ppo_timesteps, search_samples, seed, device)
           if ppo_timesteps > 0 else None)
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
                                num_instances=search_instances, seed=seed, device=device)
        best = search.run(rounds=search_rounds)["best_schedule"]
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
