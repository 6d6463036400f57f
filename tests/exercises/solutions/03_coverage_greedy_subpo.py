"""Exercise 3 reference solution: greedy marginal-gain coverage, then SubPO's loss.

Written from the maths of the task text: the gain of a move is the weight of the cells
its footprint newly covers; SubPO's loss weights each log-probability by the sum of the
marginal gains still to come, minus their mean over the episodes of the batch.
"""

from __future__ import annotations

import torch

from tunegym.envs.coverage import NUM_ACTIONS
from tunegym.simulators.coverage import step_positions

#: Gains closer than this to the best one count as ties.
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
    batch_size, height, width = weights.shape
    rows = torch.arange(height, device=weights.device)
    columns = torch.arange(width, device=weights.device)
    gains = []
    for action in range(NUM_ACTIONS):
        actions = torch.full((batch_size,), action, dtype=torch.int64, device=weights.device)
        cell = step_positions(free, position, actions)                       # (B, 2)
        near_row = (rows[None, :] - cell[:, :1]).abs() <= footprint          # (B, H)
        near_column = (columns[None, :] - cell[:, 1:]).abs() <= footprint    # (B, W)
        sensed = near_row[:, :, None] & near_column[:, None, :]              # (B, H, W)
        gains.append((weights * (sensed & ~covered)).sum(dim=(1, 2)))
    return torch.stack(gains, dim=1).to(torch.float64)


def greedy_action(gains: torch.Tensor, tie_break: torch.Tensor) -> torch.Tensor:
    """The action of largest gain; among ties (within 1e-12 of the best), the one with the
    largest ``tie_break``.

    Args:
        gains: float64 (B, 5) marginal gains of the five actions.
        tie_break: float64 (B, 5) uniform draws in [0, 1).

    Returns:
        int64 (B,) actions in 0..4.
    """
    best = gains >= gains.max(dim=1, keepdim=True).values - TIE_TOLERANCE
    return torch.where(best, tie_break, -1.0).argmax(dim=1)


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
    returns_to_go = gains.flip(1).cumsum(dim=1).flip(1)
    if baseline:
        returns_to_go = returns_to_go - returns_to_go.mean(dim=0, keepdim=True)
    return -(log_probs * returns_to_go.detach()).sum() / log_probs.shape[0]


if __name__ == "__main__":
    from pathlib import Path

    from tunegym.exercises import check_exercise
    from tunegym.exercises.grading import format_report

    print(format_report("exercise 3", check_exercise(3, Path(__file__))))
