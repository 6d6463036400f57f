"""``tunegym train CONFIG``: train an SB3 agent on a tunegym env, one run per seed.

Each run writes under ``<output_dir>/<config name>/seed_<seed>/``:

* ``tensorboard/``: SB3's own logs (``rollout/ep_rew_mean``, losses, ...) plus, with the
  same tag names for every family, ``episode/reward`` (the episode return) and
  ``episode/<raw metric>`` (the family's raw metric at the episode's end, e.g.
  ``episode/iterations``, ``episode/energy_error_ha``; see ``BatchedEnv.raw_metric``);
* ``checkpoint.zip`` (and ``replay_buffer.pkl`` for off-policy agents) every
  ``checkpoint_every`` env steps and at the end, each written to a temporary file and
  renamed, so a crash never leaves a half-written checkpoint;
* ``summary.json`` (atomically): the config, env steps, wall time, the mean episode
  reward and raw metric of the last 100 episodes.

``resume=True`` continues a run from its checkpoint: the step counter (and SB3's
TensorBoard run) carries on, so the budget is met with no lost or repeated steps
(episodes in flight at the crash restart). A progress line with the rate and the ETA
goes to stderr.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecMonitor

import tunegym
from tunegym.agents.catalog import agent_entry
from tunegym.core import env_class
from tunegym.io import write_atomically, write_json_atomically
from tunegym.training.config import TrainConfig
from tunegym.training.native import ProgressLine, train_native


class EpisodeMetrics(BaseCallback):
    """Logs ``episode/reward`` and ``episode/<metric>`` for every finished episode, and
    keeps the best single-step reward and its action (for design envs, where a step
    evaluates one design, the best design evaluated; since the run's start or resume)."""

    def __init__(self, metric: str) -> None:
        super().__init__()
        self.metric = metric
        self.rewards: list[float] = []
        self.metrics: list[float] = []
        self.best_reward = -math.inf
        self.best_action: list | None = None

    def _on_step(self) -> bool:
        step_rewards = np.asarray(self.locals["rewards"], dtype=np.float64).reshape(-1)
        best = int(np.argmax(step_rewards))
        if step_rewards[best] > self.best_reward:
            self.best_reward = float(step_rewards[best])
            self.best_action = np.asarray(self.locals["actions"])[best].tolist()
        for info, done in zip(self.locals["infos"], self.locals["dones"]):
            if done and "episode" in info:
                self.rewards.append(float(info["episode"]["r"]))
                self.logger.record_mean("episode/reward", self.rewards[-1])
                if self.metric in info:
                    self.metrics.append(float(info[self.metric]))
                    self.logger.record_mean(f"episode/{self.metric}", self.metrics[-1])
        return True


def save_atomically(model, path: Path) -> None:
    """``model.save`` to ``path`` (and an off-policy agent's replay buffer beside it),
    each through a temporary file renamed into place."""
    write_atomically(path, model.save)
    if hasattr(model, "save_replay_buffer"):
        write_atomically(path.with_name("replay_buffer.pkl"), model.save_replay_buffer)


class Checkpoints(BaseCallback):
    """Saves the model atomically every ``every`` env steps."""

    def __init__(self, every: int, path: Path) -> None:
        super().__init__()
        self.every, self.path = every, path
        self.last = 0

    def _on_training_start(self) -> None:
        self.last = self.model.num_timesteps

    def _on_step(self) -> bool:
        if self.model.num_timesteps - self.last >= self.every:
            save_atomically(self.model, self.path)
            self.last = self.model.num_timesteps
        return True


class Progress(BaseCallback):
    """A progress line (steps, rate, ETA) on stderr about every ``interval`` seconds."""

    def __init__(self, total: int, label: str, interval: float = 10.0) -> None:
        super().__init__()
        self.total, self.label, self.interval = total, label, interval
        self.line: ProgressLine | None = None

    def _on_training_start(self) -> None:
        self.line = ProgressLine(self.total, self.label, self.model.num_timesteps,
                                 self.interval)

    def _on_step(self) -> bool:
        self.line.update(self.model.num_timesteps)
        return True


def train(config: TrainConfig, output_dir: str | Path = "runs", resume: bool = False) -> list:
    """Train one run per seed of ``config``; returns the runs' summaries (dicts)."""
    metric = env_class(config.env).raw_metric
    summaries = []
    for seed in config.seeds:
        run_dir = Path(output_dir) / config.name / f"seed_{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        if agent_entry(config.agent).native:
            figures = train_native(config, seed, run_dir, resume, metric)
        else:
            figures = _train_sb3(config, seed, run_dir, resume, metric)
        summary = {"config": config.name, "env": config.env, "agent": config.agent,
                   "seed": seed, **figures,
                   "config_values": json.loads(json.dumps(config.__dict__, default=list))}
        write_json_atomically(run_dir / "summary.json", summary)
        summaries.append(summary)
    return summaries


def _train_sb3(config: TrainConfig, seed: int, run_dir: Path, resume: bool,
               metric: str) -> dict:
    """Train one seed of an SB3 agent; returns the run's figures (summary fields)."""
    algorithm = agent_entry(config.agent).agent_class()
    checkpoint = run_dir / "checkpoint.zip"
    vec_env = VecMonitor(tunegym.make_sb3_vec_env(config.env, num_envs=config.num_envs,
                                                  device=config.device, **config.env_kwargs))
    vec_env.seed(seed)
    resumed = resume and checkpoint.is_file()
    if resumed:
        model = algorithm.load(checkpoint, env=vec_env, device="cpu")
        if hasattr(model, "load_replay_buffer") and (run_dir / "replay_buffer.pkl").is_file():
            model.load_replay_buffer(run_dir / "replay_buffer.pkl")
    else:
        model = algorithm(config.policy, vec_env, seed=seed, verbose=0,
                          tensorboard_log=str(run_dir / "tensorboard"),
                          **{"device": "cpu", **config.agent_kwargs})
    every = config.checkpoint_every or max(1, config.timesteps // 10)
    metrics = EpisodeMetrics(metric)
    callbacks = [metrics, Checkpoints(every, checkpoint),
                 Progress(config.timesteps, f"{config.name} seed {seed}")]
    if config.curriculum is not None:
        from tunegym.agents.qas_curriculum import CurriculumCallback, ThresholdCurriculum

        callbacks.append(CurriculumCallback(ThresholdCurriculum(**config.curriculum)))
    remaining = config.timesteps - model.num_timesteps
    start = time.perf_counter()
    if remaining > 0:
        model.learn(total_timesteps=remaining, callback=CallbackList(callbacks),
                    reset_num_timesteps=not resumed, tb_log_name="train")
    save_atomically(model, checkpoint)
    vec_env.close()
    recent = slice(-100, None)
    return {"env_steps": model.num_timesteps, "seconds": time.perf_counter() - start,
            "resumed": resumed, "checkpoint": str(checkpoint),
            "mean_episode_reward": _mean(metrics.rewards[recent]),
            f"mean_{metric}": _mean(metrics.metrics[recent]),
            **({"best_reward": metrics.best_reward, "best_action": metrics.best_action}
               if metrics.best_action is not None else {})}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
