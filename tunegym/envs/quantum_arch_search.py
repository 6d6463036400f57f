"""``tunegym/QuantumArchSearch-v0``: build a variational circuit gate by gate (VQE).

After Ostaszewski et al., "Reinforcement learning for optimization of variational
quantum circuit architectures" (NeurIPS 2021) and Patel et al., "Curriculum
reinforcement learning for quantum architecture search under hardware errors" (CRLQAS,
ICLR 2024). An episode starts from the Hartree-Fock state of a molecular Hamiltonian
(:func:`tunegym.simulators.quantum.hamiltonians.load_hamiltonian`) and an empty circuit.
Each step appends one gate, then re-optimises all rotation angles (the VQE inner loop,
warm-started from the previous angles, the new angle uniform in [-0.1, 0.1] from the
episode seed, off the saddle that angle 0 often is) and measures the energy.

Action: Discrete(N (N + 2)) for N qubits: a < N (N - 1) is CNOT(control, target) over
the ordered pairs (control-major, target skipping the control); the next 3N are
RX, RY, RZ on qubit (a - N (N - 1)) mod N, the rotation (a - N (N - 1)) // N.

Observation: the CRLQAS binary encoding of the circuit, ``max_gates`` layers x (N + 3)
rows x N columns (layer = the first moment at which all the gate's qubits are free;
CNOT(c, t) sets [layer, c, t]; a rotation k on q sets [layer, N + k, q]), flattened, then
the current energy (hartree; the Box bounds are the constant -+ the sum of |coefficients|,
floored / ceiled).

Reward (Ostaszewski et al. / CRLQAS): +5 and the episode ends when the energy error
E - E_ground is below ``threshold`` (hartree); -5 and the episode ends when the gate
budget is used up; otherwise max((E_prev - E) / (E_prev - E_ground), -1). The threshold
is an attribute a curriculum may move (:class:`tunegym.agents.qas_curriculum.
ThresholdCurriculum`); it does not change within an episode. With ``random_halting``
each episode's gate budget is drawn uniformly from [ceil(max_gates / 2), max_gates]
(from the episode seed), so a policy cannot count on the full budget.

Inner-loop optimisers (``optimiser``):

* "adam": exact gradients by autograd, ``optimiser_steps`` Adam steps of
  ``learning_rate``, all envs at once;
* "spsa": simultaneous-perturbation gradient estimates (two energy evaluations per
  step, +-1 perturbations of size 0.1 drawn from the episode seed) with Adam moments
  (the Adam-SPSA of CRLQAS); with ``shots`` its evaluations are shot-noisy, the shot
  count growing linearly from ``shots`` at the first step to 4 x ``shots`` at the last;
* "cobyla": scipy's COBYLA per env (``optimiser_steps`` function evaluations).

Noise: ``noise`` names a preset of :data:`tunegym.simulators.quantum.NOISE_PRESETS`
(depolarizing, amplitude damping, readout); energies are then the noisy measured ones,
while the error stays measured against the exact ground energy, as in CRLQAS. With
``shots`` every reported energy (observation, reward, info) is a shot-noisy estimate:
each Pauli term gets Gaussian noise of variance ``(1 - <P>^2) / shots``, drawn from the
episode seed and step; "adam" and "cobyla" optimise the exact expectation under the
gate noise, "spsa" the shot-noisy one.

Instances: ``bond_length`` is one value, a list (one drawn per episode) or a dict
{"train": ..., "test": ...}. Info: ``energy_ha``, ``energy_error_ha``,
``chemical_accuracy`` (error below 1.6e-3 Ha), ``n_gates``, ``n_cnots``, ``depth``,
``threshold_ha`` and ``action_mask`` (actions that would repeat the last gate on the
same qubits, which cancels (CNOT) or merges into it (rotation), are False); the mask is
also :meth:`QuantumArchSearchEnv.action_masks` for sb3-contrib's MaskablePPO.
"""

from __future__ import annotations

import math

import gymnasium
import numpy as np
import torch

