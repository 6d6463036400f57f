"""Noiseless batched simulation: B circuits' state vectors and energies at once.

Each circuit position costs one gather, one (B, 2^n / 4, 4) x (B, 4, 4) matmul and one
scatter over the whole batch (see :func:`~tunegym.simulators.quantum.circuits.
apply_local_operators`), whatever gates and qubits the B circuits hold there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tunegym.simulators.quantum.circuits import (
    GATE_BANK,
    Circuits,
    apply_local_operators,
    check_qubit_count,
)
from tunegym.simulators.quantum.observables import PauliSum, expectation


def basis_state(bits: str | Sequence[int], dtype: torch.dtype = torch.complex128,
                device: torch.device | str | None = None) -> torch.Tensor:
    """The computational basis state |bits> as a (2^n,) vector.

    Args:
        bits: n zeros and ones, bits[i] for qubit i, e.g. "1100" (a Hartree-Fock state
            with the first two spin orbitals occupied) or [1, 1, 0, 0].

    Returns:
        (2^n,) ``dtype``, one at index sum_i bits[i] 2^(n - 1 - i).
    """
    values = [str(bit) for bit in bits]
    if not values or any(bit not in ("0", "1") for bit in values):
        raise ValueError(f"bits must be a non-empty sequence of 0s and 1s, got {bits!r}")
    index = int("".join(values), 2)
    state = torch.zeros(2 ** len(values), dtype=dtype, device=device)
    state[index] = 1
    return state


def initial_vectors(initial: torch.Tensor | None, batch_size: int, n_qubits: int,
                    dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(B, 2^n) starting vectors: |0...0> for None, a (2^n,) vector for every circuit,
    or one (B, 2^n) vector per circuit; each must have norm 1."""
    size = 2 ** n_qubits
    if initial is None:
        vectors = torch.zeros(batch_size, size, dtype=dtype, device=device)
        vectors[:, 0] = 1
        return vectors
    initial = torch.as_tensor(initial, device=device)
    if initial.shape not in ((size,), (batch_size, size)):
        raise ValueError(f"initial must have shape ({size},) or ({batch_size}, {size}) for "
                         f"{batch_size} circuits on {n_qubits} qubits, got "
                         f"{tuple(initial.shape)}")
    initial = initial.to(dtype).expand(batch_size, size)
    norms = torch.linalg.vector_norm(initial.detach(), dim=1)
    if not bool(torch.allclose(norms, torch.ones_like(norms), atol=1e-6)):
        raise ValueError(f"initial states must have norm 1, got norms in "
                         f"[{float(norms.min())}, {float(norms.max())}]")
    return initial


def statevectors(circuits: Circuits, n_qubits: int, initial: torch.Tensor | None = None,
                 dtype: torch.dtype = torch.complex128) -> torch.Tensor:
    """Run B circuits on n qubits.

    Args:
        circuits: B circuits of L positions.
        n_qubits: register size n >= 1 (qubit 0 the most significant bit).
        initial: None for |0...0>, a (2^n,) state for every circuit (e.g.
            :func:`basis_state`), or (B, 2^n), one per circuit.
        dtype: complex128 or complex64.

    Returns:
        (B, 2^n) ``dtype`` final states, differentiable w.r.t. ``circuits.angles`` and
        ``initial``.
    """
    check_qubit_count(n_qubits)
    if dtype not in (torch.complex128, torch.complex64):
        raise ValueError(f"dtype must be torch.complex128 or torch.complex64, got {dtype}")
    circuits.validate(n_qubits)
    vectors = initial_vectors(initial, circuits.batch_size, n_qubits, dtype, circuits.device)
    width = min(4, 2 ** n_qubits)
    bank = GATE_BANK[..., :width, :width].to(device=circuits.device, dtype=dtype)
    half_angles = circuits.rotation_angles() / 2
    coefficients = torch.stack([torch.cos(half_angles), torch.sin(half_angles)], dim=-1)
    return apply_local_operators(vectors, bank, coefficients.to(dtype), circuits, n_qubits, 2)


def energies(circuits: Circuits, observable: PauliSum,
             initial: torch.Tensor | None = None) -> torch.Tensor:
    """<psi_b|H|psi_b> for the B circuits' final states (complex128).

    Returns:
        (B,) float64 in the observable's units, differentiable w.r.t. ``circuits.angles``.
    """
    return expectation(statevectors(circuits, observable.n_qubits, initial), observable)
