"""Random circuits and Hamiltonians shared by the quantum simulator tests."""

from __future__ import annotations

import torch

from tunegym.simulators.quantum import Circuits, PauliSum, random_circuits


def padded_random_circuits(batch_size: int, length: int, n_qubits: int, seed: int) -> Circuits:
    """Random circuits with about one gate in five replaced by identity padding (whose
    qubits and angles are garbage, to check they are ignored)."""
    generator = torch.Generator().manual_seed(seed)
    circuits = random_circuits(batch_size, length, n_qubits, generator)
    padding = torch.rand(batch_size, length, generator=generator) < 0.2
    gates = torch.where(padding, 0, circuits.gates)
    qubits = torch.where(padding[..., None], 99, circuits.qubits)
    return Circuits(gates, qubits, circuits.angles)


def random_pauli_terms(n_qubits: int, count: int, seed: int) -> list[tuple[float, str]]:
    """``count`` random (coefficient, string) terms plus the all-identity string and one
    repeated string."""
    generator = torch.Generator().manual_seed(seed)
    letters = torch.randint(4, (count, n_qubits), generator=generator).tolist()
    coefficients = torch.randn(count + 2, generator=generator, dtype=torch.float64).tolist()
    strings = ["".join("IXYZ"[letter] for letter in row) for row in letters]
    strings += ["I" * n_qubits, strings[0]]
    return list(zip(coefficients, strings))


def random_pauli_sum(n_qubits: int, count: int, seed: int) -> tuple[PauliSum, list, float]:
    terms, constant = random_pauli_terms(n_qubits, count, seed), 0.37
    return PauliSum(terms, constant=constant), terms, constant
