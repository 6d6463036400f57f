"""``tunegym/Coverage-v0``: cover a grid world where rewards have diminishing returns.

After Prajapat, Mutny, Zeilinger, Krause, "Submodular Reinforcement Learning" (ICLR
2024). An agent walks ``horizon`` steps on a grid (actions: 0 stay, 1 up, 2 down,
3 left, 4 right; blocked moves stay put). The value of an episode is a monotone
submodular function F of the visited cells; each step's reward is the marginal gain
F(S + {x}) - F(S) of the cell x reached (the start cell is in S from the start and
earns nothing). Revisiting a covered region earns little or nothing, which is what
modular RL (additive rewards per state) gets wrong.

Tasks (``task=``):

* ``coverage_constant``: weighted coverage with unit weights (cells covered);
* ``coverage_bimodal``: weights from two Gaussian bumps at random places;
* ``informative_path``: weights exp(g) of a smooth Gaussian-process sample g
  (random Fourier features, lengthscale 4 cells): informative path planning;
* ``biodiversity``: weights from six species clusters of random size and density;
* ``d_optimal``: Bayesian D-optimal design, F = 1/2 logdet(I + K_SS / noise) with an
  RBF kernel of lengthscale 2 cells and noise 0.1;
* ``items``: capped item collection, F = sum over 3 item types of min(items collected,
  cap), items scattered with density 0.1, cap 2.

Maps (``map=``): ``open`` (default 30 x 30; 7 x 15 for ``items``), ``two_rooms``
(default 7 x 14: a wall down the middle column with one door), or your own map as a list
of row strings ("." free, "#" wall), which fixes the grid size. Every episode seed
draws its own map details (door row, start cell, weights, items), the split selects an
independent stream. Weighted-coverage and item tasks sense a square ``footprint``
(radius 1 by default, 0 for items).

``reward="modular"`` replaces the marginal gain by the singleton value F({x}) of the cell
reached, revisits included: the additive reward standard (modular) RL optimises, for
the modular-RL baseline. ``info["objective_value"]`` stays F of the visited set.

Observation: (row / (H-1), column / (W-1), t / horizon), followed by the H*W visited
map (1 where the agent has stood) when ``observe_map=True`` and by the H*W cell values
(weights / max weight, or 1 where an item lies) when ``observe_values=True``. Without
the values, a policy cannot know where a new map's valuable cells are: use them, or
``map_seed=k`` to play one fixed map (walls, weights, items from k; start cells still
from the episode seed), the single-environment setting of the paper. Info: ``objective_value``
(F of the cells visited so far, start included, in the task's units: weight sums, nats,
items); the return of an episode is F(S) - F({start}).
"""

from __future__ import annotations

import math

import gymnasium
import numpy as np
import torch

from tunegym.core import BatchedEnv, FamilyRecord, check_choice, check_integer, derive_envs
from tunegym.core.random import hash_keys, standard_normal, uniform
from tunegym.simulators.coverage import (
    CappedItems,
    DOptimalDesign,
    WeightedCoverage,
    gaussian_bumps,
    random_fourier_field,
    step_positions,
)

WEIGHTED_TASKS = ("coverage_constant", "coverage_bimodal", "informative_path", "biodiversity")
TASKS = (*WEIGHTED_TASKS, "d_optimal", "items")
MAPS = ("open", "two_rooms")
REWARDS = ("marginal", "modular")
#: Env state entries that are not the objective's (everything else is).
ENV_STATE_KEYS = frozenset({"free", "position", "visited", "time", "value", "episode_seed"})
NUM_ACTIONS = 5
ITEM_TYPES, ITEM_DENSITY, ITEM_CAP = 3, 0.1, 2


def parse_map(rows: list[str] | tuple[str, ...]) -> torch.Tensor:
    """A user map, one string per row with "." for a free cell and "#" for a wall, as a
    bool (H, W) tensor of free cells; ValueError naming ``map`` if it is not a rectangle
    of at least 3 x 3 made of those two characters with at least one free cell."""
    if not rows or not all(isinstance(row, str) for row in rows):
        raise ValueError(f"map must be 'open', 'two_rooms' or a list of row strings of '.' "
                         f"(free) and '#' (wall), got {rows!r}")
    if len({len(row) for row in rows}) != 1 or len(rows) < 3 or len(rows[0]) < 3:
        raise ValueError("map rows must all have the same length, and the map must be at "
                         f"least 3 x 3; got row lengths {[len(row) for row in rows]}")
    if set("".join(rows)) - {".", "#"}:
        raise ValueError(f"map may only contain '.' (free) and '#' (wall), got "
                         f"{sorted(set(''.join(rows)) - {'.', '#'})}")
    free = torch.tensor([[cell == "." for cell in row] for row in rows])
    if not bool(free.any()):
        raise ValueError("map has no free cell: the agent needs at least one '.'")
    return free


