"""ArchGym's "hyperparameter lottery" on tunegym's two design envs, as one script.

    python scripts/archgym_lottery.py [--quick] [--envs dram accelerator]
        [--agents DesignRandomWalk ...] [--seeds 0 1 2] [--backend local|ray] [--output-dir DIR]

Krishnan et al. (ArchGym, ISCA 2023) found that, given a fair hyperparameter sweep,
every family of search agent reaches designs of similar quality, and that a single
lucky run (one hyperparameter setting, one seed) says little. This script repeats the
experiment on ``tunegym/DRAMController-v0`` and ``tunegym/AcceleratorDesign-v0``: for
each env and each agent it sweeps a small hyperparameter grid x seeds of the agent's
config (``configs/<env>_<agent>.yaml``, at the config's budget) through
:func:`tunegym.training.sweep.sweep`, and reports each agent's distribution.

The figure of a run: the reward of the best design it evaluated during training
(the ``best_reward`` of its summary, which the sweep copies into ``sweep.jsonl``).
For the search agents that is the incumbent after the budget; for PPO it is the best
per-step reward seen while training (one step evaluates one design), so every agent is
scored the same way: the best design found within its budget of designs evaluated.
A run whose summary has no ``best_reward`` is reported but not scored (``n/a``).

The grids (``GRIDS``) have 2 to 4 settings, each run with seeds 0, 1, 2. The slow
agents get the small grids: one run of BayesianOptimisation (a GP fit per batch of 16
designs) or PPO takes 10 to 35 s, one of the other search agents 3 s at most, so BO and
PPO sweep 2 settings, GeneticAlgorithm and AntColony 4. The whole default run takes
about 8.5 to 10 minutes on one CPU thread (most of it PPO and BO on the DRAM env).

Writes atomically under ``--output-dir`` (default ``results/archgym_lottery``;
``results/archgym_lottery_quick`` with ``--quick``):

* ``<env>/<agent>/``: the agent's sweep (run folders, ``sweep.jsonl``, ``sweep.md``,
  ``sweep.png``); rerunning resumes the runs that finished;
* ``lottery.md``: per (env, agent): scored/all runs, budget, median, IQR, min and max of
  the figure, the best single run against the agent's median (the lottery) and the range
  of the per-setting medians; it is also printed;
* ``lottery.png``: one panel per env, a box per agent over all its runs, each run a dot
  coloured by its hyperparameter setting;
* ``lottery.json``: every run's figure (env, agent, setting, seed, best_reward) and the
  per-agent statistics.

``--quick`` shrinks every budget (a few dozen designs, tiny PPO rollouts) for tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from tunegym.evaluation.backends import add_backend_argument
from tunegym.io import (
    markdown_table,
    pyplot,
    save_figure,
    write_json_atomically,
    write_text_atomically,
)
from tunegym.training import TrainConfig
from tunegym.training.sweep import quartiles, sweep

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
#: env key -> (config file prefix, env id)
ENVS = {"dram": ("dram", "tunegym/DRAMController-v0"),
        "accelerator": ("accelerator", "tunegym/AcceleratorDesign-v0")}
SEEDS = (0, 1, 2)


@dataclasses.dataclass(frozen=True)
class AgentSweep:
    """One agent's part of the lottery: its config file's suffix, its grid and seeds, and
    what ``--quick`` changes (config keys replaced, and the grid if it must shrink)."""

    config_suffix: str
    grid: dict[str, list]
    seeds: tuple[int, ...] = SEEDS
    quick: dict[str, Any] = dataclasses.field(default_factory=dict)
    quick_grid: dict[str, list] | None = None


QUICK_SEARCH = {"timesteps": 64, "num_envs": 16}
GRIDS = {
    "DesignRandomWalk": AgentSweep("random_walk", {"agent_kwargs.mode": ["uniform", "local"]},
                             quick=QUICK_SEARCH),
    "GeneticAlgorithm": AgentSweep(
        "genetic_algorithm", {"agent_kwargs.population_size": [16, 64],
                              "agent_kwargs.mutation_rate": [0.05, 0.2]},
        quick=QUICK_SEARCH),
    "AntColony": AgentSweep("ant_colony", {"agent_kwargs.ants": [16, 64],
                                           "agent_kwargs.evaporation": [0.1, 0.5]},
                            quick=QUICK_SEARCH),
    # BO and PPO: 10 to 35 s per run, so 2 settings each
    "BayesianOptimisation": AgentSweep(
        "bayesian_optimisation", {"agent_kwargs.initial_evaluations": [16, 64]},
        quick={"timesteps": 24, "num_envs": 8},
        quick_grid={"agent_kwargs.initial_evaluations": [8, 16]}),
    "PPO": AgentSweep("ppo", {"agent_kwargs.learning_rate": [0.0003, 0.001]},
                      quick={"timesteps": 256, "num_envs": 8,
                             "agent_kwargs": {"n_steps": 16, "batch_size": 64,
                                              "learning_rate": 0.0003, "ent_coef": 0.01}}),
}


def agent_config(env: str, agent: str, quick: bool) -> TrainConfig:
    """The config of ``agent`` on ``env`` (a key of ENVS), shrunk with ``quick``."""
    path = CONFIGS / f"{ENVS[env][0]}_{GRIDS[agent].config_suffix}.yaml"
    values = yaml.safe_load(path.read_text())
    if quick:
        values.update(GRIDS[agent].quick)
    return TrainConfig.from_mapping(values, name=path.stem)


def statistics(rows: list[dict]) -> dict[str, Any]:
    """The lottery figures of one agent's sweep rows (their ``best_reward``)."""
    scored = [row for row in rows if row["best_reward"] is not None]
    result: dict[str, Any] = {"runs": len(rows), "scored": len(scored)}
    if not scored:
        return result
    spread = quartiles([row["best_reward"] for row in scored])
    best = max(scored, key=lambda row: row["best_reward"])
    settings: dict[str, list[float]] = {}
    for row in scored:
        settings.setdefault(row["slug"], []).append(row["best_reward"])
    setting_medians = {slug: float(np.median(values)) for slug, values in settings.items()}
    return {**result, **{key: spread[key] for key in ("median", "q25", "q75", "min", "max")},
            "best_run": {"setting": best["slug"], "seed": best["seed"],
                         "best_reward": best["best_reward"]},
            "best_minus_median": float(best["best_reward"] - spread["median"]),
            "setting_medians": setting_medians}


