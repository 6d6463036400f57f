"""QuantumArchSearch env: energies vs a dense numpy reference, the reward rule, the
CRLQAS encoding, the action mask (also through MaskablePPO's helper), optimisers,
noise, the curriculum and the baselines."""

import math

import numpy as np
import pytest
import torch

import tunegym
from tests.simulators.quantum.dense_reference import (
    circuit_unitary,
    hamiltonian_matrix,
    noisy_density,
)
from tunegym.agents.qas_curriculum import ThresholdCurriculum
from tunegym.baselines.quantum_arch_search import (
    greedy_search,
    hardware_efficient_actions,
    hardware_efficient_ansatz,
    random_architectures,
)
from tunegym.envs.quantum_arch_search import (
    CHEMICAL_ACCURACY,
    QuantumArchSearchEnv,
    action_table,
)
from tunegym.simulators.quantum import NOISE_PRESETS
from tunegym.simulators.quantum.hamiltonians import load_hamiltonian

H2 = load_hamiltonian("H2", 0.7414)
#: CNOT(0,1), RY(2), RX(0), CNOT(2,3), RZ(1) on 4 qubits (CNOT pairs control-major).
ACTIONS = [0, 12 + 4 + 2, 12 + 0, 2 * 3 + 2, 12 + 8 + 1]


def dense_energy(env, row):
    """<HF| U^dagger H U |HF> of the env's current circuit in ``row``, from numpy."""
    state = env.state
    count = int(state["count"][row])
    unitary = circuit_unitary(state["gates"][row, :count].tolist(),
                              state["qubits"][row, :count].tolist(),
                              state["angles"][row, :count].tolist(), 4)
    initial = np.zeros(16, dtype=complex)
    initial[int(H2.hf_bitstring, 2)] = 1.0
    final = np.einsum("ij,j->i", unitary, initial)
    matrix = hamiltonian_matrix(H2.terms, H2.constant)
    return float(np.real(np.einsum("i,ij,j->", final.conj(), matrix, final)))


def test_action_table_is_cnots_then_rotations():
    codes, qubits = action_table(3)
    assert codes.numel() == 3 * 5
    assert qubits[:6].tolist() == [[0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1]]
    assert qubits[6:].tolist() == [[q, q] for q in range(3)] * 3


def test_energies_and_rewards_follow_the_dense_reference_and_the_rule():
    env = QuantumArchSearchEnv(num_envs=2, max_gates=8)
    env.reset(torch.tensor([0, 1]))
    ground = float(np.linalg.eigvalsh(hamiltonian_matrix(H2.terms, H2.constant))[0])
    assert H2.ground_energy == pytest.approx(ground, abs=1e-8)
    previous = torch.full((2,), H2.hf_energy, dtype=torch.float64)
    assert torch.allclose(env.state["energy"], previous, atol=1e-10)
    for action in ACTIONS:
        _, reward, terminated, _, info = env.step(torch.tensor([action, action]))
        for row in range(2):
            assert info["energy_ha"][row].item() == pytest.approx(dense_energy(env, row),
                                                                  abs=1e-10)
        energy = info["energy_ha"]
        assert torch.allclose(info["energy_error_ha"], energy - ground, atol=1e-8)
        expected = ((previous - energy) / (previous - ground)).clamp(min=-1)
        assert not bool(terminated.any())
        assert torch.allclose(reward, expected.float(), atol=1e-6)
        previous = energy


def test_hardware_efficient_ansatz_reaches_chemical_accuracy_with_plus_five():
    env = QuantumArchSearchEnv(num_envs=2, max_gates=12)
    env.reset(torch.tensor([3, 4]))
    sequence = hardware_efficient_actions(4, 1)
    for step, action in enumerate(sequence):
        _, reward, terminated, _, info = env.step(torch.tensor([action, action]))
        if bool(terminated.all()):
            break
    assert step == len(sequence) - 1
    assert bool(info["chemical_accuracy"].all()) and torch.all(reward == 5.0)
    assert bool((info["energy_error_ha"] < CHEMICAL_ACCURACY).all())


def test_gate_budget_ends_with_minus_five():
    env = QuantumArchSearchEnv(num_envs=1, max_gates=2)
    env.reset(torch.tensor([0]))
    env.step(torch.tensor([0]))
    _, reward, terminated, _, info = env.step(torch.tensor([1]))
    assert bool(terminated[0]) and reward[0] == -5.0 and info["n_gates"][0] == 2


