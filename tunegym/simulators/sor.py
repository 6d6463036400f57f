"""Batched SOR and SSOR-preconditioned CG on five-point stencils (red-black ordering).

A :class:`GridStencil` holds B linear systems on m x m interior grids with zero
Dirichlet boundary:

    (A u)[i, j] = center[i, j] u[i, j] - north[i, j] u[i-1, j] - south[i, j] u[i+1, j]
                  - west[i, j] u[i, j-1] - east[i, j] u[i, j+1]

Red-black SOR updates all red points (i + j even) from the black ones, then all
black points from the new red ones. The solvers keep the red and the black unknowns
of all B systems as (n_red, B) and (n_black, B) tensors (system index last) and the
two couplings K_rb (red rows, black columns) and K_br as sparse CSR matrices over the
interleaved index ``point * B + system``, so a half-sweep is one sparse
matrix-vector product plus two or three elementwise ops for all B systems, on CPU or
GPU, for any grid size (odd or even) and any per-point coefficients.

Red-black SOR is lexicographic SOR on the red-black permuted matrix, so iterates
equal ``pyamg.relaxation.relaxation.sor`` on ``P A P^T`` (tested). Against natural
(lexicographic) ordering the asymptotic rate is the same for consistently ordered
matrices (Young), so iteration counts differ by a few percent (tested bound).

Stopping rule for both solvers: the first k with ``||b - A x_k||_2 <= tol ||b||_2``
(this is the paper's ``||r_k|| / ||r_0||`` when x_0 = 0, and MATLAB pcg's rule).
SOR's residual costs one extra half-sweep's worth of work: after the black update
the black residual is exactly ``(1 - omega)`` times the black correction, and the
red residual equals the next sweep's red correction, so it is reused.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import torch

from tunegym.core import compiled
from tunegym.core.batched import check_choice
from tunegym.simulators import sor_kernel
from tunegym.simulators.iteration import run_until_converged
from tunegym.simulators.solve_result import SolveResult

_COEFFICIENTS = ("center", "north", "south", "west", "east")
#: Grid offsets (row, column) of the neighbour each off-diagonal coefficient couples to.
_NEIGHBOUR_OFFSETS = {"north": (-1, 0), "south": (1, 0), "west": (0, -1), "east": (0, 1)}


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

    def validate(self, values: bool = True) -> None:
        """Raise ValueError on bad shapes and, when ``values``, on a zero or non-finite
        diagonal or a non-finite neighbour coefficient."""
        m = self.grid_size
        for name in _COEFFICIENTS:
            value = getattr(self, name)
            if value.dim() != 3 or value.shape[0] != self.batch_size or \
                    tuple(value.shape[1:]) not in ((1, 1), (m, m)):
                raise ValueError(f"stencil.{name} must have shape (B, {m}, {m}) or (B, 1, 1) "
                                 f"with B = {self.batch_size}, got {tuple(value.shape)}")
        if not values:
            return
        if not bool(torch.isfinite(self.center).all()) or bool((self.center == 0).any()):
            raise ValueError(sor_kernel.VALUE_MESSAGES["center"])
        for name in _NEIGHBOUR_OFFSETS:
            _check_finite(name, getattr(self, name))

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




# ------------------------------------------------------------ red-black layout
@dataclass(frozen=True)
class _CouplingPattern:
    """Which neighbour entries couple the ``rows`` colour to the ``columns`` colour.

    Entries are sorted by row. ``grid_point`` and ``direction`` (an index into
    ``_NEIGHBOUR_OFFSETS``) say where each entry's coefficient is read from the stencil.
    """

    num_rows: int
    num_columns: int
    row: torch.Tensor           # (nnz,) row (point of the row colour)
    column: torch.Tensor        # (nnz,) column (point of the other colour)
    grid_point: torch.Tensor    # (nnz,) flat grid index of the row point
    direction: torch.Tensor     # (nnz,) 0..3: north, south, west, east


@functools.lru_cache(maxsize=32)
def _red_black_layout(grid_size: int) -> tuple[torch.Tensor, torch.Tensor,
                                              _CouplingPattern, _CouplingPattern]:
    """(red flat indices, black flat indices, red<-black pattern, black<-red pattern)."""
    order = red_black_permutation(grid_size)
    num_red = (grid_size * grid_size + 1) // 2
    red, black = order[:num_red], order[num_red:]
    position = torch.empty(grid_size * grid_size, dtype=torch.int64)
    position[red] = torch.arange(red.numel())
    position[black] = torch.arange(black.numel())

    def pattern(rows_colour: torch.Tensor, columns_colour: torch.Tensor) -> _CouplingPattern:
        entries = []
        for row, point in enumerate(rows_colour.tolist()):
            i, j = divmod(point, grid_size)
            for direction, (di, dj) in enumerate(_NEIGHBOUR_OFFSETS.values()):
                if 0 <= i + di < grid_size and 0 <= j + dj < grid_size:
                    neighbour = (i + di) * grid_size + j + dj
                    entries.append((row, int(position[neighbour]), point, direction))
        rows, columns, points, directions = (torch.tensor(values) for values in zip(*entries))
        return _CouplingPattern(rows_colour.numel(), columns_colour.numel(), rows, columns,
                                points, directions)

    return red, black, pattern(red, black), pattern(black, red)


@functools.lru_cache(maxsize=64)
def _adjacency(pattern: _CouplingPattern, device: torch.device) -> torch.Tensor:
    """0/1 CSR matrix (num_rows, num_columns) of a coupling pattern."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # "sparse CSR support is in beta"
        matrix = torch.sparse_coo_tensor(
            torch.stack([pattern.row, pattern.column]),
            torch.ones(pattern.row.numel(), dtype=torch.float64),
            (pattern.num_rows, pattern.num_columns)).coalesce().to_sparse_csr()
        index_dtype = _index_dtype(max(pattern.row.numel(), pattern.num_columns))
        return torch.sparse_csr_tensor(matrix.crow_indices().to(index_dtype),
                                       matrix.col_indices().to(index_dtype), matrix.values(),
                                       size=matrix.shape).to(device)


