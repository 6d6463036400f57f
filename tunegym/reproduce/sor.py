"""The SOR family's paper experiment (``tunegym reproduce``): online agents and baselines
on test sequences.

Reproduces the qualitative result of Khodak et al. (ICLR 2024): over a sequence of
instances, the bandit (Tsallis-INF) approaches the best fixed omega in hindsight and
the contextual bandits (ChebCB, Tsallis-INF-CB) approach the instance-optimal oracle.

Every policy plays the same ``num_seeds`` test sequences (seeds ``seed`` ...
``seed + num_seeds - 1``), each policy's sequences batched in one env. The fixed
grid omegas are all played in one batched env too; from that sweep come Gauss-Seidel
(omega = 1), the best fixed omega in hindsight and the instance-optimal oracle
(best grid omega per instance; for ``heat`` each fixed-omega run warm-starts from
its own previous solutions, which agree to the solver tolerance).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium
import torch

from tunegym.agents.bandits import EXP3, UCB1, ChebCB, TsallisINF, TsallisINFContextBins
from tunegym.baselines.sor import YoungModelProblem, YoungPerInstance, best_fixed_arm_in_hindsight
from tunegym.core import Transition, check_integer, rollout
from tunegym.envs.sor import SOREnv
from tunegym.io import pyplot, save_figure, write_report

LEARNERS = {"Tsallis-INF": TsallisINF, "EXP3": EXP3, "UCB1": UCB1,
            "Tsallis-INF-CB": TsallisINFContextBins, "ChebCB": ChebCB}


@dataclass
class PolicyRun:
    """Per-instance iterations (T, S) of one policy on S test sequences."""

    name: str
    kind: str
    iterations: torch.Tensor

    @property
    def totals(self) -> torch.Tensor:
        """Total iterations per sequence, float64 (S,)."""
        return self.iterations.sum(dim=0).to(torch.float64)


class Lockstep:
    """Several policies playing side by side in one batched env: policy p acts on (and
    learns from) its own slice of consecutive envs, ``policy.num_envs`` of them, so one
    batched ``env.step`` per instance serves all of them and the slowest solve of a step
    is paid once, not once per policy."""

    def __init__(self, policies: list) -> None:
        self.policies = policies
        self.sizes = [policy.num_envs for policy in policies]

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        return torch.cat([policy.act(part) for policy, part
                          in zip(self.policies, observation.split(self.sizes))])

    def observe(self, transition: Transition) -> None:
        for policy, observation, action, reward in zip(
                self.policies, transition.observation.split(self.sizes),
                transition.action.split(self.sizes), transition.reward.split(self.sizes)):
            policy.update(observation, action, reward)   # the context the action was for


def _iterations(env: SOREnv, seeds: torch.Tensor, policies: list) -> list[torch.Tensor]:
    """Per policy, iterations (T, policy.num_envs) int64 of whole sequences played in
    :class:`Lockstep` in ``env`` by the one rollout."""
    records = rollout(env, Lockstep(policies), seeds, trace=("iterations",))
    return list(records.trace["iterations"].to(torch.int64).split(
        [policy.num_envs for policy in policies], dim=1))


class _ConstantArms:
    """Plays a fixed arm per env (the grid sweep)."""

    def __init__(self, arms: torch.Tensor) -> None:
        self.arms = arms
        self.num_envs = arms.numel()

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        return self.arms

    def update(self, observation, actions, rewards) -> None:
        """No learning."""


def run_comparison(env_id: str = "tunegym/SOR-v0", num_seeds: int = 5, seed: int = 0,
                   device: str = "cpu", **env_overrides) -> list[PolicyRun]:
    """Run every SOR agent and baseline on ``num_seeds`` test sequences of ``env_id``.

    Args:
        env_id: a registered SOR-family id.
        num_seeds: number of test sequences S.
        seed: first test seed.
        device: torch device.
        **env_overrides: env kwargs replacing the registered ones (e.g. sequence_length).

    Returns:
        One :class:`PolicyRun` per policy, iterations (T, S) each.
    """
    num_seeds = check_integer("num_seeds", num_seeds)
    spec = gymnasium.spec(env_id)
    kwargs = {**spec.kwargs, **env_overrides, "split": "test", "device": device,
              "compute_oracle": False}
    kwargs.pop("action_type", None)
    seeds = torch.arange(seed, seed + num_seeds, dtype=torch.int64)
    probe = SOREnv(num_envs=1, action_type="discrete", **kwargs)
    num_arms = probe.omegas.numel()

    # Discrete policies: the grid sweep (every arm on every sequence) and the learners.
    learners = {name: learner for name, learner in LEARNERS.items()
                if probe.use_context or learner not in (TsallisINFContextBins, ChebCB)}
    sweep = _ConstantArms(torch.arange(num_arms, device=probe.device)
                          .repeat_interleave(num_seeds))
    agents = [learner.from_spaces(probe.single_observation_space, probe.single_action_space,
                                  num_envs=num_seeds, seed=seed, device=device)
              for learner in learners.values()]
    discrete_env = SOREnv(num_envs=num_seeds * (num_arms + len(agents)),
                          action_type="discrete", **kwargs)
    sweep_iterations, *agent_iterations = _iterations(
        discrete_env, seeds.repeat(num_arms + len(agents)), [sweep, *agents])
    by_arm = sweep_iterations.reshape(-1, num_arms, num_seeds).permute(0, 2, 1)   # (T, S, K)
    best_arm = best_fixed_arm_in_hindsight(by_arm)
    runs = [PolicyRun("Gauss-Seidel (omega=1)", "baseline", by_arm[:, :, 0]),
            PolicyRun("Best fixed omega in hindsight", "oracle",
                      by_arm[:, torch.arange(num_seeds, device=by_arm.device), best_arm]),
            PolicyRun("Instance-optimal omega", "oracle", by_arm.min(dim=2).values)]
    runs += [PolicyRun(name, "agent", iterations)
             for name, iterations in zip(learners, agent_iterations)]

    # Continuous policies: Young's formula, fixed and per instance.
    baselines = {"Young, model problem": YoungModelProblem}
    if probe.use_context:
        baselines["Young, per instance"] = YoungPerInstance
    continuous_env = SOREnv(num_envs=num_seeds * len(baselines), action_type="continuous",
                            **kwargs)
    policies = [baseline(continuous_env, num_envs=num_seeds) for baseline in baselines.values()]
    runs += [PolicyRun(name, "baseline", iterations) for name, iterations in
             zip(baselines, _iterations(continuous_env, seeds.repeat(len(baselines)), policies))]
    return runs


def format_table(runs: list[PolicyRun]) -> str:
    """Markdown table: total iterations (mean, std over sequences), ratios to the two
    oracles, and the mean iterations per instance over the last fifth of the sequence
    relative to the best fixed omega's (how close a learner has come by the end)."""
    by_name = {run.name: run for run in runs}
    oracle = by_name["Instance-optimal omega"].totals.mean()
    best_fixed = by_name["Best fixed omega in hindsight"]
    tail = max(1, best_fixed.iterations.shape[0] // 5)

    def tail_mean(run: PolicyRun) -> torch.Tensor:
        return run.iterations[-tail:].to(torch.float64).mean()

    header = ("| policy | kind | total iterations (mean +- std) | / instance-optimal "
              "| / best fixed | last 20%: / best fixed |")
    lines = [header, "|---|---|---|---|---|---|"]
    for run in sorted(runs, key=lambda r: float(r.totals.mean())):
        totals = run.totals
        spread = float(totals.std()) if totals.numel() > 1 else 0.0
        lines.append(f"| {run.name} | {run.kind} | {float(totals.mean()):.0f} +- {spread:.0f} | "
                     f"{float(totals.mean() / oracle):.3f} | "
                     f"{float(totals.mean() / best_fixed.totals.mean()):.3f} | "
                     f"{float(tail_mean(run) / tail_mean(best_fixed)):.3f} |")
    return "\n".join(lines)


def plot_cumulative(runs: list[PolicyRun], path: Path, title: str) -> Path:
    """PNG with two panels: mean cumulative iterations over the sequence (log scale),
    and the moving mean of iterations per instance (learning curves)."""
    plt = pyplot()
    figure, (cumulative_axes, rate_axes) = plt.subplots(1, 2, figsize=(15, 5))
    styles = {"oracle": "--", "baseline": ":", "agent": "-"}
    colours = plt.get_cmap("tab10").colors
    length = runs[0].iterations.shape[0]
    window = max(1, length // 20)
    for index, run in enumerate(sorted(runs, key=lambda r: -float(r.totals.mean()))):
        per_instance = run.iterations.to(torch.float64).mean(dim=1).cpu()
        style = {"linestyle": styles[run.kind], "linewidth": 2,
                 "color": colours[index % len(colours)], "label": run.name}
        steps = range(1, length + 1)
        cumulative_axes.plot(steps, per_instance.cumsum(0).numpy(), **style)
        moving = torch.nn.functional.avg_pool1d(per_instance[None, None], window, stride=1)
        rate_axes.plot(range(window, length + 1), moving[0, 0].numpy(), **style)
    cumulative_axes.set_yscale("log")
    cumulative_axes.set_ylabel("cumulative solver iterations (mean over sequences)")
    rate_axes.set_yscale("log")
    rate_axes.set_ylabel(f"iterations per instance (moving mean, {window} instances)")
    for axes in (cumulative_axes, rate_axes):
        axes.set_xlabel("instance")
        axes.grid(alpha=0.3, which="both")
    rate_axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.suptitle(title)
    return save_figure(figure, path, dpi=110)


def compare(env_id: str = "tunegym/SOR-v0", num_seeds: int = 5, seed: int = 0,
            device: str = "cpu", output_dir: str | Path = "results",
            **env_overrides) -> dict:
    """Run :func:`run_comparison`, print the table, write table, JSON and PNG.

    Returns:
        A dict with the table text, the output paths and per-policy totals.
    """
    start = time.perf_counter()
    runs = run_comparison(env_id, num_seeds, seed, device, **env_overrides)
    sequence_length = runs[0].iterations.shape[0]
    title = f"{env_id} test split, {num_seeds} sequences of {sequence_length} instances"
    summary = {"env_id": env_id, "num_seeds": num_seeds, "first_seed": seed,
               "sequence_length": sequence_length, "env_overrides": env_overrides,
               "seconds": time.perf_counter() - start,
               "total_iterations": {run.name: run.totals.tolist() for run in runs}}
    return write_report(env_id, output_dir, title, format_table(runs),
                        lambda path: plot_cumulative(runs, path, title), "_cumulative.png",
                        summary)
