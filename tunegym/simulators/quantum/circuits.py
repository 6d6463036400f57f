"""Batched variational circuits as tensors, and the gather kernel every simulator here uses.

Conventions shared by the whole package:

* Qubit 0 is the MOST significant bit of a basis index: on n qubits the basis state
  |b_0 b_1 ... b_{n-1}> has index sum_i b_i 2^(n - 1 - i), so "01" is index 1.
* Gate codes are positions in :data:`GATES`; code 0 ("identity") is padding: it does
  nothing, not even in a noisy simulation.
* rx, ry, rz are R_P(theta) = exp(-i theta P / 2) (theta in radians); h is Hadamard;
  cnot flips its target when its control is 1; cz is diag(1, 1, 1, -1).

The kernel (:func:`apply_local_operators`) acts on B vectors of length radix^n at once:
for every circuit it gathers the vector so that the two digits a gate touches are the
fastest-running ones (a permutation precomputed per ordered qubit pair), multiplies
each group of radix^2 entries by that circuit's local matrix in one batched matmul, and
scatters the result back. Circuits may differ in gate and qubits at every position;
each position costs one gather, one matmul and one scatter over the whole batch. A
local matrix is sum_k coefficient_k bank[gate, k], a few fixed matrices per gate code
weighted by functions of the angle, so only (B, L, K) numbers are precomputed.
radix 2 is the statevector; radix 4 is the Pauli vector (Pauli-transfer matrices) of
the noisy simulation in :mod:`tunegym.simulators.quantum.noise`.
"""

from __future__ import annotations

import functools
import math

import torch

#: Gate names; a gate's code is its position here.
GATES = ("identity", "rx", "ry", "rz", "cnot", "h", "cz")
#: Name -> code.
GATE_CODES = {name: code for code, name in enumerate(GATES)}
ROTATION_CODES = (GATE_CODES["rx"], GATE_CODES["ry"], GATE_CODES["rz"])
TWO_QUBIT_CODES = (GATE_CODES["cnot"], GATE_CODES["cz"])


def pauli_matrices() -> torch.Tensor:
    """(4, 2, 2) complex128: I, X, Y, Z."""
    return torch.tensor([[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]],
                         [[1, 0], [0, -1]]], dtype=torch.complex128)


def _gate_bank() -> torch.Tensor:
    """(G, 2, 4, 4) complex128: the local unitary of gate g at angle theta is
    cos(theta / 2) bank[g, 0] + sin(theta / 2) bank[g, 1] (theta = 0 for gates without
    one). Local index 2 b_first + b_second, where "first" is a 2-qubit gate's control (an
    untouched partner qubit for a 1-qubit gate) and "second" its target (the 1-qubit
    gate's qubit)."""
    identity, x, y, z = pauli_matrices()
    hadamard = torch.tensor([[1, 1], [1, -1]], dtype=torch.complex128) / math.sqrt(2)
    eye4 = torch.eye(4, dtype=torch.complex128)
    fixed = torch.stack([
        eye4, eye4, eye4, eye4,
        torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]],
                     dtype=torch.complex128),
        torch.kron(identity, hadamard),
        torch.diag(torch.tensor([1, 1, 1, -1], dtype=torch.complex128)),
    ])
    sine = torch.zeros_like(fixed)
    for code, pauli in zip(ROTATION_CODES, (x, y, z)):
        sine[code] = -1j * torch.kron(identity, pauli)
    return torch.stack([fixed, sine], dim=1)


#: (G, 2, 4, 4) complex128, see :func:`_gate_bank`.
GATE_BANK = _gate_bank()


