"""The evaluation protocol: ``tunegym evaluate`` and ``tunegym validate``.

:func:`evaluate` plays a trained agent (a checkpoint written by ``tunegym train``, loaded
by :func:`tunegym.agents.policies.load_policy`) on the env's **test** split, one episode
per seed 0..``num_seeds``-1 (default 10), all in one batched :func:`tunegym.core.rollout`,
and writes one row per episode (:mod:`tunegym.evaluation.rows`) to ``<output>.jsonl`` and
``<output>.csv``, atomically: an interrupted evaluation leaves no partial results.

An agent trained with env kwargs other than the registered id's (say a smaller grid)
is refused: its scores would not be comparable with the leaderboard's.

:func:`validate` replays every row (same checkpoint, env and seed; the rows of one
checkpoint in one rollout) and reports the rows whose return differs by more than
``tolerance``, or that were recorded with another tunegym version or env spec (not
replayed); a corrupt file or row is an error naming its line. Rows of an ``agent`` named
``baseline:...`` (checkpoint null, see :mod:`tunegym.evaluation.baseline_policies`) are
replayed by re-running that baseline on their seeds, one batch per (env, baseline).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import gymnasium
import torch

from tunegym.agents.policies import load_policy
from tunegym.core import EpisodeRecords, check_integer, env_class, registered_ids, rollout
from tunegym.core.registration import is_batched_env, spec_hash
from tunegym.evaluation.backends import run_tasks
from tunegym.evaluation.baseline_policies import replay_mismatches
from tunegym.evaluation.rows import (
    BASELINE_PREFIX,
    episode_rows,
    read_rows,
    stale_reason,
    write_rows,
)


def checkpoint_episodes(checkpoint: str | Path, env_id: str, seeds: list[int]
                        ) -> EpisodeRecords:
    """One test episode per seed of a checkpoint on ``env_id``, in one rollout."""
    factory, _ = load_policy(checkpoint)
    return rollout(env_id, factory, torch.tensor(seeds, dtype=torch.int64), split="test")


def evaluate(env_id: str, agent: str | Path, num_seeds: int = 10,
             output: str | Path = "results/evaluation", backend: str = "local",
             num_cpus: int | None = None) -> list[dict]:
    """Evaluate a checkpoint on ``env_id``'s test split; write ``<output>.jsonl`` and
    ``<output>.csv``; returns the rows.

    With ``backend="ray"`` the seeds are split into ``num_cpus`` (default: one per seed)
    rollouts run as tasks (see :func:`tunegym.evaluation.backends.run_tasks`), each loading
    the checkpoint itself; the rows are the same on either backend but for
    ``wall_seconds``.
    """
    num_seeds = check_integer("num_seeds", num_seeds)
    env_class(env_id)                   # ValueError naming the id when it is not registered
    checkpoint = Path(agent)
    _, summary = load_policy(checkpoint)
    if summary["env"] != env_id:
        raise ValueError(f"agent {str(checkpoint)!r} was trained on {summary['env']}, not "
                         f"{env_id}")
    effective = effective_kwargs(env_id)
    changed = {key: value for key, value in summary["config_values"]["env_kwargs"].items()
               if effective.get(key, _Missing) != value}
    if changed:
        raise ValueError(f"agent {str(checkpoint)!r} changes {env_id}'s kwargs {changed}; "
                         f"evaluation uses the registered env only")
    seeds = list(range(num_seeds))
    chunks = 1 if backend == "local" else min(num_cpus or num_seeds, num_seeds)
    parts = [seeds[index::chunks] for index in range(chunks)]
    resolved = str(checkpoint.resolve())        # a Ray task loads the checkpoint itself
    records = run_tasks(checkpoint_episodes, [{"checkpoint": resolved, "env_id": env_id,
                                               "seeds": part} for part in parts],
                        backend, num_cpus)
    rows = sorted((row for part in records
                   for row in episode_rows(part, summary["agent"], str(checkpoint))),
                  key=lambda row: row["seed"])
    write_rows(rows, output)
    return rows


class _Missing:
    """Marks a kwarg the registered env does not have."""


def effective_kwargs(env_id: str) -> dict:
    """The kwargs the registered ``env_id`` runs with: its family class's defaults
    updated by the spec's kwargs (so a config that spells out a default is not a
    change)."""
    defaults = {name: parameter.default for name, parameter
                in inspect.signature(env_class(env_id).__init__).parameters.items()
                if parameter.default is not inspect.Parameter.empty}
    return {**defaults, **gymnasium.spec(env_id).kwargs}


def validate(results: str | Path, tolerance: float = 1e-6) -> list[dict]:
    """Replay every row of a ``.jsonl`` results file; returns the mismatching rows with
    their ``replayed_return`` and ``reason`` (empty when all match)."""
    mismatches, baseline_rows = [], []
    groups: dict[tuple[str, str], list[dict]] = {}
    spec_hashes: dict[str, str] = {}
    for where, row in read_rows(results):
        if row["env_id"] not in spec_hashes:
            if not is_batched_env(row["env_id"]):
                raise ValueError(f"{where} has env_id {row['env_id']!r}; it must be one of "
                                 f"{registered_ids()} (or another registered tunegym env)")
            spec_hashes[row["env_id"]] = spec_hash(row["env_id"])
        reason = stale_reason(row, spec_hashes)
        if reason is not None:
            mismatches.append({**row, "replayed_return": None, "reason": reason})
        elif row["agent"].startswith(BASELINE_PREFIX):
            baseline_rows.append(row)       # replayed together below: one batch per baseline
        else:
            groups.setdefault((row["checkpoint"], row["env_id"]), []).append(row)
    for (checkpoint, env_id), rows in groups.items():
        replayed = checkpoint_episodes(checkpoint, env_id, [row["seed"] for row in rows])
        for row, value in zip(rows, replayed.returns.tolist()):
            if abs(value - row["episode_return"]) > tolerance:
                mismatches.append({**row, "replayed_return": value,
                                   "reason": "return differs"})
    return mismatches + replay_mismatches(baseline_rows, tolerance)
