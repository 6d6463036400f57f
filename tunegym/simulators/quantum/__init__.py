"""Batched quantum circuit simulation for the quantum architecture search family.

After Patel et al., "Curriculum reinforcement learning for quantum architecture search
under hardware errors" (CRLQAS, ICLR 2024): B variational circuits over the gates
:data:`GATES` are simulated at once, noiselessly as state vectors
(:func:`statevectors`, :func:`energies`) or under gate, readout and shot noise as Pauli
vectors / density matrices (:func:`noisy_energies`, :func:`density_matrices`; per-term
measured values: :func:`measured_term_expectations`), with energies of Pauli-sum
Hamiltonians (:class:`PauliSum`) computed without dense matrices.

Conventions: qubit 0 is the most significant bit of a basis index; angles in radians;
energies in the Hamiltonian's units (hartree for molecules). Everything is float64 /
complex128 unless a ``dtype`` says otherwise and differentiable w.r.t.
``Circuits.angles``.
"""

from tunegym.simulators.quantum.circuits import (
    GATE_CODES,
    GATES,
    Circuits,
    random_circuits,
)
from tunegym.simulators.quantum.noise import (
    NOISE_PRESETS,
    NoiseModel,
    density_matrices,
    measured_term_expectations,
    noisy_energies,
    pauli_vectors,
)
from tunegym.simulators.quantum.observables import PauliSum, expectation, term_expectations
from tunegym.simulators.quantum.statevector import basis_state, energies, statevectors

__all__ = [
    "GATES",
    "GATE_CODES",
    "NOISE_PRESETS",
    "Circuits",
    "NoiseModel",
    "PauliSum",
    "basis_state",
    "density_matrices",
    "energies",
    "expectation",
    "measured_term_expectations",
    "noisy_energies",
    "pauli_vectors",
    "random_circuits",
    "statevectors",
    "term_expectations",
]
