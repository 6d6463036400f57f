"""Multi-agent coverage as a PettingZoo ``ParallelEnv``.

``coverage_v0.parallel_env(n_agents=3, **kwargs)``: ``n_agents`` agents move at once in
one world of :class:`tunegym.envs.coverage.CoverageEnv` (same ``task``, ``map``, grid
and ``horizon`` kwargs) and cover it jointly. The team's objective is F of the union of
everything any agent visited; each step the agents are added in index order and agent
i's reward is its marginal gain given the team's set including agents 0..i-1's cells of
this step, so the rewards of a step sum to the team's gain.

Each agent observes (its row / (H-1), its column / (W-1), t / horizon) and, with
``observe_map=True``, the team's visited map. Agent k of an episode with seed s starts
at a cell drawn from (s, k); all episodes end together after ``horizon`` steps
(truncation).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
import torch
from pettingzoo import ParallelEnv

from tunegym.core import check_integer
from tunegym.core.random import hash_keys
from tunegym.envs.coverage import CoverageEnv
from tunegym.simulators.coverage import DOptimalDesign, step_positions


class CoverageParallelEnv(ParallelEnv):
    """PettingZoo parallel env of ``n_agents`` coverage agents (see module docstring).

    Args:
        n_agents: number of agents (>= 1).
        **kwargs: CoverageEnv kwargs (task, map, height, width, horizon, footprint,
            observe_map, split, device).
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "tunegym_coverage_v0", "render_modes": [],
                                          "is_parallelizable": True}

    def __init__(self, n_agents: int = 3, **kwargs: Any) -> None:
        self.n_agents = check_integer("n_agents", n_agents)
        self.world = CoverageEnv(num_envs=1, **kwargs)
        if isinstance(self.world.objective, DOptimalDesign):
            # every agent measures once per step (and once at the start)
            self.world.objective = DOptimalDesign((self.world.horizon + 1) * self.n_agents)
        self.possible_agents = [f"agent_{index}" for index in range(self.n_agents)]
        self.agents: list[str] = []
        self.render_mode = None
        self._rng = np.random.default_rng()
        self._episode_seed: int | None = None

    def observation_space(self, agent: str) -> gymnasium.spaces.Box:
        return self.world.single_observation_space

    def action_space(self, agent: str) -> gymnasium.spaces.Discrete:
        return self.world.single_action_space

    def _observations(self) -> dict[str, np.ndarray]:
        """Each agent's observation: the single-agent observation of the shared world,
        seen from that agent's cell (built by the world's own ``observe``)."""
        per_agent = {name: value.expand(self.n_agents, *value.shape[1:])
                     for name, value in self.world.state.items()}
        per_agent["position"] = self.positions
        array = self.world.observe(per_agent).cpu().numpy()
        return {agent: array[index] for index, agent in enumerate(self.agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self._episode_seed = int(seed)
        else:
            self._episode_seed = int(self._rng.integers(0, 2**62))
        self.agents = list(self.possible_agents)
        world = self.world
        world.reset(torch.tensor([self._episode_seed]))
        state = world.state
        keys = hash_keys(world.split_key, self._episode_seed,
                         torch.arange(1, self.n_agents, device=world.device))
        others = world._start(keys, state["free"].expand(self.n_agents - 1, -1, -1))
        self.positions = torch.cat([state["position"], others])           # (n, 2)
        objective_state = world.objective_state(state)
        visited, value = state["visited"].clone(), state["value"]
        for index in range(1, self.n_agents):
            objective_state, gain = world.objective.gain(objective_state,
                                                         others[index - 1:index])
            visited[0, others[index - 1, 0], others[index - 1, 1]] = True
            value = value + gain
        world.state = {**state, **objective_state, "visited": visited, "value": value}
        infos = {agent: {"episode_seed": self._episode_seed} for agent in self.agents}
        return self._observations(), infos

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("call reset() before step(): the episode is over")
        missing = [agent for agent in self.agents if agent not in actions]
        if missing:
            raise ValueError(f"actions must hold one action per live agent; missing {missing}")
        world = self.world
        action = torch.tensor([int(np.asarray(actions[agent])) for agent in self.agents],
                              dtype=torch.int64, device=world.device)
        if bool(((action < 0) | (action >= world.single_action_space.n)).any()):
            raise ValueError(f"actions must be integers in [0, "
                             f"{world.single_action_space.n - 1}], got {action.tolist()}")
        state = world.state
        self.positions = step_positions(state["free"].expand(self.n_agents, -1, -1),
                                        self.positions, action)
        objective_state = world.objective_state(state)
        visited = state["visited"].clone()
        rewards = {}
        for index, agent in enumerate(self.agents):
            objective_state, gain = world.objective.gain(objective_state,
                                                         self.positions[index:index + 1])
            visited[0, self.positions[index, 0], self.positions[index, 1]] = True
            rewards[agent] = float(gain[0])
        time = state["time"] + 1
        world.state = {**state, **objective_state, "visited": visited, "time": time,
                       "value": state["value"] + sum(rewards.values())}
        done = bool(time[0] >= world.horizon)
        observations = self._observations()
        value = float(world.state["value"][0])
        infos = {agent: {"team_objective_value": value} for agent in self.agents}
        terminations = {agent: False for agent in self.agents}
        truncations = {agent: done for agent in self.agents}
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def close(self) -> None:
        self.agents = []


def parallel_env(n_agents: int = 3, **kwargs: Any) -> CoverageParallelEnv:
    """Multi-agent coverage env (PettingZoo ``ParallelEnv``); see the module docstring."""
    return CoverageParallelEnv(n_agents=n_agents, **kwargs)
