"""Noisy simulation: density matrices against dense Kraus channels, closed forms for each
channel, readout attenuation, shot-noise statistics and noisy gradients."""

import math

import numpy as np
import pytest
import torch

from tests.simulators.quantum import dense_reference as dense
from tests.simulators.quantum.helpers import padded_random_circuits, random_pauli_sum
from tunegym.simulators.quantum import (
    GATE_CODES,
    NOISE_PRESETS,
    Circuits,
    NoiseModel,
    PauliSum,
    basis_state,
    density_matrices,
    energies,
    measured_term_expectations,
    noisy_energies,
    pauli_vectors,
    statevectors,
)

STRONG = NoiseModel(depolarizing_1q=0.05, depolarizing_2q=0.1, amplitude_damping=0.07,
                    readout_error=0.03)


def one_gate(name: str, angle: float = 0.0) -> Circuits:
    return Circuits(torch.tensor([[GATE_CODES[name]]]), torch.tensor([[[0, 1]]]),
                    torch.tensor([[angle]], dtype=torch.float64))


def reference_densities(circuits: Circuits, n_qubits: int, noise: NoiseModel,
                        initial=None) -> np.ndarray:
    return np.stack([dense.noisy_density(gates, qubits, angles, n_qubits, noise.depolarizing_1q,
                                         noise.depolarizing_2q, noise.amplitude_damping, initial)
                     for gates, qubits, angles in zip(circuits.gates.numpy(),
                                                      circuits.qubits.numpy(),
                                                      circuits.angles.detach().numpy())])


@pytest.mark.parametrize("n_qubits", [1, 2, 3, 4])
def test_noiseless_density_matrices_are_the_statevector_outer_products(n_qubits):
    circuits = padded_random_circuits(5, 20, n_qubits, seed=100 + n_qubits)
    states = statevectors(circuits, n_qubits)
    rho = density_matrices(circuits, n_qubits, NOISE_PRESETS["noiseless"])
    assert rho.dtype == torch.complex128 and rho.shape == (5, 2 ** n_qubits, 2 ** n_qubits)
    assert torch.allclose(rho, states[:, :, None] * states.conj()[:, None, :], atol=1e-12)


@pytest.mark.parametrize("n_qubits", [1, 2, 3])
@pytest.mark.parametrize("noise", [STRONG, NOISE_PRESETS["superconducting_damping_readout"]])
def test_noisy_density_matrices_equal_dense_kraus_channels(n_qubits, noise):
    circuits = padded_random_circuits(4, 25, n_qubits, seed=110 + n_qubits)
    initial = basis_state("1" * n_qubits)
    expected = reference_densities(circuits, n_qubits, noise, initial.numpy())
    rho = density_matrices(circuits, n_qubits, noise, initial=initial)
    np.testing.assert_allclose(rho.numpy(), expected, atol=1e-12)
    observable, terms, constant = random_pauli_sum(n_qubits, 8, seed=120 + n_qubits)
    attenuation = np.array([(1 - 2 * noise.readout_error) ** sum(c != "I" for c in string)
                            for _, string in terms])
    per_term = np.stack([np.einsum("bij,ji->b", expected, dense.pauli_string_matrix(string)).real
                         for _, string in terms], axis=1)
    np.testing.assert_allclose(
        measured_term_expectations(circuits, observable, noise, initial).numpy(),
        per_term * attenuation, atol=1e-12)
    measured = per_term @ (attenuation * np.array([c for c, _ in terms])) + constant
    np.testing.assert_allclose(noisy_energies(circuits, observable, noise, initial).numpy(),
                               measured, atol=1e-12)


def test_many_noisy_gates_keep_a_valid_density_matrix():
    circuits = padded_random_circuits(6, 200, 3, seed=130)
    rho = density_matrices(circuits, 3, STRONG)
    traces = torch.diagonal(rho, dim1=1, dim2=2).sum(dim=1)
    assert torch.allclose(traces, torch.ones_like(traces), atol=1e-12)
    assert torch.allclose(rho, rho.mH, atol=1e-14)
    assert float(torch.linalg.eigvalsh(rho).min()) >= -1e-12
    pauli = pauli_vectors(circuits, 3, STRONG)
    assert torch.allclose(pauli[:, 0], torch.ones(6, dtype=torch.float64), atol=1e-12)
    assert float(pauli.abs().max()) <= 1 + 1e-12


def test_full_depolarizing_leaves_the_maximally_mixed_state():
    rho = density_matrices(one_gate("ry", 0.7), 1, NoiseModel(depolarizing_1q=1.0))
    assert torch.allclose(rho[0], torch.eye(2, dtype=torch.complex128) / 2, atol=1e-14)
    two = Circuits(torch.tensor([[GATE_CODES["h"], GATE_CODES["cnot"]]]),
                   torch.tensor([[[0, 1], [0, 1]]]))
    rho = density_matrices(two, 2, NoiseModel(depolarizing_2q=1.0))
    assert torch.allclose(rho[0], torch.eye(4, dtype=torch.complex128) / 4, atol=1e-14)


@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0])
def test_amplitude_damping_of_one_gives_populations_gamma_and_one_minus_gamma(gamma):
    rho = density_matrices(one_gate("rz", 0.4), 1, NoiseModel(amplitude_damping=gamma),
                           initial=basis_state("1"))
    populations = torch.diagonal(rho[0]).real
    assert torch.allclose(populations, torch.tensor([gamma, 1 - gamma], dtype=torch.float64),
                          atol=1e-14)


