"""Exercise 3: greedy marginal-gain coverage, then SubPO's policy-gradient loss.

Fill in the three TODOs (README.md has the maths and the exact interface), then grade
this file with

    tunegym exercise check 3 starter.py

or run ``python starter.py``, which prints the same report.

Shapes: B grid worlds (or episodes) of H x W cells, T steps per episode, 5 actions
(0 stay, 1 up, 2 down, 3 left, 4 right).
"""

from __future__ import annotations

import torch

from tunegym.envs.coverage import NUM_ACTIONS
from tunegym.simulators.coverage import step_positions

#: Gains closer than this to the best one count as ties (floating-point round-off).
TIE_TOLERANCE = 1e-12


def marginal_gains(weights: torch.Tensor, covered: torch.Tensor, free: torch.Tensor,
                   position: torch.Tensor, footprint: int) -> torch.Tensor:
    """Marginal gain F(S + {x_a}) - F(S) of each action a, for B grid worlds.

    Args:
        weights: float64 (B, H, W) non-negative cell weights (0 on walls).
        covered: bool (B, H, W), the cells covered so far (the footprints of S).
        free: bool (B, H, W), the walkable cells.
        position: int64 (B, 2), the agent's (row, column).
        footprint: sensing radius r in cells: the cell reached covers every cell within
            Chebyshev distance r of it (a (2r + 1) x (2r + 1) square, cut at the border).

    Returns:
        float64 (B, 5): the gains of stay, up, down, left, right.
    """
    batch_size = weights.shape[0]
    gains = []
    for action in range(NUM_ACTIONS):
        actions = torch.full((batch_size,), action, dtype=torch.int64, device=weights.device)
        # The cell x_a reached by this action (B, 2); a blocked move stays where it is.
        cell = step_positions(free, position, actions)
        # TODO 1: mark the cells (B, H, W) within Chebyshev distance `footprint` of `cell`
        # (compare torch.arange(H) with the rows and torch.arange(W) with the columns),
        # keep those not covered yet and append the sum of their weights (B,) to `gains`.
        raise NotImplementedError("TODO 1: the weight newly covered by the footprint of `cell`")
    return torch.stack(gains, dim=1)


def greedy_action(gains: torch.Tensor, tie_break: torch.Tensor) -> torch.Tensor:
    """The action of largest gain; among ties (within TIE_TOLERANCE of the best), the one
    with the largest ``tie_break``.

    Args:
        gains: float64 (B, 5) marginal gains of the five actions.
        tie_break: float64 (B, 5) uniform draws in [0, 1).

    Returns:
        int64 (B,) actions in 0..4.
    """
    # TODO 2: which actions are (tied) best, then the best one by tie_break.
    raise NotImplementedError("TODO 2: argmax of the gains, ties to the largest tie_break")


def subpo_loss(log_probs: torch.Tensor, gains: torch.Tensor,
               baseline: bool = True) -> torch.Tensor:
    """SubPO surrogate loss of B episodes of T steps.

    loss = -1/B sum_{b, t} log_probs[b, t] * (G[b, t] - c[t]),
    G[b, t] = sum_{k >= t} gains[b, k],  c[t] = mean_b G[b, t] (0 without baseline).

    Args:
        log_probs: (B, T) log pi(a_t | s_t) of the actions taken, with gradient.
        gains: (B, T) the marginal gains F(S_{t+1}) - F(S_t) received, no gradient.
        baseline: subtract the mean over episodes of the reward-to-go at each step.

    Returns:
        A scalar tensor whose gradient is minus the SubPO policy-gradient estimate.
    """
    # TODO 3: the reward-to-go G (B, T), the baseline c (T,) when asked, then the loss.
    raise NotImplementedError("TODO 3: the SubPO loss from the reward-to-go of the gains")


if __name__ == "__main__":
    from pathlib import Path

    from tunegym.exercises import check_exercise
    from tunegym.exercises.grading import format_report

    print(format_report("exercise 3", check_exercise(3, Path(__file__))))
