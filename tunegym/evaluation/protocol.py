"""The evaluation protocol: ``tunegym evaluate`` and ``tunegym validate``.

:func:`evaluate` plays a trained agent (an SB3 / sb3-contrib checkpoint written by
``tunegym train``) on the env's **test** split, one episode per seed
0..``num_seeds``-1 (default 10), acting deterministically (with the action mask where
the env has one), and writes one row per episode to ``<output>.jsonl`` and
``<output>.csv`` (atomically):

``env_id``, ``env_spec_sha256`` (of the registered ``EnvSpec`` JSON with the agent's
env kwargs), ``tunegym_version``, ``agent``, ``checkpoint``, ``seed``, ``instance_id``
(the episode seed the env reports), ``episode_return``, ``episode_length``,
``raw_metric`` (its name, e.g. ``iterations``) and ``raw_metric_value`` (at the episode's
end), ``wall_seconds``.

An agent trained with env kwargs other than the registered id's (say a smaller grid)
is refused: its scores would not be comparable with the leaderboard's.

The files are written whole or not at all (temporary file, then rename), so an
interrupted evaluation leaves no partial results; rerun it.

:func:`validate` replays every row (same checkpoint, env and seed) and reports the rows
whose return differs by more than ``tolerance``, or that were recorded with another
tunegym version or env spec (not replayed); a corrupt file or row is an error naming
its line. Rows of an ``agent`` named ``baseline:...`` (checkpoint null, see
:mod:`tunegym.evaluation.baseline_policies`) are replayed by re-running that baseline on
their seeds, one batch per (env, baseline).
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import inspect
import io
import json
import time
from importlib.metadata import version
from pathlib import Path

import gymnasium
import numpy as np

from tunegym.core import check_integer
from tunegym.evaluation.io import write_text_atomically
from tunegym.training.config import SB3_AGENTS
from tunegym.training.native import NATIVE_AGENTS, NativePolicy

#: Agent names of the shipped baselines start with this (see
#: :mod:`tunegym.evaluation.baseline_policies`); their rows have no checkpoint.
BASELINE_PREFIX = "baseline:"
FIELDS = ("env_id", "env_spec_sha256", "tunegym_version", "agent", "checkpoint", "seed",
          "instance_id", "episode_return", "episode_length", "raw_metric",
          "raw_metric_value", "wall_seconds")


def _load_agent(checkpoint: Path):
    """(model, agent name, env id, env kwargs) of a ``tunegym train`` run folder's
    checkpoint (its ``summary.json`` names the agent and the env)."""
    summary_path = checkpoint.with_name("summary.json")
    if not checkpoint.is_file() or not summary_path.is_file():
        raise ValueError(f"agent {str(checkpoint)!r} must be a checkpoint (.zip or .pt) "
                         f"written by `tunegym train` (with its summary.json beside it)")
    summary = json.loads(summary_path.read_text())
    if summary["agent"] in NATIVE_AGENTS:
        model = NativePolicy.load(checkpoint)
    else:
        module, class_name, _ = SB3_AGENTS[summary["agent"]]
        model = getattr(importlib.import_module(module), class_name).load(checkpoint,
                                                                          device="cpu")
    return model, summary["agent"], summary["env"], summary["config_values"]["env_kwargs"]


def spec_hash(env_id: str) -> str:
    return hashlib.sha256(gymnasium.spec(env_id).to_json().encode()).hexdigest()


def play_episode(model, env_id: str, seed: int) -> dict:
    """One deterministic test episode of ``model`` on ``env_id``: return, length, the
    raw metric at the end, the instance id and the wall time.

    ``model`` has SB3's ``predict``; an online learner (a tunegym bandit's
    :class:`~tunegym.training.native.NativePolicy`) also has ``start_episode(seed)`` and
    ``observe(observation, action, reward)``, called at the episode's start and after
    every step."""
    env = gymnasium.make(env_id, split="test")
    batched = env.unwrapped.batched
    start = time.perf_counter()
    observation, info = env.reset(seed=seed)
    total, length, done = 0.0, 0, False
    masked = hasattr(batched, "action_masks")
    online = hasattr(model, "observe")
    if online:
        model.start_episode(seed)
    while not done:
        extra = {"action_masks": env.unwrapped.action_masks()} if masked else {}
        action, _ = model.predict(observation, deterministic=True, **extra)
        next_observation, reward, terminated, truncated, step_info = env.step(
            action.item() if np.ndim(action) == 0 else action)
        if online:
            model.observe(observation, action, reward)
        observation = next_observation
        total, length = total + float(reward), length + 1
        done = terminated or truncated
    value = step_info.get(batched.raw_metric)
    return {"instance_id": info["episode_seed"], "episode_return": total,
            "episode_length": length, "raw_metric": batched.raw_metric,
            "raw_metric_value": None if value is None else float(value),
            "wall_seconds": time.perf_counter() - start}


def evaluate(env_id: str, agent: str | Path, num_seeds: int = 10,
             output: str | Path = "results/evaluation", backend: str = "local",
             num_cpus: int | None = None) -> list[dict]:
    """Evaluate a checkpoint on ``env_id``'s test split; write ``<output>.jsonl`` and
    ``<output>.csv``; returns the rows.

    The episodes (one per seed) run as tasks on ``backend`` (``"local"`` or ``"ray"``,
    at most ``num_cpus`` at once; see :func:`tunegym.evaluation.backends.run_tasks`),
    each loading the checkpoint itself; the rows are the same on either backend but
    for ``wall_seconds``.
    """
    from tunegym.evaluation.backends import run_tasks

    num_seeds = check_integer("num_seeds", num_seeds)
    if env_id not in gymnasium.registry:
        raise ValueError(f"env {env_id!r} is not registered")
    checkpoint = Path(agent)
    _, agent_name, trained_env, trained_kwargs = _load_agent(checkpoint)
    if trained_env != env_id:
        raise ValueError(f"agent {str(checkpoint)!r} was trained on {trained_env}, not "
                         f"{env_id}")
    effective = effective_kwargs(env_id)
    changed = {key: value for key, value in trained_kwargs.items()
               if effective.get(key, _Missing) != value}
    if changed:
        raise ValueError(f"agent {str(checkpoint)!r} changes {env_id}'s kwargs {changed}; "
                         f"evaluation uses the registered env only")
    common = {"env_id": env_id, "env_spec_sha256": spec_hash(env_id),
              "tunegym_version": version("tunegym"), "agent": agent_name,
              "checkpoint": str(checkpoint)}
    resolved = checkpoint.resolve()

    def play_test_episode(seed: int) -> dict:
        # a task loads the checkpoint from its path: Ray ships this closure, not a model
        return play_episode(_load_agent(resolved)[0], env_id, seed)

    seeds = range(num_seeds)
    episodes = run_tasks(play_test_episode, [{"seed": seed} for seed in seeds], backend,
                         num_cpus)
    rows = [{**common, "seed": seed, **episode} for seed, episode in zip(seeds, episodes)]
    write_rows(rows, output)
    return rows


class _Missing:
    """Marks a kwarg the registered env does not have."""


def effective_kwargs(env_id: str) -> dict:
    """The kwargs the registered ``env_id`` runs with: its family class's defaults
    updated by the spec's kwargs (so a config that spells out a default is not a
    change)."""
    batched_class = type(gymnasium.make(env_id).unwrapped.batched)
    defaults = {name: parameter.default for name, parameter
                in inspect.signature(batched_class.__init__).parameters.items()
                if parameter.default is not inspect.Parameter.empty}
    return {**defaults, **gymnasium.spec(env_id).kwargs}


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


def validate(results: str | Path, tolerance: float = 1e-6) -> list[dict]:
    """Replay every row of a ``.jsonl`` results file; returns the mismatching rows with
    their ``replayed_return`` (empty when all match)."""
    path = Path(results)
    if not path.is_file():
        raise ValueError(f"results file {str(path)!r} does not exist")
    mismatches, models, baseline_rows = [], {}, []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"results file {str(path)!r} line {number} is not a JSON row "
                             f"({error})") from error
        missing = [name for name in FIELDS if not isinstance(row, dict) or name not in row]
        if missing:
            raise ValueError(f"results file {str(path)!r} line {number} lacks {missing}")
        if row["tunegym_version"] != version("tunegym"):
            mismatches.append({**row, "replayed_return": None, "reason":
                               f"recorded with tunegym {row['tunegym_version']}, this is "
                               f"{version('tunegym')}"})
            continue
        if row["env_spec_sha256"] != spec_hash(row["env_id"]):
            mismatches.append({**row, "replayed_return": None,
                               "reason": "the registered env spec changed"})
            continue
        if row["agent"].startswith(BASELINE_PREFIX):
            baseline_rows.append(row)       # replayed together below: one batch per baseline
            continue
        if row["checkpoint"] not in models:
            models[row["checkpoint"]] = _load_agent(Path(row["checkpoint"]))[0]
        replayed = play_episode(models[row["checkpoint"]], row["env_id"], row["seed"])
        if abs(replayed["episode_return"] - row["episode_return"]) > tolerance:
            mismatches.append({**row, "replayed_return": replayed["episode_return"],
                               "reason": "return differs"})
    # Imported here: baseline_policies builds its rows with this module.
    from tunegym.evaluation.baseline_policies import replay_mismatches

    return mismatches + replay_mismatches(baseline_rows, tolerance)
