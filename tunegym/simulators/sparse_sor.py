"""Batched SOR for general sparse matrices (scipy CSR), for users who bring their own systems.

B linear systems ``A_b x = b_b`` that share one sparsity pattern (the values may differ) are
swept at once. One forward SOR sweep visits rows ``i = 0, 1, ..., n-1`` in turn and sets

    x_i <- (1 - omega) x_i + omega (b_i - sum_{j != i} a_ij x_j) / a_ii,

where ``x_j`` is already the new value for ``j < i`` and still the old one for ``j > i``.
Done literally that is n dependent scalar updates, far too many small tensor operations.

**Level scheduling** (``ordering="natural"``) groups the rows into levels that can be updated
together and still give *exactly* the sequential iterate (the one of
``pyamg.relaxation.relaxation.sor(A, x, b, omega, sweep="forward")``). A level is updated by
first reading x for all of its rows and then writing all of them, so within one level
every row sees the values x had when the level started. Row i therefore needs

* every lower neighbour ``j < i`` with ``a_ij != 0`` in a strictly *earlier* level (i must
  read the new ``x_j``), and
* every upper neighbour ``k > i`` with ``a_ik != 0`` in the *same or a later* level (i must
  read the old ``x_k``).

Both constraints point from a smaller row index to a larger one, so one pass in natural
order computes the smallest levels satisfying them:

    level(i) = max( max_{j < i, a_ij != 0} level(j) + 1,   max_{k < i, a_ki != 0} level(k) ),

and 0 when row i has no such neighbours. For a structurally symmetric pattern (Poisson, any
matrix with ``a_ij != 0 <=> a_ji != 0``) the second term never wins and this is the familiar
``level(i) = 1 + max level of the lower neighbours``. For a nonsymmetric pattern the second
term matters: without it a row ``k > i`` that has no lower neighbours would sit in level 0,
be updated before i, and i would read its *new* value where sequential SOR reads the old one.
Every level then reads, for each row, exactly the values the sequential sweep reads, so the
levelled sweep reproduces the sequential one up to floating-point rounding of the row sums.
The number of levels is the length of the longest dependency chain: about ``nx + ny`` for a
lexicographically ordered ``nx x ny`` grid, but ``n`` for a tridiagonal matrix, where the
natural ordering is inherently sequential.

**Multicolouring** (``ordering="multicolor"``) greedily colours the symmetrised pattern
``A + A^T`` so that no two coupled rows share a colour (a 5-point grid gets the red-black
colouring), and sweeps colour by colour. Each colour class is an independent set, so the
result equals lexicographic forward SOR on the permuted matrix ``P A P^T`` whose order lists
colour 0 first, then colour 1, and so on (``SparseSORSystem.equivalent_sequential_order``).
It usually needs a few more sweeps than the natural order but only a handful of groups.

Each level or colour is stored in padded ELL form: its row indices ``(L,)``, the columns of
each row's off-diagonal entries ``(L, max_nnz)`` padded with a valid dummy column, the
matching values ``(B, L, max_nnz)`` padded with 0, and the diagonal ``(B, L)``. The Python loop
of a sweep runs over levels/colours only, never over systems or rows.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import torch

from tunegym.simulators.iteration import run_until_converged
from tunegym.simulators.solve_result import SolveResult

ALLOWED_ORDERINGS = ("natural", "multicolor")


@dataclass(frozen=True)
class _RowGroup:
    """One level (natural ordering) or colour (multicolour ordering) in padded ELL form.

    Stored system-last, so that gathering neighbours copies contiguous rows of B values.

    Attributes:
        rows: int64 (L,), the rows updated together.
        neighbour_columns: int64 (width * L,), flattened (width, L) columns of the
            off-diagonal entries of each row; padding points at the row itself.
        off_diagonal_values: float (width, L, B_matrices), values matching
            ``neighbour_columns``; 0 at padding.
        diagonal: float (L, B_matrices), ``a_ii`` of each row (nonzero).
    """

    rows: torch.Tensor
    neighbour_columns: torch.Tensor
    off_diagonal_values: torch.Tensor
    diagonal: torch.Tensor

    def select_systems(self, system_index: torch.Tensor) -> _RowGroup:
        """The same group restricted to the systems ``system_index`` (int64 (B',))."""
        return _RowGroup(
            rows=self.rows,
            neighbour_columns=self.neighbour_columns,
            off_diagonal_values=self.off_diagonal_values.index_select(2, system_index),
            diagonal=self.diagonal.index_select(1, system_index),
        )


def _as_csr_list(matrices: object) -> list[scipy.sparse.csr_array]:
    """Validate ``matrices`` and return canonical float64 CSR copies (sorted, no duplicates)."""
    if isinstance(matrices, (list, tuple)):
        if len(matrices) == 0:
            raise ValueError("matrices must be one sparse matrix or a non-empty list of them, "
                             "got an empty list")
        matrix_list = list(matrices)
    else:
        matrix_list = [matrices]
    csr_list = []
    for index, matrix in enumerate(matrix_list):
        name = "matrices" if len(matrix_list) == 1 else f"matrices[{index}]"
        if not (scipy.sparse.issparse(matrix) or isinstance(matrix, np.ndarray)):
            raise TypeError(f"{name} must be a scipy.sparse matrix/array (or a 2-D numpy array), "
                            f"got {type(matrix).__name__}")
        if len(matrix.shape) != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrices must be square (n, n) with n >= 1, "
                             f"got shape {tuple(matrix.shape)} for {name}")
        if matrix.shape[0] == 0:
            raise ValueError(f"matrices must be square (n, n) with n >= 1, got shape (0, 0) "
                             f"for {name}")
        if np.issubdtype(matrix.dtype, np.complexfloating):
            raise ValueError(f"{name} must be real, got dtype {matrix.dtype}")
        # copy=True: sum_duplicates sorts in place and must never touch the caller's arrays.
        csr = scipy.sparse.csr_array(matrix, dtype=np.float64, copy=True)
        csr.sum_duplicates()  # also sorts the column indices of each row
        if not np.all(np.isfinite(csr.data)):
            raise ValueError(f"{name} has non-finite (NaN or inf) entries")
        csr_list.append(csr)
    reference = csr_list[0]
    for index, csr in enumerate(csr_list[1:], start=1):
        if csr.shape != reference.shape:
            raise ValueError(f"matrices must all have the same shape, matrices[0] is "
                             f"{reference.shape} but matrices[{index}] is {csr.shape}")
        if not (np.array_equal(csr.indptr, reference.indptr)
                and np.array_equal(csr.indices, reference.indices)):
            raise ValueError(f"matrices must share one sparsity pattern (stored entries, explicit "
                             f"zeros included), but matrices[{index}] differs from matrices[0]")
    return csr_list


def _natural_levels(indptr: np.ndarray, indices: np.ndarray, n: int) -> np.ndarray:
    """Level of each row for exact lexicographic forward SOR; int64 (n,). See module docstring.

    A single pass in row order, O(nnz) Python work, done once per system.
    """
    levels = [0] * n
    pattern = scipy.sparse.csr_array(
        (np.ones(len(indices), dtype=np.int8), indices, indptr), shape=(n, n))
    lower = scipy.sparse.tril(pattern, k=-1, format="csr")
    # Column k of the strict upper part lists the rows i < k that read x_k before it changes.
    upper_by_column = scipy.sparse.triu(pattern, k=1, format="csc")
    lower_ptr, lower_cols = lower.indptr.tolist(), lower.indices.tolist()
    upper_ptr, upper_rows = upper_by_column.indptr.tolist(), upper_by_column.indices.tolist()
    for row in range(n):
        level = 0
        for position in range(lower_ptr[row], lower_ptr[row + 1]):
            level = max(level, levels[lower_cols[position]] + 1)
        for position in range(upper_ptr[row], upper_ptr[row + 1]):
            level = max(level, levels[upper_rows[position]])
        levels[row] = level
    return np.asarray(levels, dtype=np.int64)


def _greedy_colours(indptr: np.ndarray, indices: np.ndarray, n: int) -> np.ndarray:
    """Greedy colouring of the symmetrised pattern in natural row order; int64 (n,).

    Row i gets the smallest colour not used by an already coloured neighbour, so no two rows
    with ``a_ij != 0`` or ``a_ji != 0`` share a colour. O(nnz) Python work, done once.
    """
    pattern = scipy.sparse.csr_array(
        (np.ones(len(indices), dtype=np.int8), indices, indptr), shape=(n, n))
    symmetric = (pattern + pattern.T).tocoo()
    off_diagonal = symmetric.row != symmetric.col
    symmetric = scipy.sparse.csr_array(
        (symmetric.data[off_diagonal], (symmetric.row[off_diagonal], symmetric.col[off_diagonal])),
        shape=(n, n))
    sym_ptr, sym_cols = symmetric.indptr.tolist(), symmetric.indices.tolist()
    colours = [-1] * n
    for row in range(n):
        taken = {colours[sym_cols[p]] for p in range(sym_ptr[row], sym_ptr[row + 1])}
        colour = 0
        while colour in taken:
            colour += 1
        colours[row] = colour
    return np.asarray(colours, dtype=np.int64)


def _padded_rows(
    rows: np.ndarray,
    entry_start: np.ndarray,
    entry_count: np.ndarray,
    entry_columns: np.ndarray,
    entry_values: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """ELL block of the entries of ``rows``, slot-major and system-last.

    Args:
        rows: int64 (L,), the rows of the block.
        entry_start, entry_count: int64 (n,), where each row's entries start in
            ``entry_columns`` and how many there are.
        entry_columns: int64 (nnz_kept,), column of each kept entry, grouped by row.
        entry_values: float64 (nnz_kept, B_matrices), the matching values.

    Returns:
        columns int64 (width, L) padded with the row itself, and values float64
        (width, L, B_matrices) padded with 0; ``width = max(1, longest row)``.
    """
    counts = entry_count[rows]
    width = max(1, int(counts.max(initial=0)))
    slot = np.arange(width)[:, None]
    is_entry = slot < counts[None, :]  # (width, L)
    position = np.where(is_entry, entry_start[rows][None, :] + slot, 0)
    if len(entry_columns) == 0:  # a diagonal matrix has no off-diagonal entries at all
        return np.broadcast_to(rows, is_entry.shape).copy(), np.zeros(
            is_entry.shape + (entry_values.shape[1],))
    columns = np.where(is_entry, entry_columns[position], rows[None, :])
    values = np.where(is_entry[:, :, None], entry_values[position], 0.0)
    return columns, values


# Below this many (rows x systems) per group one fused product-sum beats a chain of in-place
# multiply-adds, because Python overhead per tensor op dominates (measured on CPU).
_UNROLL_MIN_ELEMENTS = 8192


def _slot_sum(values: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """``sum_k values[k] * neighbours[k]``: (width, L, B_matrices) x (width, L, B) -> (L, B).

    For large blocks the sum runs slot by slot with ``addcmul_`` and so never materialises
    the (width, L, B) product, about 5x faster on CPU than ``(values * neighbours).sum(0)``.
    """
    width, rows, batch = neighbours.shape
    if rows * batch < _UNROLL_MIN_ELEMENTS:
        return (values * neighbours).sum(0)
    total = values[0] * neighbours[0]
    for slot in range(1, width):
        total.addcmul_(values[slot], neighbours[slot])
    return total


class SparseSORSystem:
    """B linear systems ``A_b x = b_b`` sharing one sparsity pattern, prepared once for SOR sweeps.

    Args:
        matrices: one scipy.sparse matrix (square ``(n, n)``, any format convertible to CSR;
            shared by every system) or a list of ``B_matrices`` of them with identical shape and
            sparsity pattern (values may differ). Every diagonal entry must be nonzero.
            Duplicate entries are summed; explicit zeros count as part of the pattern.
        ordering: ``"natural"`` (exact lexicographic forward SOR through level scheduling) or
            ``"multicolor"`` (greedy colouring of ``A + A^T``; forward SOR in colour order).
        device: torch device of every tensor.
        dtype: floating dtype of values and iterates (float64 reproduces pyamg to rounding).

    Attributes:
        num_rows: n.
        num_matrices: ``B_matrices``; 1 means the matrix is shared by any number of systems,
            otherwise ``sweep``/``residual_norm`` take exactly this many systems.
        num_groups: number of levels or colours, i.e. Python steps per sweep.
        group_of_row: int64 (n,), the level or colour of each row.
        equivalent_sequential_order: int64 (n,), a row order whose lexicographic forward SOR
            (on ``P A P^T``, P the permutation taking row ``order[k]`` to position k) gives
            the same iterates: ``0..n-1`` for "natural", rows stably sorted by colour for
            "multicolor".

    Setup costs O(nnz) Python steps (levels or colours) plus O(n * longest row) memory per
    matrix for the padded storage; a sweep costs ``num_groups`` batched gathers.
    """

    def __init__(
        self,
        matrices: scipy.sparse.sparray | scipy.sparse.spmatrix | Sequence,
        ordering: str = "natural",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> None:
        if ordering not in ALLOWED_ORDERINGS:
            raise ValueError(f"ordering must be one of {ALLOWED_ORDERINGS}, got {ordering!r}")
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtype must be a real floating torch dtype, got {dtype!r}")
        csr_list = _as_csr_list(matrices)
        reference = csr_list[0]
        n = reference.shape[0]
        indptr = reference.indptr.astype(np.int64)
        indices = reference.indices.astype(np.int64)
        values = np.stack([csr.data for csr in csr_list], axis=1)  # (nnz, B_matrices)
        row_of_entry = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))

        is_diagonal = indices == row_of_entry
        diagonal = np.zeros((n, len(csr_list)))
        diagonal[row_of_entry[is_diagonal]] = values[is_diagonal]
        zero_diagonal = diagonal == 0.0
        if zero_diagonal.any():
            first_row, matrix_index = np.argwhere(zero_diagonal)[0]
            name = "matrices" if len(csr_list) == 1 else f"matrices[{matrix_index}]"
            raise ValueError(f"{name} has a zero (or missing) diagonal entry in row {first_row}; "
                             f"SOR needs a nonzero diagonal in every row")

        self.ordering = ordering
        self.device = torch.device(device)
        self.dtype = dtype
        self.num_rows = n
        self.num_matrices = len(csr_list)

        if ordering == "natural":
            group_of_row = _natural_levels(indptr, indices, n)
            order = np.arange(n, dtype=np.int64)
        else:
            group_of_row = _greedy_colours(indptr, indices, n)
            order = np.argsort(group_of_row, kind="stable")
        self.group_of_row = torch.as_tensor(group_of_row, device=self.device)
        self.equivalent_sequential_order = torch.as_tensor(order, device=self.device)
        self.num_groups = int(group_of_row.max()) + 1

        def to_tensor(array: np.ndarray, floating: bool) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(array),
                                   dtype=dtype if floating else torch.int64, device=self.device)

        off_columns = indices[~is_diagonal]
        off_values = values[~is_diagonal]
        off_count = np.bincount(row_of_entry[~is_diagonal], minlength=n).astype(np.int64)
        off_start = np.concatenate([[0], np.cumsum(off_count)[:-1]]).astype(np.int64)
        rows_sorted_by_group = np.argsort(group_of_row, kind="stable")
        rows_by_group = np.split(rows_sorted_by_group, np.cumsum(np.bincount(group_of_row))[:-1])
        self._groups = []
        for rows in rows_by_group:
            columns, group_values = _padded_rows(rows, off_start, off_count, off_columns,
                                                 off_values)
            self._groups.append(_RowGroup(
                rows=to_tensor(rows, False),
                neighbour_columns=to_tensor(columns.reshape(-1), False),
                off_diagonal_values=to_tensor(group_values, True),
                diagonal=to_tensor(diagonal[rows], True),
            ))

        # The whole matrix (diagonal included) in the same padded form, for one-shot residuals.
        columns, all_values = _padded_rows(np.arange(n, dtype=np.int64), indptr[:-1],
                                           np.diff(indptr), indices, values)
        self._residual_columns = to_tensor(columns.reshape(-1), False)  # (width * n,)
        self._residual_values = to_tensor(all_values, True)  # (width, n, B_matrices)

    # -------------------------------------------------------------- internals
    # Internally iterates are stored system-last, (n, B), so that a neighbour gather copies
    # contiguous rows of B values (about 10x faster on CPU than gathering columns of (B, n)).

    def select(self, system_index: torch.Tensor) -> SparseSORSystem:
        """A shallow copy restricted to the systems ``system_index`` (int64 (B',) or bool (B,)).

        A shared matrix (``num_matrices == 1``) is returned unchanged.
        """
        if self.num_matrices == 1:
            return self
        if system_index.dtype == torch.bool:
            system_index = torch.nonzero(system_index).flatten()
        subset = object.__new__(SparseSORSystem)
        subset.__dict__.update(self.__dict__)
        subset.num_matrices = int(system_index.numel())
        subset._groups = [group.select_systems(system_index) for group in self._groups]
        subset._residual_values = self._residual_values.index_select(2, system_index)
        return subset

    def _as_batch(self, name: str, tensor: object, batch: int | None) -> torch.Tensor:
        """``tensor`` as a (B, n) tensor of this system's dtype and device.

        ``batch`` is the required B; None means ``num_matrices``, or any B for a shared matrix.
        """
        tensor = torch.as_tensor(tensor, dtype=self.dtype, device=self.device)
        if batch is None and self.num_matrices > 1:
            batch = self.num_matrices
        if (tensor.ndim != 2 or tensor.shape[1] != self.num_rows
                or (batch is not None and tensor.shape[0] != batch)):
            expected = f"({batch if batch is not None else 'B'}, {self.num_rows})"
            raise ValueError(f"{name} must have shape {expected}, got {tuple(tensor.shape)}")
        return tensor

    def _sweep_in_place(self, x_t: torch.Tensor, rhs_t: torch.Tensor, omega: torch.Tensor
                        ) -> None:
        """One forward sweep overwriting ``x_t`` (n, B); rhs_t (n, B); omega (B,). No checks."""
        batch = x_t.shape[1]
        keep = 1.0 - omega
        for group in self._groups:
            neighbours = x_t.index_select(0, group.neighbour_columns).view(
                -1, group.rows.numel(), batch)  # (width, L, B)
            off_diagonal_sum = _slot_sum(group.off_diagonal_values, neighbours)  # (L, B)
            correction = rhs_t.index_select(0, group.rows).sub_(off_diagonal_sum)
            correction.mul_(omega).div_(group.diagonal)  # omega (b_i - sum_j a_ij x_j) / a_ii
            correction.addcmul_(x_t.index_select(0, group.rows), keep)
            x_t.index_copy_(0, group.rows, correction)

    def _residual_norm(self, x_t: torch.Tensor, rhs_t: torch.Tensor) -> torch.Tensor:
        """(B,) ``||rhs - A x||_2`` for system-last x_t, rhs_t (n, B)."""
        neighbours = x_t.index_select(0, self._residual_columns).view(
            -1, self.num_rows, x_t.shape[1])
        return torch.linalg.vector_norm(rhs_t - _slot_sum(self._residual_values, neighbours),
                                        dim=0)

    # ----------------------------------------------------------------- public
    def sweep(self, x: torch.Tensor, rhs: torch.Tensor, omega: float | torch.Tensor
              ) -> torch.Tensor:
        """One forward SOR sweep on all B systems (the input x is not modified).

        Args:
            x: (B, n) current iterates; B = ``num_matrices`` unless the matrix is shared.
            rhs: (B, n) right-hand sides.
            omega: relaxation factors, float or (B,), each in the open interval (0, 2).

        Returns:
            (B, n) the iterates after one sweep in this system's ordering.
        """
        x = self._as_batch("x", x, None)
        rhs = self._as_batch("rhs", rhs, x.shape[0])
        omega = _relaxation_factors(omega, x.shape[0], self.dtype, self.device)
        x_t = x.T.contiguous()
        self._sweep_in_place(x_t, rhs.T.contiguous(), omega)
        return x_t.T.contiguous()

    def residual_norm(self, x: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        """Euclidean residual norms ``||rhs_b - A_b x_b||_2``.

        Args:
            x: (B, n) iterates.
            rhs: (B, n) right-hand sides.

        Returns:
            (B,) residual norms, in the units of rhs.
        """
        x = self._as_batch("x", x, None)
        rhs = self._as_batch("rhs", rhs, x.shape[0])
        return self._residual_norm(x.T.contiguous(), rhs.T.contiguous())


def _relaxation_factors(omega: object, batch: int, dtype: torch.dtype, device: torch.device
                        ) -> torch.Tensor:
    """Validated relaxation factors as a (batch,) tensor."""
    omega = torch.as_tensor(omega, dtype=dtype, device=device)
    if omega.ndim == 0:
        omega = omega.expand(batch)
    if omega.shape != (batch,):
        raise ValueError(f"omega must be a float or have shape ({batch},), "
                         f"got shape {tuple(omega.shape)}")
    if not bool(((omega > 0) & (omega < 2)).all()):  # NaN fails both comparisons
        raise ValueError(f"omega must lie in the open interval (0, 2) and not be NaN, "
                         f"got {omega.tolist()}")
    return omega.contiguous()


def solve_sparse_sor(
    matrices: scipy.sparse.sparray | scipy.sparse.spmatrix | Sequence,
    rhs: torch.Tensor | np.ndarray,
    omega: float | torch.Tensor | np.ndarray,
    tol: float = 1e-8,
    max_iters: int = 10_000,
    x0: torch.Tensor | np.ndarray | None = None,
    ordering: str = "natural",
    device: str | torch.device = "cpu",
) -> SolveResult:
    """Solve B sparse systems ``A_b x = b_b`` by forward SOR sweeps, all systems at once.

    Args:
        matrices: one scipy.sparse ``(n, n)`` matrix shared by all B systems, or a list of B
            with one sparsity pattern (see ``SparseSORSystem``).
        rhs: (B, n) right-hand sides.
        omega: relaxation factors, float or (B,), each in the open interval (0, 2).
        tol: relative tolerance > 0; system b has converged after k sweeps when
            ``||b_b - A_b x_k||_2 <= tol * ||b_b||_2``.
        max_iters: maximum number of sweeps, >= 1.
        x0: (B, n) initial guesses; zeros if None.
        ordering: "natural" (exact lexicographic SOR) or "multicolor".
        device: torch device for the computation (float64 throughout).

    Returns:
        ``SolveResult`` with iterations int64 (B,) (the first k meeting the tolerance, 0 if x0
        already does or ``b_b = 0``; ``max_iters`` if never reached or diverged), solution
        float64 (B, n) (frozen at the converged iterate; 0 for ``b_b = 0``), converged bool (B,)
        and relative_residual float64 (B,) (``inf`` where the iteration became non-finite).

    Stopping, freezing and batch compaction are those of
    :func:`tunegym.simulators.iteration.run_until_converged` (finished systems leave the
    batch once they make up a quarter of it). Each sweep ends with one residual evaluation
    and one host synchronisation (to decide which systems are done).
    """
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol > 0:
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    if (isinstance(max_iters, bool) or not isinstance(max_iters, numbers.Integral)
            or max_iters < 1):
        raise ValueError(f"max_iters must be an integer >= 1, got {max_iters!r}")
    system = SparseSORSystem(matrices, ordering=ordering, device=device, dtype=torch.float64)
    rhs = torch.as_tensor(rhs, dtype=torch.float64, device=system.device)
    batch = rhs.shape[0] if (rhs.ndim == 2 and system.num_matrices == 1) else system.num_matrices
    rhs = system._as_batch("rhs", rhs, batch)
    if not bool(torch.isfinite(rhs).all()):
        raise ValueError("rhs must be finite (no NaN or inf)")
    omega = _relaxation_factors(omega, batch, torch.float64, system.device)
    if x0 is None:
        x = torch.zeros_like(rhs)
    else:
        x = system._as_batch("x0", x0, batch)
        if not bool(torch.isfinite(x).all()):
            raise ValueError("x0 must be finite (no NaN or inf)")

    def advance(state: dict) -> torch.Tensor:
        state["system"]._sweep_in_place(state["x"], state["rhs"], state["omega"])
        return state["system"]._residual_norm(state["x"], state["rhs"])

    x_t, rhs_t = x.T.contiguous(), rhs.T.contiguous()              # (n, B): system last
    state = {"system": system, "x": x_t, "rhs": rhs_t, "omega": omega}
    return run_until_converged(state, advance, system._residual_norm(x_t, rhs_t),
                               torch.linalg.vector_norm(rhs, dim=1), x.clone(),
                               lambda s, mask: s["x"][:, mask].T, tol, max_iters)
