"""The coverage family's paper experiment (``tunegym reproduce``): SubPO vs modular RL and fixed baselines.

Reproduces the qualitative result of Prajapat et al. (ICLR 2024): on submodular
coverage, SubPO (policy gradient on marginal gains) beats modular RL (PPO from
Stable-Baselines3 trained on the additive reward, which counts revisits) and the
random walk, and comes close to the greedy one-step marginal-gain policy or beats it.

Agents train on the train split; every policy is then scored on the same ``num_seeds``
test episodes by the objective value F(S) of the cells it visited (start included).
"""

from __future__ import annotations

import time
from pathlib import Path

import gymnasium
import numpy as np
import torch

import tunegym
from tunegym.agents.policies import SB3Policy
from tunegym.agents.subpo import SubPO
from tunegym.baselines.coverage import GreedyMarginalGain, RandomMoves, final_values
from tunegym.core import ActFunction, check_integer
from tunegym.envs.coverage import CoverageEnv
from tunegym.io import pyplot, save_figure, write_report
from tunegym.training import TrainConfig


def train_subpo(env_kwargs: dict, policy: str, updates: int, batch: int, seed: int,
                device: str, **hyperparameters) -> tuple[SubPO, list[tuple[int, float]], float]:
    """Train SubPO on the train split (``hyperparameters`` go to SubPO, e.g. the config's
    ``learning_rate``); returns (agent, [(env steps, mean F)], seconds)."""
    kwargs = {**env_kwargs, "observe_map": policy == "history"}
    env = CoverageEnv(num_envs=batch, split="train", device=device, **kwargs)
    agent = SubPO(env.single_observation_space.shape[0], policy=policy, seed=seed,
                  device=device, **hyperparameters)
    curve, start = [], time.perf_counter()
    for update in range(updates):
        seeds = torch.arange(update * batch, (update + 1) * batch) + seed * 10**9
        agent.train_step(env, seeds)
        curve.append(((update + 1) * batch * env.horizon, float(env.state["value"].mean())))
    return agent, curve, time.perf_counter() - start


