"""Training tunegym's own agents from a config, with the same outputs as SB3 runs.

``tunegym train`` runs tunegym's own agents (the entries of
:data:`tunegym.agents.catalog.AGENTS` whose trainer is not ``sb3``; the catalog's table
says what one unit of training is for each trainer) on the batched env of ``env`` with
``num_envs`` envs, for ``timesteps`` env steps per seed. ``agent_kwargs`` go to the
agent's constructor (for ScheduleSearch, the keys of
:meth:`~tunegym.agents.schedule_search.ScheduleSearch.run` go to ``run``).

What a run writes is what an SB3 run writes (see :mod:`tunegym.training.train`):
TensorBoard scalars ``episode/reward`` and ``episode/<raw metric>`` (the mean over the
episodes finished in each unit, at the env step count), ``checkpoint.pt`` every
``checkpoint_every`` env steps and at the end (the pickled agent, random generator
included, and the env step count; written to a temporary file, then renamed), and the
summary. ``resume`` loads the checkpoint and continues: the agent's state and step
count carry on, episodes in flight at the crash restart on fresh seeds, ScheduleSearch
(checkpointed only at its end) restarts its deterministic search.

A checkpoint is a pickle: load only checkpoints you trust (as with SB3's zip files).
:func:`tunegym.agents.policies.load_policy` turns one into the policy ``tunegym evaluate``
plays.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium
import torch

from tunegym.agents.catalog import AgentEntry, agent_entry
from tunegym.core import make_batched_env
from tunegym.io import write_atomically


class ProgressLine:
    """Prints ``label: done/total env steps (x%), rate, ETA`` on stderr about every
    ``interval`` seconds."""

    def __init__(self, total: int, label: str, first_step: int = 0,
                 interval: float = 10.0) -> None:
        self.total, self.label, self.interval = total, label, interval
        self.first_step = first_step
        self.start = self.shown = time.perf_counter()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.shown >= self.interval:
            self.shown = now
            rate = (done - self.first_step) / max(now - self.start, 1e-9)
            eta = (self.total - done) / rate if rate > 0 else math.inf
            print(f"{self.label}: {done}/{self.total} env steps ({100 * done / self.total:.0f}%),"
                  f" {rate:.0f} steps/s, ETA {eta:.0f} s", file=sys.stderr, flush=True)


def _split_kwargs(function, kwargs: dict[str, Any]) -> tuple[dict, dict]:
    """(kwargs ``function`` takes, the rest)."""
    names = set(inspect.signature(function).parameters)
    return ({key: value for key, value in kwargs.items() if key in names},
            {key: value for key, value in kwargs.items() if key not in names})


def _online(agent_class, env, config, seed: int):
    return agent_class.from_spaces(env.single_observation_space, env.single_action_space,
                                   num_envs=env.num_envs, seed=seed, device=env.device,
                                   **config.agent_kwargs)


def _policy_gradient(agent_class, env, config, seed: int):
    return agent_class(env.single_observation_space.shape[0],
                       num_actions=int(env.single_action_space.n), seed=seed,
                       device=env.device, **config.agent_kwargs)


def _ask_tell(agent_class, env, config, seed: int):
    return agent_class.from_space(env.single_action_space, seed=seed, **config.agent_kwargs)


def _schedule_search(agent_class, env, config, seed: int):
    constructor_kwargs, _ = _split_kwargs(agent_class.__init__, config.agent_kwargs)
    return agent_class(dict(config.env_kwargs), seed=seed, device=config.device,
                       **constructor_kwargs)


#: trainer -> how its agents are built: (class, batched env, config, seed) -> agent.
BUILDERS = {"online": _online, "policy_gradient": _policy_gradient, "ask_tell": _ask_tell,
            "schedule_search": _schedule_search}


def build_agent(entry: AgentEntry, env, config, seed: int):
    """The agent of catalog ``entry`` for the batched ``env``, with the config's
    agent_kwargs."""
    return BUILDERS[entry.trainer](entry.agent_class(), env, config, seed)


class NativeRun:
    """One seed of a native agent's training run (see the module docstring)."""

    def __init__(self, config, seed: int, run_dir: Path, resume: bool, metric: str) -> None:
        self.config, self.seed, self.run_dir, self.metric = config, seed, run_dir, metric
        self.spec = agent_entry(config.agent)
        self.checkpoint = run_dir / "checkpoint.pt"
        self.env = make_batched_env(config.env, config.num_envs, device=config.device,
                                    **config.env_kwargs)
        self.resumed = resume and self.checkpoint.is_file()
        self.result: dict[str, Any] = {}
        if self.resumed:
            saved = torch.load(self.checkpoint, weights_only=False)
            self.agent, self.env_steps = saved["agent"], saved["env_steps"]
            self.result = saved["result"]
        else:
            self.agent, self.env_steps = build_agent(self.spec, self.env, config, seed), 0
        self.rewards: list[float] = []
        self.metrics: list[float] = []

    # --------------------------------------------------------------------- helpers
    def _fresh_seeds(self) -> torch.Tensor:
        """Train-split episode seeds (B,) never used before in this run (they depend on the
        run seed and the env steps done)."""
        first = self.seed * 1_000_000_007 + self.env_steps
        return torch.arange(first, first + self.env.num_envs, device=self.env.device)

    def _record(self, writer, returns: torch.Tensor, metric_values: torch.Tensor | None) -> None:
        """Log the episodes finished in this unit (returns (E,), raw metrics (E,))."""
        if returns.numel() == 0:
            return
        self.rewards.extend(returns.double().tolist())
        writer.add_scalar("episode/reward", float(returns.double().mean()), self.env_steps)
        if metric_values is not None:
            finite = metric_values.double()[torch.isfinite(metric_values.double())]
            self.metrics.extend(finite.tolist())
            if finite.numel():
                writer.add_scalar(f"episode/{self.metric}", float(finite.mean()),
                                  self.env_steps)

    def _save(self) -> None:
        state = {"agent": self.agent, "env_steps": self.env_steps, "result": self.result,
                 "agent_name": self.config.agent, "env": self.config.env}
        write_atomically(self.checkpoint, lambda temporary: torch.save(state, temporary))

    # ------------------------------------------------------------------- training
    def learn(self) -> None:
        """Run until ``config.timesteps`` env steps, checkpointing on the way."""
        from torch.utils.tensorboard import SummaryWriter

        config = self.config
        every = config.checkpoint_every or max(1, config.timesteps // 10)
        writer = SummaryWriter(str(self.run_dir / "tensorboard" / "train"),
                               purge_step=self.env_steps if self.resumed else None)
        progress = ProgressLine(config.timesteps, f"{config.name} seed {self.seed}",
                                self.env_steps)
        try:
            if self.spec.trainer == "schedule_search":
                self._schedule_search(writer)
            else:
                self._stepping_loop(writer, every, progress)
        finally:
            writer.close()
        self._save()

    def _stepping_loop(self, writer, every: int, progress: ProgressLine) -> None:
        env, agent, config = self.env, self.agent, self.config
        last_saved = self.env_steps
        if self.spec.trainer == "policy_gradient":
            units_steps = env.num_envs * env.horizon
            while self.env_steps < config.timesteps:
                figures = agent.train_step(env, self._fresh_seeds())
                self.env_steps += units_steps
                self._record(writer, figures["episode_returns"], figures["final_raw_metric"])
                writer.add_scalar("train/loss", figures["loss"], self.env_steps)
                writer.add_scalar("train/entropy", figures["entropy"], self.env_steps)
                progress.update(self.env_steps)
                if self.env_steps - last_saved >= every:
                    self._save()
                    last_saved = self.env_steps
            return
        observation = env.reset(self._fresh_seeds())
        episode_return = torch.zeros(env.num_envs, dtype=torch.float64, device=env.device)
        while self.env_steps < config.timesteps:
            if self.spec.trainer == "online":
                action = agent.act(observation)
            else:
                action = agent.ask(env.num_envs).to(env.device)
                if isinstance(env.single_action_space, gymnasium.spaces.Discrete):
                    action = action[:, 0]
            next_observation, reward, terminated, truncated, info = env.step(action)
            if self.spec.trainer == "online":
                agent.update(observation, action, reward)
            else:
                agent.tell(action.reshape(env.num_envs, -1), reward)
                writer.add_scalar("search/best_reward", float(agent.best_reward),
                                  self.env_steps + env.num_envs)
            self.env_steps += env.num_envs
            episode_return += reward.double()
            done = terminated | truncated
            if bool(done.any()):
                self._record(writer, episode_return[done],
                             info[self.metric][done] if self.metric in info else None)
                episode_return = episode_return.masked_fill(done, 0.0)
                next_observation = env.autoreset(done)
            observation = next_observation
            progress.update(self.env_steps)
            if self.env_steps - last_saved >= every:
                self._save()
                last_saved = self.env_steps
        if self.spec.trainer == "ask_tell":
            self.result = {"best_reward": float(agent.best_reward),
                           "best_design": _design_record(env, agent.best_design)}

    def _schedule_search(self, writer) -> None:
        """The whole S^3 search with ``timesteps`` one-shot episodes: the initial samples,
        then as many rounds of ``evaluate_top`` schedules as the budget allows."""
        agent, config = self.agent, self.config
        _, run_kwargs = _split_kwargs(type(agent).__init__, config.agent_kwargs)
        run_signature = inspect.signature(agent.run).parameters
        unknown = set(run_kwargs) - set(run_signature)
        if unknown:
            raise ValueError(f"config key 'agent_kwargs' has keys ScheduleSearch does not take: "
                             f"{sorted(unknown)}")
        initial = run_kwargs.get("initial_samples", run_signature["initial_samples"].default)
        top = run_kwargs.get("evaluate_top", run_signature["evaluate_top"].default)
        evaluations = config.timesteps // agent.num_instances
        if evaluations < initial:
            raise ValueError(f"config key 'timesteps' ({config.timesteps}) must cover the "
                             f"{initial} initial schedules x {agent.num_instances} instances")
        rounds = (evaluations - initial) // top
        result = agent.run(**{**run_kwargs, "rounds": rounds})
        evaluated = result["evaluated"]["rewards"]
        self.env_steps = int(evaluated.numel()) * agent.num_instances
        for index, reward in enumerate(evaluated.tolist()):
            writer.add_scalar("episode/reward", reward, (index + 1) * agent.num_instances)
        self.rewards.extend(evaluated.tolist())
        self.result = {"best_reward": result["best_train_reward"],
                       "best_design": result["best_schedule"].tolist()}

    def summary(self, seconds: float) -> dict[str, Any]:
        """The figures of the run for summary.json."""
        recent = slice(-100, None)
        return {"env_steps": self.env_steps, "seconds": seconds, "resumed": self.resumed,
                "checkpoint": str(self.checkpoint),
                "mean_episode_reward": _mean(self.rewards[recent]),
                f"mean_{self.metric}": _mean(self.metrics[recent]), **self.result}


def _design_record(env, design: torch.Tensor) -> Any:
    """A design as knob names -> values where the env names its knobs, else a list."""
    values = design.reshape(-1).tolist()
    return env.decode(values) if hasattr(env, "decode") else values


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def train_native(config, seed: int, run_dir: Path, resume: bool, metric: str) -> dict:
    """Train one seed of a native agent; returns the run's figures (summary fields)."""
    start = time.perf_counter()
    run = NativeRun(config, seed, run_dir, resume, metric)
    run.learn()
    return run.summary(time.perf_counter() - start)