def _number(value: float) -> str:
    return f"{value:.4g}"


def table(results: list[dict]) -> str:
    """The markdown table of lottery.md (one row per env and agent)."""
    headers = ["env", "agent", "settings x seeds", "budget (designs)", "runs scored", "median",
               "IQR (q25 to q75)", "min", "max", "best single run (setting, seed)",
               "best - median", "setting medians (worst to best)"]
    rows = []
    for result in results:
        stats = result["statistics"]
        head = [result["env"], result["agent"],
                f"{result['settings']} x {len(result['seeds'])}", str(result["budget"]),
                f"{stats['scored']}/{stats['runs']}"]
        if stats["scored"] == 0:
            rows.append(head + ["n/a"] * 7)
            continue
        best = stats["best_run"]
        medians = stats["setting_medians"].values()
        rows.append(head + [
            _number(stats["median"]),
            (f"{_number(stats['q75'] - stats['q25'])} ({_number(stats['q25'])} to "
             f"{_number(stats['q75'])})"), _number(stats["min"]), _number(stats["max"]),
            f"{_number(best['best_reward'])} ({best['setting']}, seed {best['seed']})",
            _number(stats["best_minus_median"]),
            f"{_number(min(medians))} to {_number(max(medians))}"])
    return markdown_table(headers, rows) + "\n"


def report(results: list[dict], quick: bool, seconds: float) -> str:
    """lottery.md: the table, how to read it, and per env the spread of agent medians
    against the spread within agents."""
    lines = ["# ArchGym's hyperparameter lottery on tunegym's design envs", "",
             ("Figure of a run: the reward of the best design it evaluated during training "
              "(higher is better; minus the relative distance to the env's target spec). "
              "Per agent: every hyperparameter setting of its grid x seeds, each at its "
              "config's budget of designs evaluated" + (" (--quick: tiny budgets)" if quick
                                                        else "") +
              f". Total time {seconds:.0f} s."), "", table(results).rstrip("\n"), ""]
    for env in dict.fromkeys(result["env"] for result in results):
        scored = [result for result in results
                  if result["env"] == env and result["statistics"]["scored"]]
        unscored = [result["agent"] for result in results
                    if result["env"] == env and not result["statistics"]["scored"]]
        if scored:
            medians = [result["statistics"]["median"] for result in scored]
            spreads = {result["agent"]: result["statistics"]["max"]
                       - result["statistics"]["min"] for result in scored}
            widest = max(spreads, key=spreads.get)
            lines.append(
                f"- {env}: agent medians range from {_number(min(medians))} to "
                f"{_number(max(medians))} (a gap of {_number(max(medians) - min(medians))}); "
                f"within one agent, runs span up to {_number(spreads[widest])} ({widest}).")
        if unscored:
            lines.append(f"- {env}: {', '.join(unscored)}: the runs' summaries record no "
                         f"best_reward, so they are not scored.")
    return "\n".join(lines) + "\n"


