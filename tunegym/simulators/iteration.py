"""The iteration driver shared by the batched iterative solvers (stencil SOR, SSOR-PCG,
sparse-matrix SOR): per-system stopping, freezing and batch compaction."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from tunegym.simulators.solve_result import SolveResult


def select_systems(tree: Any, index: torch.Tensor) -> Any:
    """Keep the systems ``index`` (int64 or bool over the system dim) of a solver state.

    Tensors are indexed on their last dim (solver states keep the system index last,
    (n, B)); dicts, lists and tuples are handled recursively; any other object must
    have a ``select(index)`` method.
    """
    if isinstance(tree, torch.Tensor):
        return tree[..., index]
    if isinstance(tree, dict):
        return {key: select_systems(value, index) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [select_systems(value, index) for value in tree]
    return tree.select(index)


def run_until_converged(state: dict, advance: Callable[[dict], torch.Tensor],
                        initial_residual_norm: torch.Tensor, rhs_norm: torch.Tensor,
                        solution: torch.Tensor,
                        read_solution: Callable[[dict, torch.Tensor], torch.Tensor],
                        tol: float, max_iters: int) -> SolveResult:
    """Iterate B systems until each has ``||b - A x_k|| <= tol ||b||`` or ``max_iters``.

    Args:
        state: the systems still iterating, in the layout :func:`select_systems` reads.
        advance: performs one iteration of every system in ``state`` in place and
            returns their residual norms ``||b - A x_k||`` (b,).
        initial_residual_norm: ``||b - A x_0||`` (B,).
        rhs_norm: ``||b||`` (B,). A system with b = 0 is solved by x = 0: it reports
            0 iterations and a zero solution without iterating.
        solution: (B, ...) initial iterates; overwritten with each system's final iterate.
        read_solution: ``read_solution(state, mask)`` returns the iterates (b', ...) of
            the systems of ``state`` selected by the bool mask.
        tol: relative tolerance.
        max_iters: iteration cap.

    Returns:
        :class:`SolveResult`. A system stops at the first iteration meeting the tolerance
        (its iterate is frozen there, so results do not depend on which systems share
        the batch); a non-finite residual stops it as diverged (``iterations =
        max_iters``, ``converged = False``, ``relative_residual = inf``). Finished
        systems are dropped from ``state`` once they make up a quarter of it.
    """
    batch, device = rhs_norm.shape[0], rhs_norm.device
    zero_rhs = rhs_norm == 0
    scale = torch.where(zero_rhs, torch.ones_like(rhs_norm), rhs_norm)
    relative_residual = torch.where(zero_rhs, torch.zeros_like(rhs_norm),
                                    initial_residual_norm / scale)
    solution[zero_rhs] = 0.0
    converged = relative_residual <= tol
    iterations = torch.where(converged, 0, max_iters).to(torch.int64)
    running = torch.nonzero(~converged).flatten()
    if running.numel() < batch:
        state = select_systems(state, running)
    running_scale = scale[running]
    alive = torch.ones(running.numel(), dtype=torch.bool, device=device)
    for iteration in range(1, max_iters + 1):
        if running.numel() == 0:
            break
        residual = advance(state) / running_scale
        finished = alive & ((residual <= tol) | ~torch.isfinite(residual))
        if iteration == max_iters:
            finished = alive.clone()
        if bool(finished.any()):
            indices = running[finished]
            reached = residual[finished] <= tol
            iterations[indices] = torch.where(reached, iteration, max_iters)
            converged[indices] = reached
            relative_residual[indices] = torch.where(torch.isfinite(residual[finished]),
                                                     residual[finished], math.inf)
            solution[indices] = read_solution(state, finished)
            alive &= ~finished
            if int(alive.sum()) * 4 <= 3 * alive.numel():
                running, state = running[alive], select_systems(state, alive)
                running_scale = running_scale[alive]
                alive = torch.ones(running.numel(), dtype=torch.bool, device=device)
    return SolveResult(iterations, solution, converged, relative_residual)
