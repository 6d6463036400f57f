"""Coverage objectives against brute force and a direct log-determinant."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tunegym.simulators.coverage import (
    CappedItems,
    DOptimalDesign,
    WeightedCoverage,
    rbf_kernel,
    set_value,
    step_positions,
)

SHAPE = (6, 7)


def covered_cells(cells, radius):
    """Brute force: the set of grid cells within Chebyshev distance radius of any cell."""
    covered = set()
    for row, column in cells:
        for i, j in itertools.product(range(SHAPE[0]), range(SHAPE[1])):
            if abs(i - row) <= radius and abs(j - column) <= radius:
                covered.add((i, j))
    return covered


def coverage_value(weights, cells, radius):
    return sum(weights[i, j] for i, j in covered_cells(cells, radius))


def items_value(items, cells, radius, caps):
    found = np.zeros(len(caps), dtype=int)
    for i, j in covered_cells(cells, radius):
        if items[i, j] >= 0:
            found[items[i, j]] += 1
    return float(np.minimum(found, caps).sum())


def d_optimal_value(cells, lengthscale, noise):
    points = torch.tensor(cells, dtype=torch.float64)
    kernel = rbf_kernel(points, points, lengthscale)
    identity = torch.eye(len(cells), dtype=torch.float64)
    return 0.5 * float(torch.linalg.slogdet(identity + kernel / noise)[1])


def random_cells(generator, batch, count):
    return torch.stack([torch.randint(0, SHAPE[0], (batch, count), generator=generator),
                        torch.randint(0, SHAPE[1], (batch, count), generator=generator)], dim=2)


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_weighted_coverage_gains_sum_to_the_brute_force_value(radius):
    generator = torch.Generator().manual_seed(radius)
    weights = torch.rand(5, *SHAPE, generator=generator, dtype=torch.float64)
    cells = random_cells(generator, 5, 9)
    objective = WeightedCoverage(radius)
    values = set_value(objective, objective.initial_state(weights), cells)
    for b in range(5):
        expected = coverage_value(weights[b].numpy(), cells[b].tolist(), radius)
        assert values[b].item() == pytest.approx(expected, abs=1e-12)


def test_capped_items_gains_sum_to_the_brute_force_value():
    generator = torch.Generator().manual_seed(3)
    items = torch.randint(-3, 3, (5, *SHAPE), generator=generator).clamp(min=-1)
    caps = torch.tensor([1, 2, 3])
    cells = random_cells(generator, 5, 8)
    objective = CappedItems(caps, footprint=1)
    values = set_value(objective, objective.initial_state(items), cells)
    for b in range(5):
        expected = items_value(items[b].numpy(), cells[b].tolist(), 1, caps.numpy())
        assert values[b].item() == expected


def test_d_optimal_gains_sum_to_half_logdet_with_repeated_cells():
    generator = torch.Generator().manual_seed(5)
    cells = random_cells(generator, 4, 10)
    cells[:, 5] = cells[:, 2]                         # a repeated measurement
    objective = DOptimalDesign(capacity=10, lengthscale=1.5, noise=0.2)
    values = set_value(objective, objective.initial_state(4, torch.device("cpu")), cells)
    for b in range(4):
        assert values[b].item() == pytest.approx(
            d_optimal_value(cells[b].tolist(), 1.5, 0.2), rel=1e-10)


def test_d_optimal_refuses_more_measurements_than_its_capacity():
    objective = DOptimalDesign(capacity=2)
    state = objective.initial_state(1, torch.device("cpu"))
    cell = torch.tensor([[1, 1]])
    state, _ = objective.gain(state, cell)
    state, _ = objective.gain(state, cell)
    with pytest.raises(ValueError, match="capacity"):
        objective.gain(state, cell)


cell_lists = st.lists(st.tuples(st.integers(0, SHAPE[0] - 1), st.integers(0, SHAPE[1] - 1)),
                      min_size=0, max_size=6)


@settings(max_examples=40, deadline=None)
@given(smaller=cell_lists, extra=cell_lists, new=st.tuples(st.integers(0, SHAPE[0] - 1),
                                                           st.integers(0, SHAPE[1] - 1)))
def test_objectives_are_monotone_and_submodular(smaller, extra, new):
    """For A a subset of B and any x: F(A) <= F(B) and F(A + x) - F(A) >= F(B + x) - F(B)."""
    weights = torch.rand(1, *SHAPE, generator=torch.Generator().manual_seed(0),
                         dtype=torch.float64)
    items = torch.arange(SHAPE[0] * SHAPE[1]).reshape(1, *SHAPE) % 4 - 1
    objectives = [
        (WeightedCoverage(1), lambda objective: objective.initial_state(weights)),
        (CappedItems(torch.tensor([1, 2, 1]), 1), lambda objective: objective.initial_state(items)),
        (DOptimalDesign(capacity=14), lambda objective: objective.initial_state(
            1, torch.device("cpu"))),
    ]
    larger = smaller + extra

    def value(objective, initial, cells):
        if not cells:
            return 0.0
        return set_value(objective, initial(objective), torch.tensor([cells])).item()

    for objective, initial in objectives:
        value_small, value_large = value(objective, initial, smaller), value(
            objective, initial, larger)
        assert value_small <= value_large + 1e-9
        gain_small = value(objective, initial, [*smaller, new]) - value_small
        gain_large = value(objective, initial, [*larger, new]) - value_large
        assert gain_small >= gain_large - 1e-9


def test_moves_stop_at_walls_and_borders():
    free = torch.ones(1, 3, 3, dtype=torch.bool)
    free[0, 1, 1] = False                              # a wall in the middle
    position = torch.tensor([[0, 1]])
    # stay, up (border), down (wall), left, right
    expected = [[0, 1], [0, 1], [0, 1], [0, 0], [0, 2]]
    for action, target in enumerate(expected):
        moved = step_positions(free, position, torch.tensor([action]))
        assert moved.tolist() == [target]
