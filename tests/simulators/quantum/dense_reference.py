"""Dense numpy reference for the quantum simulator tests, one circuit at a time.

Written from the textbook definitions, independently of the library: every gate is a
2^n x 2^n matrix built as a Kronecker product of 2 x 2 matrices (rotations by
scipy.linalg.expm of the Pauli generator), a Pauli string is the Kronecker product of
its characters' matrices, and a noise channel is a list of full-size Kraus operators
applied as rho -> sum_k K rho K^dagger. Qubit 0 is the leftmost Kronecker factor (the
most significant bit of a basis index). Matrix products use np.einsum, not BLAS: with
torch loaded, multithreaded OpenBLAS calls on these 2-core machines are ~80x slower.
"""

from __future__ import annotations

import itertools
from functools import reduce

import numpy as np
from scipy.linalg import expm

IDENTITY = np.eye(2, dtype=complex)
PAULI = {"I": IDENTITY, "X": np.array([[0, 1], [1, 0]], dtype=complex),
         "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
         "Z": np.array([[1, 0], [0, -1]], dtype=complex)}
HADAMARD = np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)
PROJECTOR = (np.array([[1, 0], [0, 0]], dtype=complex), np.array([[0, 0], [0, 1]], dtype=complex))
NAMES = ("identity", "rx", "ry", "rz", "cnot", "h", "cz")


def embed(factors: dict[int, np.ndarray], n_qubits: int) -> np.ndarray:
    """Kronecker product over qubits 0..n-1 with ``factors[q]`` on q and I elsewhere."""
    return reduce(np.kron, [factors.get(qubit, IDENTITY) for qubit in range(n_qubits)])


def gate_matrix(code: int, qubits, angle: float, n_qubits: int) -> np.ndarray:
    name, (first, second) = NAMES[code], (int(qubits[0]), int(qubits[1]))
    if name == "identity":
        return np.eye(2 ** n_qubits, dtype=complex)
    if name in ("rx", "ry", "rz"):
        rotation = expm(-0.5j * angle * PAULI[name[1].upper()])
        return embed({first: rotation}, n_qubits)
    if name == "h":
        return embed({first: HADAMARD}, n_qubits)
    flip = PAULI["X"] if name == "cnot" else PAULI["Z"]
    return embed({first: PROJECTOR[0]}, n_qubits) + embed({first: PROJECTOR[1], second: flip},
                                                         n_qubits)


def touched(code: int, qubits) -> list[int]:
    """The qubits a gate acts on (none for identity)."""
    if NAMES[code] == "identity":
        return []
    return [int(qubits[0]), int(qubits[1])] if NAMES[code] in ("cnot", "cz") else [int(qubits[0])]


def matmul(*matrices: np.ndarray) -> np.ndarray:
    return reduce(lambda left, right: np.einsum("ij,jk->ik", left, right), matrices)


def circuit_unitary(gates, qubits, angles, n_qubits: int) -> np.ndarray:
    unitary = np.eye(2 ** n_qubits, dtype=complex)
    for code, pair, angle in zip(gates, qubits, angles):
        unitary = matmul(gate_matrix(int(code), pair, float(angle), n_qubits), unitary)
    return unitary


def pauli_string_matrix(string: str) -> np.ndarray:
    return reduce(np.kron, [PAULI[character] for character in string])


def hamiltonian_matrix(terms, constant: float = 0.0) -> np.ndarray:
    n_qubits = len(terms[0][1])
    matrix = constant * np.eye(2 ** n_qubits, dtype=complex)
    for coefficient, string in terms:
        matrix = matrix + coefficient * pauli_string_matrix(string)
    return matrix


def depolarizing_kraus(qubits: list[int], probability: float, n_qubits: int) -> list[np.ndarray]:
    """rho -> (1 - p) rho + p Tr_S(rho) (x) I / 2^|S| as Pauli Kraus operators on S."""
    count = 4 ** len(qubits)
    kraus = []
    for labels in itertools.product("IXYZ", repeat=len(qubits)):
        weight = 1 - (count - 1) * probability / count if set(labels) == {"I"} \
            else probability / count
        kraus.append(np.sqrt(weight) * embed(
            {qubit: PAULI[label] for qubit, label in zip(qubits, labels)}, n_qubits))
    return kraus


def amplitude_damping_kraus(qubit: int, gamma: float, n_qubits: int) -> list[np.ndarray]:
    return [embed({qubit: np.array([[1, 0], [0, np.sqrt(1 - gamma)]])}, n_qubits),
            embed({qubit: np.array([[0, np.sqrt(gamma)], [0, 0]])}, n_qubits)]


def apply_channel(rho: np.ndarray, kraus: list[np.ndarray]) -> np.ndarray:
    return sum(matmul(operator, rho, operator.conj().T) for operator in kraus)


def noisy_density(gates, qubits, angles, n_qubits: int, depolarizing_1q: float,
                  depolarizing_2q: float, amplitude_damping: float,
                  initial: np.ndarray | None = None) -> np.ndarray:
    """Final density matrix: after each non-identity gate the depolarizing channel on its
    qubits, then amplitude damping on each of them."""
    state = np.zeros(2 ** n_qubits, dtype=complex)
    state[0] = 1
    state = state if initial is None else np.asarray(initial, dtype=complex)
    rho = np.outer(state, state.conj())
    for code, pair, angle in zip(gates, qubits, angles):
        unitary = gate_matrix(int(code), pair, float(angle), n_qubits)
        rho = matmul(unitary, rho, unitary.conj().T)
        acted = touched(int(code), pair)
        if not acted:
            continue
        probability = depolarizing_2q if len(acted) == 2 else depolarizing_1q
        rho = apply_channel(rho, depolarizing_kraus(acted, probability, n_qubits))
        for qubit in acted:
            rho = apply_channel(rho, amplitude_damping_kraus(qubit, amplitude_damping, n_qubits))
    return rho