def test_crlqas_encoding_of_a_known_circuit():
    env = QuantumArchSearchEnv(num_envs=1, max_gates=8, optimiser_steps=1)
    env.reset(torch.tensor([0]))
    for action in ACTIONS:
        env.step(torch.tensor([action]))
    encoding = env.state["encoding"][0]                      # (8, 7, 4)
    expected = torch.zeros(8, 7, 4)
    expected[0, 0, 1] = 1          # CNOT(0, 1) at layer 0: [layer, control, target]
    expected[0, 4 + 1, 2] = 1      # RY(2) at layer 0: [layer, N + 1, qubit]
    expected[1, 4 + 0, 0] = 1      # RX(0) after the CNOT on qubit 0: layer 1
    expected[1, 2, 3] = 1          # CNOT(2, 3) after RY(2): layer 1
    expected[1, 4 + 2, 1] = 1      # RZ(1) after the CNOT on qubit 1: layer 1
    assert torch.equal(encoding, expected)
    observation = env.observe(env.state)[0]
    assert torch.equal(observation[:-1], expected.flatten())
    assert observation[-1].item() == pytest.approx(env.state["energy"][0].item(), rel=1e-6)
    assert int(env.state["qubit_layer"].max()) == 2


def test_action_mask_forbids_repeating_the_last_gate_and_feeds_maskable_ppo():
    from sb3_contrib.common.maskable.utils import get_action_masks

    env = QuantumArchSearchEnv(num_envs=1, max_gates=6, optimiser_steps=2)
    env.reset(torch.tensor([0]))
    assert bool(env.action_masks().all())
    _, _, _, _, info = env.step(torch.tensor([12 + 4 + 2]))   # RY(2)
    mask = env.action_masks()[0]
    assert not bool(mask[12 + 4 + 2]) and int(mask.sum()) == 24 - 1
    assert torch.equal(info["action_mask"][0], mask)
    env.step(torch.tensor([2 * 3 + 2]))                        # CNOT(2, 3)
    mask = env.action_masks()[0]
    assert not bool(mask[2 * 3 + 2]) and bool(mask[12 + 4 + 2])
    vec_env = tunegym.make_sb3_vec_env("tunegym/QuantumArchSearch-v0", num_envs=3,
                                       max_gates=4, optimiser_steps=2)
    vec_env.reset()
    masks = get_action_masks(vec_env)
    assert masks.shape == (3, 24) and masks.all()


@pytest.mark.parametrize("optimiser, steps, learning_rate", [
    ("spsa", 100, 0.05), ("cobyla", 400, 0.1)])
def test_other_optimisers_also_reach_chemical_accuracy(optimiser, steps, learning_rate):
    """The one-layer hardware-efficient ansatz: measured final errors 1e-4 (Adam-SPSA,
    100 steps of 0.05) and 1e-6 (COBYLA, 400 evaluations) against 4e-5 for Adam."""
    env = QuantumArchSearchEnv(num_envs=2, max_gates=12, optimiser=optimiser,
                               optimiser_steps=steps, learning_rate=learning_rate,
                               threshold=1e-9)
    env.reset(torch.tensor([0, 1]))
    for action in hardware_efficient_actions(4, 1):
        _, _, _, _, info = env.step(torch.tensor([action, action]))
    assert bool((info["energy_error_ha"] < CHEMICAL_ACCURACY).all())


def test_noise_raises_the_energy_and_matches_the_dense_density_matrix():
    noise = NOISE_PRESETS["crlqas_depolarizing"]
    env = QuantumArchSearchEnv(num_envs=1, max_gates=8, noise="crlqas_depolarizing")
    env.reset(torch.tensor([0]))
    for action in ACTIONS:
        _, _, _, _, info = env.step(torch.tensor([action]))
    state = env.state
    initial = np.zeros(16, dtype=complex)
    initial[int(H2.hf_bitstring, 2)] = 1.0
    rho = noisy_density(state["gates"][0, :5].tolist(), state["qubits"][0, :5].tolist(),
                        state["angles"][0, :5].tolist(), 4, noise.depolarizing_1q,
                        noise.depolarizing_2q, noise.amplitude_damping, initial=initial)
    expected = float(np.real(np.einsum("ij,ji->", rho, hamiltonian_matrix(H2.terms,
                                                                           H2.constant))))
    assert info["energy_ha"][0].item() == pytest.approx(expected, abs=1e-9)
    assert info["energy_error_ha"][0].item() == pytest.approx(expected - H2.ground_energy,
                                                              abs=1e-8)


def test_random_halting_draws_budgets_per_episode():
    env = QuantumArchSearchEnv(num_envs=64, max_gates=10, random_halting=True,
                               optimiser_steps=1)
    env.reset(torch.arange(64))
    assert set(env.state["budget"].tolist()) == set(range(5, 11))


