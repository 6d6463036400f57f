"""Noiseless simulation and Pauli-sum expectations against the dense numpy reference,
exact diagonalisation and the parameter-shift rule."""

import math

import numpy as np
import pytest
import torch

from tests.simulators.quantum import dense_reference as dense
from tests.simulators.quantum.helpers import padded_random_circuits, random_pauli_sum
from tunegym.simulators.quantum import (
    GATE_CODES,
    Circuits,
    PauliSum,
    basis_state,
    energies,
    expectation,
    statevectors,
    term_expectations,
)


def reference_states(circuits: Circuits, n_qubits: int, initial=None) -> np.ndarray:
    start = np.zeros(2 ** n_qubits, dtype=complex)
    start[0] = 1
    start = start if initial is None else initial
    return np.stack([np.einsum("ij,j->i", dense.circuit_unitary(gates, qubits, angles, n_qubits),
                               start)
                     for gates, qubits, angles in zip(circuits.gates.numpy(),
                                                      circuits.qubits.numpy(),
                                                      circuits.angles.detach().numpy())])


@pytest.mark.parametrize("n_qubits", [1, 2, 3, 4, 5, 6])
def test_energies_equal_the_dense_reference_and_respect_the_ground_energy(n_qubits):
    circuits = padded_random_circuits(6, 12 + 3 * n_qubits, n_qubits, seed=n_qubits)
    observable, terms, constant = random_pauli_sum(n_qubits, 4 * n_qubits, seed=10 + n_qubits)
    hamiltonian = dense.hamiltonian_matrix(terms, constant)
    states = reference_states(circuits, n_qubits)
    expected = np.einsum("bi,ij,bj->b", states.conj(), hamiltonian, states).real
    simulated = statevectors(circuits, n_qubits)
    assert torch.allclose(simulated, torch.from_numpy(states), atol=1e-12)
    ours = energies(circuits, observable)
    assert ours.dtype == torch.float64 and ours.shape == (6,)
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-10)
    assert torch.all(ours >= np.linalg.eigvalsh(hamiltonian)[0] - 1e-10)
    per_term = np.stack([np.einsum("bi,ij,bj->b", states.conj(),
                                   dense.pauli_string_matrix(string), states).real
                         for _, string in terms], axis=1)
    np.testing.assert_allclose(term_expectations(simulated, observable).numpy(), per_term,
                               atol=1e-12)
    assert np.allclose(observable.to_dense().numpy(), hamiltonian, atol=1e-14)


def test_the_ground_eigenvector_gives_the_ground_energy():
    n_qubits = 4
    circuits = padded_random_circuits(3, 20, n_qubits, seed=5)
    observable, terms, constant = random_pauli_sum(n_qubits, 15, seed=6)
    eigenvalues, eigenvectors = np.linalg.eigh(dense.hamiltonian_matrix(terms, constant))
    ground = eigenvectors[:, 0]
    # Start each circuit from U_b^dagger |ground>, so that it ends in |ground>.
    initial = np.stack([np.einsum("ji,j->i", dense.circuit_unitary(gates, qubits, angles,
                                                                   n_qubits).conj(), ground)
                        for gates, qubits, angles in zip(circuits.gates.numpy(),
                                                         circuits.qubits.numpy(),
                                                         circuits.angles.numpy())])
    ours = energies(circuits, observable, initial=torch.from_numpy(initial))
    np.testing.assert_allclose(ours.numpy(), eigenvalues[0], atol=1e-10)
    empty = Circuits(torch.zeros(1, 0, dtype=torch.int64), torch.zeros(1, 0, 2, dtype=torch.int64))
    assert abs(float(energies(empty, observable, torch.from_numpy(ground))) - eigenvalues[0]) < 1e-10