class Circuits:
    """B circuits of up to L gates each, as tensors (one row per circuit).

    Args:
        gates: (B, L) int64 gate codes (positions in :data:`GATES`; 0 pads a short
            circuit).
        qubits: (B, L, 2) int64. For cnot and cz: (control, target), which must differ;
            for a 1-qubit gate: its qubit first, the second entry ignored; ignored for
            identity.
        angles: (B, L) float64 rotation angles in radians, used by rx/ry/rz only (others
            ignore theirs); may require grad. None: all zero.

    Qubit indices are checked against the qubit count by the simulators (see
    :meth:`validate`), since the same circuits may run on registers of any size.
    """

    def __init__(self, gates: torch.Tensor, qubits: torch.Tensor,
                 angles: torch.Tensor | None = None) -> None:
        gates = torch.as_tensor(gates)
        if gates.dim() != 2 or gates.dtype.is_floating_point or gates.dtype.is_complex:
            raise ValueError(f"gates must be an integer tensor of shape (B, L), got "
                             f"{gates.dtype} of shape {tuple(gates.shape)}")
        gates = gates.to(torch.int64)
        if bool(((gates < 0) | (gates >= len(GATES))).any()):
            raise ValueError(f"gates must hold codes in [0, {len(GATES)}) (positions in "
                             f"{GATES}), got values {sorted(set(gates.unique().tolist()))}")
        qubits = torch.as_tensor(qubits, device=gates.device)
        if tuple(qubits.shape) != (*gates.shape, 2) or qubits.dtype.is_floating_point \
                or qubits.dtype.is_complex:
            raise ValueError(f"qubits must be an integer tensor of shape "
                             f"{(*gates.shape, 2)} (B, L, 2), got {qubits.dtype} of shape "
                             f"{tuple(qubits.shape)}")
        qubits = qubits.to(torch.int64)
        if angles is None:
            angles = torch.zeros(gates.shape, dtype=torch.float64, device=gates.device)
        angles = torch.as_tensor(angles, device=gates.device)
        if tuple(angles.shape) != tuple(gates.shape) or not angles.dtype.is_floating_point:
            raise ValueError(f"angles must be a real floating tensor of shape "
                             f"{tuple(gates.shape)} (B, L), got {angles.dtype} of shape "
                             f"{tuple(angles.shape)}")
        two_qubit = self._two_qubit(gates)
        if bool((two_qubit & (qubits[..., 0] == qubits[..., 1])).any()):
            raise ValueError("qubits: control and target of a cnot or cz must differ")
        self.gates, self.qubits, self.angles = gates, qubits, angles.to(torch.float64)

    @staticmethod
    def _two_qubit(gates: torch.Tensor) -> torch.Tensor:
        return (gates == TWO_QUBIT_CODES[0]) | (gates == TWO_QUBIT_CODES[1])

    @property
    def batch_size(self) -> int:
        return self.gates.shape[0]

    @property
    def length(self) -> int:
        return self.gates.shape[1]

    @property
    def device(self) -> torch.device:
        return self.gates.device

    def validate(self, n_qubits: int) -> None:
        """Raise ValueError unless every qubit a gate uses lies in [0, n_qubits)."""
        check_qubit_count(n_qubits)
        used = torch.stack([self.gates != 0, self._two_qubit(self.gates)], dim=-1)
        outside = used & ((self.qubits < 0) | (self.qubits >= n_qubits))
        if bool(outside.any()):
            raise ValueError(f"qubits must lie in [0, {n_qubits}) for n_qubits = {n_qubits}, "
                             f"got {sorted(set(self.qubits[outside].tolist()))}")

    def pairs(self, n_qubits: int) -> torch.Tensor:
        """(B, L) int64 ordered qubit pair of every gate, first * n_qubits + second (see
        :func:`_gate_bank`; a 1-qubit gate on q pairs with the untouched qubit
        (q + 1) mod n, identity acts on qubit 0): rows of :func:`arrangements`."""
        two_qubit = self._two_qubit(self.gates)
        target = torch.where(self.gates == 0, 0, self.qubits[..., 0])
        first = torch.where(two_qubit, self.qubits[..., 0], (target + 1) % n_qubits)
        second = torch.where(two_qubit, self.qubits[..., 1], target)
        return first * n_qubits + second

    def rotation_angles(self) -> torch.Tensor:
        """(B, L) float64 :attr:`angles` with those of non-rotation gates set to 0."""
        rotation = (self.gates >= ROTATION_CODES[0]) & (self.gates <= ROTATION_CODES[-1])
        return torch.where(rotation, self.angles, 0.0)

    def active_positions(self) -> list[int]:
        """Positions where at least one circuit has a gate other than identity."""
        return torch.nonzero((self.gates != 0).any(dim=0)).flatten().tolist()


def check_qubit_count(n_qubits: int) -> None:
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, int) or n_qubits < 1:
        raise ValueError(f"n_qubits must be an int >= 1, got {n_qubits!r}")


def random_circuits(batch_size: int, length: int, n_qubits: int,
                    generator: torch.Generator | None = None,
                    gate_set: tuple[str, ...] | None = None) -> Circuits:
    """B random circuits of exactly ``length`` gates (no padding).

    Gates are uniform over ``gate_set`` (default: every non-identity gate, 1-qubit ones
    only when n_qubits = 1), qubits uniform (a 2-qubit gate's target uniform among the
    other qubits), angles uniform in [-pi, pi). Drawn on the CPU from ``generator``.
    """
    check_qubit_count(n_qubits)
    if gate_set is None:
        gate_set = tuple(name for name in GATES[1:]
                         if n_qubits > 1 or GATE_CODES[name] not in TWO_QUBIT_CODES)
    if any(name not in GATE_CODES for name in gate_set):
        raise ValueError(f"gate_set must name gates from {GATES}, got {gate_set!r}")
    codes = torch.tensor([GATE_CODES[name] for name in gate_set], dtype=torch.int64)
    gates = codes[torch.randint(len(codes), (batch_size, length), generator=generator)]
    first = torch.randint(n_qubits, (batch_size, length), generator=generator)
    offset = torch.randint(1, max(n_qubits, 2), (batch_size, length), generator=generator)
    qubits = torch.stack([first, (first + offset) % n_qubits], dim=-1)
    angles = (torch.rand(batch_size, length, generator=generator, dtype=torch.float64)
              * 2 - 1) * math.pi
    return Circuits(gates, qubits, angles)