def test_bond_lengths_per_split():
    env = QuantumArchSearchEnv(num_envs=32, split="test", optimiser_steps=1,
                               bond_length={"train": [0.7414], "test": [0.7, 2.63]})
    env.reset(torch.arange(32))
    energies = {round(value, 6) for value in env.state["energy"].tolist()}
    expected = {round(load_hamiltonian("H2", length).hf_energy, 6) for length in (0.7, 2.63)}
    assert energies == expected


def test_curriculum_follows_its_rule():
    curriculum = ThresholdCurriculum(initial=0.05, target=1e-3, window=4, shrink=0.5,
                                     margin=1e-3, tighten_above=0.5, relax_below=0.25)
    # 2 of 4 below 0.05: min(0.05 * 0.5, best 0.01 + margin 0.001)
    assert curriculum.record([0.01, 0.02, 0.1, 0.2]) == pytest.approx(0.011)
    # 3 of 4 below 0.011: min(0.0055, 0.001 + 0.001)
    assert curriculum.record([0.001, 0.002, 0.003, 0.3]) == pytest.approx(0.002)
    assert curriculum.record([0.5] * 4) == pytest.approx(0.004)               # relax
    for _ in range(10):
        curriculum.record([0.0] * 4)
    assert curriculum.threshold == pytest.approx(1e-3)                      # the target
    with pytest.raises(ValueError, match="target"):
        ThresholdCurriculum(initial=1e-3, target=1e-2)
    with pytest.raises(ValueError, match="shrink"):
        ThresholdCurriculum(shrink=1.5)


def test_baselines_on_h2():
    env = QuantumArchSearchEnv(num_envs=2, max_gates=12)
    seeds = torch.tensor([0, 1])
    efficient = hardware_efficient_ansatz(env, seeds, layers=1)
    assert bool((efficient["energy_error_ha"] < CHEMICAL_ACCURACY).all())
    assert efficient["n_gates"].tolist() == [11, 11]
    greedy = greedy_search(env, seeds)
    # single rotations on the Hartree-Fock state do not lower the energy: greedy stalls
    assert torch.allclose(greedy["energy_error_ha"],
                          torch.full((2,), H2.hf_energy - H2.ground_energy,
                                     dtype=torch.float64), atol=1e-6)
    random = random_architectures(env, seeds)
    assert bool((random["n_gates"] <= 12).all())
    assert bool((random["energy_error_ha"] >= -1e-9).all())


@pytest.mark.parametrize("kwargs, name", [
    ({"molecule": "CH4"}, "molecule"), ({"bond_length": 0.1234}, "bond_length"),
    ({"bond_length": -1.0}, "bond_length"), ({"noise": "loud"}, "noise"),
    ({"optimiser": "bfgs"}, "optimiser"), ({"max_gates": 0}, "max_gates"),
    ({"learning_rate": 0}, "learning_rate"), ({"threshold": -1.0}, "threshold"),
    ({"n_qubits": 5}, "n_qubits"), ({"random_halting": "yes"}, "random_halting"),
])
def test_bad_kwargs_are_rejected(kwargs, name):
    with pytest.raises(ValueError, match=name):
        QuantumArchSearchEnv(**kwargs)


def test_chemical_accuracy_is_one_kcal_per_mol():
    assert CHEMICAL_ACCURACY == pytest.approx(1 / 627.5, rel=0.01)
    assert math.isclose(CHEMICAL_ACCURACY, 1.6e-3)


def test_shot_noise_has_the_binomial_variance_and_does_not_depend_on_the_batch():
    """On the Hartree-Fock basis state a Z-only string has <P> = +-1 (no shot noise) and
    any string with an X or Y has <P> = 0 (variance 1 / shots): the energy's standard
    deviation is sqrt(sum of those c_k^2 / shots)."""
    shots = 1000
    env = QuantumArchSearchEnv(num_envs=512, shots=shots, optimiser_steps=1)
    env.reset(torch.arange(512))
    energies = env.state["energy"]
    flipping = [c for c, string in H2.terms if set(string) - {"I", "Z"}]
    expected_std = math.sqrt(sum(c * c for c in flipping) / shots)
    assert energies.std().item() == pytest.approx(expected_std, rel=0.15)
    assert energies.mean().item() == pytest.approx(H2.hf_energy, abs=4 * expected_std / 22)
    single = QuantumArchSearchEnv(num_envs=1, shots=shots, optimiser_steps=1)
    single.reset(torch.tensor([7]))
    assert single.state["energy"][0].item() == energies[7].item()