from tunegym.core import (
    BatchedEnv,
    FamilyRecord,
    check_choice,
    check_integer,
    derive_envs,
    split_choices,
)
from tunegym.core.random import choice_index, hash_keys, standard_normal, uniform
from tunegym.simulators.quantum import (
    GATE_CODES,
    NOISE_PRESETS,
    Circuits,
    PauliSum,
    basis_state,
    measured_term_expectations,
)
from tunegym.simulators.quantum.hamiltonians import load_hamiltonian

#: Chemical accuracy in hartree (1 kcal/mol).
CHEMICAL_ACCURACY = 1.6e-3
OPTIMISERS = ("adam", "spsa", "cobyla")
ROTATIONS = ("rx", "ry", "rz")
SUCCESS_REWARD, FAILURE_REWARD = 5.0, -5.0
SPSA_PERTURBATION = 0.1
#: New angles start uniform in [-0.1, 0.1] radians.
INITIAL_ANGLE_SCALE = 0.1


def action_table(n_qubits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The gate of every action: codes (A,) int64 and qubits (A, 2) int64 (control,
    target for CNOT; the qubit twice for a rotation), A = N (N + 2)."""
    codes, qubits = [], []
    for control in range(n_qubits):
        for target in range(n_qubits):
            if target != control:
                codes.append(GATE_CODES["cnot"])
                qubits.append((control, target))
    for rotation in ROTATIONS:
        for qubit in range(n_qubits):
            codes.append(GATE_CODES[rotation])
            qubits.append((qubit, qubit))
    return torch.tensor(codes), torch.tensor(qubits)


class QuantumArchSearchEnv(BatchedEnv):
    """Batched gate-by-gate VQE circuit construction (see module docstring).

    Args:
        molecule: "H2", "LiH", ... (see ``available_hamiltonians()``).
        bond_length: angstrom; one value, a list drawn per episode, or a per-split dict.
        n_qubits: the Hamiltonian's qubit form (None: the molecule's default).
        noise: a key of NOISE_PRESETS.
        max_gates: the gate budget L of an episode.
        optimiser: the VQE inner loop's optimiser, "adam", "spsa" or "cobyla".
        optimiser_steps: optimiser steps of the VQE inner loop.
        learning_rate: learning rate (> 0) of the VQE inner loop.
        threshold: the success threshold on the energy error (hartree).
        random_halting: draw each episode's gate budget (see module docstring).
        shots: measurements per Pauli term, or None for exact expectations.
    """

    family = "quantum_arch_search"
    raw_metric = "energy_error_ha"
    record = FamilyRecord(
        name="quantum_arch_search", title="Quantum architecture search (CRLQAS, Patel et "
        "al., ICLR 2024)",
        short_episode_kwargs={"max_gates": 3, "optimiser_steps": 5},
        baselines={"hardware_efficient_ansatz":
                   "tunegym.baselines.quantum_arch_search:HardwareEfficientAnsatz",
                   "greedy": "tunegym.baselines.quantum_arch_search:GreedyGate"},
        comparison=("qas_h2_maskable_ppo",))
    reward_description = ("+5 when the energy error falls below the threshold, -5 when the "
                          "gate budget runs out, else the clipped relative energy improvement")

    @property
    def max_episode_steps(self) -> int:
        """An episode ends at the latest when the gate budget ``max_gates`` is spent."""
        return self.max_gates

    def __init__(self, num_envs: int = 1, device: str = "cpu", split: str = "train",
                 molecule: str = "H2",
                 bond_length: float | list[float] | dict[str, float | list[float]] = 0.7414,
                 n_qubits: int | None = None,
                 noise: str = "noiseless", max_gates: int = 12, optimiser: str = "adam",
                 optimiser_steps: int = 60, learning_rate: float = 0.1,
                 threshold: float = CHEMICAL_ACCURACY, random_halting: bool = False,
                 shots: int | None = None) -> None:
        super().__init__(num_envs, device, split)
        check_choice("noise", noise, tuple(NOISE_PRESETS))
        check_choice("optimiser", optimiser, OPTIMISERS)
        check_choice("random_halting", random_halting, (True, False))
        self.noise = NOISE_PRESETS[noise]
        self.max_gates = check_integer("max_gates", max_gates)
        self.optimiser = optimiser
        self.optimiser_steps = check_integer("optimiser_steps", optimiser_steps)
        if not (isinstance(learning_rate, (int, float)) and learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        self.threshold = threshold
        self.random_halting = random_halting
        self.shots = None if shots is None else check_integer("shots", shots)

        def check_bond_length(value) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"bond_length must be a positive number of angstrom (or a "
                                 f"list of them), got {value!r}")

        bond_lengths = split_choices("bond_length", bond_length, split, check_bond_length)
        self.hamiltonians = [load_hamiltonian(molecule, float(length), n_qubits)
                             for length in bond_lengths]
        self.n_qubits = self.hamiltonians[0].n_qubits
        strings = tuple(dict.fromkeys(string for hamiltonian in self.hamiltonians
                                      for _, string in hamiltonian.terms))
        self.observable = PauliSum([(1.0, string) for string in strings])
        position = {string: index for index, string in enumerate(strings)}
        coefficients = torch.zeros(len(self.hamiltonians), len(strings), dtype=torch.float64)
        for row, hamiltonian in enumerate(self.hamiltonians):
            for coefficient, string in hamiltonian.terms:
                coefficients[row, position[string]] += coefficient
        self.coefficients = coefficients.to(self.device)
        self.constants = torch.tensor([h.constant for h in self.hamiltonians],
                                      dtype=torch.float64, device=self.device)
        self.ground_energies = torch.tensor([h.ground_energy for h in self.hamiltonians],
                                            dtype=torch.float64, device=self.device)
        self.initial_states = torch.stack([basis_state(h.hf_bitstring, device=self.device)
                                           for h in self.hamiltonians])
        codes, qubits = action_table(self.n_qubits)
        self.action_codes, self.action_qubits = codes.to(self.device), qubits.to(self.device)
        encoding = self.max_gates * (self.n_qubits + 3) * self.n_qubits
        # |E - constant| <= sum_k |c_k| for any state (every Pauli string has norm 1)
        spread = self.coefficients.abs().sum(dim=1)
        lowest, highest = float((self.constants - spread).min()), float(
            (self.constants + spread).max())
        self.single_observation_space = gymnasium.spaces.Box(
            np.concatenate([np.zeros(encoding), [math.floor(lowest)]]).astype(np.float32),
            np.concatenate([np.ones(encoding), [math.ceil(highest)]]).astype(np.float32))
        self.single_action_space = gymnasium.spaces.Discrete(codes.numel())

    @property
    def threshold(self) -> float:
        """Success threshold on the energy error, hartree (a curriculum may set it)."""
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"threshold must be a positive number of hartree, got {value!r}")
        self._threshold = float(value)

    # ------------------------------------------------------------------ energies
    def energies(self, circuits: Circuits, hamiltonian_index: torch.Tensor, shots=None,
                 keys: torch.Tensor | None = None, stream: int = 0) -> torch.Tensor:
        """(b,) float64 energies (hartree) of b circuits from their rows' Hartree-Fock
        states, under the env's noise; differentiable w.r.t. ``circuits.angles``.
        With ``shots`` (an int or (b,) counts) each term gets shot noise from the
        counter-based normals of ``keys`` (b,) and ``stream``."""
        normals = None if shots is None else standard_normal(
            keys, (len(self.observable),), stream=stream)
        terms = measured_term_expectations(circuits, self.observable, self.noise,
                                           self.initial_states[hamiltonian_index], shots=shots,
                                           normals=normals)
        return ((terms * self.coefficients[hamiltonian_index]).sum(dim=1)
                + self.constants[hamiltonian_index])

    def optimise(self, state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The VQE inner loop on every row: (angles (b, L), energies (b,))."""
        index = state["hamiltonian_index"]
        rotation = (state["gates"] >= GATE_CODES["rx"]) & (state["gates"] <= GATE_CODES["rz"])

        def evaluate(angles: torch.Tensor) -> torch.Tensor:
            return self.energies(Circuits(state["gates"], state["qubits"], angles), index)

        angles = state["angles"].clone()
        keys = hash_keys(state["episode_key"], state["count"])
        if self.optimiser == "cobyla":
            angles = self._cobyla(state, angles, rotation)
        else:                    # Adam on exact (autograd) or SPSA gradient estimates
            angles.requires_grad_(True)
            optimiser = torch.optim.Adam([angles], lr=self.learning_rate)
            for step in range(1, self.optimiser_steps + 1):
                optimiser.zero_grad()
                if self.optimiser == "adam":
                    evaluate(angles).sum().backward()
                    gradient = angles.grad
                else:
                    gradient = self._spsa_gradient(state, angles.detach(), rotation, keys, step)
                angles.grad = torch.where(rotation, gradient, 0.0)
                optimiser.step()
            angles = angles.detach()
        with torch.no_grad():
            return angles, self.energies(Circuits(state["gates"], state["qubits"], angles),
                                         index, self.shots, keys, stream=64)

    def _spsa_gradient(self, state, angles, rotation, keys, step: int) -> torch.Tensor:
        """(b, L) SPSA gradient estimate of step ``step``: +-1 perturbations (and shot
        noise, its shot count growing from ``shots`` to 4 x ``shots`` over the steps)
        drawn from the episode seed, step and position."""
        shots = None if self.shots is None else round(
            self.shots * (1 + 3 * (step - 1) / max(1, self.optimiser_steps - 1)))
        signs = torch.where(uniform(keys, (self.max_gates,), stream=60 + step) < 0.5,
                            -1.0, 1.0).to(angles.dtype) * rotation
        with torch.no_grad():
            difference = [self.energies(Circuits(state["gates"], state["qubits"],
                                                 angles + sign * SPSA_PERTURBATION * signs),
                                        state["hamiltonian_index"], shots, keys,
                                        stream=1000 + 2 * step + branch)
                          for branch, sign in enumerate((1.0, -1.0))]
        return (difference[0] - difference[1])[:, None] / (2 * SPSA_PERTURBATION) * signs

    def _cobyla(self, state, angles, rotation):
        """scipy COBYLA on each row's rotation angles."""
        from scipy.optimize import minimize

        for row in range(angles.shape[0]):
            positions = rotation[row].nonzero()[:, 0]
            if positions.numel() == 0:
                continue
            single = {key: state[key][row:row + 1] for key in ("gates", "qubits")}

            def energy(values, row=row, positions=positions, single=single):
                trial = angles[row:row + 1].clone()
                trial[0, positions] = torch.as_tensor(values, dtype=torch.float64,
                                                      device=self.device)
                with torch.no_grad():
                    return float(self.energies(Circuits(single["gates"], single["qubits"],
                                                        trial),
                                               state["hamiltonian_index"][row:row + 1])[0])

            result = minimize(energy, angles[row, positions].cpu().numpy(), method="COBYLA",
                              options={"maxiter": self.optimiser_steps, "rhobeg": 0.5})
            angles[row, positions] = torch.as_tensor(result.x, dtype=torch.float64,
                                                     device=self.device)
        return angles

    # ------------------------------------------------------------------ hooks
    def initial_state(self, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        keys = hash_keys(self.split_key, seeds)
        count = seeds.shape[0]
        hamiltonian_index = choice_index(keys, len(self.hamiltonians), stream=61)
        if self.random_halting:
            low = math.ceil(self.max_gates / 2)
            budget = low + choice_index(keys, self.max_gates - low + 1, stream=62)
        else:
            budget = torch.full((count,), self.max_gates, device=self.device)
        index_dtype = {"dtype": torch.int64, "device": self.device}
        state = {
            "episode_key": keys, "hamiltonian_index": hamiltonian_index, "budget": budget,
            "gates": torch.zeros(count, self.max_gates, **index_dtype),
            "qubits": torch.zeros(count, self.max_gates, 2, **index_dtype),
            "angles": torch.zeros(count, self.max_gates, dtype=torch.float64,
                                  device=self.device),
            "count": torch.zeros(count, **index_dtype),
            "qubit_layer": torch.zeros(count, self.n_qubits, **index_dtype),
            "last_action": torch.full((count, self.n_qubits), -1, **index_dtype),
            "encoding": torch.zeros(count, self.max_gates, self.n_qubits + 3, self.n_qubits,
                                    dtype=torch.float32, device=self.device)}
        with torch.no_grad():
            state["energy"] = self.energies(Circuits(state["gates"], state["qubits"],
                                                     state["angles"]), hamiltonian_index,
                                            self.shots, keys, stream=64)
        return state

    def observe(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([state["encoding"].flatten(1),
                          state["energy"][:, None].to(torch.float32)], dim=1)

    def action_masks(self) -> torch.Tensor:
        """(B, A) bool: False for actions that repeat the last gate on all their qubits."""
        return self.legal_actions(self.state)

    def legal_actions(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """(b, A) bool action mask of any state dict (e.g. copies a search plays on)."""
        actions = torch.arange(self.action_codes.numel(), device=self.device)
        last = state["last_action"]                                            # (b, N)
        on_control = last[:, self.action_qubits[:, 0]] == actions               # (b, A)
        on_target = last[:, self.action_qubits[:, 1]] == actions
        return ~(on_control & on_target)

    def transition(self, state, action):
        action = action.long()
        rows = torch.arange(action.shape[0], device=self.device)
        code, qubits = self.action_codes[action], self.action_qubits[action]   # (b,), (b, 2)
        position = state["count"]
        gates, gate_qubits = state["gates"].clone(), state["qubits"].clone()
        gates[rows, position] = code
        gate_qubits[rows, position] = qubits
        angles = state["angles"].clone()
        # A small random start for the new angle: at exactly 0 a rotation next to a
        # basis state often sits on a saddle of the energy (zero gradient).
        start = uniform(hash_keys(state["episode_key"], position), (1,), stream=63)[:, 0]
        angles[rows, position] = INITIAL_ANGLE_SCALE * (2.0 * start - 1.0)
        layer = state["qubit_layer"].gather(1, qubits).max(dim=1).values         # (b,)
        qubit_layer = state["qubit_layer"].scatter(1, qubits, (layer + 1)[:, None].expand(-1, 2))
        last_action = state["last_action"].scatter(1, qubits, action[:, None].expand(-1, 2))
        rotation = code != GATE_CODES["cnot"]
        encoding_row = torch.where(rotation, self.n_qubits + code - GATE_CODES["rx"],
                                   qubits[:, 0])
        encoding = state["encoding"].clone()
        encoding[rows, layer, encoding_row, qubits[:, 1]] = 1.0
        new_state = {**state, "gates": gates, "qubits": gate_qubits, "count": position + 1,
                     "qubit_layer": qubit_layer, "last_action": last_action,
                     "encoding": encoding}
        new_state["angles"], energy = self.optimise({**new_state, "angles": angles})
        new_state["energy"] = energy
        ground = self.ground_energies[state["hamiltonian_index"]]
        error = energy - ground
        success = error < self.threshold
        out_of_budget = (position + 1 >= state["budget"]) & ~success
        improvement = ((state["energy"] - energy)
                       / (state["energy"] - ground).clamp(min=1e-12)).clamp(min=-1.0)
        reward = torch.where(success, SUCCESS_REWARD,
                             torch.where(out_of_budget, FAILURE_REWARD, improvement))
        info = {"energy_ha": energy, "energy_error_ha": error,
                "chemical_accuracy": error < CHEMICAL_ACCURACY,
                "n_gates": position + 1, "n_cnots": (gates == GATE_CODES["cnot"]).sum(dim=1),
                "depth": qubit_layer.max(dim=1).values,
                "threshold_ha": torch.full_like(energy, self.threshold),
                "action_mask": self.legal_actions(new_state)}
        terminated = success | out_of_budget
        return new_state, reward.to(torch.float32), terminated, torch.zeros_like(terminated), info


QuantumArchSearchGymEnv, QuantumArchSearchVectorEnv = derive_envs(QuantumArchSearchEnv)
