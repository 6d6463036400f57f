"""``tunegym sweep CONFIG``: a hyperparameter grid times seeds, reported as a distribution.

Every combination of the grid's values, with every seed, is one run of
:func:`tunegym.training.train.train`, and the runs go through
:func:`tunegym.evaluation.backends.run_tasks` (``backend="local"`` or ``"ray"``; the same
files either way):

    tunegym sweep configs/coverage_modular_ppo.yaml \\
        --grid agent_kwargs.learning_rate=0.001,0.0003 --grid agent_kwargs.n_steps=64,128 \\
        --seeds 0 1 2 --backend ray --output-dir sweeps/coverage_lr

A grid key is a config key (``timesteps``, ``num_envs``, ...) or ``<mapping key>.<name>``
for one entry of ``agent_kwargs``, ``env_kwargs`` or ``curriculum``; each combination
is validated like a config file before any run starts (an SB3 agent's kwargs against
its constructor). The seeds replace the config's ``seeds``. Any agent ``tunegym train``
runs can be swept, SB3's or tunegym's own.

Run ``(combo, seed)`` trains in ``<output_dir>/<combo slug>/seed_<seed>/`` (the layout of
``tunegym train``, the slug naming the combination's values, e.g.
``learning_rate=0.001,n_steps=64``). The sweep then writes, atomically, under
``output_dir``:

* ``sweep.jsonl``: one row per run: ``combo`` (grid key -> value), ``slug``, ``seed``,
  ``final_reward`` (the run's mean episode reward over its last 100 training episodes),
  ``raw_metric`` (its name) and ``raw_metric_value`` (the mean over the same episodes),
  ``best_reward`` (the summary's ``best_reward``, e.g. the reward of the best design a
  search agent evaluated in training; None when the summary has none),
  ``wall_seconds`` (training time), ``reused`` (see below);
* ``sweep.md``: per combination the median, interquartile range, min and max of the
  final reward across seeds, then the same over the whole sweep and the best single
  run against its combination's median: ArchGym's "hyperparameter lottery" is that how
  well a method does depends on the hyperparameters (and seeds) it happened to draw, so
  the spread, not the best run, is the result;
* ``sweep.png``: final reward per combination, a box over the seeds with each run as
  a dot.

Resuming: rerunning an interrupted sweep skips (``reused: true``) every run whose
``summary.json`` exists (``train`` writes it last, atomically, so it marks a finished
run) and records the same config; runs without one start over from scratch, so every
reported number comes from an uninterrupted seeded run. A ``summary.json`` of another
config in a run folder is an error (use another ``output_dir``).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.core import did_you_mean, env_class
from tunegym.evaluation.backends import run_tasks
from tunegym.io import pyplot, save_figure, write_text_atomically
from tunegym.training.config import KEYS, TrainConfig
from tunegym.training.train import train

#: config keys whose value is a mapping: a grid key may address one entry, ``key.name``.
MAPPING_KEYS = tuple(key for key, (types, _) in KEYS.items() if types == (dict,))
#: agent constructor arguments that ``train`` sets itself.
#: a float in exponent notation without a dot, which YAML 1.1 (PyYAML) reads as a string.
EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """What :func:`sweep` ran and wrote: ``rows`` (as in ``sweep.jsonl``) and the paths
    of ``sweep.jsonl``, ``sweep.md`` and ``sweep.png``."""

    rows: list[dict[str, Any]]
    jsonl: Path
    markdown: Path
    plot: Path


def sweep(config: str | Path | TrainConfig, grid: Mapping[str, Sequence[Any]],
          seeds: Sequence[int], output_dir: str | Path, backend: str = "local",
          num_cpus: int | None = None) -> SweepResult:
    """Train every combination of ``grid`` with every seed; write the sweep's files.

    Args:
        config: a config file's path or a :class:`TrainConfig` (its ``seeds`` are
            replaced by ``seeds``).
        grid: grid key -> non-empty list of values (see the module docstring); ``{}``
            runs the config itself with every seed.
        seeds: the seeds of every combination, ints >= 0.
        output_dir: the sweep's folder (run folders and the three report files).
        backend: where the runs execute, see :func:`tunegym.evaluation.backends.run_tasks`.
        num_cpus: as in :func:`tunegym.evaluation.backends.run_tasks`.

    Returns:
        The rows (combinations in grid order, seeds in ``seeds`` order) and file paths.

    Raises:
        ValueError: a bad grid key or value, bad seeds, a combination the config
            rejects, or a run folder holding another config's run.
        tunegym.evaluation.backends.TaskError: a run failed.
    """
    base = config if isinstance(config, TrainConfig) else TrainConfig.load(config)
    try:
        base = TrainConfig.from_mapping(
            {**_as_mapping(base), "seeds": list(seeds) if isinstance(seeds, Sequence)
             else seeds})
    except ValueError as error:
        raise ValueError(f"seeds: {error}") from error
    output_dir = Path(output_dir).resolve()
    runs = []       # (combo, slug, seed, run config, finished summary or None)
    for combo, slug in _combinations(base, grid):
        combo_config = _apply(base, combo, slug)
        for seed in combo_config.seeds:
            run_config = dataclasses.replace(combo_config, seeds=(seed,))
            runs.append((combo, slug, seed, run_config,
                         _finished_summary(output_dir / slug / f"seed_{seed}", run_config)))
    metric = env_class(base.env).raw_metric
    trained = iter(run_tasks(train, [{"config": run_config, "output_dir": str(output_dir)}
                                     for *_, run_config, finished in runs if finished is None],
                             backend, num_cpus))
    rows = []
    for combo, slug, seed, _, finished in runs:
        summary = finished if finished is not None else next(trained)[0]
        rows.append({"combo": combo, "slug": slug, "seed": seed,
                     "final_reward": summary["mean_episode_reward"], "raw_metric": metric,
                     "raw_metric_value": summary[f"mean_{metric}"],
                     "best_reward": summary.get("best_reward"),
                     "wall_seconds": summary["seconds"], "reused": finished is not None})
    jsonl = write_text_atomically(output_dir / "sweep.jsonl",
                                  "".join(json.dumps(row) + "\n" for row in rows))
    markdown = write_text_atomically(output_dir / "sweep.md", _report(base, rows, metric))
    return SweepResult(rows, jsonl, markdown, _plot(base, rows, output_dir / "sweep.png"))


def _combinations(base: TrainConfig, grid: Mapping[str, Sequence[Any]]) -> list:
    """[(combo, slug)]: every combination of the grid's values (the last key varying
    fastest) and its folder name; the keys are checked."""
    if not isinstance(grid, Mapping):
        raise ValueError(f"grid must be a mapping of grid keys to lists of values, got "  # noqa: TRY004
                         f"{type(grid).__name__}")
    for key, values in grid.items():
        prefix, dot, name = str(key).partition(".")
        if prefix in ("seeds", "name"):
            raise ValueError(f"grid key {key!r}: the sweep sets {prefix!r} itself (pass "
                             f"the seeds as the seeds argument)")
        if prefix not in KEYS:
            raise ValueError(f"grid key {key!r}: unknown config key {prefix!r}"
                             f"{did_you_mean(prefix, KEYS)}")
        if dot and (prefix not in MAPPING_KEYS or not name):
            raise ValueError(f"grid key {key!r}: only {', '.join(MAPPING_KEYS)} take a "
                             f"'.<name>'")
        if prefix in MAPPING_KEYS and not dot:
            raise ValueError(f"grid key {key!r}: give one entry, e.g. '{prefix}.<name>'")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid key {key!r} must map to a non-empty list of values, "
                             f"got {values!r}")
    names = [str(key).rpartition(".")[2] for key in grid]
    labels = names if len(set(names)) == len(names) else [str(key) for key in grid]
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    slugs = [",".join(f"{label}={_slug_value(value)}"
                      for label, value in zip(labels, combo.values())) or base.name
             for combo in combos]
    if len(set(slugs)) < len(slugs):
        raise ValueError(f"grid values {dict(grid)!r} give two combinations the same "
                         f"folder name; use distinct values")
    return list(zip(combos, slugs))


def _slug_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return re.sub(r"[^A-Za-z0-9.+_-]+", "-", text).strip("-") or "-"


def _as_mapping(config: TrainConfig) -> dict[str, Any]:
    """``config`` as the mapping a config file would hold: its fields that differ from
    their defaults (deep copies; a default such as ``policy`` may not apply to every
    agent), and the seeds."""
    values = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        default = (field.default if field.default_factory is dataclasses.MISSING
                   else field.default_factory())
        if value != default:
            values[field.name] = copy.deepcopy(value)
    return {**values, "seeds": list(config.seeds)}


def _apply(base: TrainConfig, combo: Mapping[str, Any], slug: str) -> TrainConfig:
    """``base`` with ``combo``'s values, named ``slug``, validated as a config file is."""
    values = {**_as_mapping(base), "name": slug}
    for key, value in combo.items():
        prefix, dot, name = key.partition(".")
        if dot:
            values[prefix] = {**values.get(prefix, {}), name: value}
        else:
            values[key] = value
    try:
        return TrainConfig.from_mapping(values)
    except ValueError as error:
        raise ValueError(f"grid combination {dict(combo)!r}: {error}") from error


