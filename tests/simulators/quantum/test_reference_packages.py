"""The simulator against Qiskit (quantum_info) and PennyLane (default.qubit /
default.mixed) on random circuits, noiseless and noisy; skipped where they are missing.

Qiskit orders qubits little-endian: our qubit i is Qiskit's qubit n - 1 - i, which makes
basis indices and Pauli labels ("XZIY", leftmost for our qubit 0) coincide. PennyLane's
wire i is our qubit i. PennyLane's DepolarizingChannel(q) is our depolarizing_1q = 4 q / 3.
Readout error is applied analytically, per term, to the packages' exact expectations.
"""

import itertools

import numpy as np
import pytest
import torch

from tests.simulators.quantum.dense_reference import pauli_string_matrix
from tests.simulators.quantum.helpers import padded_random_circuits, random_pauli_sum
from tunegym.simulators.quantum import (
    GATES,
    NOISE_PRESETS,
    NoiseModel,
    density_matrices,
    energies,
    noisy_energies,
    statevectors,
)

NOISY = NoiseModel(depolarizing_1q=0.04, depolarizing_2q=0.08, amplitude_damping=0.06,
                   readout_error=0.02)


def gate_list(circuits, index):
    """(name, qubits, angle) of circuit ``index``, identity padding dropped."""
    return [(GATES[code], tuple(pair), angle)
            for code, pair, angle in zip(circuits.gates[index].tolist(),
                                         circuits.qubits[index].tolist(),
                                         circuits.angles[index].tolist()) if code != 0]


def acted_on(name, pair):
    return list(pair) if name in ("cnot", "cz") else [pair[0]]


def depolarizing_kraus(count, probability):
    """Kraus matrices of the depolarizing channel on ``count`` qubits (Pauli products)."""
    size = 4 ** count
    matrices = []
    for labels in itertools.product("IXYZ", repeat=count):
        weight = 1 - (size - 1) * probability / size if set(labels) == {"I"} else probability / size
        matrices.append(np.sqrt(weight) * pauli_string_matrix("".join(labels)))
    return matrices


def damping_kraus(gamma):
    return [np.array([[1, 0], [0, np.sqrt(1 - gamma)]]), np.array([[0, np.sqrt(gamma)], [0, 0]])]


def attenuated(values, terms, constant, readout):
    """sum_k c_k (1 - 2 readout)^w_k <P_k> + constant from per-term values (B, T)."""
    scale = np.array([coefficient * (1 - 2 * readout) ** sum(c != "I" for c in string)
                      for coefficient, string in terms])
    return np.asarray(values) @ scale + constant


@pytest.fixture
def qiskit():
    return pytest.importorskip("qiskit")


@pytest.fixture
def qml():
    return pytest.importorskip("pennylane")


@pytest.mark.usefixtures("qiskit")
class TestQiskit:
    @staticmethod
    def build(gates, n_qubits):
        from qiskit import QuantumCircuit
        circuit = QuantumCircuit(n_qubits)
        for name, pair, angle in gates:
            wires = [n_qubits - 1 - qubit for qubit in acted_on(name, pair)]
            if name in ("rx", "ry", "rz"):
                getattr(circuit, name)(angle, wires[0])
            elif name == "cnot":
                circuit.cx(*wires)
            else:
                getattr(circuit, name)(*wires)
        return circuit

    @pytest.mark.parametrize("n_qubits", [1, 2, 3, 4])
    def test_noiseless_states_and_energies(self, n_qubits):
        from qiskit.quantum_info import SparsePauliOp, Statevector
        circuits = padded_random_circuits(4, 20, n_qubits, seed=200 + n_qubits)
        observable, terms, constant = random_pauli_sum(n_qubits, 10, seed=210 + n_qubits)
        operator = SparsePauliOp.from_list([(string, coefficient) for coefficient, string in terms])
        states = statevectors(circuits, n_qubits)
        ours = energies(circuits, observable)
        for index in range(4):
            reference = Statevector(self.build(gate_list(circuits, index), n_qubits))
            np.testing.assert_allclose(states[index].numpy(), reference.data, atol=1e-12)
            expected = reference.expectation_value(operator).real + constant
            assert abs(float(ours[index]) - expected) < 1e-10

    @pytest.mark.parametrize("n_qubits", [1, 2, 3])
    @pytest.mark.parametrize("noise", [NOISY, NOISE_PRESETS["crlqas_depolarizing"]])
    def test_noisy_density_matrices_and_energies(self, n_qubits, noise):
        from qiskit.circuit.library import CXGate, CZGate, HGate, RXGate, RYGate, RZGate
        from qiskit.quantum_info import DensityMatrix, Kraus, Pauli
        gates_by_name = {"rx": RXGate, "ry": RYGate, "rz": RZGate, "h": HGate, "cnot": CXGate,
                         "cz": CZGate}
        circuits = padded_random_circuits(3, 15, n_qubits, seed=220 + n_qubits)
        observable, terms, constant = random_pauli_sum(n_qubits, 10, seed=230 + n_qubits)
        rho = density_matrices(circuits, n_qubits, noise)
        ours = noisy_energies(circuits, observable, noise)
        for index in range(3):
            reference = DensityMatrix.from_label("0" * n_qubits)
            for name, pair, angle in gate_list(circuits, index):
                wires = [n_qubits - 1 - qubit for qubit in acted_on(name, pair)]
                gate = gates_by_name[name](angle) if name in ("rx", "ry", "rz") \
                    else gates_by_name[name]()
                reference = reference.evolve(gate, qargs=wires)
                probability = noise.depolarizing_2q if len(wires) == 2 else noise.depolarizing_1q
                reference = reference.evolve(Kraus(depolarizing_kraus(len(wires), probability)),
                                             qargs=wires)
                for wire in wires:
                    reference = reference.evolve(Kraus(damping_kraus(noise.amplitude_damping)),
                                                 qargs=[wire])
            np.testing.assert_allclose(rho[index].numpy(), reference.data, atol=1e-12)
            values = [reference.expectation_value(Pauli(string)).real for _, string in terms]
            expected = attenuated(values, terms, constant, noise.readout_error)
            assert abs(float(ours[index]) - expected) < 1e-10