def train_modular_ppo(env_kwargs: dict, timesteps: int, seed: int, device: str,
                      num_envs: int = 32, **hyperparameters
                      ) -> tuple[object, list[tuple[int, float]], float, list[tuple[int, float]]]:
    """PPO (SB3) on the additive reward, ``num_envs`` envs, ``hyperparameters`` to PPO (the
    config's ``agent_kwargs``). Returns (model, [(env steps, mean F)], seconds, [(env steps,
    mean additive return)]): the last curve shows PPO does learn the reward it is given."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import VecMonitor

    class EpisodeValues(BaseCallback):
        """Mean F(S) and mean additive return of the episodes ended in each rollout."""

        def __init__(self) -> None:
            super().__init__()
            self.values: list[float] = []
            self.returns: list[float] = []
            self.curve: list[tuple[int, float]] = []
            self.return_curve: list[tuple[int, float]] = []

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.values.append(info["objective_value"])
                    self.returns.append(info["episode"]["r"])
            return True

        def _on_rollout_end(self) -> None:
            if self.values:
                self.curve.append((self.num_timesteps, float(np.mean(self.values))))
                self.return_curve.append((self.num_timesteps, float(np.mean(self.returns))))
                self.values, self.returns = [], []

    batched = tunegym.make_sb3_vec_env("tunegym/Coverage-v0", num_envs=num_envs, device=device,
                                       reward="modular", **env_kwargs)
    batched.seed(seed)
    vec_env = VecMonitor(batched)
    model = PPO("MlpPolicy", vec_env, seed=seed, device="cpu", verbose=0,
                **hyperparameters)
    callback, start = EpisodeValues(), time.perf_counter()
    model.learn(total_timesteps=timesteps, callback=callback)
    return model, callback.curve, time.perf_counter() - start, callback.return_curve


def run_comparison(env_id: str = "tunegym/Coverage-v0", num_seeds: int = 64, seed: int = 0,
                   device: str = "cpu", subpo_updates: int | None = None,
                   subpo_batch: int | None = None, ppo_timesteps: int | None = None,
                   **env_overrides) -> dict:
    """Train SubPO (Markov and history policies) and modular PPO, then score every policy
    on ``num_seeds`` test episodes.

    The hyperparameters are the shipped configs' (``coverage_subpo``: batch = its
    ``num_envs``, updates = its ``timesteps`` / (batch x horizon), its ``agent_kwargs``;
    ``coverage_modular_ppo``: its ``timesteps``, ``num_envs`` and ``agent_kwargs``);
    ``subpo_updates``, ``subpo_batch`` and ``ppo_timesteps`` override them for a smoke run.

    Returns:
        {"values": {policy: F(S) (num_seeds,) tensor}, "curves": {policy: [(env steps,
        mean F)]}, "train_seconds": {policy: seconds}, "ppo_additive_return_curve":
        [(env steps, mean additive return)]}.
    """
    num_seeds = check_integer("num_seeds", num_seeds)
    env_kwargs = {key: value for key, value in {**gymnasium.spec(env_id).kwargs,
                                                 **env_overrides}.items()
                  if key not in ("split", "device", "observe_map", "reward")}
    seeds = torch.arange(seed, seed + num_seeds)
    test_env = CoverageEnv(num_envs=num_seeds, split="test", device=device, **env_kwargs)
    subpo_config, ppo_config = (TrainConfig.load(name)
                                for name in ("coverage_subpo", "coverage_modular_ppo"))
    subpo_batch = subpo_config.num_envs if subpo_batch is None else subpo_batch
    subpo_updates = (subpo_config.timesteps // (subpo_batch * test_env.horizon)
                     if subpo_updates is None else subpo_updates)
    subpo_kwargs = {key: value for key, value in subpo_config.agent_kwargs.items()
                    if key != "policy"}             # both policies are trained
    values, curves, seconds = {}, {}, {}
    values["Random walk"] = final_values(test_env, seeds, RandomMoves(num_seeds, seed))
    values["Greedy marginal gain"] = final_values(test_env, seeds,
                                                  GreedyMarginalGain(test_env, seed))
    for policy in ("markov", "history"):
        name = f"SubPO ({policy})"
        agent, curves[name], seconds[name] = train_subpo(env_kwargs, policy, subpo_updates,
                                                         subpo_batch, seed, device,
                                                         **subpo_kwargs)
        env = CoverageEnv(num_envs=num_seeds, split="test", device=device,
                          observe_map=policy == "history", **env_kwargs)
        values[name] = final_values(env, seeds, ActFunction(
            lambda obs, agent=agent: agent.act(obs, deterministic=True)))
    name = "Modular RL (PPO, additive reward)"
    model, curves[name], seconds[name], additive_curve = train_modular_ppo(
        env_kwargs, ppo_config.timesteps if ppo_timesteps is None else ppo_timesteps, seed,
        device, ppo_config.num_envs, **ppo_config.agent_kwargs)
    values[name] = final_values(test_env, seeds, SB3Policy(model, test_env))
    return {"values": values, "curves": curves, "train_seconds": seconds,
            "ppo_additive_return_curve": additive_curve}


def format_table(values: dict[str, torch.Tensor]) -> str:
    """Markdown table of F(S) on the test episodes, relative to greedy."""
    greedy = float(values["Greedy marginal gain"].mean())
    lines = ["| policy | F(S) on test episodes (mean +- std) | / greedy |", "|---|---|---|"]
    for name, value in sorted(values.items(), key=lambda item: -float(item[1].mean())):
        lines.append(f"| {name} | {float(value.mean()):.2f} +- {float(value.std()):.2f} | "
                     f"{float(value.mean()) / greedy:.3f} |")
    return "\n".join(lines)


def plot_training(curves: dict, values: dict, path: Path, title: str) -> Path:
    """PNG of mean F(S) of training episodes against env steps, with the test-split
    levels of the fixed baselines as horizontal lines."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(9, 5))
    for name, curve in curves.items():
        if curve:
            steps, means = zip(*curve)
            axes.plot(steps, means, linewidth=2, label=f"{name} (training episodes)")
    for name, style in (("Greedy marginal gain", "--"), ("Random walk", ":")):
        axes.axhline(float(values[name].mean()), linestyle=style, color="black", label=name)
    axes.set_xscale("log")
    axes.set_xlabel("environment steps")
    axes.set_ylabel("objective F(S) at the end of an episode")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return save_figure(figure, path, dpi=110)


def compare(env_id: str = "tunegym/Coverage-v0", num_seeds: int = 64, seed: int = 0,
            device: str = "cpu", output_dir: str | Path = "results", **env_overrides) -> dict:
    """Run :func:`run_comparison`; write the table, JSON and PNG atomically."""
    start = time.perf_counter()
    outcome = run_comparison(env_id, num_seeds, seed, device, **env_overrides)
    table = format_table(outcome["values"])
    additive = outcome["ppo_additive_return_curve"]
    if additive:
        table += (f"\n\nModular PPO's own additive (revisit-counting) training return went "
                  f"from {additive[0][1]:.1f} to {additive[-1][1]:.1f}; it is never given F.")
    title = f"{env_id}: {num_seeds} test episodes"
    summary = {"env_id": env_id, "num_seeds": num_seeds, "first_seed": seed,
               "env_overrides": env_overrides, "seconds": time.perf_counter() - start,
               "train_seconds": outcome["train_seconds"],
               "objective_values": {name: value.tolist()
                                    for name, value in outcome["values"].items()},
               "training_curves": outcome["curves"],
               "ppo_additive_return_curve": outcome["ppo_additive_return_curve"]}
    return write_report(env_id, output_dir, title, table,
                        lambda path: plot_training(outcome["curves"], outcome["values"], path,
                                                   title), "_training.png", summary)
