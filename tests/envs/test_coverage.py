"""Coverage env: rewards and values against brute force, maps, spaces, bad input."""

import gymnasium
import numpy as np
import pytest
import torch

import tunegym  # noqa: F401
from tests.simulators.test_coverage import d_optimal_value
from tunegym.envs.coverage import CoverageEnv


def brute_force_coverage(weights, cells, radius):
    height, width = weights.shape
    covered = np.zeros((height, width), dtype=bool)
    for row, column in cells:
        covered[max(0, row - radius):row + radius + 1, max(0, column - radius):column + radius + 1] \
            = True
    return float((weights * covered).sum())


def random_walk(env, steps, seed):
    """Step ``env`` with random actions; returns the cells each env stood on (start
    included) and the last info."""
    cells = [[tuple(position)] for position in env.state["position"].tolist()]
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        _, _, _, _, info = env.step(torch.randint(0, 5, (env.num_envs,), generator=generator))
        for b, position in enumerate(env.state["position"].tolist()):
            cells[b].append(tuple(position))
    return cells, info


@pytest.mark.parametrize("task", ["coverage_constant", "coverage_bimodal", "informative_path",
                                  "biodiversity"])
def test_rewards_are_marginal_gains_of_the_brute_force_coverage(task):
    env = CoverageEnv(num_envs=3, task=task, height=9, width=11, horizon=15, footprint=1)
    env.reset(torch.arange(3))
    weights = env.state["weights"].numpy()
    cells = [[tuple(env.state["position"][b].tolist())] for b in range(3)]
    generator = torch.Generator().manual_seed(0)
    for _ in range(15):
        _, reward, _, _, info = env.step(torch.randint(0, 5, (3,), generator=generator))
        for b in range(3):
            before = brute_force_coverage(weights[b], cells[b], 1)
            cells[b].append(tuple(env.state["position"][b].tolist()))
            after = brute_force_coverage(weights[b], cells[b], 1)
            assert reward[b].item() == pytest.approx(after - before, rel=1e-5, abs=1e-6)
            assert info["objective_value"][b].item() == pytest.approx(after, rel=1e-10)


def test_d_optimal_value_is_the_log_determinant_of_the_visited_cells():
    env = CoverageEnv(num_envs=2, task="d_optimal", height=8, width=8, horizon=10)
    env.reset(torch.tensor([4, 5]))
    cells = [[tuple(env.state["position"][b].tolist())] for b in range(2)]
    for action in [4, 4, 2, 0, 3, 1, 1, 4, 2, 2]:
        _, _, _, _, info = env.step(torch.full((2,), action))
        for b in range(2):
            cells[b].append(tuple(env.state["position"][b].tolist()))
    for b in range(2):
        assert info["objective_value"][b].item() == pytest.approx(
            d_optimal_value(cells[b], 2.0, 0.1), rel=1e-10)


def test_items_value_counts_capped_items():
    env = CoverageEnv(num_envs=4, task="items", horizon=30)
    env.reset(torch.arange(4))
    items = env.state["items"].numpy()
    visited, info = random_walk(env, 30, seed=1)
    for b in range(4):
        counts = np.bincount([items[b][cell] for cell in set(visited[b]) if items[b][cell] >= 0],
                             minlength=3)
        assert info["objective_value"][b].item() == float(np.minimum(counts, 2).sum())


def test_two_rooms_are_joined_by_one_door():
    env = CoverageEnv(num_envs=20, map="two_rooms")
    env.reset(torch.arange(20))
    free = env.state["free"]
    assert free.shape[1:] == (7, 14)
    wall = free[:, :, 7]
    assert wall.sum(dim=1).tolist() == [1] * 20                     # exactly one door each
    assert free[:, :, :7].all() and free[:, :, 8:].all()
    start = env.state["position"]
    assert bool(free[torch.arange(20), start[:, 0], start[:, 1]].all())


def test_start_cells_vary_with_the_seed_and_the_split():
    train = CoverageEnv(num_envs=50, split="train")
    test = CoverageEnv(num_envs=50, split="test")
    train.reset(torch.arange(50))
    test.reset(torch.arange(50))
    assert len({tuple(p) for p in train.state["position"].tolist()}) > 30
    assert not torch.equal(train.state["position"], test.state["position"])