def test_gradients_equal_the_parameter_shift_rule():
    n_qubits, length = 3, 10
    circuits = padded_random_circuits(4, length, n_qubits, seed=21)
    observable, _, _ = random_pauli_sum(n_qubits, 12, seed=22)
    angles = circuits.angles.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(
        energies(Circuits(circuits.gates, circuits.qubits, angles), observable).sum(), angles)
    # Shift every (circuit, position) by +-pi/2 in one batch of 2 B L circuits.
    shifts = torch.eye(length, dtype=torch.float64)[None, :, :] * math.pi / 2   # (1, L, L)
    shifted = torch.cat([circuits.angles[:, None, :] + shifts,
                         circuits.angles[:, None, :] - shifts]).reshape(-1, length)
    batch = Circuits(circuits.gates.repeat_interleave(length, 0).repeat(2, 1),
                     circuits.qubits.repeat_interleave(length, 0).repeat(2, 1, 1),
                     shifted)
    values = energies(batch, observable).reshape(2, -1, length)
    rotation = (circuits.gates >= 1) & (circuits.gates <= 3)
    expected = torch.where(rotation, (values[0] - values[1]) / 2, 0.0)
    assert torch.allclose(gradient, expected, atol=1e-8)
    assert bool(rotation.any()) and float(gradient.abs().max()) > 1e-3


def test_batched_and_shared_initial_states_and_complex64():
    n_qubits = 3
    circuits = padded_random_circuits(5, 15, n_qubits, seed=31)
    hartree_fock = basis_state("110")
    assert int(torch.nonzero(hartree_fock)) == 0b110
    shared = statevectors(circuits, n_qubits, initial=hartree_fock)
    batched = statevectors(circuits, n_qubits, initial=hartree_fock.expand(5, -1).clone())
    expected = reference_states(circuits, n_qubits, hartree_fock.numpy())
    assert torch.allclose(shared, torch.from_numpy(expected), atol=1e-12)
    assert torch.equal(shared, batched)
    single = statevectors(circuits, n_qubits, initial=hartree_fock, dtype=torch.complex64)
    assert single.dtype == torch.complex64
    assert torch.allclose(single.to(torch.complex128), shared, atol=1e-5)
    assert torch.equal(basis_state([1, 1, 0]), hartree_fock)


def test_qubit_zero_is_the_most_significant_bit():
    # X on qubit 0 of two (via h, rz(pi), h) sends |00> to |10>, index 2.
    codes = [GATE_CODES["h"], GATE_CODES["rz"], GATE_CODES["h"]]
    circuits = Circuits(torch.tensor([codes]), torch.zeros(1, 3, 2, dtype=torch.int64),
                        torch.tensor([[0.0, math.pi, 0.0]]))
    probabilities = statevectors(circuits, 2).abs() ** 2
    assert torch.allclose(probabilities, torch.tensor([[0.0, 0.0, 1.0, 0.0]],
                                                      dtype=torch.float64), atol=1e-12)
    observable = PauliSum([(1.0, "ZI"), (2.0, "IZ")])
    assert torch.allclose(energies(circuits, observable), torch.tensor([1.0], dtype=torch.float64))


def test_expectation_of_density_matrices_equals_the_trace():
    n_qubits = 3
    observable, terms, constant = random_pauli_sum(n_qubits, 10, seed=41)
    generator = torch.Generator().manual_seed(42)
    factors = torch.randn(4, 8, 8, dtype=torch.complex128, generator=generator)
    rho = factors @ factors.mH
    rho = rho / torch.diagonal(rho, dim1=1, dim2=2).sum(dim=1)[:, None, None]
    expected = np.einsum("bij,ji->b", rho.numpy(), dense.hamiltonian_matrix(terms, constant)).real
    np.testing.assert_allclose(expectation(rho, observable).numpy(), expected, atol=1e-12)


def test_many_terms_are_split_into_chunks_consistently():
    # 7 qubits and B = 300: the flipped products of all groups exceed one chunk.
    observable, _terms, constant = random_pauli_sum(7, 300, seed=51)
    circuits = padded_random_circuits(300, 8, 7, seed=52)
    states = statevectors(circuits, 7)
    per_term = term_expectations(states, observable)
    expected = per_term @ observable.coefficients + constant
    assert torch.allclose(expectation(states, observable), expected, atol=1e-11)
