"""Compiled (numba) red-black SOR for B five-point systems on the CPU.

On small grids the torch path of :func:`tunegym.simulators.sor.solve_sor` is bound by
per-operation latency (tens of microseconds per sweep whatever B is). Here one compiled
function runs the whole solve: a loop over the B systems, each swept on its own
zero-padded (m + 2) x (m + 2) grid until it meets its tolerance or ``max_iters``.

The arithmetic is that of the torch path, point by point:

* red points (i + j even): ``x += (omega / c) * r_red``, with ``r_red`` the red residual
  left by the previous sweep (the initial residual before the first);
* black points: ``d = (b + sum of neighbour coefficient * neighbour) - c * x``,
  ``x += (omega / c) * d``;
* red residual of the new iterate: ``r_red = (b + neighbour sum) - c * x``;
* residual norm: ``sqrt(||r_red||^2 + (1 - omega)^2 ||d||^2)`` (after the black update
  the black residual is ``(1 - omega) d``), compared with ``tol * ||b||`` after every
  sweep.

Only the summation order differs from the torch path (sums of squares are accumulated
in float64 here, in the input dtype there), so iteration counts agree except where a
residual lands within rounding of the tolerance. Unlike the torch path's red-black
layout, m = 1 (one red point, no black) is handled. numba is imported on first use, not
with this module; :func:`compiled_available` says whether it can be.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from tunegym.core.compiled import numba_jit
from tunegym.simulators.solve_result import SolveResult

#: dtypes the kernel is compiled for (one specialisation each, on first use).
SUPPORTED_DTYPES = (torch.float64, torch.float32)
_COEFFICIENTS = ("center", "north", "south", "west", "east")


def _solve_red_black(center, north, south, west, east, rhs, initial, omega, tol,
                     max_iters, iterations, solution, converged, relative_residual):
    """Red-black SOR on every system in turn (compiled by numba; see the module doc).

    Args:
        center, north, south, west, east: coefficients, (B, m, m) or (B, 1, 1) each.
        rhs: (B, m, m) right-hand sides. initial: (B, m, m) initial iterates.
        omega: (B,) relaxation factors. tol: relative tolerance. max_iters: sweep cap.
        iterations (B,) int64, solution (B, m, m), converged (B,) bool,
            relative_residual (B,): outputs, written here.
    """
    batch, size = rhs.shape[0], rhs.shape[1]
    dtype = rhs.dtype
    x = np.zeros((size + 2, size + 2), dtype=dtype)       # zero Dirichlet border
    c = np.empty((size, size), dtype=dtype)
    cn = np.empty((size, size), dtype=dtype)
    cs = np.empty((size, size), dtype=dtype)
    cw = np.empty((size, size), dtype=dtype)
    ce = np.empty((size, size), dtype=dtype)
    weight = np.empty((size, size), dtype=dtype)          # omega / c per point
    red_residual = np.zeros((size, size), dtype=dtype)    # only red entries used
    for system in range(batch):
        b = rhs[system]
        rhs_squared = 0.0
        for i in range(size):
            for j in range(size):
                rhs_squared += b[i, j] * b[i, j]
        rhs_norm = math.sqrt(rhs_squared)
        if rhs_norm == 0.0:
            # b = 0 is solved by x = 0 without iterating.
            for i in range(size):
                for j in range(size):
                    solution[system, i, j] = 0.0
            iterations[system] = 0
            converged[system] = True
            relative_residual[system] = 0.0
            continue
        relaxation = omega[system]
        # This system's coefficients on the full grid ((B, 1, 1) ones broadcast); the
        # couplings to points outside the grid are zeroed (they meet the zero border,
        # and a non-finite coefficient there must be ignored, as the torch path does).
        for i in range(size):
            for j in range(size):
                c[i, j] = center[system, i % center.shape[1], j % center.shape[2]]
                cn[i, j] = (north[system, i % north.shape[1], j % north.shape[2]]
                            if i > 0 else 0.0)
                cs[i, j] = (south[system, i % south.shape[1], j % south.shape[2]]
                            if i < size - 1 else 0.0)
                cw[i, j] = (west[system, i % west.shape[1], j % west.shape[2]]
                            if j > 0 else 0.0)
                ce[i, j] = (east[system, i % east.shape[1], j % east.shape[2]]
                            if j < size - 1 else 0.0)
                weight[i, j] = relaxation / c[i, j]
                x[i + 1, j + 1] = initial[system, i, j]
        # b - A x_0 at every point; the red part starts the first sweep.
        squared = 0.0
        for i in range(size):
            for j in range(size):
                neighbours = (cn[i, j] * x[i, j + 1] + cs[i, j] * x[i + 2, j + 1]
                              + cw[i, j] * x[i + 1, j] + ce[i, j] * x[i + 1, j + 2])
                value = b[i, j] - (c[i, j] * x[i + 1, j + 1] - neighbours)
                red_residual[i, j] = value
                squared += value * value
        relative = math.sqrt(squared) / rhs_norm
        finished = relative <= tol
        if finished:
            iterations[system] = 0
            converged[system] = True
            relative_residual[system] = relative
        black_factor = (1.0 - relaxation) ** 2
        sweep = 0
        while not finished:
            sweep += 1
            for i in range(size):
                for j in range(i % 2, size, 2):
                    x[i + 1, j + 1] += weight[i, j] * red_residual[i, j]
            black_squared = 0.0
            for i in range(size):
                for j in range((i + 1) % 2, size, 2):
                    neighbours = (cn[i, j] * x[i, j + 1] + cs[i, j] * x[i + 2, j + 1]
                                  + cw[i, j] * x[i + 1, j] + ce[i, j] * x[i + 1, j + 2])
                    correction = (b[i, j] + neighbours) - c[i, j] * x[i + 1, j + 1]
                    x[i + 1, j + 1] += weight[i, j] * correction
                    black_squared += correction * correction
            red_squared = 0.0
            for i in range(size):
                for j in range(i % 2, size, 2):
                    neighbours = (cn[i, j] * x[i, j + 1] + cs[i, j] * x[i + 2, j + 1]
                                  + cw[i, j] * x[i + 1, j] + ce[i, j] * x[i + 1, j + 2])
                    value = (b[i, j] + neighbours) - c[i, j] * x[i + 1, j + 1]
                    red_residual[i, j] = value
                    red_squared += value * value
            relative = math.sqrt(red_squared + black_squared * black_factor) / rhs_norm
            if relative <= tol:
                finished = True
                iterations[system] = sweep
                converged[system] = True
                relative_residual[system] = relative
            elif not math.isfinite(relative) or sweep == max_iters:
                # Diverged (non-finite residual) or out of sweeps.
                finished = True
                iterations[system] = max_iters
                converged[system] = False
                relative_residual[system] = relative if math.isfinite(relative) else math.inf
        for i in range(size):
            for j in range(size):
                solution[system, i, j] = x[i + 1, j + 1]


@functools.lru_cache(maxsize=1)
def _compiled_kernel():
    """The numba-compiled :func:`_solve_red_black`, or None when numba is missing.

    numba is imported here, on the first call, not when tunegym is imported; each dtype
    is compiled (or loaded from numba's on-disk cache) the first time it is solved.
    """
    jit = numba_jit()
    return None if jit is None else jit(_solve_red_black)


def compiled_available() -> bool:
    """Whether the compiled kernel can be used (numba importable). Compiles nothing."""
    return _compiled_kernel() is not None


def _as_array(tensor: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """``tensor`` as a C-contiguous numpy array of ``dtype`` (no copy where it already is)."""
    if tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    return np.ascontiguousarray(tensor.detach().numpy())


def solve_sor_compiled(stencil, rhs: torch.Tensor, omega: torch.Tensor, tol: float,
                       max_iters: int, initial_guess: torch.Tensor | None) -> SolveResult:
    """Red-black SOR of :func:`tunegym.simulators.sor.solve_sor`, compiled, on the CPU.

    The arguments are taken as validated (``solve_sor`` checks them first).

    Args:
        stencil: a :class:`~tunegym.simulators.sor.GridStencil` of B systems on m x m
            grids; coefficients (B, m, m) or (B, 1, 1), CPU, cast to ``rhs.dtype``.
        rhs: right-hand sides (B, m, m), float64 or float32, CPU.
        omega: relaxation factors (B,) in (0, 2) (dimensionless), cast to ``rhs.dtype``.
        tol: relative tolerance on ``||b - A x_k||_2 / ||b||_2`` (dimensionless).
        max_iters: sweep cap (sweeps; one sweep = red update, then black update).
        initial_guess: (B, m, m) initial iterates (cast to ``rhs.dtype``), zeros if None.

    Returns:
        :class:`SolveResult`: ``iterations`` int64 (B,) (sweeps), ``solution``
        (B, m, m) in ``rhs.dtype``, ``converged`` bool (B,) and ``relative_residual``
        (B,) in ``rhs.dtype`` (``inf`` for diverged runs), as the torch path reports them.

    Raises:
        RuntimeError: numba is not importable.
        ValueError: ``rhs.dtype`` is neither float64 nor float32.
    """
    kernel = _compiled_kernel()
    if kernel is None:
        raise RuntimeError("the compiled SOR kernel needs numba (pip install numba)")
    dtype = rhs.dtype
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"rhs.dtype must be one of {SUPPORTED_DTYPES}, got {dtype}")
    batch, size = stencil.batch_size, stencil.grid_size
    shape = (batch, size, size)
    coefficients = [_as_array(getattr(stencil, name), dtype) for name in _COEFFICIENTS]
    right = _as_array(rhs, dtype)
    initial = (np.zeros(shape, dtype=right.dtype) if initial_guess is None
               else _as_array(initial_guess, dtype))
    relaxation = _as_array(omega.reshape(-1).expand(batch), dtype)
    iterations = np.empty(batch, dtype=np.int64)
    solution = np.empty(shape, dtype=right.dtype)
    converged = np.empty(batch, dtype=np.bool_)
    relative_residual = np.empty(batch, dtype=right.dtype)
    if batch > 0:
        kernel(*coefficients, right, initial, relaxation, float(tol), int(max_iters),
               iterations, solution, converged, relative_residual)
    return SolveResult(*(torch.from_numpy(array) for array in
                         (iterations, solution, converged, relative_residual)))
