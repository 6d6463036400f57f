"""``tunegym reproduce ENV_ID``: train every agent of the family's comparison from its
shipped config, play them and the family's baselines on the test split with the one
rollout, write the rows, and rank them with the leaderboard's own code.

Steps (:func:`reproduce`):

1. the baselines of the family record (``baseline:random`` and the record's) play one
   test episode per seed (:func:`tunegym.evaluation.baseline_policies.play_baseline`);
2. every config named by the family record's ``comparison`` (``tunegym/configs/<name>.yaml``,
   the only place its hyperparameters live) for an env of ``env_id``'s batched class is
   trained by ``tunegym train`` on ``env_id`` (the config's env replaced by ``env_id``,
   its ``env_kwargs`` kept: they are training choices such as a shaped reward) for each
   of its seeds, and every checkpoint plays the same test seeds on the registered env;
   rows are named after the config (``agent`` = config name, one checkpoint per training
   seed);
3. the rows go to ``<output_dir>/<id>_rows.jsonl`` (and ``.csv``), atomically;
4. :func:`tunegym.evaluation.leaderboard.build_leaderboard` ranks exactly those rows
   (``include_shipped=False``) into ``<output_dir>/<id>_leaderboard/``: the table
   ``reproduce`` prints is that leaderboard's, so ``tunegym leaderboard`` on the rows
   file prints the same numbers;
5. where the family has a paper experiment (``tunegym.reproduce.<family>`` with
   ``compare``: the table of the paper's own figure, e.g. SOR's online bandits over a
   sequence), it runs too, unless ``paper=False``.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tunegym.core import check_integer, env_class, family_record
from tunegym.evaluation.baseline_policies import baseline_names, play_baseline
from tunegym.evaluation.leaderboard import build_leaderboard
from tunegym.evaluation.protocol import checkpoint_episodes
from tunegym.evaluation.rows import episode_rows, write_rows
from tunegym.training import TrainConfig, train


def paper_module(env_id: str) -> ModuleType | None:
    """The family's paper-experiment module ``tunegym.reproduce.<family>``, or None when
    the family has none. ValueError naming ``env_id`` when it is not registered."""
    family = env_class(env_id).family
    try:
        return importlib.import_module(f"tunegym.reproduce.{family}")
    except ModuleNotFoundError as error:
        if error.name != f"tunegym.reproduce.{family}":
            raise
        return None


@dataclass
class Reproduction:
    """What :func:`reproduce` wrote and ranked.

    Attributes:
        env_id: the id reproduced.
        rows: the result rows (baselines and trained agents), as written.
        rows_file: ``<output_dir>/<id>_rows.jsonl``.
        leaderboard: the leaderboard report of exactly those rows (see
            :func:`tunegym.evaluation.leaderboard.build_leaderboard`).
        table: ``leaderboard.md`` of that report (what ``tunegym leaderboard`` prints).
        paper: the family paper experiment's outcome (``table``, ``plot``, ...), or None.
        seconds: wall time of the whole reproduction.
        train_summaries: the summaries of the training runs, one per config and seed.
    """

    env_id: str
    rows: list[dict]
    rows_file: Path
    leaderboard: dict
    table: str
    paper: dict | None = None
    seconds: float = 0.0
    train_summaries: list[dict] = field(default_factory=list)


def comparison_configs(env_id: str, configs: list[str] | None = None,
                       overrides: dict[str, Any] | None = None) -> list[TrainConfig]:
    """The validated training configs of ``env_id``'s comparison, each moved to
    ``env_id`` and updated by ``overrides`` (config keys, e.g. ``{"timesteps": 64,
    "seeds": [0]}`` for a smoke run).

    The family record's comparison may name configs of every env of the family: those
    of an env with another batched class than ``env_id``'s (a DRAM config for the
    accelerator env) are left out. ``configs`` (shipped names or files) replaces the
    record's list, and then each must train an env of ``env_id``'s class.
    """
    target = env_class(env_id)
    loaded = []
    for name in family_record(env_id).comparison if configs is None else configs:
        config = TrainConfig.load(name)
        if env_class(config.env) is not target:
            if configs is None:
                continue
            raise ValueError(f"configs: {name!r} trains on {config.env}, not on an env of "
                             f"{env_id}'s class {target.__name__}")
        if config.env != env_id or overrides:      # validated again with its changes
            config = TrainConfig.load(name, {**(overrides or {}), "env": env_id})
        loaded.append(config)
    return loaded


def trained_rows(env_id: str, configs: list[TrainConfig], seeds: list[int],
                 runs_dir: str | Path) -> tuple[list[dict], list[dict]]:
    """Train every config (each of its seeds) under ``runs_dir`` and play every checkpoint
    on the test ``seeds`` of ``env_id``: (rows, ``agent`` = the config's name; the
    training runs' summaries)."""
    rows, summaries = [], []
    for config in configs:
        for summary in train(config, runs_dir):
            summaries.append(summary)
            records = checkpoint_episodes(summary["checkpoint"], env_id, seeds)
            rows += episode_rows(records, config.name, summary["checkpoint"])
    return rows, summaries


def reproduce(env_id: str, num_seeds: int = 20, first_seed: int = 0,
              output_dir: str | Path = "results", configs: list[str] | None = None,
              train_overrides: dict[str, Any] | None = None, paper: bool = True,
              reps: int = 2000, paper_kwargs: dict[str, Any] | None = None) -> Reproduction:
    """Reproduce ``env_id`` (see the module docstring).

    Args:
        env_id: a registered tunegym id.
        num_seeds: test episodes per agent and baseline (seeds first_seed ...).
        first_seed: the first test seed (int >= 0).
        output_dir: where the rows, the leaderboard, the training runs (``runs/``) and the
            paper table go.
        configs: configs to train instead of the family record's comparison.
        train_overrides: config keys replaced in every config (a smoke run's budget).
        paper: whether to run the family's paper experiment as well.
        reps: bootstrap replicates of the leaderboard.
        paper_kwargs: keyword arguments of the paper experiment's ``compare`` (its own
            ``num_seeds``, ``sequence_length``, env kwargs), kept apart from this
            function's ``num_seeds``.

    Returns:
        :class:`Reproduction`.
    """
    start = time.perf_counter()
    num_seeds = check_integer("num_seeds", num_seeds)
    first_seed = check_integer("first_seed", first_seed, minimum=0)
    output_dir = Path(output_dir)
    stem = env_id.replace("/", "_")
    seeds = list(range(first_seed, first_seed + num_seeds))
    trained = comparison_configs(env_id, configs, train_overrides)
    rows = [row for name in baseline_names(env_id)
            for row in play_baseline(env_id, name, seeds)]
    agent_rows, summaries = trained_rows(env_id, trained, seeds, output_dir / "runs" / stem)
    rows_file, _ = write_rows(rows + agent_rows, output_dir / f"{stem}_rows")
    report = build_leaderboard([rows_file], output_dir / f"{stem}_leaderboard",
                               include_shipped=False, reps=reps)
    table = Path(report["files"][0]).read_text()
    outcome = None
    module = paper_module(env_id) if paper else None
    if module is not None:
        outcome = module.compare(env_id, output_dir=output_dir, **(paper_kwargs or {}))
    return Reproduction(env_id, rows + agent_rows, rows_file, report, table, outcome,
                        time.perf_counter() - start, summaries)