def _index_dtype(largest_index: int) -> torch.dtype:
    """int32 sparse indices where they fit: a third less memory traffic per product."""
    return torch.int32 if largest_index < 2**31 - 1 else torch.int64


class _Coupling:
    """Sparse neighbour coupling of B systems: ``(K u)[r, b] = sum_c K_b[r, c] u[c, b]``.

    When every system's coupling is a multiple of the 0/1 pattern (uniform stencils:
    shifted Poisson, heat), K u = scale * (adjacency @ u), one shared sparse-dense
    product. Otherwise one CSR matrix over the interleaved index
    ``point * B + system`` serves all systems in a single sparse matrix-vector product.
    ``values`` (nnz, B) are kept to rebuild it for a subset of systems.
    """

    def __init__(self, pattern: _CouplingPattern, values: torch.Tensor) -> None:
        self.pattern, self.values = pattern, values
        if bool((values == values[:1]).all()):
            self.scale = values[:1].contiguous()
            self.matrix = _adjacency(pattern, values.device).to(values.dtype)
            return
        self.scale = None
        device, batch = values.device, values.shape[1]
        rows = pattern.row.to(device)
        degree = torch.bincount(rows, minlength=pattern.num_rows)
        start = torch.cumsum(degree, 0) - degree
        rank = torch.arange(rows.numel(), device=device) - start[rows]
        systems = torch.arange(batch, device=device)
        position = (start[rows, None] * batch + systems[None, :] * degree[rows, None]
                    + rank[:, None]).flatten()                              # (nnz * B,)
        columns = torch.empty_like(position)
        columns[position] = (pattern.column.to(device)[:, None] * batch
                             + systems[None, :]).flatten()
        entries = torch.empty(position.numel(), dtype=values.dtype, device=device)
        entries[position] = values.flatten()
        row_starts = (start[:, None] * batch + systems[None, :] * degree[:, None]).flatten()
        row_starts = torch.cat([row_starts, row_starts.new_tensor([position.numel()])])
        index_dtype = _index_dtype(max(position.numel(), pattern.num_columns * batch))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.matrix = torch.sparse_csr_tensor(
                row_starts.to(index_dtype), columns.to(index_dtype), entries,
                size=(pattern.num_rows * batch, pattern.num_columns * batch))

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        """Apply to (num_columns, B) contiguous; returns (num_rows, B)."""
        if self.scale is not None:
            return (self.matrix @ u).mul_(self.scale)
        return torch.mv(self.matrix, u.reshape(-1)).reshape(self.pattern.num_rows, -1)

    def select(self, index: torch.Tensor) -> _Coupling:
        return _Coupling(self.pattern, self.values[:, index])