def plot(results: list[dict], path: Path) -> Path:
    """lottery.png: per env a panel, per agent a box over its runs, runs as dots coloured
    by hyperparameter setting."""
    plt = pyplot()
    envs = list(dict.fromkeys(result["env"] for result in results))
    agents_per_env = max(sum(result["env"] == env for result in results) for env in envs)
    figure, axes = plt.subplots(1, len(envs), squeeze=False,
                                figsize=(max(5.0, 1.3 * agents_per_env + 1.0) * len(envs), 4.8))
    colours = plt.get_cmap("tab10").colors
    for axis, env in zip(axes[0], envs):
        members = [result for result in results if result["env"] == env]
        for position, result in enumerate(members, start=1):
            runs = [run for run in result["runs"] if run["best_reward"] is not None]
            if not runs:
                axis.text(position, 0.5, "n/a", ha="center", transform=axis.get_xaxis_transform())
                continue
            values = [run["best_reward"] for run in runs]
            axis.boxplot([values], positions=[position], widths=0.55, showfliers=False)
            settings = list(dict.fromkeys(run["setting"] for run in runs))
            offsets = np.linspace(-0.18, 0.18, len(runs)) if len(runs) > 1 else [0.0]
            axis.scatter(position + np.asarray(offsets), values, s=18, alpha=0.8, zorder=3,
                         c=[colours[settings.index(run["setting"]) % len(colours)]
                            for run in runs])
        axis.set_xticks(range(1, len(members) + 1),
                        [result["agent"].replace("Optimisation", "Opt.") for result in members],
                        fontsize=8, rotation=15)
        axis.set_xlim(0.4, len(members) + 0.6)
        axis.set_title(f"{ENVS[env][1]}", fontsize=10)
        axis.set_ylabel("reward of the best design found (higher is better)", fontsize=8)
    figure.suptitle("Hyperparameter lottery: each dot a run (colour: hyperparameter "
                    "setting), box over all settings x seeds", fontsize=9)
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", choices=list(ENVS), default=list(ENVS))
    parser.add_argument("--agents", nargs="+", choices=list(GRIDS), default=list(GRIDS))
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds of every setting of every agent (default: 0 1 2)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny budgets (a few dozen designs per run), for tests")
    parser.add_argument("--output-dir", default=None,
                        help="default: results/archgym_lottery (results/archgym_lottery_quick "
                             "with --quick)")
    add_backend_argument(parser)
    arguments = parser.parse_args(argv)
    torch.set_num_threads(1)
    output_dir = Path(arguments.output_dir or ("results/archgym_lottery_quick" if arguments.quick
                                               else "results/archgym_lottery"))
    start = time.perf_counter()
    results = []
    for env in arguments.envs:
        for agent in arguments.agents:
            plan = GRIDS[agent]
            grid = plan.quick_grid if arguments.quick and plan.quick_grid else plan.grid
            seeds = tuple(arguments.seeds) if arguments.seeds else plan.seeds
            config = agent_config(env, agent, arguments.quick)
            began = time.perf_counter()
            swept = sweep(config, grid, seeds, output_dir / env / agent,
                          backend=arguments.backend, num_cpus=arguments.num_cpus)
            print(f"{env} {agent}: {len(swept.rows)} runs in "
                  f"{time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
            results.append({
                "env": env, "env_id": ENVS[env][1], "agent": agent,
                "settings": len(swept.rows) // len(seeds), "seeds": list(seeds),
                "budget": config.timesteps, "grid": grid,
                "sweep": str(swept.jsonl.relative_to(output_dir.resolve())),
                "runs": [{"setting": row["slug"], "seed": row["seed"],
                          "best_reward": row["best_reward"]} for row in swept.rows],
                "statistics": statistics(swept.rows)})
    seconds = time.perf_counter() - start
    markdown = report(results, arguments.quick, seconds)
    write_json_atomically(output_dir / "lottery.json",
                          {"quick": arguments.quick, "seconds": seconds, "results": results})
    write_text_atomically(output_dir / "lottery.md", markdown)
    plot(results, output_dir / "lottery.png")
    print(markdown, end="")
    print(f"\nwrote {output_dir / 'lottery.md'}, {output_dir / 'lottery.png'}, "
          f"{output_dir / 'lottery.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