@functools.lru_cache(maxsize=32)
def arrangements(n_qubits: int, radix: int, device: torch.device) -> torch.Tensor:
    """(n^2, radix^n) int64 permutations, row first * n + second: entry j is the index
    (digit of qubit 0 most significant) whose digits on (first, second) are
    ((j // radix) % radix, j % radix) and whose other digits, in qubit order, spell
    j // radix^2. Rows with first == second are the identity (used when n = 1 only).
    Memory: n^2 radix^n int64."""
    size = radix ** n_qubits
    index = torch.arange(size, device=device)
    places = radix ** torch.arange(n_qubits - 1, -1, -1, device=device)
    digits = (index[:, None] // places) % radix                                # (size, n)
    rows = []
    for first in range(n_qubits):
        for second in range(n_qubits):
            if first == second:
                rows.append(index)
                continue
            others = [qubit for qubit in range(n_qubits) if qubit not in (first, second)]
            rest_places = radix ** torch.arange(len(others) - 1, -1, -1, device=device)
            rest = (digits[:, others] * rest_places).sum(dim=1)
            position = rest * radix ** 2 + digits[:, first] * radix + digits[:, second]
            rows.append(torch.empty_like(index).index_put_((position,), index))
    return torch.stack(rows)


def apply_local_operators(vectors: torch.Tensor, bank: torch.Tensor, coefficients: torch.Tensor,
                          circuits: Circuits, n_qubits: int, radix: int) -> torch.Tensor:
    """Apply every circuit's gates, position after position, as local matrices.

    Args:
        vectors: (B, radix^n) states (complex amplitudes or real Pauli vectors).
        bank: (G, K, w, w), w = radix^2 (radix when n = 1, where the partner digit is 0),
            dtype of the result; gate g at a position acts on the digits (first, second)
            of :meth:`Circuits.pairs` as sum_k coefficients[b, l, k] bank[g, k], local
            index first_digit * radix + second_digit.
        coefficients: (B, L, K), same dtype as ``bank``.

    Returns:
        (B, radix^n) (a new tensor), differentiable w.r.t. ``vectors`` and
        ``coefficients``.
    """
    batch_size, size = vectors.shape
    width = bank.shape[-1]
    shape, dtype, device = (batch_size, size), bank.dtype, vectors.device
    table, pairs = arrangements(n_qubits, radix, device), circuits.pairs(n_qubits)
    positions = circuits.active_positions()
    if not positions:
        return vectors.to(dtype).clone(memory_format=torch.contiguous_format)

    # Per position, the local matrices are one (B, G K) x (G K, w^2) matmul: the weights
    # are coefficients[b, l, k] at (gates[b, l], k) and zero elsewhere (cheaper than
    # gathering a (B, K, w, w) slice of the bank for large B and small n).
    one_hot = torch.nn.functional.one_hot(circuits.gates, bank.shape[0]).to(dtype)
    weights = (one_hot[..., None] * coefficients[..., None, :]).flatten(2)      # (B, L, G K)
    flat_bank = bank.reshape(-1, width * width)

    def operator(position: int) -> torch.Tensor:
        """(B, w, w) transposed local matrices at ``position``."""
        return (weights[:, position] @ flat_bank).view(batch_size, width, width).transpose(1, 2)

    if torch.is_grad_enabled() and (vectors.requires_grad or coefficients.requires_grad):
        for position in positions:
            arrangement = table[pairs[:, position]]                             # (B, size)
            grouped = vectors.gather(1, arrangement).view(batch_size, size // width, width)
            updated = torch.bmm(grouped, operator(position))
            vectors = torch.empty(shape, dtype=dtype, device=device).scatter_(
                1, arrangement, updated.view(shape))
        return vectors
    # Without autograd every position reuses the same buffers: on the CPU, fresh
    # allocations of this size cost more in page faults than the arithmetic (~2x at
    # B = 256, radix^n = 4^8).
    arrangement = torch.empty(shape, dtype=torch.int64, device=device)
    grouped = torch.empty(shape, dtype=dtype, device=device)
    updated = torch.empty((batch_size, size // width, width), dtype=dtype, device=device)
    buffers = (torch.empty(shape, dtype=dtype, device=device),
               torch.empty(shape, dtype=dtype, device=device))
    for step, position in enumerate(positions):
        torch.index_select(table, 0, pairs[:, position], out=arrangement)
        torch.gather(vectors, 1, arrangement, out=grouped)
        torch.bmm(grouped.view(batch_size, size // width, width), operator(position),
                  out=updated)
        vectors = buffers[step % 2].scatter_(1, arrangement, updated.view(shape))
    return vectors