def _finished_summary(run_dir: Path, config: TrainConfig) -> dict | None:
    """The summary of a finished run of ``config`` in ``run_dir``; None when there is no
    finished run; an error when the run there is of another config."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{str(path)!r} is not valid JSON ({error}); delete it to rerun "
                         f"that run") from error
    # compared as train() records the config: the dataclass's fields, JSON round-tripped
    if summary.get("config_values") != json.loads(json.dumps(config.__dict__, default=list)):
        raise ValueError(f"{str(run_dir)!r} holds a run of another config than this "
                         f"sweep's; use another output_dir or delete that folder")
    return summary


def quartiles(values: Sequence[float | None]) -> dict[str, float] | None:
    """Median, 25th and 75th percentiles, min and max of the values that are not None
    (None when there are none)."""
    finite = np.array([value for value in values if value is not None], dtype=np.float64)
    if finite.size == 0:
        return None
    low, median, high = np.percentile(finite, [25, 50, 75])
    return {"median": float(median), "q25": float(low), "q75": float(high),
            "min": float(finite.min()), "max": float(finite.max()), "runs": int(finite.size)}


def _describe(stats: dict[str, float] | None, runs: int) -> list[str]:
    """Table cells: scored/all runs, median, IQR, min, max."""
    if stats is None:
        return [f"0/{runs}", "n/a", "n/a", "n/a", "n/a"]
    return [f"{stats['runs']}/{runs}", f"{stats['median']:.4g}",
            f"{stats['q75'] - stats['q25']:.4g} ({stats['q25']:.4g} to {stats['q75']:.4g})",
            f"{stats['min']:.4g}", f"{stats['max']:.4g}"]


def _by_combo(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["slug"], []).append(row)
    return groups


def _report(base: TrainConfig, rows: list[dict], metric: str) -> str:
    """sweep.md: the per-combination and whole-sweep distributions of the final reward."""
    groups = _by_combo(rows)
    seeds = sorted({row["seed"] for row in rows})
    header = "| runs scored | median | IQR (q25 to q75) | min | max |"
    lines = [f"# Sweep of {base.name}: {base.agent} on {base.env}", "",
             (f"{len(rows)} runs: {len(groups)} combinations x {len(seeds)} seeds "
              f"({', '.join(map(str, seeds))}). Final reward: a run's mean episode reward "
              f"over its last 100 training episodes (higher is better); {metric}: the "
              f"mean over the same episodes. A run is scored when it finished an episode."),
             "", f"| combination {header} median {metric} |", "|---" * 7 + "|"]
    medians = {}
    for slug, members in groups.items():
        stats = quartiles([row["final_reward"] for row in members])
        raw = quartiles([row["raw_metric_value"] for row in members])
        if stats is not None:
            medians[slug] = stats["median"]
        raw_median = "n/a" if raw is None else f"{raw['median']:.4g}"
        lines.append(f"| {slug} | {' | '.join(_describe(stats, len(members)))} | "
                     f"{raw_median} |")
    overall = quartiles([row["final_reward"] for row in rows])
    lines += ["", "## Whole sweep", "", header, "|---" * 5 + "|",
              f"| {' | '.join(_describe(overall, len(rows)))} |"]
    if overall is not None:
        best = max((row for row in rows if row["final_reward"] is not None),
                   key=lambda row: row["final_reward"])
        lines += ["", (f"Best single run: {best['slug']} seed {best['seed']}, final "
                       f"reward {best['final_reward']:.4g}; its combination's median is "
                       f"{medians[best['slug']]:.4g}. Combination medians range from "
                       f"{min(medians.values()):.4g} to {max(medians.values()):.4g}, the "
                       f"whole sweep's IQR is {overall['q75'] - overall['q25']:.4g}: "
                       f"compare combinations by their spread over seeds, not by one run.")]
    return "\n".join(lines) + "\n"


def _plot(base: TrainConfig, rows: list[dict], path: Path) -> Path:
    """sweep.png: a box over the seeds per combination, each run a dot."""
    plt = pyplot()
    groups = _by_combo(rows)
    figure, axes = plt.subplots(figsize=(max(6.5, 1.6 * len(groups) + 2.0), 4.5))
    for position, members in enumerate(groups.values(), start=1):
        values = [row["final_reward"] for row in members if row["final_reward"] is not None]
        if values:
            axes.boxplot([values], positions=[position], widths=0.5, showfliers=False)
            offsets = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
            axes.plot(position + np.asarray(offsets), values, "o", color="tab:blue",
                      alpha=0.7)
    # one line per grid key keeps long combination names readable
    axes.set_xticks(range(1, len(groups) + 1), [slug.replace(",", "\n") for slug in groups],
                    fontsize=8)
    axes.set_xlim(0.4, len(groups) + 0.6)
    axes.set_ylabel("final reward (mean of last 100 episodes)")
    axes.set_title(f"{base.name}: {base.agent} on {base.env}\n"
                   f"{len(rows) // len(groups)} seeds per combination", fontsize=10)
    return save_figure(figure, path)


def parse_grid(arguments: Sequence[str]) -> dict[str, list]:
    """``["KEY=V1,V2", ...]`` -> ``{KEY: [V1, V2]}``, each value read with
    ``yaml.safe_load`` (so ``0.001`` is a float, ``64`` an int, ``true`` a bool, ``[4,
    5]`` a list; commas inside brackets do not split) and ``3e-4`` a float too."""
    import yaml

    grid: dict[str, list] = {}
    for argument in arguments:
        key, equals, text = argument.partition("=")
        parts = _split_commas(text)
        if not equals or not key or not all(part.strip() for part in parts):
            raise ValueError(f"--grid {argument!r} must be KEY=VALUE[,VALUE...], e.g. "
                             f"agent_kwargs.learning_rate=0.001,0.0003")
        if key in grid:
            raise ValueError(f"--grid key {key!r} is given twice")
        values = []
        for part in parts:
            try:
                value = yaml.safe_load(part)
            except yaml.YAMLError as error:
                raise ValueError(f"--grid {key}: value {part!r} is not valid YAML "
                                 f"({error})") from error
            values.append(float(value) if isinstance(value, str)
                          and EXPONENT_FLOAT.fullmatch(value) else value)
        grid[key] = values
    return grid


def _split_commas(text: str) -> list[str]:
    """Split at the commas outside brackets and braces."""
    parts, depth, start = [], 0, 0
    for index, character in enumerate(text):
        depth += (character in "[{") - (character in "]}")
        if character == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    return [*parts, text[start:]]