def _per_point(values: torch.Tensor, grid_index: torch.Tensor) -> torch.Tensor:
    """(B, m, m) coefficients -> (len(grid_index), B), contiguous; (B, 1, 1) -> (1, B)."""
    if values.shape[1:] == (1, 1):
        return values.reshape(1, -1)
    return values.reshape(values.shape[0], -1)[:, grid_index.to(values.device)].T.contiguous()


def _stacked_neighbour_coefficients(stencil: GridStencil) -> torch.Tensor:
    """north, south, west, east coefficients as (4, B, m*m)."""
    shape = (stencil.batch_size, stencil.grid_size, stencil.grid_size)
    return torch.stack([torch.broadcast_to(getattr(stencil, name), shape).reshape(
        stencil.batch_size, -1) for name in _NEIGHBOUR_OFFSETS])


class _RedBlackSystem:
    """B stencil systems in red-black form: A = [[C_r, -K_rb], [-K_br, C_b]].

    Vectors are lists ``[red (n_red, B), black (n_black, B)]``; ``center_red`` and
    ``center_black`` hold the diagonal, ``red_from_black`` and ``black_from_red`` the
    couplings.
    """

    def __init__(self, grid_size: int, center_red, center_black, red_from_black,
                 black_from_red) -> None:
        self.grid_size = grid_size
        self.center_red, self.center_black = center_red, center_black
        self.red_from_black, self.black_from_red = red_from_black, black_from_red

    @classmethod
    def from_stencil(cls, stencil: GridStencil) -> _RedBlackSystem:
        red, black, red_pattern, black_pattern = _red_black_layout(stencil.grid_size)
        neighbours = _stacked_neighbour_coefficients(stencil)

        def coupling(pattern: _CouplingPattern) -> _Coupling:
            device = neighbours.device
            return _Coupling(pattern, neighbours[pattern.direction.to(device), :,
                                                 pattern.grid_point.to(device)])

        return cls(stencil.grid_size, _per_point(stencil.center, red),
                   _per_point(stencil.center, black), coupling(red_pattern),
                   coupling(black_pattern))

    def select(self, index: torch.Tensor) -> _RedBlackSystem:
        """The systems at ``index``."""
        return _RedBlackSystem(self.grid_size, self.center_red[:, index],
                               self.center_black[:, index], self.red_from_black.select(index),
                               self.black_from_red.select(index))

    def split(self, grid: torch.Tensor) -> list[torch.Tensor]:
        """(B, m, m) grids -> [red (n_red, B), black (n_black, B)], contiguous copies."""
        red, black, _, _ = _red_black_layout(self.grid_size)
        flat = grid.reshape(grid.shape[0], -1)
        return [flat[:, red.to(grid.device)].T.contiguous(),
                flat[:, black.to(grid.device)].T.contiguous()]

    def merge(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`split`: (B, m, m)."""
        red, black, _, _ = _red_black_layout(self.grid_size)
        flat = parts[0].new_empty(parts[0].shape[1], self.grid_size ** 2)
        flat[:, red.to(flat.device)] = parts[0].T
        flat[:, black.to(flat.device)] = parts[1].T
        return flat.reshape(-1, self.grid_size, self.grid_size)

    def matvec(self, parts: list[torch.Tensor]) -> list[torch.Tensor]:
        """A u for u = [red, black]."""
        red, black = parts
        return [self.center_red * red - self.red_from_black(black),
                self.center_black * black - self.black_from_red(red)]

    def sweep(self, parts: list[torch.Tensor], rhs: list[torch.Tensor],
              omega: torch.Tensor) -> None:
        """One SOR sweep (red, then black) in place."""
        for colour, (center, coupling, other) in enumerate((
                (self.center_red, self.red_from_black, 1),
                (self.center_black, self.black_from_red, 0))):
            correction = rhs[colour] + coupling(parts[other])
            correction.addcmul_(center, parts[colour], value=-1.0)
            parts[colour].addcmul_(omega / center, correction)

    def ssor_apply(self, residual: list[torch.Tensor], omega: torch.Tensor) -> list[torch.Tensor]:
        """z = M^-1 r, M = omega/(2-omega) (D/omega + L) D^-1 (D/omega + U) in red-black
        order: a forward (red, black) and a backward (black, red) SOR sweep on A z = r
        from z = 0, in closed form. With w = omega / C: the forward red step gives
        z_r = w_r r_r, the forward black z_b = w_b (r_b + K_br z_r); the backward black
        step multiplies z_b by (2 - omega), the backward red gives
        z_r = w_r ((2 - omega) r_r + K_rb z_b)."""
        weight_red, weight_black = omega / self.center_red, omega / self.center_black
        black = weight_black * (residual[1] + self.black_from_red(weight_red * residual[0]))
        black = black * (2.0 - omega)
        red = weight_red * torch.addcmul(self.red_from_black(black), 2.0 - omega, residual[0])
        return [red, black]


@functools.lru_cache(maxsize=32)
def _wavefront_layout(grid_size: int) -> tuple[torch.Tensor, torch.Tensor,
                                               tuple[tuple[torch.Tensor, torch.Tensor], ...]]:
    """Natural (row-major) order as a wavefront over anti-diagonals i + j = d.

    Returns:
        grid_index (n,): row-major index of each point, points sorted by (i + j, i);
        neighbours (4, n): the N, S, W, E neighbour of each point as an index into the
            zero-padded grid of (m + 2)^2 points;
        diagonals: per anti-diagonal, (its points in the padded grid (L,), the padded
            indices of their four neighbours, flattened (4 * L,)).
    In a lexicographic sweep the points of one anti-diagonal depend only on their north
    and west neighbours, which lie on the previous anti-diagonal, so a diagonal can be
    updated at once and the sweep is 2m - 1 vector steps that give exactly the
    sequential iterate.
    """
    width = grid_size + 2
    i, j = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    i, j = i.flatten(), j.flatten()
    order = torch.argsort((i + j) * grid_size + i)
    i, j = i[order], j[order]
    padded = (i + 1) * width + (j + 1)
    neighbours = torch.stack([padded - width, padded + width, padded - 1, padded + 1])
    bounds = torch.cumsum(torch.bincount(i + j), 0).tolist()
    diagonals = tuple((padded[start:stop], neighbours[:, start:stop].flatten())
                      for start, stop in zip([0, *bounds[:-1]], bounds))
    return i * grid_size + j, neighbours, diagonals


class _WavefrontSystem:
    """B stencil systems in natural (lexicographic) order, swept by anti-diagonals.

    Vectors are lists ``[x (n, B)]`` with points in wavefront order; sweeps work on a
    zero-padded copy (P, B), P = (m + 2)^2, whose border is the Dirichlet boundary.
    ``center`` (n, B) and ``coefficients`` (4, n, B) (N, S, W, E) are in wavefront order.
    """

    def __init__(self, grid_size: int, center: torch.Tensor, coefficients: torch.Tensor) -> None:
        self.grid_size, self.center, self.coefficients = grid_size, center, coefficients
        grid_index, neighbours, diagonals = _wavefront_layout(grid_size)
        device = center.device
        self.grid_index = grid_index.to(device)
        self.neighbours = neighbours.flatten().to(device)
        self.diagonals = tuple((points.to(device), around.to(device))
                               for points, around in diagonals)
        self.points = torch.cat([points for points, _ in self.diagonals])
        self.bounds = torch.cumsum(torch.tensor([0] + [p.numel() for p, _ in diagonals]),
                                   0).tolist()

    @classmethod
    def from_stencil(cls, stencil: GridStencil) -> _WavefrontSystem:
        grid_index, _, _ = _wavefront_layout(stencil.grid_size)
        coefficients = _stacked_neighbour_coefficients(stencil)[
            :, :, grid_index.to(stencil.center.device)].transpose(1, 2)
        center = _per_point(stencil.center, grid_index).expand(grid_index.numel(), -1)
        return cls(stencil.grid_size, center, coefficients.contiguous())

    def select(self, index: torch.Tensor) -> _WavefrontSystem:
        """The systems at ``index``."""
        return _WavefrontSystem(self.grid_size, self.center[:, index],
                                self.coefficients[..., index])

    def split(self, grid: torch.Tensor) -> list[torch.Tensor]:
        """(B, m, m) grids -> [x (n, B)] in wavefront order."""
        return [grid.reshape(grid.shape[0], -1)[:, self.grid_index].T.contiguous()]

    def merge(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`split`: (B, m, m)."""
        flat = parts[0].new_empty(parts[0].shape[1], self.grid_size ** 2)
        flat[:, self.grid_index] = parts[0].T
        return flat.reshape(-1, self.grid_size, self.grid_size)

    def _padded(self, values: torch.Tensor) -> torch.Tensor:
        padded = values.new_zeros((self.grid_size + 2) ** 2, values.shape[1])
        return padded.index_copy_(0, self.points, values)

    def matvec(self, parts: list[torch.Tensor]) -> list[torch.Tensor]:
        """A u for u = [x (n, B)]."""
        around = self._padded(parts[0]).index_select(0, self.neighbours)
        around = around.view(4, -1, parts[0].shape[1])
        return [self.center * parts[0] - (self.coefficients * around).sum(dim=0)]

    def _sweep_padded(self, padded: torch.Tensor, rhs: torch.Tensor, omega: torch.Tensor,
                      backward: bool = False) -> None:
        """One lexicographic SOR sweep (or its reverse) on padded iterates (P, B)."""
        batch = padded.shape[1]
        steps = list(enumerate(self.diagonals))
        for number, (points, around) in (reversed(steps) if backward else steps):
            start, stop = self.bounds[number], self.bounds[number + 1]
            neighbour_sum = (self.coefficients[:, start:stop]
                             * padded.index_select(0, around).view(4, -1, batch)).sum(dim=0)
            center = self.center[start:stop]
            current = padded.index_select(0, points)
            correction = rhs[start:stop] + neighbour_sum
            correction.addcmul_(center, current, value=-1.0)
            padded.index_copy_(0, points, current.addcmul_(omega / center, correction))

    def sweep(self, parts: list[torch.Tensor], rhs: list[torch.Tensor],
              omega: torch.Tensor) -> None:
        """One lexicographic SOR sweep in place (equal to pyamg's forward sweep)."""
        padded = self._padded(parts[0])
        self._sweep_padded(padded, rhs[0], omega)
        parts[0].copy_(padded.index_select(0, self.points))

    def ssor_apply(self, residual: list[torch.Tensor], omega: torch.Tensor) -> list[torch.Tensor]:
        """z = M^-1 r for M = omega/(2-omega) (D/omega + L) D^-1 (D/omega + U) in natural
        order: a forward and a backward lexicographic SOR sweep on A z = r from z = 0."""
        padded = residual[0].new_zeros((self.grid_size + 2) ** 2, residual[0].shape[1])
        self._sweep_padded(padded, residual[0], omega)
        self._sweep_padded(padded, residual[0], omega, backward=True)
        return [padded.index_select(0, self.points)]


ORDERINGS = {"red_black": _RedBlackSystem, "natural": _WavefrontSystem}


def _residual(system, parts: list[torch.Tensor], rhs: list[torch.Tensor]) -> list[torch.Tensor]:
    """b - A u, part by part."""
    return [b - product for b, product in zip(rhs, system.matvec(parts))]


def _squared_norm(*parts: torch.Tensor) -> torch.Tensor:
    """Sum of squares over the point dim of (n, B) tensors: (B,)."""
    return sum((part * part).sum(dim=0) for part in parts)


def _norm(*parts: torch.Tensor) -> torch.Tensor:
    """Euclidean norm (B,) over the point dim of (n, B) tensors taken together."""
    return torch.sqrt(_squared_norm(*parts))


def _dot(left: list[torch.Tensor], right: list[torch.Tensor]) -> torch.Tensor:
    """Inner product (B,) of two vectors given as parts."""
    return sum((a * b).sum(dim=0) for a, b in zip(left, right))


def _check_finite(name: str, tensor: torch.Tensor) -> None:
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(sor_kernel.VALUE_MESSAGES[name])


def _check_solver_arguments(stencil: GridStencil, rhs: torch.Tensor, omega, tol: float,
                            max_iters: int, initial_guess: torch.Tensor | None,
                            ordering: str) -> torch.Tensor:
    """Validate a solve's shapes and scalar arguments (ValueError naming the bad one);
    returns omega (B,). The tensors' values are checked by :func:`_check_values` (the
    torch path) or inside the compiled kernels, which report the same errors."""
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
    # On the CPU numpy answers this in microseconds; torch needs several tiny ops.
    values = omega.numpy() if omega.device.type == "cpu" else omega
    inside = (values > 0) & (values < 2)
    if not bool(inside.all()):
        raise ValueError(f"omega must lie in the open interval (0, 2) (no NaN), got "
                         f"{omega[torch.as_tensor(~inside)][:4].tolist()}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 1:
        raise ValueError(f"max_iters must be an integer >= 1, got {max_iters!r}")
    if ordering not in ORDERINGS:
        raise ValueError(f"ordering must be one of {tuple(ORDERINGS)}, got {ordering!r}")
    stencil.validate(values=False)
    return omega


def _check_values(stencil: GridStencil, rhs: torch.Tensor,
                  initial_guess: torch.Tensor | None) -> None:
    """The value checks of the torch path (the compiled kernels make them as they load)."""
    stencil.validate()
    _check_finite("rhs", rhs)
    if initial_guess is not None:
        _check_finite("initial_guess", initial_guess)


#: The values of the solvers' ``backend`` argument.
BACKENDS = ("auto", "torch", "compiled")


def _use_compiled(backend: str, stencil: GridStencil, rhs: torch.Tensor,
                  initial_guess: torch.Tensor | None) -> bool:
    """Whether a solve with validated arguments runs the compiled kernel.

    "compiled" needs numba, CPU tensors and ``rhs`` and the stencil of one dtype,
    float64 or float32 (ValueError otherwise); "auto" takes it where those hold, unless
    ``TUNEGYM_COMPILED=0`` (:mod:`tunegym.core.compiled`); "torch" never does.
    """
    check_choice("backend", backend, BACKENDS)
    if backend == "torch" or (backend == "auto" and not compiled.ENABLED):
        return False
    tensors = [rhs, *(getattr(stencil, name) for name in _COEFFICIENTS)]
    if initial_guess is not None:
        tensors.append(initial_guess)
    obstacle = None
    if not sor_kernel.compiled_available():
        obstacle = "numba is not importable"
    elif any(tensor.device.type != "cpu" for tensor in tensors):
        obstacle = "it needs CPU tensors"
    elif rhs.dtype not in sor_kernel.SUPPORTED_DTYPES:
        obstacle = f"it needs float64 or float32 rhs, got {rhs.dtype}"
    elif any(getattr(stencil, name).dtype != rhs.dtype for name in _COEFFICIENTS):
        obstacle = "it needs the stencil coefficients in rhs's dtype"
    if obstacle is not None and backend == "compiled":
        raise ValueError(f"backend='compiled' cannot be used here: {obstacle}; use "
                         f"backend='auto' or 'torch'")
    return obstacle is None


def _split_system(stencil: GridStencil, rhs: torch.Tensor,
                  initial_guess: torch.Tensor | None, ordering: str):
    """(system, x0 (B, m, m), x0 parts, rhs parts) of the torch path."""
    system = ORDERINGS[ordering].from_stencil(stencil)
    x0 = torch.zeros_like(rhs) if initial_guess is None else initial_guess.to(rhs.dtype).clone()
    return system, x0, system.split(x0), system.split(rhs)


# ------------------------------------------------------------------------- SOR
def sor_sweep(stencil: GridStencil, u: torch.Tensor, rhs: torch.Tensor,
              omega: torch.Tensor | float, sweeps: int = 1,
              ordering: str = "red_black", backend: str = "auto") -> torch.Tensor:
    """Apply ``sweeps`` SOR sweeps to grids u (B, m, m); returns the new u.

    Args:
        stencil: the B systems.
        u: current iterates (B, m, m).
        rhs: right-hand sides (B, m, m).
        omega: relaxation factor, float or (B,), in (0, 2).
        sweeps: number of sweeps (>= 1).
        ordering: "red_black" (red points, then black) or "natural" (lexicographic,
            row-major; equal to ``pyamg.relaxation.relaxation.sor``).
        backend: "auto", "torch" or "compiled", as :func:`solve_sor`.
    """
    if isinstance(sweeps, bool) or not isinstance(sweeps, int) or sweeps < 1:
        raise ValueError(f"sweeps must be an integer >= 1, got {sweeps!r}")
    omega = _check_solver_arguments(stencil, rhs, omega, 1.0, 1, u, ordering)
    if _use_compiled(backend, stencil, rhs, u):
        return sor_kernel.sor_sweeps_compiled(stencil, u, rhs, omega, sweeps, ordering)
    _check_values(stencil, rhs, u)
    system, _, parts, rhs_parts = _split_system(stencil, rhs, u, ordering)
    for _ in range(sweeps):
        system.sweep(parts, rhs_parts, omega)
    return system.merge(parts)


def solve_sor(stencil: GridStencil, rhs: torch.Tensor, omega: torch.Tensor | float,
              tol: float = 1e-8, max_iters: int = 10_000,
              initial_guess: torch.Tensor | None = None,
              ordering: str = "red_black", backend: str = "auto") -> SolveResult:
    """SOR on B systems at once; counts sweeps to ``||r|| <= tol ||b||``.

    Args:
        stencil: B systems on m x m grids (finite coefficients, nonzero diagonal).
        rhs: right-hand sides (B, m, m), finite.
        omega: relaxation factors in (0, 2), float or (B,).
        tol: relative residual tolerance (dimensionless, > 0).
        max_iters: sweep cap; systems that do not converge (or diverge) report
            ``iterations = max_iters`` and ``converged = False``.
        initial_guess: (B, m, m), zeros if None.
        ordering: "red_black" (default) or "natural" (lexicographic, as pyamg and the
            paper's MATLAB code). The asymptotic rate is the same (Young); counts differ
            by a bounded transient.
        backend: "auto" (default), "torch" or "compiled". "compiled" runs the whole
            solve in one numba kernel, system after system
            (:func:`tunegym.simulators.sor_kernel.solve_sor_compiled`): the same sweeps
            and stopping rule, sums in another order, so counts equal the torch path's
            except where a residual lies within rounding of ``tol``; on small grids it is
            far faster than the torch path, which pays a fixed ~100 us per sweep (2m - 1
            wavefront steps per sweep in natural order). It needs numba, CPU tensors,
            and ``rhs`` and the stencil of one dtype, float64 or float32 (ValueError
            otherwise). "auto" uses it where those hold (unless ``TUNEGYM_COMPILED=0``,
            see :mod:`tunegym.core.compiled`) and the torch path elsewhere (GPU); "torch"
            always uses the torch path (tensor ops over all B systems at once; the
            reference).

    Returns:
        :class:`SolveResult` with ``solution`` of shape (B, m, m).
    """
    omega = _check_solver_arguments(stencil, rhs, omega, tol, max_iters, initial_guess,
                                    ordering)
    if _use_compiled(backend, stencil, rhs, initial_guess):
        return sor_kernel.solve_sor_compiled(stencil, rhs, omega, tol, max_iters,
                                             initial_guess, ordering)
    _check_values(stencil, rhs, initial_guess)
    system, u0, parts, rhs_parts = _split_system(stencil, rhs, initial_guess, ordering)
    residual = _residual(system, parts, rhs_parts)
    state = {"system": system, "x": parts, "rhs": rhs_parts, "omega": omega}
    if ordering == "red_black":
        state["residual_red"] = residual[0]

    def advance_red_black(state: dict) -> torch.Tensor:
        # The red residual of the last sweep is this sweep's red correction; after the
        # black update the black residual is (1 - omega) times the black correction.
        system, (red, black), rhs_now = state["system"], state["x"], state["rhs"]
        red.addcmul_(state["omega"] / system.center_red, state["residual_red"])
        correction = rhs_now[1] + system.black_from_red(red)
        correction.addcmul_(system.center_black, black, value=-1.0)
        black.addcmul_(state["omega"] / system.center_black, correction)
        residual_red = rhs_now[0] + system.red_from_black(black)
        residual_red.addcmul_(system.center_red, red, value=-1.0)
        state["residual_red"] = residual_red
        return torch.sqrt(_squared_norm(residual_red)
                          + _squared_norm(correction) * (1.0 - state["omega"]) ** 2)

    def advance_natural(state: dict) -> torch.Tensor:
        state["system"].sweep(state["x"], state["rhs"], state["omega"])
        return _norm(*_residual(state["system"], state["x"], state["rhs"]))

    return run_until_converged(
        state, advance_red_black if ordering == "red_black" else advance_natural,
        _norm(*residual), _norm(*rhs_parts), u0,
        lambda s, mask: s["system"].merge([part[:, mask] for part in s["x"]]), tol, max_iters)


# -------------------------------------------------------------------- SSOR-PCG
def _check_symmetric(stencil: GridStencil) -> None:
    """ValueError unless A is symmetric with a positive diagonal (CG needs A SPD): the
    north coupling of (i, j) equals the south coupling of (i - 1, j), the west coupling
    of (i, j) the east coupling of (i, j - 1)."""
    if not bool((stencil.center > 0).all()):
        raise ValueError("stencil.center must be > 0 for CG (A must be positive definite)")
    m = stencil.grid_size
    shape = (stencil.batch_size, m, m)
    north, south, west, east = (torch.broadcast_to(getattr(stencil, name), shape)
                                for name in _NEIGHBOUR_OFFSETS)
    if not (torch.equal(north[:, 1:], south[:, :-1])
            and torch.equal(west[:, :, 1:], east[:, :, :-1])):
        raise ValueError("stencil must be symmetric for CG: north[:, i, j] must equal "
                         "south[:, i - 1, j] and west[:, i, j] must equal east[:, i, j - 1]")


def _raise_not_positive_definite(flags: torch.Tensor) -> None:
    systems = torch.nonzero(flags).flatten()[:4].tolist()
    raise ValueError(f"{sor_kernel.VALUE_MESSAGES['not_positive_definite']} "
                     f"(system(s) {systems})")


def solve_ssor_pcg(stencil: GridStencil, rhs: torch.Tensor, omega: torch.Tensor | float,
                   tol: float = 1e-8, max_iters: int = 10_000,
                   initial_guess: torch.Tensor | None = None,
                   ordering: str = "natural", backend: str = "auto",
                   preconditioner: str = "ssor") -> SolveResult:
    """Conjugate gradients preconditioned by SSOR(omega), on B systems at once.

    The preconditioner is M = omega/(2-omega) (D/omega + L) D^-1 (D/omega + U) with
    L, U the strictly lower/upper parts of A in the given ordering; it is symmetric
    positive definite for SPD A and omega in (0, 2). The ordering matters here: in
    natural (lexicographic) order, the paper's and MATLAB's, a well-chosen omega > 1
    cuts the condition number by an order of h; in red-black order SSOR is only a
    diagonal-like scaling and omega = 1 is (nearly) always best. Iterations are counted
    until ``||b - A x_k|| <= tol ||b||`` (recurrence residual, as MATLAB's and scipy's
    pcg).

    Args:
        stencil: B symmetric positive definite systems on m x m grids (ValueError
            for an asymmetric stencil, a non-positive diagonal, or when CG meets
            ``p^T A p <= 0``, which shows A is not positive definite).
        rhs: right-hand sides (B, m, m), finite.
        omega: SSOR factors in (0, 2), float or (B,) (unused by ``preconditioner="none"``,
            but still checked).
        tol: relative residual tolerance (> 0).
        max_iters: CG iteration cap.
        initial_guess: (B, m, m) warm start, zeros if None.
        ordering: "natural" (default) or "red_black".
        backend: "auto", "torch" or "compiled", as :func:`solve_sor`
            (:func:`tunegym.simulators.sor_kernel.solve_pcg_compiled`).
        preconditioner: "ssor" (default) or "none" (plain conjugate gradients, the
            paper's unpreconditioned baseline).

    Returns:
        :class:`SolveResult` with ``solution`` (B, m, m).
    """
    check_choice("preconditioner", preconditioner, ("ssor", "none"))
    omega = _check_solver_arguments(stencil, rhs, omega, tol, max_iters, initial_guess,
                                    ordering)
    _check_values(stencil, rhs, initial_guess)
    _check_symmetric(stencil)
    if _use_compiled(backend, stencil, rhs, initial_guess):
        return sor_kernel.solve_pcg_compiled(stencil, rhs, omega, tol, max_iters,
                                             initial_guess,
                                             ordering if preconditioner == "ssor" else "none")
    system, x0, parts, rhs_parts = _split_system(stencil, rhs, initial_guess, ordering)

    def apply_preconditioner(system, residual: list[torch.Tensor], omega: torch.Tensor):
        if preconditioner == "none":
            return [part.clone() for part in residual]
        return system.ssor_apply(residual, omega)

    residual = _residual(system, parts, rhs_parts)
    preconditioned = apply_preconditioner(system, residual, omega)
    state = {"system": system, "x": parts, "residual": residual, "omega": omega,
             "direction": [part.clone() for part in preconditioned],
             "rho": _dot(residual, preconditioned)}

    def advance(state: dict) -> torch.Tensor:
        system, x, residual, direction = (state["system"], state["x"], state["residual"],
                                          state["direction"])
        product = system.matvec(direction)
        curvature = _dot(direction, product)
        not_positive_definite = torch.isfinite(curvature) & (curvature <= 0)
        if bool(not_positive_definite.any()):
            _raise_not_positive_definite(not_positive_definite)
        step = state["rho"] / curvature
        for part in range(len(x)):
            x[part].addcmul_(step, direction[part])
            residual[part].addcmul_(step, product[part], value=-1.0)
        preconditioned = apply_preconditioner(system, residual, state["omega"])
        rho = _dot(residual, preconditioned)
        beta = rho / state["rho"]
        state["rho"] = rho
        for part in range(len(x)):
            direction[part] = preconditioned[part].addcmul_(beta, direction[part])
        return _norm(*residual)

    return run_until_converged(
        state, advance, _norm(*residual), _norm(*rhs_parts), x0,
        lambda s, mask: s["system"].merge([part[:, mask] for part in s["x"]]), tol, max_iters)