class TestPennyLane:
    @staticmethod
    def run(qml, device, gates, noise, measurement):
        @qml.qnode(device)
        def circuit():
            for name, pair, angle in gates:
                wires = acted_on(name, pair)
                if name in ("rx", "ry", "rz"):
                    getattr(qml, name.upper())(angle, wires=wires[0])
                else:
                    {"h": qml.Hadamard, "cnot": qml.CNOT, "cz": qml.CZ}[name](wires=wires)
                if noise is None:
                    continue
                if len(wires) == 1:
                    qml.DepolarizingChannel(0.75 * noise.depolarizing_1q, wires=wires[0])
                else:
                    qml.QubitChannel(depolarizing_kraus(2, noise.depolarizing_2q), wires=wires)
                for wire in wires:
                    qml.AmplitudeDamping(noise.amplitude_damping, wires=wire)
            return measurement()
        return circuit()

    @staticmethod
    def observables(qml, terms):
        return [qml.pauli.string_to_pauli_word(string) if set(string) != {"I"}
                else qml.Identity(0) for _, string in terms]

    @pytest.mark.parametrize("n_qubits", [2, 4])
    def test_noiseless_energies_on_default_qubit(self, qml, n_qubits):
        circuits = padded_random_circuits(3, 20, n_qubits, seed=240 + n_qubits)
        observable, terms, constant = random_pauli_sum(n_qubits, 10, seed=250 + n_qubits)
        hamiltonian = qml.Hamiltonian([coefficient for coefficient, _ in terms],
                                      self.observables(qml, terms))
        device = qml.device("default.qubit", wires=n_qubits)
        ours = energies(circuits, observable)
        for index in range(3):
            expected = self.run(qml, device, gate_list(circuits, index), None,
                                lambda: qml.expval(hamiltonian)) + constant
            assert abs(float(ours[index]) - float(expected)) < 1e-10

    @pytest.mark.parametrize("n_qubits", [1, 3])
    def test_noisy_energies_on_default_mixed(self, qml, n_qubits):
        circuits = padded_random_circuits(3, 15, n_qubits, seed=260 + n_qubits)
        observable, terms, constant = random_pauli_sum(n_qubits, 8, seed=270 + n_qubits)
        device = qml.device("default.mixed", wires=n_qubits)
        rho = density_matrices(circuits, n_qubits, NOISY)
        ours = noisy_energies(circuits, observable, NOISY)
        for index in range(3):
            gates = gate_list(circuits, index)
            reference = self.run(qml, device, gates, NOISY, lambda: qml.density_matrix(
                wires=list(range(n_qubits))))
            np.testing.assert_allclose(rho[index].numpy(), np.asarray(reference), atol=1e-12)
            values = self.run(qml, device, gates, NOISY, lambda: [
                qml.expval(word) for word in self.observables(qml, terms)])
            expected = attenuated([float(value) for value in values], terms, constant,
                                  NOISY.readout_error)
            assert abs(float(ours[index]) - expected) < 1e-10


def test_the_reference_circuits_are_not_trivial():
    circuits = padded_random_circuits(3, 20, 3, seed=203)
    names = {name for index in range(3) for name, _, _ in gate_list(circuits, index)}
    assert names == set(GATES[1:])
    assert torch.all((circuits.gates == 0).sum(dim=1) > 0)