def default_shape(task: str, map_name: str) -> tuple[int, int]:
    """The paper-scale grid (H, W) of a task on a map."""
    if map_name == "two_rooms":
        return 7, 14
    return (7, 15) if task == "items" else (30, 30)


class CoverageEnv(BatchedEnv):
    """Batched coverage env (see module docstring for tasks, maps, spaces and reward)."""

    family = "coverage"
    raw_metric = "objective_value"
    reward_description = "marginal gain of the submodular objective at the cell reached"
    record = FamilyRecord(
        name="coverage", title="Coverage (Submodular RL, Prajapat et al., ICLR 2024)",
        short_episode_kwargs={"horizon": 3},
        baselines={"greedy": "tunegym.baselines.coverage:greedy_episodes"},
        comparison=("coverage_subpo", "coverage_modular_ppo"))

    @property
    def max_episode_steps(self) -> int:
        """Episodes are truncated after ``horizon`` moves."""
        return self.horizon

    def __init__(self, num_envs: int = 1, device: str = "cpu", split: str = "train",
                 task: str = "coverage_constant", map: str = "open",
                 height: int | None = None, width: int | None = None, horizon: int = 40,
                 footprint: int | None = None, observe_map: bool = False,
                 observe_values: bool = False, map_seed: int | None = None,
                 reward: str = "marginal") -> None:
        super().__init__(num_envs, device, split)
        check_choice("reward", reward, REWARDS)
        self.reward_kind = reward
        check_choice("task", task, TASKS)
        self.task = task
        if isinstance(map, (list, tuple)):
            self.custom_free = parse_map(map).to(self.device)
            self.map_name = "custom"
            if (height, width) not in ((None, None), tuple(self.custom_free.shape)):
                raise ValueError(f"height and width must be left out with a custom map (it "
                                 f"is {tuple(self.custom_free.shape)}), got {(height, width)}")
        else:
            check_choice("map", map, MAPS)
            self.custom_free, self.map_name = None, map
        default_height, default_width = (tuple(self.custom_free.shape)
                                         if self.custom_free is not None
                                         else default_shape(task, self.map_name))
        self.height = check_integer("height", default_height if height is None else height, 3)
        self.width = check_integer("width", default_width if width is None else width, 3)
        self.horizon = check_integer("horizon", horizon)
        check_choice("observe_map", observe_map, (True, False))
        self.observe_map = observe_map
        check_choice("observe_values", observe_values, (True, False))
        if observe_values and task == "d_optimal":
            raise ValueError("observe_values must be False for task='d_optimal' (every cell "
                             "has the same prior value)")
        self.observe_values = observe_values
        if map_seed is not None:
            check_integer("map_seed", map_seed, minimum=0)
        self.map_seed = map_seed
        footprint = (0 if task == "items" else 1) if footprint is None else footprint
        self.footprint = check_integer("footprint", footprint, minimum=0)
        if 2 * self.footprint + 1 > min(self.height, self.width):
            raise ValueError(f"footprint must leave the square (2 footprint + 1 cells) inside "
                             f"the {self.height} x {self.width} grid, got {footprint}")
        if task == "d_optimal":
            self.objective = DOptimalDesign(capacity=self.horizon + 1)
        elif task == "items":
            self.objective = CappedItems(torch.full((ITEM_TYPES,), ITEM_CAP, dtype=torch.int64),
                                         self.footprint)
        else:
            self.objective = WeightedCoverage(self.footprint)
        size = 3 + self.height * self.width * (int(observe_map) + int(observe_values))
        self.single_observation_space = gymnasium.spaces.Box(0.0, 1.0, (size,), np.float32)
        self.single_action_space = gymnasium.spaces.Discrete(NUM_ACTIONS)

    # ------------------------------------------------------------- instances
    def _free_cells(self, keys: torch.Tensor) -> torch.Tensor:
        """bool (b, H, W): all free, or two rooms split by a wall with one door."""
        if self.custom_free is not None:
            return self.custom_free.expand(keys.shape[0], -1, -1).clone()
        free = torch.ones(keys.shape[0], self.height, self.width, dtype=torch.bool,
                          device=self.device)
        if self.map_name == "two_rooms":
            door = 1 + (uniform(keys, (1,), stream=20)[:, 0] * (self.height - 2)).long()
            rows = torch.arange(self.height, device=self.device)
            free[:, :, self.width // 2] = rows[None, :] == door[:, None]
        return free

    def _start(self, keys: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
        """A uniformly drawn free cell per map (inverse CDF over the free cells), (b, 2)."""
        counts = free.flatten(1).cumsum(dim=1)
        target = (uniform(keys, (1,), stream=21) * counts[:, -1:]).long() + 1
        index = torch.searchsorted(counts, target.clamp(max=counts[:, -1:]))[:, 0]
        return torch.stack([index // self.width, index % self.width], dim=1)

    def _weights(self, keys: torch.Tensor) -> torch.Tensor:
        """Cell weights (b, H, W) float64 of a weighted-coverage task."""
        shape, count = (self.height, self.width), keys.shape[0]
        scale = torch.tensor([self.height - 1, self.width - 1], dtype=torch.float64,
                             device=self.device)
        if self.task == "coverage_constant":
            return torch.ones(count, *shape, dtype=torch.float64, device=self.device)
        if self.task == "coverage_bimodal":
            draws = uniform(keys, (2, 3), stream=22)
            return gaussian_bumps(shape, draws[..., :2] * scale, 3.0 + 3.0 * draws[..., 2],
                                  torch.ones_like(draws[..., 2]))
        if self.task == "biodiversity":
            draws = uniform(keys, (6, 4), stream=23)
            return gaussian_bumps(shape, draws[..., :2] * scale, 1.5 + 2.5 * draws[..., 2],
                                  0.5 + draws[..., 3])
        frequencies = standard_normal(keys, (16, 2), stream=24) / 4.0   # lengthscale 4 cells
        phases = 2.0 * math.pi * uniform(keys, (16,), stream=25)
        amplitudes = standard_normal(keys, (16,), stream=26)
        return torch.exp(random_fourier_field(shape, frequencies, phases, amplitudes))

    def _items(self, keys: torch.Tensor) -> torch.Tensor:
        """Item types (b, H, W) int64, -1 where a cell holds none."""
        draws = uniform(keys, (self.height, self.width), stream=27)
        kinds = (draws / ITEM_DENSITY * ITEM_TYPES).long().clamp(max=ITEM_TYPES - 1)
        return torch.where(draws < ITEM_DENSITY, kinds, -1)

    # ------------------------------------------------------------------ hooks
    def initial_state(self, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        keys = hash_keys(self.split_key, seeds)
        map_keys = (keys if self.map_seed is None
                    else hash_keys(0x3A9, self.map_seed).expand(seeds.shape[0]).clone())
        free = self._free_cells(map_keys)
        start = self._start(keys, free)
        if self.task == "d_optimal":
            objective_state = self.objective.initial_state(seeds.shape[0], self.device)
        elif self.task == "items":
            objective_state = self.objective.initial_state(
                torch.where(free, self._items(map_keys), -1))
        else:
            objective_state = self.objective.initial_state(self._weights(map_keys) * free)
        objective_state, start_value = self.objective.gain(objective_state, start)
        rows = torch.arange(seeds.shape[0], device=self.device)
        visited = torch.zeros_like(free)
        visited[rows, start[:, 0], start[:, 1]] = True
        return {"free": free, "position": start, "visited": visited,
                "time": torch.zeros_like(seeds), "value": start_value, **objective_state}

    def observe(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        features = torch.stack([state["position"][:, 0] / (self.height - 1),
                                state["position"][:, 1] / (self.width - 1),
                                state["time"] / self.horizon], dim=1)
        if self.observe_map:
            features = torch.cat([features, state["visited"].flatten(1)], dim=1)
        if self.observe_values:
            features = torch.cat([features, self.cell_values(state).flatten(1)], dim=1)
        return features.to(torch.float32)

    def cell_values(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """What a cell is worth before anything is covered, scaled to [0, 1] per map:
        weights / max weight, or 1 where an item lies. (B, H, W) float64."""
        if self.task == "items":
            return (state["items"] >= 0).to(torch.float64)
        weights = state["weights"]
        return weights / weights.flatten(1).amax(dim=1).clamp(min=1e-12)[:, None, None]

    def objective_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The part of the env state the objective reads."""
        return {name: value for name, value in state.items() if name not in ENV_STATE_KEYS}

    def transition(self, state, action):
        position = step_positions(state["free"], state["position"], action.long())
        objective_state, gain = self.objective.gain(self.objective_state(state), position)
        rows = torch.arange(position.shape[0], device=self.device)
        visited = state["visited"].clone()
        visited[rows, position[:, 0], position[:, 1]] = True
        time = state["time"] + 1
        value = state["value"] + gain
        new_state = {**state, **objective_state, "position": position, "visited": visited,
                     "time": time, "value": value}
        truncated = time >= self.horizon
        if self.reward_kind == "modular":
            _, gain = self.objective.gain(self.objective.emptied(objective_state), position)
        return (new_state, gain.to(torch.float32), torch.zeros_like(truncated), truncated,
                {"objective_value": value})


CoverageGymEnv, CoverageVectorEnv = derive_envs(CoverageEnv)
