"""Compiled (numba) SOR and SSOR-PCG for B five-point systems on the CPU.

On small grids the torch paths of :mod:`tunegym.simulators.sor` are bound by
per-operation latency (tens of microseconds per sweep whatever B is; a natural-order
sweep is 2m - 1 wavefront steps of a few ops each). Here one compiled function runs
the whole job: a loop over the B systems, each on its own zero-padded (m + 2) x (m + 2)
grid, until it meets its tolerance or ``max_iters``. Three kernels:

* :func:`solve_sor_compiled`: SOR to a tolerance, natural (lexicographic, row-major) or
  red-black order;
* :func:`sor_sweeps_compiled`: a fixed number of SOR sweeps, no residual (``sor_sweep``);
* :func:`solve_pcg_compiled`: conjugate gradients, unpreconditioned or preconditioned by
  SSOR (a forward then a backward SOR sweep from zero) in either order.

Coefficients are passed as they are, (B, m, m) or uniform (B, 1, 1) (not expanded in
memory), and copied one system at a time into contiguous (m, m) arrays. The couplings to the zero Dirichlet border are multiplied by its zeros, as in the
torch path (both require finite coefficients, so those products are exact zeros).

The arithmetic is the torch path's, point by point:

* natural SOR: ``d = (b + ((n x_n + s x_s) + w x_w) + e x_e) - c x``, ``x += (omega / c) d``,
  with north/west already updated in the sweep; the residual ``b - (c x - neighbours)``
  is recomputed after each sweep;
* red-black SOR: red points ``x += (omega / c) r_red`` with the red residual left by
  the previous sweep, black points as natural; the residual norm is
  ``sqrt(||r_red||^2 + (1 - omega)^2 ||d_black||^2)`` (after the black update the black
  residual is ``(1 - omega) d``). The sweeps run on colour-compressed grids (each
  colour's points of a row stored contiguously), so the loops vectorise;
* CG: ``alpha = rho / (p . A p)``, ``x += alpha p``, ``r -= alpha A p``, ``z = M^-1 r``,
  ``beta = rho' / rho``, ``p = z + beta p``, stopping on the recurrence residual.

Iterates agree with the torch path to rounding (natural SOR sweeps bit for bit, tested);
sums of squares and dot products are accumulated point by point in float64 here, in
another order there, so iteration counts agree except where a residual lands within
rounding of the tolerance. numba is imported on first use, not with this module;
:func:`compiled_available` says whether it can be.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from tunegym.core.compiled import numba_jit
from tunegym.simulators.solve_result import SolveResult

#: dtypes the kernels are compiled for (one specialisation each, on first use).
SUPPORTED_DTYPES = (torch.float64, torch.float32)
_COEFFICIENTS = ("center", "north", "south", "west", "east")
#: Ordering codes passed to the kernels.
ORDERING_CODES = {"natural": 0, "red_black": 1}
#: Preconditioner codes of the CG kernel: none, SSOR natural, SSOR red-black.
PRECONDITIONER_CODES = {"none": -1, "natural": 0, "red_black": 1}
#: Per-system status codes the kernels write (0: solved), and the ValueError each
#: stands for; the torch path of :mod:`tunegym.simulators.sor` raises the same messages.
VALUE_MESSAGES = {
    "center": "stencil.center (the diagonal of A) must be finite and nonzero",
    "north": "stencil.north must be finite (no NaN or inf entries)",
    "south": "stencil.south must be finite (no NaN or inf entries)",
    "west": "stencil.west must be finite (no NaN or inf entries)",
    "east": "stencil.east must be finite (no NaN or inf entries)",
    "rhs": "rhs must be finite (no NaN or inf entries)",
    "initial_guess": "initial_guess must be finite (no NaN or inf entries)",
    "not_positive_definite": "stencil is not positive definite: CG met p^T A p <= 0; CG "
                             "and SSOR-PCG need a symmetric positive definite A",
}
STATUS_CODES = {name: code for code, name in enumerate(VALUE_MESSAGES, start=1)}
NOT_POSITIVE_DEFINITE = STATUS_CODES["not_positive_definite"]


# --------------------------------------------------------------------------------------
# kernels (plain Python here; _compiled_kernels() jits them). ``x`` is a padded
# (m + 2, m + 2) grid, point (i, j) at x[i + 1, j + 1]. The kernels take the coefficients
# as (B, m, m) or (B, 1, 1) arrays and copy each system's into contiguous (m, m) arrays
# (:func:`_load_system`) before iterating on it.
# --------------------------------------------------------------------------------------
def _neighbours(x, north, south, west, east, i, j):
    """Sum of neighbour coefficient * neighbour value at point (i, j)."""
    return (((north[i, j] * x[i, j + 1] + south[i, j] * x[i + 2, j + 1])
             + west[i, j] * x[i + 1, j]) + east[i, j] * x[i + 1, j + 2])


def _entry(coefficient, s, i, j):
    """Entry (i, j) of system s of a (B, m, m) or uniform (B, 1, 1) coefficient array
    (a select, not a modulo: integer division would dominate the loading)."""
    return coefficient[s, i if coefficient.shape[1] > 1 else 0,
                       j if coefficient.shape[2] > 1 else 0]


def _load_system(center, north, south, west, east, s, omega, coefficients):
    """coefficients (9, m, m) = system s's center, north, south, west, east (contiguous
    copies of the views), the weights omega / center, omega / center times the west and
    the east coefficient (the chained terms of a natural-order sweep), and
    (1 - omega) center / omega (the own term of the residual after a natural sweep)."""
    if (center.shape[1] == 1 and north.shape[1] == 1 and south.shape[1] == 1
            and west.shape[1] == 1 and east.shape[1] == 1):
        # Uniform: each row is one value, computed once (the same operations).
        c = center[s, 0, 0]
        coefficients[0] = c
        coefficients[1] = north[s, 0, 0]
        coefficients[2] = south[s, 0, 0]
        coefficients[3] = west[s, 0, 0]
        coefficients[4] = east[s, 0, 0]
        coefficients[5] = omega / c
        coefficients[6] = coefficients[5, 0, 0] * coefficients[3, 0, 0]
        coefficients[7] = coefficients[5, 0, 0] * coefficients[4, 0, 0]
        coefficients[8] = (1.0 - omega) * c / omega
        return
    for i in range(coefficients.shape[1]):
        for j in range(coefficients.shape[2]):
            c = _entry(center, s, i, j)
            coefficients[0, i, j] = c
            coefficients[1, i, j] = _entry(north, s, i, j)
            coefficients[2, i, j] = _entry(south, s, i, j)
            coefficients[3, i, j] = _entry(west, s, i, j)
            coefficients[4, i, j] = _entry(east, s, i, j)
            coefficients[5, i, j] = omega / c
            coefficients[6, i, j] = coefficients[5, i, j] * coefficients[3, i, j]
            coefficients[7, i, j] = coefficients[5, i, j] * coefficients[4, i, j]
            coefficients[8, i, j] = (1.0 - omega) * c / omega


def _sweep_natural(x, b, center, north, south, west, east, weight, chained, backward):
    """One lexicographic SOR sweep in place (reverse order when ``backward``).

    Along a row each update needs the one just made (its west neighbour; east when
    backward), so the sweep is bound by the latency of that chain, not by throughput.
    The update is therefore split into ``x + weight * (the terms known before the row)``
    plus ``chained * neighbour``, ``chained`` = weight * west (east): two dependent
    operations per point instead of five; the neighbour just updated is carried in a
    local variable, not read back from ``x`` (no store-to-load round trip). The same value as
    ``x + weight * (b + neighbours - c x)``, rounded differently (within 1e-15 of the
    torch path's iterates, tested)."""
    size = weight.shape[0]
    if backward:
        for i in range(size - 1, -1, -1):
            previous = 0.0                   # the Dirichlet border; then the east point
            for j in range(size - 1, -1, -1):
                known = ((b[i, j] + ((north[i, j] * x[i, j + 1] + south[i, j] * x[i + 2, j + 1])
                                     + west[i, j] * x[i + 1, j]))
                         - center[i, j] * x[i + 1, j + 1])
                previous = (x[i + 1, j + 1] + weight[i, j] * known) + chained[i, j] * previous
                x[i + 1, j + 1] = previous
    else:
        for i in range(size):
            previous = 0.0                   # the Dirichlet border; then the west point
            for j in range(size):
                known = ((b[i, j] + ((north[i, j] * x[i, j + 1] + south[i, j] * x[i + 2, j + 1])
                                     + east[i, j] * x[i + 1, j + 2]))
                         - center[i, j] * x[i + 1, j + 1])
                previous = (x[i + 1, j + 1] + weight[i, j] * known) + chained[i, j] * previous
                x[i + 1, j + 1] = previous


def _sweep_natural_residual(x, b, center, north, south, west, east, weight, chained,
                            own, change):
    """One forward lexicographic SOR sweep in place; returns ||b - A x||^2 of the new
    iterate (float64) without a second pass over the stencil.

    The west neighbour, just updated, is carried in a local variable rather than read
    back from ``x``, which keeps the row's update chain to the two operations of
    :func:`_sweep_natural` (no store-to-load round trip).

    Residual: with delta = x_new - x_old = (omega / c) d at a point of correction d,
    the new residual at (i, j) is (1 - omega) d + south delta(i+1, j) + east
    delta(i, j+1) (its later-swept neighbours' changes). ``own`` holds
    (1 - omega) c / omega, so the first term is own * delta; ``change`` (m + 1, m + 1)
    keeps the deltas, with row m and column m zero. Row i - 1's residual is summed once
    row i is swept.
    """
    size = weight.shape[0]
    squared = 0.0
    for i in range(size + 1):
        if i < size:
            previous = 0.0                                  # the Dirichlet border
            for j in range(size):
                old = x[i + 1, j + 1]
                known = ((b[i, j] + ((north[i, j] * x[i, j + 1] + south[i, j] * x[i + 2, j + 1])
                                     + east[i, j] * x[i + 1, j + 2]))
                         - center[i, j] * old)
                previous = (old + weight[i, j] * known) + chained[i, j] * previous
                x[i + 1, j + 1] = previous
                change[i, j] = previous - old
        if i > 0:
            row = i - 1
            for j in range(size):
                value = ((own[row, j] * change[row, j] + south[row, j] * change[i, j])
                         + east[row, j] * change[row, j + 1])
                squared += value * value
    return squared


def _sweep_natural_residual_uniform(x, b, center, north, south, east, weight, chained,
                                    own, change):
    """:func:`_sweep_natural_residual` for a uniform stencil: the same operations with
    the coefficients as scalars, which saves seven loads per point (the sweep is bound
    by loads, not by its update chain: measured 1.4x faster on 10 x 10 grids)."""
    size = b.shape[0]
    squared = 0.0
    for i in range(size + 1):
        if i < size:
            previous = 0.0                                  # the Dirichlet border
            for j in range(size):
                old = x[i + 1, j + 1]
                known = ((b[i, j] + ((north * x[i, j + 1] + south * x[i + 2, j + 1])
                                     + east * x[i + 1, j + 2]))
                         - center * old)
                previous = (old + weight * known) + chained * previous
                x[i + 1, j + 1] = previous
                change[i, j] = previous - old
        if i > 0:
            row = i - 1
            for j in range(size):
                value = ((own * change[row, j] + south * change[i, j])
                         + east * change[row, j + 1])
                squared += value * value
    return squared


# --- red-black on colour-compressed grids. Row i of a colour holds its points
# j = 2k + q in order, q = i % 2 for red, 1 - i % 2 for black; arrays (m + 2, h + 2),
# h = ceil(m / 2), point k of row i at [i + 1, k + 1], the border and a row's unused last
# slot zero. In these coordinates the four neighbours of a point, all of the other
# colour, are other[i, k + 1] (north), other[i + 2, k + 1] (south), other[i + 1, k + q]
# (west) and other[i + 1, k + q + 1] (east): unit-stride loops the compiler vectorises,
# where the full grid's stride-2 loops do not (measured about 4x per half-sweep).
def _parity(i, colour):
    """q: the parity of colour's (0 red, 1 black) columns in row i."""
    return (i + colour) % 2


def _compress(full, colour, out, offset):
    """out[i + offset, k + offset] = full[i, 2k + q] for the points of ``colour``."""
    size = full.shape[0]
    for i in range(size):
        q = _parity(i, colour)
        for k in range((size - q + 1) // 2):
            out[i + offset, k + offset] = full[i, 2 * k + q]


def _expand(compressed, colour, offset, full, full_offset):
    """The inverse of :func:`_compress` into ``full`` (rows and columns + full_offset)."""
    size = full.shape[0] - 2 * full_offset
    for i in range(size):
        q = _parity(i, colour)
        for k in range((size - q + 1) // 2):
            full[i + full_offset, 2 * k + q + full_offset] = compressed[i + offset, k + offset]


def _colour_pass(target, other, b, coefficients, colour, size, update, residual,
                 want_squared):
    """One pass over the points of ``colour``, from the other colour: with d =
    (b + neighbours) - c x (the torch path's red-black arithmetic, point by point), an
    SOR half-sweep ``x += (omega / c) d`` when ``update``, else ``residual[i, k] = d``
    (residual (m, h); not written when updating). ``coefficients`` (6, m, h): center,
    north, south, west, east, omega / center of this colour's points; b (m, h).
    Returns the sum of d^2 (float64) when ``want_squared``, else 0: the flags are
    loop-invariant, and the loop without the running sum vectorises."""
    squared = 0.0
    for i in range(size):
        q = _parity(i, colour)
        for k in range((size - q + 1) // 2):
            correction = ((b[i, k] + (((coefficients[1, i, k] * other[i, k + 1]
                                        + coefficients[2, i, k] * other[i + 2, k + 1])
                                       + coefficients[3, i, k] * other[i + 1, k + q])
                                      + coefficients[4, i, k] * other[i + 1, k + q + 1]))
                          - coefficients[0, i, k] * target[i + 1, k + 1])
            if update:
                target[i + 1, k + 1] += coefficients[5, i, k] * correction
            else:
                residual[i, k] = correction
            if want_squared:
                squared += correction * correction
    return squared


def _colour_pass_uniform(target, other, b, center, north, south, west, east, weight,
                         colour, size, update, residual, want_squared):
    """:func:`_colour_pass` for a uniform stencil, the coefficients as scalars (the same
    operations, so the same bits, and six fewer loads per point)."""
    squared = 0.0
    for i in range(size):
        q = _parity(i, colour)
        for k in range((size - q + 1) // 2):
            correction = ((b[i, k] + (((north * other[i, k + 1] + south * other[i + 2, k + 1])
                                       + west * other[i + 1, k + q])
                                      + east * other[i + 1, k + q + 1]))
                          - center * target[i + 1, k + 1])
            if update:
                target[i + 1, k + 1] += weight * correction
            else:
                residual[i, k] = correction
            if want_squared:
                squared += correction * correction
    return squared


def _colour_step(colours, rhs_colours, coefficients, colour, size, uniform, update,
                 residual, want_squared):
    """:func:`_colour_pass` of ``colour`` on one system's colour arrays, with scalar
    coefficients when ``uniform``."""
    if uniform:
        scalars = coefficients[colour, :, 0, 0]
        return _colour_pass_uniform(colours[colour], colours[1 - colour], rhs_colours[colour],
                                    scalars[0], scalars[1], scalars[2], scalars[3],
                                    scalars[4], scalars[5], colour, size, update, residual,
                                    want_squared)
    return _colour_pass(colours[colour], colours[1 - colour], rhs_colours[colour],
                        coefficients[colour], colour, size, update, residual, want_squared)


def _load_colours(x, b, loaded, colours, rhs_colours, coefficients):
    """Split one system into colours: x (padded full grid) -> colours (2, m + 2, h + 2)
    (zeroed first), b (m, m) -> rhs_colours (2, m, h), loaded[0:6] (center, north,
    south, west, east, weight, (m, m) each) -> coefficients (2, 6, m, h)."""
    size = b.shape[0]
    for colour in range(2):
        for i in range(colours.shape[1]):
            for k in range(colours.shape[2]):
                colours[colour, i, k] = 0.0
        _compress(x[1:size + 1, 1:size + 1], colour, colours[colour], 1)
        _compress(b, colour, rhs_colours[colour], 0)
        for row in range(6):
            _compress(loaded[row], colour, coefficients[colour, row], 0)


def _residual(x, b, center, north, south, west, east, residual):
    """residual = (b + neighbours) - c x at every point; returns its squared norm
    (float64)."""
    size = residual.shape[0]
    squared = 0.0
    for i in range(size):
        for j in range(size):
            value = ((b[i, j] + _neighbours(x, north, south, west, east, i, j))
                     - center[i, j] * x[i + 1, j + 1])
            residual[i, j] = value
            squared += value * value
    return squared


def _all_finite(array, s):
    """Whether every entry of array[s] ((m, m) or (1, 1)) is finite."""
    for i in range(array.shape[1]):
        for j in range(array.shape[2]):
            if not math.isfinite(array[s, i, j]):
                return False
    return True


def _check_system(center, north, south, west, east, rhs, initial, s):
    """0 when system s's values are usable, else the :data:`STATUS_CODES` code of the
    first bad input (in the order of :data:`VALUE_MESSAGES`)."""
    for i in range(center.shape[1]):
        for j in range(center.shape[2]):
            if center[s, i, j] == 0.0 or not math.isfinite(center[s, i, j]):
                return 1
    if not _all_finite(north, s):
        return 2
    if not _all_finite(south, s):
        return 3
    if not _all_finite(west, s):
        return 4
    if not _all_finite(east, s):
        return 5
    if not _all_finite(rhs, s):
        return 6
    if not _all_finite(initial, s):
        return 7
    return 0


def _load(initial, s, x):
    """x's interior = initial[s] (the border stays zero)."""
    for i in range(initial.shape[1]):
        for j in range(initial.shape[2]):
            x[i + 1, j + 1] = initial[s, i, j]


def _store(x, s, solution):
    """solution[s] = x's interior."""
    for i in range(solution.shape[1]):
        for j in range(solution.shape[2]):
            solution[s, i, j] = x[i + 1, j + 1]


def _squared_norm(values):
    """Sum of squares of an (m, m) array, float64."""
    squared = 0.0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            squared += values[i, j] * values[i, j]
    return squared


def _finish(s, iteration, relative, tol, max_iters, iterations, converged,
            relative_residual):
    """Record system s's outcome after ``iteration`` iterations; True when it stops."""
    if relative <= tol:
        iterations[s] = iteration
        converged[s] = True
        relative_residual[s] = relative
        return True
    if not math.isfinite(relative) or iteration == max_iters:
        iterations[s] = max_iters
        converged[s] = False
        relative_residual[s] = relative if math.isfinite(relative) else math.inf
        return True
    return False


#: What :func:`_start_system` leaves to do: iterate, nothing (x_0 meets tol: store it),
#: or skip the system (bad input, or b = 0 with its zero solution already written).
_ITERATE, _DONE, _SKIP = 0, 1, 2


def _start_system(center, north, south, west, east, rhs, initial, omega, s, tol,
                  max_iters, loaded, x, residual, iterations, solution, converged,
                  relative_residual, status):
    """Check system s (status[s]), load its coefficients into ``loaded`` and x_0 into
    x, and write residual = b - A x_0. Returns (||b||, ||b - A x_0|| / ||b||, what is
    left: _ITERATE, _DONE or _SKIP)."""
    status[s] = _check_system(center, north, south, west, east, rhs, initial, s)
    if status[s] != 0:
        return 1.0, 0.0, _SKIP                    # the wrapper raises ValueError
    rhs_norm = math.sqrt(_squared_norm(rhs[s]))
    if rhs_norm == 0.0:
        # b = 0 is solved by x = 0 without iterating.
        for i in range(rhs.shape[1]):
            for j in range(rhs.shape[2]):
                solution[s, i, j] = 0.0
        iterations[s] = 0
        converged[s] = True
        relative_residual[s] = 0.0
        return rhs_norm, 0.0, _SKIP
    _load_system(center, north, south, west, east, s, omega[s], loaded)
    _load(initial, s, x)
    relative = math.sqrt(_residual(x, rhs[s], loaded[0], loaded[1], loaded[2], loaded[3],
                                   loaded[4], residual)) / rhs_norm
    if relative <= tol:
        _finish(s, 0, relative, tol, max_iters, iterations, converged, relative_residual)
        return rhs_norm, relative, _DONE
    return rhs_norm, relative, _ITERATE


def _solve_sor(center, north, south, west, east, rhs, initial, omega, tol, max_iters,
               ordering, iterations, solution, converged, relative_residual, status):
    """SOR on every system in turn until tol or max_iters (see the module doc).

    Args:
        center, north, south, west, east: (B, m, m) or (B, 1, 1) coefficients.
        rhs, initial: (B, m, m). omega: (B,). tol: relative tolerance. max_iters: cap.
        ordering: 0 natural, 1 red-black.
        iterations (B,) int64, solution (B, m, m), converged (B,) bool,
            relative_residual (B,), status (B,) int64 (:data:`STATUS_CODES`; the other
            outputs of a system with a nonzero status are not written): outputs.
    """
    batch, size = rhs.shape[0], rhs.shape[1]
    x = np.zeros((size + 2, size + 2), dtype=rhs.dtype)
    loaded = np.empty((9, size, size), dtype=rhs.dtype)
    c, cn, cs, cw, ce, weight = loaded[0], loaded[1], loaded[2], loaded[3], loaded[4], loaded[5]
    chained_west, own = loaded[6], loaded[8]
    residual = np.zeros((size, size), dtype=rhs.dtype)
    change = np.zeros((size + 1, size + 1), dtype=rhs.dtype)
    uniform = (center.shape[1] == 1 and north.shape[1] == 1 and south.shape[1] == 1
               and west.shape[1] == 1 and east.shape[1] == 1 and size > 1)
    half = (size + 1) // 2
    colours = np.zeros((2, size + 2, half + 2), dtype=rhs.dtype)
    rhs_colours = np.zeros((2, size, half), dtype=rhs.dtype)
    coefficients = np.zeros((2, 6, size, half), dtype=rhs.dtype)
    red_residual = np.zeros((size, half), dtype=rhs.dtype)
    for s in range(batch):
        # In red-black order the red part of b - A x_0 is the first sweep's red correction.
        rhs_norm, relative, start = _start_system(
            center, north, south, west, east, rhs, initial, omega, s, tol, max_iters, loaded,
            x, residual, iterations, solution, converged, relative_residual, status)
        if start == _SKIP:
            continue
        finished = start == _DONE
        b, relaxation = rhs[s], omega[s]
        black_factor = (1.0 - relaxation) ** 2
        if ordering != 0 and not finished:
            _load_colours(x, b, loaded, colours, rhs_colours, coefficients)
            _compress(residual, 0, red_residual, 0)
        sweep = 0
        while not finished:
            sweep += 1
            if ordering == 0 and uniform:
                squared = _sweep_natural_residual_uniform(
                    x, b, c[0, 0], cn[0, 0], cs[0, 0], ce[0, 0], weight[0, 0],
                    chained_west[0, 0], own[0, 0], change)
            elif ordering == 0:
                squared = _sweep_natural_residual(x, b, c, cn, cs, cw, ce, weight,
                                                  chained_west, own, change)
            else:
                red = colours[0]
                for i in range(size):
                    for k in range((size - i % 2 + 1) // 2):
                        red[i + 1, k + 1] += coefficients[0, 5, i, k] * red_residual[i, k]
                squared = black_factor * _colour_step(
                    colours, rhs_colours, coefficients, 1, size, uniform, True, red_residual,
                    True)
                squared += _colour_step(colours, rhs_colours, coefficients, 0, size, uniform,
                                        False, red_residual, True)
            relative = math.sqrt(squared) / rhs_norm
            finished = _finish(s, sweep, relative, tol, max_iters, iterations, converged,
                               relative_residual)
        if ordering != 0 and sweep > 0:
            for colour in range(2):
                _expand(colours[colour], colour, 1, x, 1)
        _store(x, s, solution)


def _sor_sweeps(center, north, south, west, east, rhs, initial, omega, sweeps, ordering,
                solution, status):
    """``sweeps`` SOR sweeps of every system from ``initial`` into ``solution``; status
    (B,) as :func:`_solve_sor`."""
    batch, size = rhs.shape[0], rhs.shape[1]
    x = np.zeros((size + 2, size + 2), dtype=rhs.dtype)
    loaded = np.empty((9, size, size), dtype=rhs.dtype)
    c, cn, cs, cw, ce, weight = loaded[0], loaded[1], loaded[2], loaded[3], loaded[4], loaded[5]
    chained_west = loaded[6]
    uniform = (center.shape[1] == 1 and north.shape[1] == 1 and south.shape[1] == 1
               and west.shape[1] == 1 and east.shape[1] == 1)
    half = (size + 1) // 2
    colours = np.zeros((2, size + 2, half + 2), dtype=rhs.dtype)
    rhs_colours = np.zeros((2, size, half), dtype=rhs.dtype)
    coefficients = np.zeros((2, 6, size, half), dtype=rhs.dtype)
    for s in range(batch):
        status[s] = _check_system(center, north, south, west, east, rhs, initial, s)
        if status[s] != 0:
            continue                              # the wrapper raises ValueError
        _load_system(center, north, south, west, east, s, omega[s], loaded)
        _load(initial, s, x)
        if ordering == 0:
            for _ in range(sweeps):
                _sweep_natural(x, rhs[s], c, cn, cs, cw, ce, weight, chained_west, False)
        else:
            _load_colours(x, rhs[s], loaded, colours, rhs_colours, coefficients)
            for _ in range(sweeps):
                for colour in range(2):
                    _colour_step(colours, rhs_colours, coefficients, colour, size, uniform,
                                 True, rhs_colours[colour], False)
            for colour in range(2):
                _expand(colours[colour], colour, 1, x, 1)
        _store(x, s, solution)


def _precondition(residual, center, north, south, west, east, weight, chained_west,
                  chained_east, omega, preconditioner, z):
    """z (padded) = M^-1 residual: SSOR(omega) in natural (0) or red-black (1) order (a
    forward, then a backward SOR sweep on A z = r from z = 0), or z = r (-1)."""
    size = residual.shape[0]
    for i in range(size + 2):
        for j in range(size + 2):
            z[i, j] = 0.0
    if preconditioner < 0:
        for i in range(size):
            for j in range(size):
                z[i + 1, j + 1] = residual[i, j]
    elif preconditioner == 0:
        _sweep_natural(z, residual, center, north, south, west, east, weight, chained_west,
                       False)
        _sweep_natural(z, residual, center, north, south, west, east, weight, chained_east,
                       True)
    else:
        # The torch path's closed form, with w = omega / c: z_r = w_r r_r;
        # z_b = (2 - omega) w_b (r_b + K_br z_r); z_r = w_r ((2 - omega) r_r + K_rb z_b).
        for i in range(size):
            for j in range(i % 2, size, 2):
                z[i + 1, j + 1] = weight[i, j] * residual[i, j]
        for i in range(size):
            for j in range((i + 1) % 2, size, 2):
                z[i + 1, j + 1] = (weight[i, j] * (residual[i, j] + _neighbours(
                    z, north, south, west, east, i, j))) * (2.0 - omega)
        for i in range(size):
            for j in range(i % 2, size, 2):
                z[i + 1, j + 1] = weight[i, j] * (_neighbours(z, north, south, west, east,
                                                              i, j)
                                                  + (2.0 - omega) * residual[i, j])


def _dot_padded(residual, z):
    """sum residual[i, j] * z[i + 1, j + 1] (residual (m, m), z padded), float64."""
    total = 0.0
    for i in range(residual.shape[0]):
        for j in range(residual.shape[1]):
            total += residual[i, j] * z[i + 1, j + 1]
    return total


def _solve_pcg(center, north, south, west, east, rhs, initial, omega, tol, max_iters,
               preconditioner, iterations, solution, converged, relative_residual, status):
    """(Preconditioned) conjugate gradients on every system in turn (module doc).

    Args: as :func:`_solve_sor`, with ``preconditioner`` -1 none, 0 SSOR natural,
        1 SSOR red-black; ``status`` is also NOT_POSITIVE_DEFINITE where ``p . A p <= 0``
        was met (then the system stops as not converged).
    """
    batch, size = rhs.shape[0], rhs.shape[1]
    dtype = rhs.dtype
    x = np.zeros((size + 2, size + 2), dtype=dtype)
    direction = np.zeros((size + 2, size + 2), dtype=dtype)
    z = np.zeros((size + 2, size + 2), dtype=dtype)
    residual = np.empty((size, size), dtype=dtype)
    product = np.empty((size, size), dtype=dtype)
    loaded = np.empty((9, size, size), dtype=dtype)
    c, cn, cs, cw, ce, weight = loaded[0], loaded[1], loaded[2], loaded[3], loaded[4], loaded[5]
    chained_west, chained_east = loaded[6], loaded[7]
    for s in range(batch):
        rhs_norm, relative, start = _start_system(
            center, north, south, west, east, rhs, initial, omega, s, tol, max_iters, loaded,
            x, residual, iterations, solution, converged, relative_residual, status)
        if start == _SKIP:
            continue
        finished = start == _DONE
        relaxation = omega[s]
        rho = 1.0
        if not finished:
            _precondition(residual, c, cn, cs, cw, ce, weight, chained_west, chained_east,
                          relaxation, preconditioner, z)
            for i in range(size + 2):
                for j in range(size + 2):
                    direction[i, j] = z[i, j]
            rho = _dot_padded(residual, z)
        iteration = 0
        while not finished:
            iteration += 1
            # product = A p, curvature = p . A p
            curvature = 0.0
            for i in range(size):
                for j in range(size):
                    value = (c[i, j] * direction[i + 1, j + 1]
                             - _neighbours(direction, cn, cs, cw, ce, i, j))
                    product[i, j] = value
                    curvature += direction[i + 1, j + 1] * value
            if not curvature > 0.0 and math.isfinite(curvature):
                status[s] = NOT_POSITIVE_DEFINITE
                iterations[s] = max_iters
                converged[s] = False
                relative_residual[s] = relative
                break
            step = rho / curvature
            squared = 0.0
            for i in range(size):
                for j in range(size):
                    x[i + 1, j + 1] += step * direction[i + 1, j + 1]
                    value = residual[i, j] - step * product[i, j]
                    residual[i, j] = value
                    squared += value * value
            relative = math.sqrt(squared) / rhs_norm
            finished = _finish(s, iteration, relative, tol, max_iters, iterations, converged,
                               relative_residual)
            if finished:
                break
            _precondition(residual, c, cn, cs, cw, ce, weight, chained_west, chained_east,
                          relaxation, preconditioner, z)
            rho_next = _dot_padded(residual, z)
            beta = rho_next / rho
            rho = rho_next
            for i in range(size):
                for j in range(size):
                    direction[i + 1, j + 1] = z[i + 1, j + 1] + beta * direction[i + 1, j + 1]
        _store(x, s, solution)


_HELPERS = ("_all_finite", "_check_system", "_neighbours", "_entry", "_load_system",
            "_sweep_natural", "_sweep_natural_residual",
            "_residual", "_load", "_store", "_squared_norm", "_finish", "_start_system",
            "_precondition", "_dot_padded", "_sweep_natural_residual_uniform", "_parity",
            "_compress", "_expand", "_colour_pass", "_colour_pass_uniform", "_colour_step",
            "_load_colours")


@functools.lru_cache(maxsize=1)
def _compiled_kernels() -> SimpleNamespace | None:
    """The jitted kernels, or None when numba is missing.

    numba is imported here, on the first call, not when tunegym is imported. The
    helpers are rebound to their jitted versions first, so that the kernels, which call
    them by these global names, compile in nopython mode; each kernel compiles (or loads
    from numba's on-disk cache) the first time it runs with given argument types.
    """
    jit = numba_jit()
    if jit is None:
        return None
    module = globals()
    for name in _HELPERS:
        if not hasattr(module[name], "py_func"):          # not jitted yet
            module[name] = jit(module[name])
    return SimpleNamespace(solve_sor=jit(_solve_sor), sweeps=jit(_sor_sweeps),
                           solve_pcg=jit(_solve_pcg))


def compiled_available() -> bool:
    """Whether the compiled kernels can be used (numba importable). Compiles nothing."""
    return _compiled_kernels() is not None


def _kernels() -> SimpleNamespace:
    kernels = _compiled_kernels()
    if kernels is None:
        raise RuntimeError("the compiled SOR kernels need numba (pip install numba)")
    return kernels


def _as_array(tensor: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """``tensor`` as a numpy array of ``dtype`` (a view where it already is)."""
    if tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    return tensor.detach().numpy()


def _inputs(stencil, rhs: torch.Tensor, omega: torch.Tensor,
            initial_guess: torch.Tensor | None) -> tuple[list[np.ndarray], np.ndarray,
                                                         np.ndarray, np.ndarray]:
    """(coefficients (B, m, m) or (B, 1, 1) x 5, rhs, initial, omega (B,)) as numpy
    arrays."""
    dtype = rhs.dtype
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"rhs.dtype must be one of {SUPPORTED_DTYPES}, got {dtype}")
    shape = (stencil.batch_size, stencil.grid_size, stencil.grid_size)
    coefficients = [np.ascontiguousarray(_as_array(getattr(stencil, name), dtype))
                    for name in _COEFFICIENTS]
    right = np.ascontiguousarray(_as_array(rhs, dtype))
    initial = (np.zeros(shape, dtype=right.dtype) if initial_guess is None
               else np.ascontiguousarray(_as_array(initial_guess, dtype)))
    relaxation = np.ascontiguousarray(_as_array(omega.reshape(-1).expand(shape[0]), dtype))
    return coefficients, right, initial, relaxation


def _outputs(batch: int, size: int, dtype) -> tuple[np.ndarray, ...]:
    """Empty (iterations, solution, converged, relative_residual) arrays."""
    return (np.empty(batch, dtype=np.int64), np.empty((batch, size, size), dtype=dtype),
            np.empty(batch, dtype=np.bool_), np.empty(batch, dtype=dtype))


def raise_for_status(status: np.ndarray) -> None:
    """ValueError for the first bad input the kernels reported (status (B,) int64),
    naming the argument and the systems concerned; nothing when every status is 0."""
    bad = np.flatnonzero(status)
    if bad.size:
        code = int(status[bad].min())
        systems = np.flatnonzero(status == code)[:4].tolist()
        name = list(VALUE_MESSAGES)[code - 1]
        raise ValueError(f"{VALUE_MESSAGES[name]} (system(s) {systems})")


def solve_sor_compiled(stencil: Any, rhs: torch.Tensor, omega: torch.Tensor,
                       tol: float,
                       max_iters: int, initial_guess: torch.Tensor | None,
                       ordering: str = "red_black") -> SolveResult:
    """SOR of :func:`tunegym.simulators.sor.solve_sor`, compiled, on the CPU.

    The arguments are taken as validated (``solve_sor`` checks them first).

    Args:
        stencil: a :class:`~tunegym.simulators.sor.GridStencil` of B systems on m x m
            grids; coefficients (B, m, m) or (B, 1, 1), CPU, cast to ``rhs.dtype``.
        rhs: right-hand sides (B, m, m), float64 or float32, CPU.
        omega: relaxation factors (B,) in (0, 2) (dimensionless), cast to ``rhs.dtype``.
        tol: relative tolerance on ``||b - A x_k||_2 / ||b||_2`` (dimensionless).
        max_iters: sweep cap (sweeps).
        initial_guess: (B, m, m) initial iterates (cast to ``rhs.dtype``), zeros if None.
        ordering: "natural" (lexicographic, row-major) or "red_black".

    Returns:
        :class:`SolveResult`: ``iterations`` int64 (B,) (sweeps), ``solution``
        (B, m, m) in ``rhs.dtype``, ``converged`` bool (B,) and ``relative_residual``
        (B,) in ``rhs.dtype`` (``inf`` for diverged runs), as the torch path reports them.

    Raises:
        RuntimeError: numba is not importable.
        ValueError: ``rhs.dtype`` is neither float64 nor float32, or an input holds a
            non-finite value or the diagonal a zero (:data:`VALUE_MESSAGES`).
    """
    kernels = _kernels()
    coefficients, right, initial, relaxation = _inputs(stencil, rhs, omega, initial_guess)
    outputs = _outputs(stencil.batch_size, stencil.grid_size, right.dtype)
    status = np.zeros(stencil.batch_size, dtype=np.int64)
    if stencil.batch_size > 0:
        kernels.solve_sor(*coefficients, right, initial, relaxation, float(tol),
                          int(max_iters), ORDERING_CODES[ordering], *outputs, status)
    raise_for_status(status)
    return SolveResult(*(torch.from_numpy(array) for array in outputs))


def sor_sweeps_compiled(stencil: Any, u: torch.Tensor, rhs: torch.Tensor,
                        omega: torch.Tensor,
                        sweeps: int, ordering: str) -> torch.Tensor:
    """``sweeps`` SOR sweeps of :func:`tunegym.simulators.sor.sor_sweep`, compiled.

    Args:
        stencil: B systems on m x m grids (CPU). u: (B, m, m) iterates. rhs: (B, m, m).
        omega: (B,) relaxation factors. sweeps: number of sweeps (>= 0).
        ordering: "natural" or "red_black".

    Returns:
        The new iterates (B, m, m) in ``rhs.dtype`` (u is not modified).
    """
    kernels = _kernels()
    coefficients, right, initial, relaxation = _inputs(stencil, rhs, omega, u)
    solution = np.empty_like(right)
    status = np.zeros(stencil.batch_size, dtype=np.int64)
    if stencil.batch_size > 0:
        kernels.sweeps(*coefficients, right, initial, relaxation, int(sweeps),
                       ORDERING_CODES[ordering], solution, status)
    raise_for_status(status)
    return torch.from_numpy(solution)


def solve_pcg_compiled(stencil: Any, rhs: torch.Tensor, omega: torch.Tensor,
                       tol: float,
                       max_iters: int, initial_guess: torch.Tensor | None,
                       preconditioner: str) -> SolveResult:
    """Conjugate gradients of :func:`tunegym.simulators.sor.solve_ssor_pcg`, compiled.

    Args:
        stencil: as :func:`solve_sor_compiled`.
        rhs: as :func:`solve_sor_compiled`.
        omega: the SSOR factors (B,) in (0, 2) (unused by "none").
        tol: relative tolerance on the recurrence residual.
        max_iters: CG iteration cap.
        initial_guess: as :func:`solve_sor_compiled`.
        preconditioner: "none" (plain CG), "natural" or "red_black" (SSOR in that order).

    Returns:
        :class:`SolveResult`, iterations counted in CG iterations.

    Raises:
        ValueError: a non-finite input, a zero diagonal, or ``p . A p <= 0`` met (A is
            not positive definite).
    """
    kernels = _kernels()
    coefficients, right, initial, relaxation = _inputs(stencil, rhs, omega, initial_guess)
    outputs = _outputs(stencil.batch_size, stencil.grid_size, right.dtype)
    status = np.zeros(stencil.batch_size, dtype=np.int64)
    if stencil.batch_size > 0:
        kernels.solve_pcg(*coefficients, right, initial, relaxation, float(tol),
                          int(max_iters), PRECONDITIONER_CODES[preconditioner], *outputs,
                          status)
    raise_for_status(status)
    return SolveResult(*(torch.from_numpy(array) for array in outputs))
