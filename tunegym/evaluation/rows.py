"""Result rows: one test episode of one agent per row, the format ``tunegym evaluate``,
the shipped baselines, ``tunegym reproduce`` and the leaderboard share.

A row has the fields :data:`FIELDS`: ``env_id``, ``env_spec_sha256`` (of the registered
``EnvSpec`` JSON), ``tunegym_version``, ``agent``, ``checkpoint`` (null for a baseline),
``seed``, ``instance_id`` (the episode seed), ``episode_return``, ``episode_length``,
``raw_metric`` (its name, e.g. ``iterations``) and ``raw_metric_value`` (at the episode's
end), ``wall_seconds`` (the rollout's wall time divided by its episodes).

Rows are written to ``<output>.jsonl`` and ``<output>.csv`` whole or not at all, and read
back by :func:`read_rows`, the one reader (``validate``, ``leaderboard``).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from importlib.metadata import version
from numbers import Real
from pathlib import Path

from tunegym.core import EpisodeRecords, check_integer, spec_hash
from tunegym.io import read_jsonl, write_text_atomically

#: Agent names of the shipped baselines start with this; their rows have no checkpoint.
BASELINE_PREFIX = "baseline:"
#: The uniform random baseline every family has (the leaderboard's score 0).
RANDOM = BASELINE_PREFIX + "random"
FIELDS = ("env_id", "env_spec_sha256", "tunegym_version", "agent", "checkpoint", "seed",
          "instance_id", "episode_return", "episode_length", "raw_metric",
          "raw_metric_value", "wall_seconds")


def episode_rows(records: EpisodeRecords, agent: str, checkpoint: str | None = None,
                 seeds: list[int] | None = None) -> list[dict]:
    """One row per episode of ``records`` (a registered id's test episodes).

    Args:
        records: the episodes, ``records.env_id`` set.
        agent: the agent's name (``baseline:<name>`` for a shipped baseline).
        checkpoint: the checkpoint played, None for a baseline.
        seeds: the ``seed`` field per episode (default: the episode seeds).
    """
    if records.env_id is None:
        raise ValueError("records must come from a registered id (records.env_id is None)")
    common = {"env_id": records.env_id, "env_spec_sha256": spec_hash(records.env_id),
              "tunegym_version": installed_version(), "agent": agent,
              "checkpoint": checkpoint}
    instance_ids = records.seeds.tolist()
    seeds = instance_ids if seeds is None else seeds
    wall_seconds = records.wall_seconds / len(records)
    return [{**common, "seed": seed, "instance_id": instance_id,
             "episode_return": float(episode_return), "episode_length": int(length),
             "raw_metric": records.raw_metric,
             "raw_metric_value": None if math.isnan(value) else float(value),
             "wall_seconds": wall_seconds}
            for seed, instance_id, episode_return, length, value
            in zip(seeds, instance_ids, records.returns.tolist(), records.lengths.tolist(),
                   records.raw_metric_values.tolist())]


def write_rows(rows: list[dict], output: str | Path) -> tuple[Path, Path]:
    """Write rows to ``<output>.jsonl`` and ``<output>.csv`` atomically."""
    output = Path(output)
    jsonl = write_text_atomically(output.with_suffix(".jsonl"),
                                  "".join(json.dumps(row) + "\n" for row in rows))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return jsonl, write_text_atomically(output.with_suffix(".csv"), buffer.getvalue())


def read_rows(path: str | Path) -> list[tuple[str, dict]]:
    """The rows of a ``.jsonl`` results file as (location, row) pairs, the location naming
    the file and line.

    Raises:
        ValueError: naming the location of a line that is not a JSON object with every
            field of :data:`FIELDS`, whose ``agent`` is not a non-empty string, whose
            ``episode_return`` is not a finite number or whose ``seed`` is not a
            non-negative integer.
    """
    rows = []
    for where, row in read_jsonl(path):
        missing = [name for name in FIELDS if not isinstance(row, dict) or name not in row]
        if missing:
            raise ValueError(f"{where} lacks {missing}")
        if not isinstance(row["agent"], str) or not row["agent"]:
            raise ValueError(f"{where} has agent {row['agent']!r}; it must be a non-empty "
                             f"string")
        value = row["episode_return"]
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise ValueError(f"{where} has episode_return {value!r}; it must be a finite "
                             f"number")
        check_integer(f"seed ({where})", row["seed"], minimum=0)
        rows.append((where, row))
    return rows


@functools.lru_cache(maxsize=1)
def installed_version() -> str:
    """The installed tunegym's version (read once: rows are checked by the thousand)."""
    return version("tunegym")


def stale_reason(row: dict, spec_hashes: dict[str, str]) -> str | None:
    """Why a row (of a registered env, ``spec_hashes`` {env id: :func:`spec_hash`}) is not
    comparable with this install's rows, or None."""
    installed = installed_version()
    if row["tunegym_version"] != installed:
        return f"recorded with tunegym {row['tunegym_version']}, this is {installed}"
    if row["env_spec_sha256"] != spec_hashes[row["env_id"]]:
        return f"recorded with another env spec of {row['env_id']}"
    return None
