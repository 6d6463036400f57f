"""Result type shared by the batched iterative solvers."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SolveResult:
    """Outcome of B iterative solves.

    Attributes:
        iterations: int64 (B,), sweeps (SOR) or CG iterations needed to reach
            ``||b - A x_k|| <= tol * ||b||``; ``max_iters`` where not reached.
        solution: float (B, ...), the last iterate (grid shape for stencil solvers,
            (B, n) for matrix solvers).
        converged: bool (B,), whether the tolerance was reached within ``max_iters``
            (False for diverged or non-finite runs).
        relative_residual: float64 (B,), ``||b - A x|| / ||b||`` of ``solution``
            (``inf`` where the iteration blew up).
    """

    iterations: torch.Tensor
    solution: torch.Tensor
    converged: torch.Tensor
    relative_residual: torch.Tensor
