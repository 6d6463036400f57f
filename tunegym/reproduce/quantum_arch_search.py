"""Quantum architecture search's paper experiment (``tunegym reproduce``): MaskablePPO vs the baselines.

Trains sb3-contrib's MaskablePPO (the env's action mask; optionally the threshold
curriculum as a callback) on the train split, evaluates its deterministic policy on the
test split every ``eval_every`` env steps (the learning curve), and scores it with the
baselines (random legal circuits, the one-layer hardware-efficient ansatz, greedy
gate-by-gate search) on the same test episodes: success rate (final energy error below
chemical accuracy, 1.6e-3 Ha), median final error and mean gate count.
"""

from __future__ import annotations

import time
from pathlib import Path

import gymnasium
import torch

from tunegym.agents.policies import SB3Policy
from tunegym.baselines.quantum_arch_search import (
    greedy_search,
    hardware_efficient_ansatz,
    random_architectures,
)
from tunegym.core import check_integer, rollout
from tunegym.envs.quantum_arch_search import CHEMICAL_ACCURACY, QuantumArchSearchEnv
from tunegym.io import pyplot, save_figure, write_report
from tunegym.training import TrainConfig

AGENT = "MaskablePPO (ours)"


def policy_episodes(model, env: QuantumArchSearchEnv, seeds: torch.Tensor) -> dict:
    """The deterministic masked policy on one episode per seed (the one rollout):
    ``energy_error_ha`` and ``n_gates`` (b,) at each episode's end."""
    records = rollout(env, lambda env: SB3Policy(model, env), seeds)
    return {key: records.final_info[key] for key in ("energy_error_ha", "n_gates")}


def summarise(outcome: dict) -> dict[str, float]:
    """Success rate, median final error (Ha) and mean gate count of episodes."""
    errors = outcome["energy_error_ha"].to(torch.float64)
    return {"success_rate": float((errors < CHEMICAL_ACCURACY).double().mean()),
            "median_error_ha": float(errors.median()),
            "mean_gates": float(outcome["n_gates"].double().mean())}


def run_comparison(env_id: str = "tunegym/QuantumArchSearch-v0", num_seeds: int = 16,
                   seed: int = 0, device: str = "cpu", timesteps: int | None = None,
                   eval_every: int = 2048, num_envs: int | None = None,
                   curriculum: bool = False, **env_overrides) -> dict:
    """Train, evaluate along the way and score the baselines on ``num_seeds`` test
    episodes. The agent's hyperparameters, budget and env count are the shipped config
    ``qas_h2_maskable_ppo``'s (``timesteps`` and ``num_envs`` override them for a smoke
    run; ``curriculum`` adds the default threshold curriculum). Returns {"rows": {name:
    summary}, "curve": [(steps, summary)]}."""
    from sb3_contrib import MaskablePPO

    import tunegym
    from tunegym.agents.qas_curriculum import CurriculumCallback, ThresholdCurriculum

    config = TrainConfig.load("qas_h2_maskable_ppo")
    num_seeds = check_integer("num_seeds", num_seeds)
    timesteps = check_integer("timesteps", config.timesteps if timesteps is None else timesteps)
    num_envs = check_integer("num_envs", config.num_envs if num_envs is None else num_envs)
    eval_every = check_integer("eval_every", eval_every)
    env_kwargs = {key: value for key, value in {**gymnasium.spec(env_id).kwargs,
                                                 **env_overrides}.items()
                  if key not in ("split", "device")}
    seeds = torch.arange(seed, seed + num_seeds)
    test_env = QuantumArchSearchEnv(num_envs=num_seeds, split="test", device=device,
                                    **env_kwargs)
    rows = {"random legal gates": summarise(random_architectures(test_env, seeds)),
            "hardware-efficient ansatz (1 layer)": summarise(
                hardware_efficient_ansatz(test_env, seeds, layers=1)),
            "greedy gate by gate": summarise(greedy_search(test_env, seeds))}
    vec_env = tunegym.make_sb3_vec_env(env_id, num_envs=num_envs, device=device,
                                       **env_kwargs)
    vec_env.seed(seed)
    model = MaskablePPO(config.policy, vec_env, seed=seed, device="cpu", verbose=0,
                        **config.agent_kwargs)
    callback = CurriculumCallback(ThresholdCurriculum()) if curriculum else None
    curve = []
    while model.num_timesteps < timesteps:
        model.learn(total_timesteps=eval_every, reset_num_timesteps=False, callback=callback)
        curve.append((model.num_timesteps,
                      summarise(policy_episodes(model, test_env, seeds))))
    rows[AGENT] = curve[-1][1]
    return {"rows": rows, "curve": curve}


def format_table(rows: dict[str, dict[str, float]]) -> str:
    """Markdown: one row per agent or baseline."""
    lines = ["| agent | success rate (error < 1.6 mHa) | median final error (Ha) | mean gates |",
             "|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['success_rate']:.2f} | {row['median_error_ha']:.2e} | "
                     f"{row['mean_gates']:.1f} |")
    return "\n".join(lines)


def plot_curve(curve: list, rows: dict, path: Path, title: str) -> Path:
    """PNG: the agent's test success rate and median error against env steps, with the
    baselines' success rates as horizontal lines."""
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    steps = [point[0] for point in curve]
    left.plot(steps, [point[1]["success_rate"] for point in curve], marker="o",
              color="black", linewidth=2, label=AGENT)
    baselines = [(name, row) for name, row in rows.items() if name != AGENT]
    for index, (name, row) in enumerate(baselines):
        left.axhline(row["success_rate"], linestyle="--", linewidth=1.5, color=f"C{index}",
                     label=name)
    left.set_xlabel("env steps")
    left.set_ylabel("test success rate")
    left.set_ylim(-0.05, 1.05)
    left.legend(fontsize=7)
    right.plot(steps, [point[1]["median_error_ha"] for point in curve], marker="o",
               color="black")
    right.axhline(CHEMICAL_ACCURACY, color="tab:red", linestyle=":", label="chemical accuracy")
    right.set_yscale("log")
    right.set_xlabel("env steps")
    right.set_ylabel("median final energy error (Ha)")
    right.legend(fontsize=7)
    figure.suptitle(title)
    return save_figure(figure, path, dpi=110)


def compare(env_id: str = "tunegym/QuantumArchSearch-v0", num_seeds: int = 16, seed: int = 0,
            device: str = "cpu", output_dir: str | Path = "results", **overrides) -> dict:
    """Run :func:`run_comparison`; write the table, JSON and learning-curve PNG atomically."""
    start = time.perf_counter()
    outcome = run_comparison(env_id, num_seeds, seed, device, **overrides)
    title = f"{env_id}: {num_seeds} test episodes"
    summary = {"env_id": env_id, "num_seeds": num_seeds, "first_seed": seed,
               "overrides": overrides, "seconds": time.perf_counter() - start,
               "rows": outcome["rows"],
               "curve": [{"env_steps": steps, **row} for steps, row in outcome["curve"]]}
    return write_report(env_id, output_dir, title, format_table(outcome["rows"]),
                        lambda path: plot_curve(outcome["curve"], outcome["rows"], path, title),
                        "_learning_curve.png", summary)
