"""Pauli-sum observables and their expectations on batches of states, matrix-free.

A Pauli string P acts on a basis state as a bit flip and a phase:
P |j> = i^(n_Y) (-1)^popcount(j & z) |j ^ x>, where x marks the qubits with X or Y and
z those with Z or Y (qubit 0 the most significant bit, as everywhere in
:mod:`tunegym.simulators.quantum`). Hence

    <psi|P|psi> = i^(n_Y) sum_j (-1)^popcount(j & z) conj(psi[j ^ x]) psi[j],
    Tr(rho P)   = i^(n_Y) sum_j (-1)^popcount(j & z) rho[j, j ^ x].

Terms sharing x share the flipped product phi_x[j] = conj(psi[j ^ x]) psi[j] (or
rho[j, j ^ x]); the terms are grouped by x once per observable, and a group's terms
become one (2^n, T_x) sign matrix, so the cost is O(B 2^n (groups + terms)), never a
2^n x 2^n matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from tunegym.simulators.quantum.circuits import pauli_matrices

PAULI_CHARACTERS = "IXYZ"
#: Largest number of complex entries one chunk of flipped products may hold.
_CHUNK_ENTRIES = 1 << 22


def real_number(value, name: str, what: str) -> float:
    """``value`` as a finite real float, else a ValueError naming ``name``: a complex
    value with a zero imaginary part is accepted (e.g. Qiskit's coefficients), a bool is
    not."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name}: {what} must be a real number, got a tensor of shape "
                             f"{tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool):
        raise ValueError(f"{name}: {what} must be a real number, got {value!r}")  # noqa: TRY004
    try:
        value = complex(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {what} must be a real number, got {value!r}") from None
    if value.imag != 0:
        raise ValueError(f"{name}: {what} {value!r} is not real; a Pauli sum with a "
                         f"complex coefficient is not Hermitian")
    if not math.isfinite(value.real):
        raise ValueError(f"{name}: {what} must be finite, got {value.real!r}")
    return value.real


def check_pauli_string(string, name: str, length: int | None = None) -> str:
    """``string`` if it is a non-empty string over "IXYZ" (of ``length`` if given), else a
    ValueError naming ``name``."""
    if not isinstance(string, str) or not string:
        raise ValueError(f"{name}: a Pauli string must be a non-empty str, got {string!r} "
                         f"(empty or not a string)")
    if set(string) - set(PAULI_CHARACTERS):
        raise ValueError(f"{name}: Pauli strings must have characters in "
                         f"{PAULI_CHARACTERS!r}, got {string!r}")
    if length is not None and len(string) != length:
        raise ValueError(f"{name}: Pauli string {string!r} has length {len(string)}, "
                         f"expected {length}")
    return string


class PauliSum:
    """Hermitian observable H = sum_k c_k P_k + constant.

    Args:
        terms: (c_k, P_k) pairs: real coefficients and Pauli strings over "IXYZ" of one
            common length n, character i acting on qubit i (qubit 0 is the most
            significant bit of a basis index). Repeated strings are allowed (they add).
        constant: real offset (e.g. nuclear repulsion in hartree).

    Attributes:
        n_qubits: n.
        strings: the Pauli strings, a tuple of T.
        coefficients: (T,) float64 (CPU).
        constant: float.
        weights: (T,) int64, number of non-identity characters of each string.
        pauli_indices: (T,) int64 base-4 index of each string (I=0, X=1, Y=2, Z=3, qubit 0
            the most significant digit): its position in a Pauli vector.
    Units are the caller's (hartree for molecular Hamiltonians).
    """

    def __init__(self, terms: Sequence[tuple[float, str]], constant: float = 0.0) -> None:
        terms = list(terms)
        if not terms:
            raise ValueError("terms must hold at least one (coefficient, pauli_string) pair")
        coefficients, strings = [], []
        for term in terms:
            if not isinstance(term, (tuple, list)) or len(term) != 2:
                raise ValueError(f"terms: each entry must be a (coefficient, pauli_string) "
                                 f"pair, got {term!r}")
            coefficient, string = term
            strings.append(check_pauli_string(string, "terms",
                                              len(strings[0]) if strings else None))
            coefficients.append(real_number(coefficient, "terms", "coefficient"))
        self.constant = real_number(constant, "constant", "constant")
        self.strings = tuple(strings)
        self.n_qubits = len(strings[0])
        self.coefficients = torch.tensor(coefficients, dtype=torch.float64)
        digits = torch.tensor([[PAULI_CHARACTERS.index(character) for character in string]
                               for string in strings], dtype=torch.int64)          # (T, n)
        self.weights = (digits != 0).sum(dim=1)
        places = 4 ** torch.arange(self.n_qubits - 1, -1, -1)
        self.pauli_indices = (digits * places).sum(dim=1)
        self._digits = digits
        self._groups: dict[torch.device, tuple] = {}

    def __len__(self) -> int:
        return len(self.strings)

    def __repr__(self) -> str:
        return (f"PauliSum({len(self)} terms on {self.n_qubits} qubits, "
                f"constant={self.constant})")

    def to_dense(self) -> torch.Tensor:
        """(2^n, 2^n) complex128 matrix (kron of 2 x 2 Paulis; tests and small n only)."""
        pauli = pauli_matrices()
        size = 2 ** self.n_qubits
        dense = self.constant * torch.eye(size, dtype=torch.complex128)
        for coefficient, row in zip(self.coefficients.tolist(), self._digits.tolist()):
            product = torch.ones(1, 1, dtype=torch.complex128)
            for digit in row:
                product = torch.kron(product, pauli[digit])
            dense = dense + coefficient * product
        return dense

    def groups(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor,
                                                     list[tuple[torch.Tensor, torch.Tensor]]]:
        """The terms grouped by flip mask x (cached per device).

        Returns:
            flips: (G, 2^n) int64, row g is j ^ x_g.
            contracted: (G, 2^n) complex128, sum over the group's terms of
                c_k i^(n_Y) (-1)^popcount(j & z_k): <H> - constant is
                Re sum_{g, j} phi_g[j] contracted[g, j].
            per_group: G pairs (term positions (T_g,) int64, signs (2^n, T_g) complex128
                with the phase i^(n_Y) folded in): <P_k> = Re (phi_g @ signs).
        """
        device = torch.device(device)
        if device not in self._groups:
            size = 2 ** self.n_qubits
            places = 2 ** torch.arange(self.n_qubits - 1, -1, -1)
            flip_masks = ((self._digits == 1) | (self._digits == 2)).to(torch.int64) @ places
            z_bits = ((self._digits == 2) | (self._digits == 3)).to(torch.int64)   # (T, n)
            index = torch.arange(size)
            bits = (index[:, None] // places) % 2                                  # (2^n, n)
            signs = 1 - 2 * ((bits @ z_bits.T) % 2).to(torch.float64)             # (2^n, T)
            phases = torch.tensor([1, 1j, -1, -1j], dtype=torch.complex128)[
                (self._digits == 2).sum(dim=1) % 4]
            phased = signs * phases                                               # (2^n, T)
            masks, group_of_term = torch.unique(flip_masks, return_inverse=True)
            members = [torch.nonzero(group_of_term == group).flatten()
                       for group in range(len(masks))]
            contracted = torch.stack([phased[:, positions] @ self.coefficients[positions].to(
                torch.complex128) for positions in members])
            per_group = [(positions.to(device), phased[:, positions].to(device))
                         for positions in members]
            flips = index[None, :] ^ masks[:, None]
            self._groups[device] = (flips.to(device), contracted.to(device), per_group)
        return self._groups[device]


def _flipped_products(states: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """phi (B, G, 2^n): conj(psi[j ^ x_g]) psi[j] for states (B, 2^n), rho[j, j ^ x_g]
    for density matrices (B, 2^n, 2^n)."""
    if states.dim() == 2:
        return states[:, flips].conj() * states[:, None, :]
    size = states.shape[-1]
    diagonal_offsets = torch.arange(size, device=states.device) * size
    return states.reshape(states.shape[0], size * size)[:, diagonal_offsets + flips]


def _check_states(states: torch.Tensor, observable: PauliSum) -> None:
    size = 2 ** observable.n_qubits
    if not isinstance(states, torch.Tensor) or not states.is_complex() \
            or states.shape[1:] not in ((size,), (size, size)):
        raise ValueError(f"states must be a complex tensor of shape (B, {size}) (state "
                         f"vectors) or (B, {size}, {size}) (density matrices) for "
                         f"{observable.n_qubits} qubits, got "
                         f"{getattr(states, 'dtype', type(states))} of shape "
                         f"{tuple(getattr(states, 'shape', ()))}")


def expectation(states: torch.Tensor, observable: PauliSum) -> torch.Tensor:
    """<H> for B states at once, without forming H.

    Args:
        states: (B, 2^n) normalised state vectors or (B, 2^n, 2^n) density matrices,
            complex (differentiable).
        observable: a :class:`PauliSum` on n qubits.

    Returns:
        (B,) float64 (the observable's units).
    """
    _check_states(states, observable)
    flips, contracted, _ = observable.groups(states.device)
    batch_size, size = states.shape[0], states.shape[-1]
    chunk = max(1, _CHUNK_ENTRIES // max(1, batch_size * size))
    total = torch.full((batch_size,), observable.constant, dtype=torch.float64,
                       device=states.device)
    for start in range(0, flips.shape[0], chunk):
        products = _flipped_products(states, flips[start:start + chunk])
        weights = contracted[start:start + chunk].to(products.dtype)
        total = total + torch.einsum("bgj,gj->b", products, weights).real.to(torch.float64)
    return total


def term_expectations(states: torch.Tensor, observable: PauliSum) -> torch.Tensor:
    """<P_k> of every term for B states.

    Args:
        states: as for :func:`expectation`.

    Returns:
        (B, T) float64, column k the expectation of ``observable.strings[k]`` (in [-1, 1]).
    """
    _check_states(states, observable)
    flips, _, per_group = observable.groups(states.device)
    columns, order = [], []
    for group, (positions, signs) in enumerate(per_group):
        products = _flipped_products(states, flips[group:group + 1])[:, 0]      # (B, 2^n)
        columns.append((products @ signs.to(products.dtype)).real.to(torch.float64))
        order.append(positions)
    inverse = torch.argsort(torch.cat(order))
    return torch.cat(columns, dim=1)[:, inverse]