@pytest.mark.parametrize("probability", [0.0, 0.02, 0.5])
def test_readout_error_scales_z_by_one_minus_two_p_per_measured_qubit(probability):
    noise = NoiseModel(readout_error=probability)
    z = noisy_energies(one_gate("rz", 0.3), PauliSum([(1.0, "Z")]), noise)
    assert abs(float(z) - (1 - 2 * probability)) < 1e-14
    bell = Circuits(torch.tensor([[GATE_CODES["h"], GATE_CODES["cnot"]]]),
                    torch.tensor([[[0, 1], [0, 1]]]))
    observable = PauliSum([(1.0, "ZZ"), (1.0, "XX"), (1.0, "II")])     # <ZZ> = <XX> = 1
    value = noisy_energies(bell, observable, noise)
    assert abs(float(value) - (1 + 2 * (1 - 2 * probability) ** 2)) < 1e-13


def test_shot_noise_has_the_exact_mean_and_the_per_term_variance():
    n_qubits, draws, shots = 3, 20_000, 100
    circuit = padded_random_circuits(1, 15, n_qubits, seed=140)
    observable, _, _ = random_pauli_sum(n_qubits, 6, seed=141)
    noise = NOISE_PRESETS["superconducting_damping_readout"]
    copies = Circuits(circuit.gates.expand(draws, -1), circuit.qubits.expand(draws, -1, -1),
                      circuit.angles.expand(draws, -1))
    exact = noisy_energies(circuit, observable, noise)
    sampled = noisy_energies(copies, observable, noise, shots=shots,
                             generator=torch.Generator().manual_seed(142))
    terms = measured_term_expectations(circuit, observable, noise)[0]
    variance = float(((1 - terms ** 2) / shots * observable.coefficients ** 2).sum())
    assert variance > 1e-4
    assert abs(float(sampled.mean()) - float(exact)) < 5 * math.sqrt(variance / draws)
    # The sample variance of 20 000 Gaussian draws is within ~2 % (1 sigma) of the truth.
    assert abs(float(sampled.var()) / variance - 1) < 0.1
    again = noisy_energies(copies, observable, noise, shots=shots,
                           generator=torch.Generator().manual_seed(142))
    assert torch.equal(sampled, again)


def test_without_gate_noise_the_statevector_path_gives_the_same_energies():
    circuits = padded_random_circuits(5, 20, 3, seed=150)
    observable, _, _ = random_pauli_sum(3, 10, seed=151)
    readout_only = NoiseModel(readout_error=0.04)
    via_states = noisy_energies(circuits, observable, readout_only)
    tiny = NoiseModel(depolarizing_1q=1e-300, readout_error=0.04)    # forces the Pauli path
    assert torch.allclose(via_states, noisy_energies(circuits, observable, tiny), atol=1e-12)
    noiseless = noisy_energies(circuits, observable, NOISE_PRESETS["noiseless"])
    assert torch.allclose(noiseless, energies(circuits, observable), atol=1e-12)


@pytest.mark.parametrize("noise", [NOISE_PRESETS["noiseless"], STRONG])
def test_noisy_gradients_equal_the_parameter_shift_rule(noise):
    n_qubits, length = 2, 8
    circuits = padded_random_circuits(3, length, n_qubits, seed=160)
    observable, _, _ = random_pauli_sum(n_qubits, 6, seed=161)
    angles = circuits.angles.clone().requires_grad_(True)
    initial = basis_state("10")
    (gradient,) = torch.autograd.grad(noisy_energies(
        Circuits(circuits.gates, circuits.qubits, angles), observable, noise, initial).sum(),
        angles)
    expected = torch.zeros_like(gradient)
    for position in range(length):
        shift = torch.zeros(length, dtype=torch.float64)
        shift[position] = math.pi / 2
        plus, minus = (noisy_energies(Circuits(circuits.gates, circuits.qubits,
                                               circuits.angles + sign * shift),
                                      observable, noise, initial) for sign in (1, -1))
        expected[:, position] = (plus - minus) / 2
    rotation = (circuits.gates >= 1) & (circuits.gates <= 3)
    assert torch.allclose(gradient, torch.where(rotation, expected, 0.0), atol=1e-8)
    assert float(gradient.abs().max()) > 1e-3


def test_initial_density_matrices_are_evolved():
    circuits = padded_random_circuits(2, 10, 2, seed=170)
    mixed = torch.diag(torch.tensor([0.5, 0.25, 0.25, 0.0], dtype=torch.complex128))
    rho = density_matrices(circuits, 2, STRONG, initial=mixed.expand(2, -1, -1))
    # The evolution is linear in the initial state: mix the pure-state results.
    pure = [density_matrices(circuits, 2, STRONG, initial=basis_state(bits))
            for bits in ("00", "01", "10")]
    assert torch.allclose(rho, 0.5 * pure[0] + 0.25 * pure[1] + 0.25 * pure[2], atol=1e-13)


def test_per_row_initial_states_are_each_evolved():
    circuits = padded_random_circuits(5, 12, 2, seed=180)
    generator = torch.Generator().manual_seed(181)
    random_state = torch.randn(4, dtype=torch.complex128, generator=generator)
    starts = [basis_state("01"), basis_state("11"), basis_state("01"),
              random_state / random_state.norm(), basis_state("11")]
    rho = density_matrices(circuits, 2, STRONG, initial=torch.stack(starts))
    for row, start in enumerate(starts):
        expected = dense.noisy_density(circuits.gates[row].numpy(), circuits.qubits[row].numpy(),
                                       circuits.angles[row].numpy(), 2, STRONG.depolarizing_1q,
                                       STRONG.depolarizing_2q, STRONG.amplitude_damping,
                                       start.numpy())
        np.testing.assert_allclose(rho[row].numpy(), expected, atol=1e-12)
