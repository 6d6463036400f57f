"""The SOR family's paper experiments (``tunegym reproduce``): online agents and
baselines on test sequences.

Reproduces Khodak et al. (ICLR 2024). Shifted Poisson (section 5, the paper's
``contextual.m`` and ``learning.m``): over a sequence of instances, the bandit
(Tsallis-INF) approaches the best fixed omega in hindsight (regret sublinear in T) and
the contextual bandits (ChebCB, Tsallis-INF-CB) approach the instance-optimal omega; at
the paper's setting (``tunegym/SORLearningToRelax-v0``) both shift distributions are
run. Heat equation (``h2d.m``): total SSOR-PCG iterations and wall-clock of fixed
omegas, plain CG and the learners along a 5000-step Crank-Nicolson simulation.

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
from tunegym.core import Transition, check_choice, check_integer, rollout
from tunegym.envs.sor import SOREnv
from tunegym.io import markdown_table, pyplot, save_figure, write_report

LEARNERS = {"Tsallis-INF": TsallisINF, "EXP3": EXP3, "UCB1": UCB1,
            "Tsallis-INF-CB": TsallisINFContextBins, "ChebCB": ChebCB}
#: The learners of the paper's heat experiment (h2d.m).
HEAT_LEARNERS = ("Tsallis-INF", "Tsallis-INF-CB", "ChebCB")
#: The paper's learner settings that differ from the agents' defaults, by problem:
#: contextual.m bins the shift into 5 bins for Tsallis-INF-CB (h2d.m uses 6, the default).
PAPER_LEARNER_KWARGS = {"shifted_poisson": {"Tsallis-INF-CB": {"num_bins": 5}}}
#: The paper-setting id, whose experiment runs both shift distributions by default.
PAPER_SETTING_ID = "tunegym/SORLearningToRelax-v0"
VARIANCES = ("high", "low")


@dataclass
class PolicyRun:
    """Per-instance iterations (T, S) of one policy on S test sequences; ``omegas`` (S,)
    the fixed omega of each sequence where the policy plays one (the best in hindsight)."""

    name: str
    kind: str
    iterations: torch.Tensor
    omegas: list[float] | None = None

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


def _env_kwargs(env_id: str, device: str, env_overrides: dict) -> dict:
    """The kwargs of ``env_id`` with ``env_overrides``, on the test split, no oracle
    solves in the info and no action type (each experiment sets its own)."""
    kwargs = {**gymnasium.spec(env_id).kwargs, **env_overrides, "split": "test",
              "device": device, "compute_oracle": False}
    kwargs.pop("action_type", None)
    return kwargs


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
    kwargs = _env_kwargs(env_id, device, env_overrides)
    seeds = torch.arange(seed, seed + num_seeds, dtype=torch.int64)
    probe = SOREnv(num_envs=1, action_type="discrete", **kwargs)
    num_arms = probe.omegas.numel()

    # Discrete policies: the grid sweep (every arm on every sequence) and the learners.
    learners = {name: learner for name, learner in LEARNERS.items()
                if probe.use_context or learner not in (TsallisINFContextBins, ChebCB)}
    sweep = _ConstantArms(torch.arange(num_arms, device=probe.device)
                          .repeat_interleave(num_seeds))
    paper_kwargs = PAPER_LEARNER_KWARGS.get(probe.problem.name, {})
    agents = [learner.from_spaces(probe.single_observation_space, probe.single_action_space,
                                  num_envs=num_seeds, seed=seed, device=device,
                                  **paper_kwargs.get(name, {}))
              for name, learner in learners.items()]
    discrete_env = SOREnv(num_envs=num_seeds * (num_arms + len(agents)),
                          action_type="discrete", **kwargs)
    sweep_iterations, *agent_iterations = _iterations(
        discrete_env, seeds.repeat(num_arms + len(agents)), [sweep, *agents])
    by_arm = sweep_iterations.reshape(-1, num_arms, num_seeds).permute(0, 2, 1)   # (T, S, K)
    best_arm = best_fixed_arm_in_hindsight(by_arm)
    runs = [PolicyRun("Gauss-Seidel (omega=1)", "baseline", by_arm[:, :, 0]),
            PolicyRun("Best fixed omega in hindsight", "oracle",
                      by_arm[:, torch.arange(num_seeds, device=by_arm.device), best_arm],
                      probe.omegas[best_arm].tolist()),
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
    """Markdown table: mean iterations per instance (mean +- std over sequences), ratios
    of the totals to the two oracles, the mean iterations per instance over the last
    fifth of the sequence relative to the best fixed omega's (how close a learner has
    come by the end), and for the learners the regret per instance against the best
    fixed omega in hindsight over the first tenth and over the whole sequence (a
    regret sublinear in T makes the second smaller)."""
    by_name = {run.name: run for run in runs}
    oracle = by_name["Instance-optimal omega"].totals.mean()
    best_fixed = by_name["Best fixed omega in hindsight"]
    length = best_fixed.iterations.shape[0]
    tail, head = max(1, length // 5), max(1, length // 10)

    def tail_mean(run: PolicyRun) -> torch.Tensor:
        return run.iterations[-tail:].to(torch.float64).mean()

    def regret_per_instance(run: PolicyRun, steps: int) -> float:
        gap = (run.iterations[:steps] - best_fixed.iterations[:steps]).to(torch.float64)
        return float(gap.sum(dim=0).mean()) / steps

    rows = []
    for run in sorted(runs, key=lambda r: float(r.totals.mean())):
        per_instance = run.totals / length
        spread = float(per_instance.std()) if per_instance.numel() > 1 else 0.0
        regret = (f"{regret_per_instance(run, head):.1f} / {regret_per_instance(run, length):.1f}"
                  if run.kind == "agent" else "")
        rows.append([run.name, run.kind, f"{float(per_instance.mean()):.1f} +- {spread:.1f}",
                     f"{float(run.totals.mean() / oracle):.3f}",
                     f"{float(run.totals.mean() / best_fixed.totals.mean()):.3f}",
                     f"{float(tail_mean(run) / tail_mean(best_fixed)):.3f}", regret])
    return markdown_table(["policy", "kind", "iterations per instance (mean +- std)",
                           "/ instance-optimal", "/ best fixed", "last 20%: / best fixed",
                           f"regret per instance vs best fixed: first {head} / all {length}"],
                          rows)


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


def plot_regret(runs_by_variance: dict[str, list[PolicyRun]], path: Path, title: str) -> Path:
    """PNG, one column per shift distribution, means over sequences.

    Top: each learner's cumulative regret against the instance-optimal omega, log-log,
    with the best fixed omega's own gap (dotted; the floor of a non-contextual learner)
    and T^(1/2), T^(2/3) guides. Bottom: the average regret per instance so far, R(T) / T,
    against the best fixed omega in hindsight (log T axis): sublinear regret makes it
    fall towards 0; below 0 a contextual learner beats every fixed omega.
    """
    plt = pyplot()
    columns = len(runs_by_variance)
    figure, axes_grid = plt.subplots(2, columns, figsize=(7.5 * columns, 9), squeeze=False)
    colours = plt.get_cmap("tab10").colors
    for column, (variance, runs) in enumerate(runs_by_variance.items()):
        top, bottom = axes_grid[0][column], axes_grid[1][column]
        by_name = {run.name: run for run in runs}
        best_fixed = by_name["Best fixed omega in hindsight"].iterations.to(torch.float64)
        optimal = by_name["Instance-optimal omega"].iterations.to(torch.float64)
        steps = torch.arange(1, best_fixed.shape[0] + 1, dtype=torch.float64)
        for index, run in enumerate(run for run in runs if run.kind == "agent"):
            iterations = run.iterations.to(torch.float64)
            style = {"color": colours[index % len(colours)], "linewidth": 2, "label": run.name}
            top.plot(steps, (iterations - optimal).mean(dim=1).cumsum(0).numpy(), **style)
            bottom.plot(steps, ((iterations - best_fixed).mean(dim=1).cumsum(0)
                                / steps).numpy(), **style)
        gap = (best_fixed - optimal).mean(dim=1).cumsum(0)
        top.plot(steps, gap.numpy(), color="black", linestyle=":", linewidth=2,
                 label="best fixed omega (its gap)")
        last = float(steps[-1])
        for exponent, style in ((0.5, (0, (1, 4))), (2.0 / 3.0, (0, (4, 4)))):
            scale = float(gap[-1]) / last ** exponent
            top.plot(steps, (scale * steps ** exponent).numpy(), color="grey", linestyle=style,
                     linewidth=1, label=f"T^{exponent:.2f} (guide)")
        bottom.axhline(0.0, color="black", linewidth=1)
        top.set_xscale("log")
        top.set_yscale("log")
        top.set_ylabel("cumulative regret vs instance-optimal (iterations)")
        top.set_title(f"{variance} variance")
        bottom.set_xscale("log")
        bottom.set_ylabel("regret per instance vs best fixed omega, R(T) / T")
        for axes in (top, bottom):
            axes.set_xlabel("instances T")
            axes.grid(alpha=0.3, which="both")
    axes_grid[0][-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.suptitle(title)
    return save_figure(figure, path, dpi=110)


# ------------------------------------------------------------------ heat experiment
@dataclass
class HeatRun:
    """Per-step iterations (T, S) of one policy along S heat simulations, and its
    wall-clock seconds per simulation (None where not timed on its own)."""

    name: str
    kind: str
    iterations: torch.Tensor
    seconds_per_sequence: float | None

    @property
    def totals(self) -> torch.Tensor:
        """Total iterations per simulation, float64 (S,)."""
        return self.iterations.sum(dim=0).to(torch.float64)


def _timed_iterations(kwargs: dict, seeds: torch.Tensor, policy,
                      action_type: str = "discrete") -> tuple[torch.Tensor, float]:
    """Iterations (T, S) of ``policy`` on an env of ``kwargs`` over ``seeds``, and the
    wall-clock seconds per sequence."""
    env = SOREnv(num_envs=seeds.numel(), action_type=action_type, **kwargs)
    start = time.perf_counter()
    (iterations,) = _iterations(env, seeds, [policy])
    return iterations, (time.perf_counter() - start) / seeds.numel()


def run_heat_comparison(env_id: str = "tunegym/SORHeat-v0", num_seeds: int = 3,
                        seed: int = 0, device: str = "cpu",
                        **env_overrides) -> list[HeatRun]:
    """The paper's heat experiment (h2d.m) on ``env_id`` (a heat-problem SOR id).

    Every grid omega plays the simulation in one batched env (the best fixed omega in
    hindsight and the instance-optimal omega come from that sweep); then, each timed
    on its own, plain CG, omega = 1, omega = 1.5, the best fixed omega, and each learner
    of :data:`HEAT_LEARNERS` on ``num_seeds`` simulations (its trials, learner seeds
    ``seed`` ...; one simulation per timed run, so every wall-clock is that of one
    simulation with its per-step overhead). With ``start="paper"`` every simulation is
    the same, so the fixed policies play one.

    Returns:
        One :class:`HeatRun` per policy.
    """
    num_seeds = check_integer("num_seeds", num_seeds)
    kwargs = _env_kwargs(env_id, device, env_overrides)
    probe = SOREnv(num_envs=1, action_type="discrete", **kwargs)
    if probe.problem.name != "heat":
        raise ValueError(f"env_id: {env_id} is not a heat-problem id")
    trials = torch.arange(seed, seed + num_seeds, dtype=torch.int64)
    fixed = trials[:1] if probe.problem.start == "paper" else trials
    num_arms, count = probe.omegas.numel(), fixed.numel()
    sweep = _ConstantArms(torch.arange(num_arms, device=probe.device).repeat_interleave(count))
    (sweep_iterations,) = _iterations(SOREnv(num_envs=num_arms * count, action_type="discrete",
                                             **kwargs), fixed.repeat(num_arms), [sweep])
    by_arm = sweep_iterations.reshape(-1, num_arms, count).permute(0, 2, 1)     # (T, S, K)
    best_arm = int(best_fixed_arm_in_hindsight(by_arm)[0])
    best_omega = float(probe.omegas[best_arm])
    runs = [HeatRun("Instance-optimal omega", "oracle", by_arm.min(dim=2).values, None)]
    cg_kwargs = {**kwargs, "solver": "cg"}
    iterations, seconds = _timed_iterations(cg_kwargs, fixed, _ConstantArms(
        torch.zeros(count, dtype=torch.int64, device=probe.device)))
    runs.append(HeatRun("CG (no preconditioner)", "baseline", iterations, seconds))
    omega_grid_values = [round(float(value), 4) for value in probe.omegas]
    for label, omega, kind in (("omega = 1", 1.0, "baseline"), ("omega = 1.5", 1.5, "baseline"),
                               (f"Best fixed omega in hindsight ({best_omega:.2f})",
                                best_omega, "oracle")):
        if round(omega, 4) not in omega_grid_values:
            continue
        arm = omega_grid_values.index(round(omega, 4))
        iterations, seconds = _timed_iterations(kwargs, fixed, _ConstantArms(
            torch.full((count,), arm, dtype=torch.int64, device=probe.device)))
        runs.append(HeatRun(label, kind, iterations, seconds))
    for name in HEAT_LEARNERS:
        # One trial at a time, so that its wall-clock is that of one simulation, as for
        # the fixed policies (a batch of trials would share the per-step overhead).
        played = []
        for trial in trials.tolist():
            agent = LEARNERS[name].from_spaces(probe.single_observation_space,
                                               probe.single_action_space, num_envs=1,
                                               seed=trial, device=device)
            played.append(_timed_iterations(kwargs, torch.tensor([trial]), agent))
        runs.append(HeatRun(name, "agent", torch.cat([played_run for played_run, _ in played],
                                                     dim=1),
                            sum(seconds for _, seconds in played) / len(played)))
    return runs


def format_heat_table(runs: list[HeatRun]) -> str:
    """Markdown table: total SSOR-PCG (or CG) iterations per simulation (mean +- std
    over trials), their ratio to the instance-optimal omega's, and the wall-clock per
    simulation and its ratio to plain CG's."""
    by_name = {run.name: run for run in runs}
    oracle = by_name["Instance-optimal omega"].totals.mean()
    cg_seconds = by_name["CG (no preconditioner)"].seconds_per_sequence
    rows = []
    for run in sorted(runs, key=lambda r: float(r.totals.mean())):
        spread = float(run.totals.std()) if run.totals.numel() > 1 else 0.0
        seconds = run.seconds_per_sequence
        rows.append([run.name, run.kind, f"{float(run.totals.mean()):.0f} +- {spread:.0f}",
                     f"{float(run.totals.mean() / oracle):.3f}",
                     "" if seconds is None else f"{seconds:.3g}",
                     "" if seconds is None else f"{seconds / cg_seconds:.2f}"])
    return markdown_table(["policy", "kind", "total iterations (mean +- std)",
                           "/ instance-optimal", "wall-clock per simulation (s)",
                           "wall-clock / CG"], rows)


