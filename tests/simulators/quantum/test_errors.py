"""Bad input gets a ValueError (or TypeError) naming the argument."""

import pytest
import torch

from tunegym.simulators.quantum import (
    NOISE_PRESETS,
    Circuits,
    NoiseModel,
    PauliSum,
    basis_state,
    density_matrices,
    energies,
    expectation,
    noisy_energies,
    random_circuits,
    statevectors,
)

ONE_RX = {"gates": torch.tensor([[1]]), "qubits": torch.tensor([[[0, 0]]])}


@pytest.mark.parametrize("terms, match", [
    ([], "terms"),
    ([(1.0, "")], "terms"),
    ([(1.0, "XZ"), (0.5, "XZI")], "terms"),
    ([(1.0, "XA")], "terms"),
    ([(1.0, "xz")], "terms"),
    ([(1 + 2j, "XZ")], "terms.*not Hermitian"),
    ([(float("nan"), "XZ")], "terms"),
    ([("one", "XZ")], "terms"),
    ([(1.0, "XZ", 3)], "terms"),
    ([(1.0, 5)], "terms"),
])
def test_pauli_sum_rejects_bad_terms(terms, match):
    with pytest.raises(ValueError, match=match):
        PauliSum(terms)


def test_pauli_sum_accepts_real_valued_complex_and_rejects_complex_constant():
    assert PauliSum([(1 + 0j, "Z")]).coefficients.tolist() == [1.0]
    with pytest.raises(ValueError, match="constant"):
        PauliSum([(1.0, "Z")], constant=1j)


@pytest.mark.parametrize("arguments, match", [
    ({"gates": torch.tensor([1, 2]), "qubits": torch.zeros(2, 2, dtype=torch.int64)}, "gates"),
    ({"gates": torch.tensor([[1.0]]), "qubits": torch.zeros(1, 1, 2, dtype=torch.int64)}, "gates"),
    ({"gates": torch.tensor([[7]]), "qubits": torch.zeros(1, 1, 2, dtype=torch.int64)}, "gates"),
    ({"gates": torch.tensor([[-1]]), "qubits": torch.zeros(1, 1, 2, dtype=torch.int64)}, "gates"),
    ({"gates": torch.tensor([[1]]), "qubits": torch.zeros(1, 1, 3, dtype=torch.int64)}, "qubits"),
    ({"gates": torch.tensor([[1]]), "qubits": torch.zeros(1, 1, 2)}, "qubits"),
    ({"gates": torch.tensor([[4]]), "qubits": torch.tensor([[[1, 1]]])}, "control and target"),
    (dict(**ONE_RX, angles=torch.zeros(1, 2)), "angles"),
    (dict(**ONE_RX, angles=torch.zeros(1, 1, dtype=torch.int64)), "angles"),
    (dict(**ONE_RX, angles=torch.zeros(1, 1, dtype=torch.complex128)), "angles"),
])
def test_circuits_reject_bad_tensors(arguments, match):
    with pytest.raises(ValueError, match=match):
        Circuits(**arguments)


@pytest.mark.parametrize("qubits", [[[[3, 0]]], [[[-1, 0]]]])
def test_qubit_indices_must_fit_the_register(qubits):
    circuits = Circuits(torch.tensor([[2]]), torch.tensor(qubits))
    with pytest.raises(ValueError, match=r"qubits must lie in \[0, 3\)"):
        statevectors(circuits, 3)
    with pytest.raises(ValueError, match="qubits"):
        density_matrices(circuits, 3, NOISE_PRESETS["noiseless"])


def test_a_cnot_target_outside_the_register_is_rejected_but_ignored_entries_are_not():
    with pytest.raises(ValueError, match="qubits"):
        statevectors(Circuits(torch.tensor([[4]]), torch.tensor([[[0, 2]]])), 2)
    # The second entry of a 1-qubit gate and both entries of identity are ignored.
    statevectors(Circuits(torch.tensor([[1, 0]]), torch.tensor([[[0, 9], [7, 7]]])), 1)


@pytest.mark.parametrize("n_qubits", [0, -2, 2.0, True])
def test_n_qubits_must_be_a_positive_int(n_qubits):
    with pytest.raises(ValueError, match="n_qubits"):
        statevectors(Circuits(**ONE_RX), n_qubits)


def test_initial_states_are_checked():
    circuits = Circuits(**ONE_RX)
    with pytest.raises(ValueError, match="initial"):
        statevectors(circuits, 2, initial=torch.ones(3, dtype=torch.complex128))
    with pytest.raises(ValueError, match="initial.*norm"):
        statevectors(circuits, 1, initial=torch.ones(2, dtype=torch.complex128))
    with pytest.raises(ValueError, match="initial density matrices must have trace 1"):
        density_matrices(circuits, 1, NOISE_PRESETS["noiseless"],
                         initial=torch.eye(2, dtype=torch.complex128)[None])
    with pytest.raises(ValueError, match="initial density matrices must have shape"):
        density_matrices(circuits, 1, NOISE_PRESETS["noiseless"],
                         initial=torch.eye(4, dtype=torch.complex128)[None] / 4)
    with pytest.raises(ValueError, match="dtype"):
        statevectors(circuits, 1, dtype=torch.float64)


@pytest.mark.parametrize("bits", ["", "012", [0, 2], "1 0"])
def test_basis_state_rejects_bad_bits(bits):
    with pytest.raises(ValueError, match="bits"):
        basis_state(bits)


@pytest.mark.parametrize("field", ["depolarizing_1q", "depolarizing_2q", "amplitude_damping",
                                   "readout_error"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), "0.1"])
def test_noise_rates_must_be_probabilities(field, value):
    with pytest.raises(ValueError, match=field):
        NoiseModel(**{field: value})


def test_noisy_energies_check_noise_and_shots():
    circuits, observable = Circuits(**ONE_RX), PauliSum([(1.0, "Z")])
    with pytest.raises(TypeError, match="noise"):
        noisy_energies(circuits, observable, {"depolarizing_1q": 0.1})
    for shots in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="shots"):
            noisy_energies(circuits, observable, NOISE_PRESETS["noiseless"], shots=shots)


def test_states_must_match_the_observable():
    observable = PauliSum([(1.0, "ZZ")])
    with pytest.raises(ValueError, match="states"):
        expectation(torch.ones(2, 8, dtype=torch.complex128), observable)
    with pytest.raises(ValueError, match="states"):
        expectation(torch.ones(2, 4, dtype=torch.float64), observable)


def test_random_circuits_reject_unknown_gates_and_energies_run_on_them():
    with pytest.raises(ValueError, match="gate_set"):
        random_circuits(2, 3, 2, gate_set=("rx", "swap"))
    circuits = random_circuits(2, 3, 1, torch.Generator().manual_seed(0))
    assert not bool(((circuits.gates == 4) | (circuits.gates == 6)).any())
    assert energies(circuits, PauliSum([(1.0, "Z")])).shape == (2,)