def test_observation_has_position_time_and_optionally_the_visited_map():
    env = gymnasium.make("tunegym/Coverage-v0", observe_map=True, height=5, width=6)
    observation, _ = env.reset(seed=0)
    assert observation.shape == (3 + 30,)
    position = env.unwrapped.batched.state["position"][0]
    assert observation[0] == pytest.approx(position[0].item() / 4)
    assert observation[1] == pytest.approx(position[1].item() / 5)
    assert observation[2] == 0.0 and observation[3:].sum() == 1.0
    observation, *_ = env.step(0)
    assert observation[2] == pytest.approx(1 / 40)


@pytest.mark.parametrize("kwargs, name", [
    ({"task": "cover"}, "task"), ({"map": "maze"}, "map"), ({"height": 2}, "height"),
    ({"horizon": 0}, "horizon"), ({"footprint": -1}, "footprint"),
    ({"footprint": 4, "height": 7, "width": 15, "task": "items"}, "footprint"),
    ({"observe_map": "no"}, "observe_map"), ({"reward": "additive"}, "reward"),
])
def test_bad_kwargs_are_rejected_with_the_argument_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CoverageEnv(**kwargs)


def test_out_of_range_actions_are_errors():
    env = gymnasium.make("tunegym/Coverage-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(5)


def test_modular_reward_is_the_singleton_value_and_counts_revisits():
    env = CoverageEnv(num_envs=2, task="coverage_bimodal", height=9, width=9, horizon=4,
                      reward="modular")
    env.reset(torch.arange(2))
    weights = env.state["weights"].numpy()
    for _ in range(4):                                   # stay put: the same reward again
        _, reward, _, _, info = env.step(torch.zeros(2, dtype=torch.int64))
        for b in range(2):
            cell = tuple(env.state["position"][b].tolist())
            assert reward[b].item() == pytest.approx(
                brute_force_coverage(weights[b], [cell], 1), rel=1e-5)
            assert info["objective_value"][b].item() == pytest.approx(
                brute_force_coverage(weights[b], [cell], 1), rel=1e-10)


def test_map_seed_fixes_the_map_but_not_the_start():
    env = CoverageEnv(num_envs=6, task="informative_path", map="two_rooms", map_seed=3)
    env.reset(torch.arange(6))
    assert all(torch.equal(env.state["weights"][0], env.state["weights"][b]) for b in range(6))
    assert all(torch.equal(env.state["free"][0], env.state["free"][b]) for b in range(6))
    assert len({tuple(p) for p in env.state["position"].tolist()}) > 1
    other = CoverageEnv(num_envs=1, task="informative_path", map="two_rooms", map_seed=4)
    other.reset(torch.arange(1))
    assert not torch.equal(other.state["weights"][0], env.state["weights"][0])


def test_observed_values_are_the_scaled_weights_or_item_presence():
    env = CoverageEnv(num_envs=2, task="biodiversity", height=6, width=7, observe_values=True)
    observation = env.reset(torch.arange(2))
    weights = env.state["weights"]
    expected = (weights / weights.flatten(1).max(dim=1).values[:, None, None]).flatten(1)
    torch.testing.assert_close(observation[:, 3:], expected.float())
    items = CoverageEnv(num_envs=2, task="items", observe_values=True, observe_map=True)
    observation = items.reset(torch.arange(2))
    presence = (items.state["items"] >= 0).flatten(1).float()
    assert torch.equal(observation[:, 3 + 105:], presence)
    with pytest.raises(ValueError, match="observe_values"):
        CoverageEnv(task="d_optimal", observe_values=True)


def test_a_custom_map_is_walkable_only_on_its_free_cells():
    rows = ["....#", ".##.#", "....."]
    env = CoverageEnv(num_envs=16, map=rows, horizon=20)
    env.reset(torch.arange(16))
    expected = torch.tensor([[cell == "." for cell in row] for row in rows])
    assert torch.equal(env.state["free"][0], expected)
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        env.step(torch.randint(0, 5, (16,), generator=generator))
        position = env.state["position"]
        assert bool(expected[position[:, 0], position[:, 1]].all())


@pytest.mark.parametrize("rows, message", [
    (["###", "###", "###"], "no free cell"), (["...", ".."], "same length"),
    (["..x", "...", "..."], "may only contain"), ([], "map must be"),
])
def test_bad_custom_maps_are_rejected(rows, message):
    with pytest.raises(ValueError, match=message):
        CoverageEnv(map=rows)


def test_custom_map_and_explicit_shape_conflict():
    with pytest.raises(ValueError, match="height and width"):
        CoverageEnv(map=["...", "...", "..."], height=5)
