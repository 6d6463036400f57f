"""The baselines of every registered env, played as result rows on the test split.

Every registered id has ``baseline:random`` (:class:`tunegym.baselines.random.UniformRandom`:
uniform random actions, only legal ones where the env has ``action_masks``; on the
coverage family this is a random walk), plus the fixed baselines its family record
declares (:attr:`tunegym.core.FamilyRecord.baselines`), named ``baseline:<name>``: SOR's
Gauss-Seidel, Young's model-problem omega and the instance-optimal oracle, coverage's and
quantum architecture search's one-step greedy, the design families' default design, the
solver-schedule family's fixed solvers. A family whose record declares none has
``baseline:random`` only, and the leaderboard cannot normalise its scores until it has a
baseline that beats random.

Every baseline is a pure function of (id, episode seed): the random policy draws from
counter-based hashes of (episode seed, step) and the envs are batch-invariant, so
:func:`replay_mismatches` (called by ``tunegym validate``) replays a row by re-running
its baseline.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from tunegym.baselines.random import UniformRandom
from tunegym.core import EpisodeRecords, check_integer, family_record, load_attribute, rollout
from tunegym.evaluation.rows import BASELINE_PREFIX, RANDOM, episode_rows


def baseline_names(env_id: str) -> tuple[str, ...]:
    """The agent names of ``env_id``'s baselines, ``baseline:random`` first."""
    return (RANDOM, *(BASELINE_PREFIX + name for name in family_record(env_id).baselines))


def baseline_episodes(env_id: str, agent: str, seeds: torch.Tensor) -> EpisodeRecords:
    """One test episode per seed of baseline ``agent`` (one of :func:`baseline_names`) on
    ``env_id``; seeds: int64 (E,)."""
    names = baseline_names(env_id)
    if agent not in names:
        raise ValueError(f"agent must be one of {names} for {env_id}, got {agent!r}")
    if agent == RANDOM:
        return rollout(env_id, UniformRandom, seeds, split="test")
    reference = family_record(env_id).baselines[agent[len(BASELINE_PREFIX):]]
    baseline = load_attribute(reference) if isinstance(reference, str) else reference
    if getattr(baseline, "episodes", False):
        return baseline(env_id, seeds)
    return rollout(env_id, baseline, seeds, split="test")


def play_baseline(env_id: str, agent: str, seeds: Iterable[int]) -> list[dict]:
    """Play baseline ``agent`` for one test episode per seed of ``env_id``.

    Args:
        env_id: a registered tunegym id.
        agent: one of :func:`baseline_names` of ``env_id``, e.g. "baseline:random".
        seeds: episode seeds, non-negative ints (the protocol's default is 0..9).

    Returns:
        One row per seed, in the seeds' order, with the fields of
        :data:`tunegym.evaluation.rows.FIELDS` (``checkpoint`` None).
    """
    seeds = [check_integer("seeds", seed, minimum=0) for seed in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one episode seed")
    records = baseline_episodes(env_id, agent, torch.tensor(seeds, dtype=torch.int64))
    return episode_rows(records, agent)


def replay_mismatches(rows: list[dict], tolerance: float) -> list[dict]:
    """Replay baseline rows (each (env, agent) group's seeds in one batch); returns the
    rows whose return differs by more than ``tolerance``, with ``replayed_return`` and
    ``reason`` added, in the rows' order."""
    groups: dict[tuple[str, str], list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault((row["env_id"], row["agent"]), []).append(index)
    replayed = [0.0] * len(rows)
    for (env_id, agent), indices in groups.items():
        for index, new in zip(indices, play_baseline(env_id, agent,
                                                     [rows[index]["seed"] for index in indices])):
            replayed[index] = new["episode_return"]
    return [{**row, "replayed_return": value, "reason": "return differs"}
            for row, value in zip(rows, replayed)
            if abs(value - row["episode_return"]) > tolerance]