def plot_heat(runs: list[HeatRun], path: Path, title: str) -> Path:
    """PNG with two panels: total iterations and wall-clock per simulation, per policy."""
    plt = pyplot()
    figure, (iteration_axes, time_axes) = plt.subplots(1, 2, figsize=(13, 4.5))
    ordered = sorted(runs, key=lambda r: float(r.totals.mean()))
    names = [run.name for run in ordered]
    iteration_axes.barh(names, [float(run.totals.mean()) for run in ordered], color="tab:blue")
    iteration_axes.set_xlabel("total iterations per simulation")
    timed = [run for run in ordered if run.seconds_per_sequence is not None]
    time_axes.barh([run.name for run in timed], [run.seconds_per_sequence for run in timed],
                   color="tab:orange")
    time_axes.set_xlabel("wall-clock per simulation (s)")
    for axes in (iteration_axes, time_axes):
        axes.grid(alpha=0.3, axis="x")
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path, dpi=110)


def compare(env_id: str = "tunegym/SOR-v0", num_seeds: int | None = None, seed: int = 0,
            device: str = "cpu", output_dir: str | Path = "results",
            variances: tuple[str, ...] | None = None, **env_overrides) -> dict:
    """Run the env's paper experiment; print nothing, write table, JSON and PNG.

    A heat-problem id runs :func:`run_heat_comparison` (``num_seeds`` trials of the
    learners, default 3 as in h2d.m); any other SOR id :func:`run_comparison` for each
    shift distribution of ``variances`` (default: both for :data:`PAPER_SETTING_ID`,
    the env's own otherwise), ``num_seeds`` sequences each (default 10 for the paper
    setting, 5 otherwise; the paper uses 40).

    Returns:
        A dict with the table text, the output paths and per-policy totals.
    """
    start = time.perf_counter()
    kwargs = _env_kwargs(env_id, device, env_overrides)
    if kwargs.get("problem") == "heat":
        num_seeds = 3 if num_seeds is None else num_seeds
        heat_runs = run_heat_comparison(env_id, num_seeds, seed, device, **env_overrides)
        length = heat_runs[0].iterations.shape[0]
        grid = SOREnv(num_envs=1, **kwargs).problem.grid_size
        title = (f"{env_id}: heat simulation of {length} steps on a {grid} x {grid} grid "
                 f"(nx = {grid + 1}), {num_seeds} learner trials")
        summary = {"env_id": env_id, "num_seeds": num_seeds, "first_seed": seed,
                   "sequence_length": length, "grid_size": grid,
                   "env_overrides": env_overrides, "seconds": time.perf_counter() - start,
                   "total_iterations": {run.name: run.totals.tolist() for run in heat_runs},
                   "seconds_per_sequence": {run.name: run.seconds_per_sequence
                                            for run in heat_runs}}
        return write_report(env_id, output_dir, title, format_heat_table(heat_runs),
                            lambda path: plot_heat(heat_runs, path, title), "_heat.png",
                            summary)
    if variances is None:
        variances = VARIANCES if env_id == PAPER_SETTING_ID else (kwargs.get("variance", "high"),)
    for variance in variances:
        check_choice("variances", variance, VARIANCES)
    if num_seeds is None:
        num_seeds = 10 if env_id == PAPER_SETTING_ID else 5
    runs_by_variance = {variance: run_comparison(env_id, num_seeds, seed, device,
                                                 **{**env_overrides, "variance": variance})
                        for variance in variances}
    runs = next(iter(runs_by_variance.values()))
    sequence_length = runs[0].iterations.shape[0]
    title = f"{env_id} test split, {num_seeds} sequences of {sequence_length} instances"
    table = "\n\n".join(f"**{variance} variance**\n\n{format_table(variance_runs)}"
                         for variance, variance_runs in runs_by_variance.items())
    summary = {"env_id": env_id, "num_seeds": num_seeds, "first_seed": seed,
               "sequence_length": sequence_length, "env_overrides": env_overrides,
               "variances": list(variances), "seconds": time.perf_counter() - start,
               "total_iterations": {variance: {run.name: run.totals.tolist()
                                               for run in variance_runs}
                                    for variance, variance_runs in runs_by_variance.items()},
               "best_fixed_omegas": {variance: next(run.omegas for run in variance_runs
                                                    if run.omegas is not None)
                                     for variance, variance_runs in runs_by_variance.items()}}

    def plot(path: Path) -> Path:
        plot_cumulative(runs, path.with_name(path.name.replace("_regret", "_cumulative")),
                        f"{title}, {variances[0]} variance")
        return plot_regret(runs_by_variance, path, title)

    outcome = write_report(env_id, output_dir, title, table, plot, "_regret.png", summary)
    outcome["cumulative_plot"] = outcome["plot"].replace("_regret", "_cumulative")
    return outcome
