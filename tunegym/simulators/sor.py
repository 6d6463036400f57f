"""Batched SOR and SSOR-preconditioned CG on five-point stencils (red-black ordering).

A :class:`GridStencil` holds B linear systems on m x m interior grids with zero
Dirichlet boundary::

    (A u)[i, j] = center[i, j] u[i, j] - north[i, j] u[i-1, j] - south[i, j] u[i+1, j]
                  - west[i, j] u[i, j-1] - east[i, j] u[i, j+1]

Red-black SOR updates all red points (i + j even) from the black ones, then all
black points from the new red ones. To make each half-sweep a few contiguous tensor
ops, grids are stored in *polyphase* form: four (B, M+2, M+2) arrays
``u[2a+p, 2b+q]`` for (p, q) in {0,1}^2 with a one-cell zero halo (M = ceil(m/2)).
Red = phases (0,0), (1,1); black = (0,1), (1,0); every neighbour of a phase is a
unit-offset slice of another phase. Odd m is padded to even with points that are
held at zero (masked), which is the Dirichlet boundary again.

Red-black SOR is lexicographic SOR on the red-black permuted matrix, so iterates
equal ``pyamg.relaxation.relaxation.sor`` on ``P A P^T`` (tested). Against natural
(lexicographic) ordering the asymptotic rate is the same for consistently ordered
matrices (Young), so iteration counts differ by a few percent (tested bound).

Stopping rule for both solvers: the first k with ``||b - A x_k||_2 <= tol ||b||_2``
(this is the paper's ``||r_k|| / ||r_0||`` when x_0 = 0, and MATLAB pcg's rule).
SOR's residual comes almost for free: the black residual equals
``(1/omega - 1) C (u_new - u_old)`` and the red neighbour sums needed for it are
reused by the next sweep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from tunegym.simulators.solve_result import SolveResult

RED_PHASES = ((0, 0), (1, 1))
BLACK_PHASES = ((0, 1), (1, 0))
ALL_PHASES = RED_PHASES + BLACK_PHASES
_COEFFICIENTS = ("center", "north", "south", "west", "east")


@dataclass
class GridStencil:
    """B five-point systems on m x m interior grids (zero Dirichlet boundary).

    Attributes:
        center, north, south, west, east: float tensors broadcastable to (B, m, m);
            uniform coefficients may be given as (B, 1, 1). Off-diagonal entries of A
            are minus the neighbour coefficients (see the module docstring).
        grid_size: m, interior points per side.
    """

    center: torch.Tensor
    north: torch.Tensor
    south: torch.Tensor
    west: torch.Tensor
    east: torch.Tensor
    grid_size: int

    @property
    def batch_size(self) -> int:
        return self.center.shape[0]

    def validate(self) -> None:
        """Raise ValueError on bad shapes or a zero/non-finite diagonal."""
        m = self.grid_size
        for name in _COEFFICIENTS:
            value = getattr(self, name)
            if value.dim() != 3 or value.shape[0] != self.batch_size or \
                    tuple(value.shape[1:]) not in ((1, 1), (m, m)):
                raise ValueError(f"stencil.{name} must have shape (B, {m}, {m}) or (B, 1, 1) "
                                 f"with B = {self.batch_size}, got {tuple(value.shape)}")
        if not bool(torch.isfinite(self.center).all()) or bool((self.center == 0).any()):
            raise ValueError("stencil.center (the diagonal of A) must be finite and nonzero")

    def matvec(self, u: torch.Tensor) -> torch.Tensor:
        """A u for grids u (B, m, m) (reference implementation on full grids)."""
        padded = torch.nn.functional.pad(u, (1, 1, 1, 1))
        return (self.center * u - self.north * padded[:, :-2, 1:-1]
                - self.south * padded[:, 2:, 1:-1] - self.west * padded[:, 1:-1, :-2]
                - self.east * padded[:, 1:-1, 2:])

    def to_scipy(self, index: int = 0):
        """System ``index`` as a scipy CSR matrix (natural row-major ordering)."""
        import numpy as np
        import scipy.sparse as sp

        m = self.grid_size
        full = {name: torch.broadcast_to(getattr(self, name)[index], (m, m)).cpu().numpy()
                for name in _COEFFICIENTS}
        grid = np.arange(m * m).reshape(m, m)
        rows, cols, values = [grid.ravel()], [grid.ravel()], [full["center"].ravel()]
        for name, (di, dj) in (("north", (-1, 0)), ("south", (1, 0)),
                               ("west", (0, -1)), ("east", (0, 1))):
            i, j = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
            inside = (i + di >= 0) & (i + di < m) & (j + dj >= 0) & (j + dj < m)
            rows.append(grid[inside])
            cols.append(grid[i[inside] + di, j[inside] + dj])
            values.append(-full[name][inside])
        return sp.csr_matrix((np.concatenate(values), (np.concatenate(rows),
                                                        np.concatenate(cols))), shape=(m * m,) * 2)


def red_black_permutation(grid_size: int) -> torch.Tensor:
    """Row-major indices of the red points (i + j even) followed by the black ones, (m*m,)."""
    i, j = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    flat = (i * grid_size + j).flatten()
    red = ((i + j) % 2 == 0).flatten()
    return torch.cat([flat[red], flat[~red]])


def young_optimal_omega(jacobi_spectral_radius: torch.Tensor | float) -> torch.Tensor | float:
    """Young's optimal SOR factor 2 / (1 + sqrt(1 - rho_J^2)) for consistently ordered
    matrices with Jacobi spectral radius rho_J in [0, 1)."""
    if isinstance(jacobi_spectral_radius, torch.Tensor):
        return 2.0 / (1.0 + torch.sqrt(1.0 - jacobi_spectral_radius ** 2))
    return 2.0 / (1.0 + math.sqrt(1.0 - jacobi_spectral_radius ** 2))


# --------------------------------------------------------------------- polyphase
def _half(grid_size: int) -> int:
    return (grid_size + 1) // 2


def _to_phases(grid: torch.Tensor, halo: bool) -> dict[tuple[int, int], torch.Tensor]:
    """Split (B, m, m) (or broadcastable (B, 1, 1)) into 4 phase arrays.

    With ``halo`` each phase is (B, M+2, M+2) with a zero border; otherwise (B, M, M).
    A (B, 1, 1) input is returned unsplit for every phase (uniform coefficients).
    """
    if grid.shape[-1] == 1 and grid.shape[-2] == 1 and not halo:
        return {phase: grid for phase in ALL_PHASES}
    m = grid.shape[-1]
    half = _half(m)
    padded = torch.nn.functional.pad(grid, (0, 2 * half - m, 0, 2 * half - m))
    border = 1 if halo else 0
    phases = {}
    for p, q in ALL_PHASES:
        phase = padded[:, p::2, q::2]
        phases[(p, q)] = (torch.nn.functional.pad(phase, (border,) * 4) if halo
                          else phase.contiguous())
    return phases


def _from_phases(phases: dict[tuple[int, int], torch.Tensor], grid_size: int) -> torch.Tensor:
    """Inverse of :func:`_to_phases` with halo: (B, m, m)."""
    any_phase = phases[(0, 0)]
    half = any_phase.shape[-1] - 2
    grid = any_phase.new_zeros(any_phase.shape[0], 2 * half, 2 * half)
    for (p, q), phase in phases.items():
        grid[:, p::2, q::2] = phase[:, 1:-1, 1:-1]
    return grid[:, :grid_size, :grid_size]


def _grid_of(phases: dict[tuple[int, int], torch.Tensor], mask: torch.Tensor,
             grid_size: int) -> torch.Tensor:
    """Grids (b, m, m) of the systems selected by ``mask`` from halo phases."""
    return _from_phases({phase: value[mask] for phase, value in phases.items()}, grid_size)


def _interior(phase: torch.Tensor) -> torch.Tensor:
    return phase[:, 1:-1, 1:-1]


def _shifted(phase: torch.Tensor, row_offset: int, column_offset: int) -> torch.Tensor:
    half = phase.shape[-1] - 2
    return phase[:, 1 + row_offset:1 + row_offset + half, 1 + column_offset:1 + column_offset + half]


class _PolyphaseSystem:
    """Stencil coefficients and a point mask in polyphase form, for B systems."""

    def __init__(self, stencil: GridStencil) -> None:
        stencil.validate()
        self.grid_size = stencil.grid_size
        self.coefficients = {name: _to_phases(getattr(stencil, name), halo=False)
                             for name in _COEFFICIENTS}
        if self.grid_size % 2:
            ones = torch.ones_like(stencil.center[:1, :1, :1]).expand(1, self.grid_size,
                                                                    self.grid_size)
            self.mask = _to_phases(ones, halo=False)
        else:
            self.mask = None

    def select(self, index: torch.Tensor) -> _PolyphaseSystem:
        """The systems at ``index`` (a copy sharing the mask)."""
        chosen = object.__new__(_PolyphaseSystem)
        chosen.grid_size, chosen.mask = self.grid_size, self.mask
        chosen.coefficients = _select(self.coefficients, index)
        return chosen

    def neighbour_sum(self, u: dict[tuple[int, int], torch.Tensor],
                      phase: tuple[int, int]) -> torch.Tensor:
        """sum over the four neighbours of coefficient * u at the points of ``phase``."""
        p, q = phase
        vertical, horizontal = u[(1 - p, q)], u[(p, 1 - q)]
        coefficient = {name: self.coefficients[name][phase] for name in _COEFFICIENTS[1:]}
        total = coefficient["north"] * _shifted(vertical, -1 if p == 0 else 0, 0)
        total = total.addcmul_(coefficient["south"], _shifted(vertical, 0 if p == 0 else 1, 0))
        total = total.addcmul_(coefficient["west"], _shifted(horizontal, 0, -1 if q == 0 else 0))
        return total.addcmul_(coefficient["east"], _shifted(horizontal, 0, 0 if q == 0 else 1))

    def masked(self, values: torch.Tensor, phase: tuple[int, int]) -> torch.Tensor:
        return values if self.mask is None else values * self.mask[phase]

    def relaxation_weight(self, omega: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
        """omega / center per phase (zero on padding points); omega: (B,)."""
        omega = omega.reshape(-1, 1, 1)
        return {phase: self.masked(omega / self.coefficients["center"][phase], phase)
                for phase in ALL_PHASES}

    def relax(self, u, rhs, weight, phase, neighbours: torch.Tensor | None = None) -> torch.Tensor:
        """SOR update of one phase in place; returns the GS-target ``rhs + neighbours``."""
        if neighbours is None:
            neighbours = self.neighbour_sum(u, phase)
        target = rhs[phase] + neighbours
        correction = target - self.coefficients["center"][phase] * _interior(u[phase])
        _interior(u[phase]).addcmul_(weight[phase], correction)
        return target

    def matvec(self, u) -> dict[tuple[int, int], torch.Tensor]:
        """A u per phase, (B, M, M) each (zero on padding points)."""
        return {phase: self.masked(self.coefficients["center"][phase] * _interior(u[phase])
                                   - self.neighbour_sum(u, phase), phase)
                for phase in ALL_PHASES}


def _norm(phases: dict[tuple[int, int], torch.Tensor]) -> torch.Tensor:
    """Euclidean norm over all phases, (B,)."""
    return torch.sqrt(sum((value * value).sum(dim=(1, 2)) for value in phases.values()))


def _safe_norm(phases: dict[tuple[int, int], torch.Tensor]) -> torch.Tensor:
    """Norm (B,), with 1 where it is 0 (a zero rhs then counts as converged at once)."""
    norm = _norm(phases)
    return torch.where(norm > 0, norm, torch.ones_like(norm))


def _residual(system: _PolyphaseSystem, u, rhs) -> dict[tuple[int, int], torch.Tensor]:
    """b - A u per phase (B, M, M)."""
    return {phase: rhs[phase] - value for phase, value in system.matvec(u).items()}


def _dot(a, b) -> torch.Tensor:
    return sum((a[phase] * b[phase]).sum(dim=(1, 2)) for phase in ALL_PHASES)


# ------------------------------------------------------------------ active set
def _run_until_converged(state: dict, advance: Callable[[dict], torch.Tensor],
                         initial_relative_residual: torch.Tensor, solution: torch.Tensor,
                         read_solution: Callable[[dict, torch.Tensor], torch.Tensor], tol: float,
                         max_iters: int) -> SolveResult:
    """Drive B iterations until each system meets ``tol`` or hits ``max_iters``.

    ``state`` maps names to per-system objects (tensors with leading dim B, or dicts
    of them); ``advance(state)`` performs one iteration in place and returns the
    relative residual (b,) of the systems still in ``state``; ``read_solution(state,
    mask)`` returns the iterates of the masked systems. Finished systems are
    recorded at once (so a result never depends on which systems share the batch)
    and dropped from ``state`` when they make up a quarter of it.
    """
    batch = initial_relative_residual.shape[0]
    device = initial_relative_residual.device
    iterations = torch.full((batch,), max_iters, dtype=torch.int64, device=device)
    converged = initial_relative_residual <= tol
    iterations[converged] = 0
    relative_residual = initial_relative_residual.clone()
    running = torch.nonzero(~converged).flatten()
    state = _select(state, running) if running.numel() < batch else state
    alive = torch.ones(running.numel(), dtype=torch.bool, device=device)
    for iteration in range(1, max_iters + 1):
        if running.numel() == 0:
            break
        residual = advance(state)
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
                running, state = running[alive], _select(state, alive)
                alive = torch.ones(running.numel(), dtype=torch.bool, device=device)
    return SolveResult(iterations, solution, converged, relative_residual)


def _select(tree, index: torch.Tensor):
    """Index the leading dim of every tensor in a (nested) dict."""
    if isinstance(tree, dict):
        return {key: _select(value, index) for key, value in tree.items()}
    if isinstance(tree, _PolyphaseSystem):
        return tree.select(index)
    return tree[index]


def _check_solver_arguments(stencil: GridStencil, rhs: torch.Tensor, omega, tol: float,
                            max_iters: int, initial_guess: torch.Tensor | None) -> torch.Tensor:
    shape = (stencil.batch_size, stencil.grid_size, stencil.grid_size)
    if tuple(rhs.shape) != shape:
        raise ValueError(f"rhs must have shape {shape}, got {tuple(rhs.shape)}")
    if initial_guess is not None and tuple(initial_guess.shape) != shape:
        raise ValueError(f"initial_guess must have shape {shape}, got {tuple(initial_guess.shape)}")
    omega = torch.as_tensor(omega, dtype=rhs.dtype, device=rhs.device)
    omega = omega.expand(shape[0]) if omega.dim() == 0 else omega
    if omega.shape != (shape[0],):
        raise ValueError(f"omega must be a float or have shape ({shape[0]},), "
                         f"got {tuple(omega.shape)}")
    if not bool(((omega > 0) & (omega < 2)).all()):
        raise ValueError(f"omega must lie in the open interval (0, 2) (no NaN), got "
                         f"{omega[~((omega > 0) & (omega < 2))][:4].tolist()}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 1:
        raise ValueError(f"max_iters must be an integer >= 1, got {max_iters!r}")
    return omega


# ------------------------------------------------------------------------- SOR
def sor_sweep(stencil: GridStencil, u: torch.Tensor, rhs: torch.Tensor,
              omega: torch.Tensor | float, sweeps: int = 1) -> torch.Tensor:
    """Apply ``sweeps`` red-black SOR sweeps to grids u (B, m, m); returns the new u.

    Args:
        stencil: the B systems.
        u: current iterates (B, m, m).
        rhs: right-hand sides (B, m, m).
        omega: relaxation factor, float or (B,), in (0, 2).
    """
    omega = _check_solver_arguments(stencil, rhs, omega, 1.0, 1, u)
    system = _PolyphaseSystem(stencil)
    u_phases = _to_phases(u, halo=True)
    rhs_phases = _to_phases(rhs, halo=False)
    weight = system.relaxation_weight(omega)
    for _ in range(sweeps):
        for phase in RED_PHASES + BLACK_PHASES:
            system.relax(u_phases, rhs_phases, weight, phase)
    return _from_phases(u_phases, stencil.grid_size)


def solve_sor(stencil: GridStencil, rhs: torch.Tensor, omega: torch.Tensor | float,
              tol: float = 1e-8, max_iters: int = 10_000,
              initial_guess: torch.Tensor | None = None) -> SolveResult:
    """Red-black SOR on B systems at once; counts sweeps to ``||r|| <= tol ||b||``.

    Args:
        stencil: B systems on m x m grids.
        rhs: right-hand sides (B, m, m).
        omega: relaxation factors in (0, 2), float or (B,).
        tol: relative residual tolerance (dimensionless).
        max_iters: sweep cap; systems that do not converge (or diverge) report
            ``iterations = max_iters`` and ``converged = False``.
        initial_guess: (B, m, m), zeros if None.

    Returns:
        :class:`SolveResult` with ``solution`` of shape (B, m, m).
    """
    omega = _check_solver_arguments(stencil, rhs, omega, tol, max_iters, initial_guess)
    system = _PolyphaseSystem(stencil)
    u0 = torch.zeros_like(rhs) if initial_guess is None else initial_guess.to(rhs.dtype).clone()
    u = _to_phases(u0, halo=True)
    rhs_phases = _to_phases(rhs, halo=False)
    rhs_norm = _safe_norm(rhs_phases)
    initial = _norm(_residual(system, u, rhs_phases)) / rhs_norm
    state = {"system": system, "u": u, "rhs": rhs_phases, "rhs_norm": rhs_norm,
             "weight": system.relaxation_weight(omega),
             "red_neighbours": {phase: system.neighbour_sum(u, phase) for phase in RED_PHASES}}

    def advance(state: dict) -> torch.Tensor:
        system, u, rhs_now, weight = state["system"], state["u"], state["rhs"], state["weight"]
        center = system.coefficients["center"]
        for phase in RED_PHASES:
            system.relax(u, rhs_now, weight, phase, state["red_neighbours"][phase])
        squared = 0.0
        for phase in BLACK_PHASES:
            target = system.relax(u, rhs_now, weight, phase)
            residual = system.masked(target - center[phase] * _interior(u[phase]), phase)
            squared = squared + (residual * residual).sum(dim=(1, 2))
        for phase in RED_PHASES:
            neighbours = system.neighbour_sum(u, phase)
            state["red_neighbours"][phase] = neighbours
            residual = system.masked(rhs_now[phase] + neighbours
                                     - center[phase] * _interior(u[phase]), phase)
            squared = squared + (residual * residual).sum(dim=(1, 2))
        return torch.sqrt(squared) / state["rhs_norm"]

    return _run_until_converged(state, advance, initial, u0,
                                lambda s, mask: _grid_of(s["u"], mask, stencil.grid_size), tol,
                                max_iters)


# -------------------------------------------------------------------- SSOR-PCG
def _ssor_apply(system: _PolyphaseSystem, residual, weight, template) -> dict:
    """z = M^-1 r (per phase) for the SSOR preconditioner
    M = omega/(2-omega) (D/omega + L) D^-1 (D/omega + U): one forward (red, black)
    and one backward (black, red) SOR sweep on A z = r starting from z = 0."""
    z = {phase: torch.zeros_like(template) for phase in ALL_PHASES}
    for phase in RED_PHASES + BLACK_PHASES + BLACK_PHASES + RED_PHASES:
        system.relax(z, residual, weight, phase)
    return z


def solve_ssor_pcg(stencil: GridStencil, rhs: torch.Tensor, omega: torch.Tensor | float,
                   tol: float = 1e-8, max_iters: int = 10_000,
                   initial_guess: torch.Tensor | None = None) -> SolveResult:
    """Conjugate gradients preconditioned by SSOR(omega), on B systems at once.

    The preconditioner is M = omega/(2-omega) (D/omega + L) D^-1 (D/omega + U) with
    L, U the strictly lower/upper parts of A in red-black order; it is symmetric
    positive definite for SPD A and omega in (0, 2). Iterations are counted until
    ``||b - A x_k|| <= tol ||b||`` (recurrence residual, as MATLAB's and scipy's pcg).

    Args:
        stencil: B symmetric positive definite systems on m x m grids.
        rhs: right-hand sides (B, m, m).
        omega: SSOR factors in (0, 2), float or (B,).
        tol: relative residual tolerance.
        max_iters: CG iteration cap.
        initial_guess: (B, m, m) warm start, zeros if None.

    Returns:
        :class:`SolveResult` with ``solution`` (B, m, m).
    """
    omega = _check_solver_arguments(stencil, rhs, omega, tol, max_iters, initial_guess)
    system = _PolyphaseSystem(stencil)
    x0 = torch.zeros_like(rhs) if initial_guess is None else initial_guess.to(rhs.dtype).clone()
    x = _to_phases(x0, halo=True)
    rhs_phases = _to_phases(rhs, halo=False)
    rhs_norm = _safe_norm(rhs_phases)
    residual = _residual(system, x, rhs_phases)
    weight = system.relaxation_weight(omega)
    preconditioned = _ssor_apply(system, residual, weight, x[(0, 0)])
    state = {"system": system, "x": x, "residual": residual, "weight": weight,
             "direction": {phase: value.clone() for phase, value in preconditioned.items()},
             "rho": _dot(residual, {p: _interior(v) for p, v in preconditioned.items()}),
             "rhs_norm": rhs_norm}

    def advance(state: dict) -> torch.Tensor:
        system, x, residual, direction = (state["system"], state["x"], state["residual"],
                                          state["direction"])
        product = system.matvec(direction)
        curvature = _dot({p: _interior(v) for p, v in direction.items()}, product)
        step = (state["rho"] / curvature).reshape(-1, 1, 1)
        for phase in ALL_PHASES:
            _interior(x[phase]).addcmul_(step, _interior(direction[phase]))
            residual[phase].addcmul_(step, product[phase], value=-1.0)
        preconditioned = _ssor_apply(system, residual, state["weight"], x[(0, 0)])
        rho = _dot(residual, {p: _interior(v) for p, v in preconditioned.items()})
        beta = (rho / state["rho"]).reshape(-1, 1, 1)
        state["rho"] = rho
        for phase in ALL_PHASES:
            direction[phase] = preconditioned[phase].addcmul_(beta, direction[phase])
        return _norm(residual) / state["rhs_norm"]

    return _run_until_converged(state, advance, _norm(residual) / rhs_norm, x0,
                                lambda s, mask: _grid_of(s["x"], mask, stencil.grid_size), tol,
                                max_iters)
