"""Noisy batched simulation: gate noise, readout error and shot noise.

The B circuits' mixed states are evolved as Pauli vectors r_P = Tr(rho P) (4^n real
entries, P over all n-qubit Pauli strings, base-4 index with I=0, X=1, Y=2, Z=3 and qubit 0
the most significant digit), so every gate and its noise become one real 16 x 16
Pauli-transfer matrix R[p', p] = Tr(P_p' E(P_p)) / 4 on the two qubits it touches: the
Pauli-Liouville representation the CRLQAS simulator uses (Patel et al., ICLR 2024). This
is half the memory of a complex density matrix and a quarter of the arithmetic, and the
expectation of a Pauli string is a lookup. Dense density matrices are formed only on
request (:func:`density_matrices`).

Noise model (:class:`NoiseModel`), applied after each non-identity gate, in this order:

1. depolarizing: rho -> (1 - p) rho + p Tr_S(rho) (x) I_S / 2^|S| on the gate's qubits S
   (p = 1 leaves them maximally mixed; Kraus sqrt(1 - (4^|S| - 1) p / 4^|S|) I and
   sqrt(p / 4^|S|) P for the other Paulis P on S). This p is Qiskit's
   ``depolarizing_error`` parameter; PennyLane's ``DepolarizingChannel(q)`` on one qubit
   is p = 4 q / 3.
2. amplitude damping with gamma on each qubit the gate touches (Kraus [[1, 0],
   [0, sqrt(1 - gamma)]] and [[0, sqrt(gamma)], [0, 0]]).

Measurement (:func:`noisy_energies`): each term P_k is measured after rotating its qubits
to the Z basis; a symmetric readout bit flip with probability q on each measured qubit
multiplies the expectation of a weight-w string by (1 - 2q)^w. With a finite number of
shots each term is estimated from its own ``shots`` samples, independently of the other
terms, approximated as Gaussian: <P_k> + N(0, (1 - <P_k>^2) / shots) (the variance of the
mean of ``shots`` +-1 outcomes).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers

import torch

from tunegym.simulators.quantum.circuits import (
    GATE_BANK,
    GATES,
    TWO_QUBIT_CODES,
    Circuits,
    apply_local_operators,
    check_qubit_count,
    pauli_matrices,
)
from tunegym.simulators.quantum.observables import PauliSum, term_expectations
from tunegym.simulators.quantum.statevector import initial_vectors, statevectors


@dataclasses.dataclass(frozen=True)
class NoiseModel:
    """Gate and readout noise rates (all probabilities in [0, 1]; see the module docstring
    for the channels).

    Attributes:
        depolarizing_1q: depolarizing probability after every 1-qubit gate.
        depolarizing_2q: 2-qubit depolarizing probability after every cnot / cz.
        amplitude_damping: damping gamma after every gate, on each qubit it touches
            (gamma = 1 - exp(-t_gate / T1)).
        readout_error: symmetric bit-flip probability of each measured qubit.
    """

    depolarizing_1q: float = 0.0
    depolarizing_2q: float = 0.0
    amplitude_damping: float = 0.0
    readout_error: float = 0.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not 0.0 <= value <= 1.0:
                raise ValueError(f"{field.name} must be a probability in [0, 1], "
                                 f"got {value!r}")

    @property
    def has_gate_noise(self) -> bool:
        """Whether any channel acts between gates (else the state stays pure)."""
        return (self.depolarizing_1q, self.depolarizing_2q, self.amplitude_damping) != (0, 0, 0)


#: Named noise models.
#:
#: * "noiseless": no noise.
#: * "crlqas_depolarizing": 1-qubit depolarizing 5.22e-4 and 2-qubit depolarizing 1.25e-2,
#:   the setting of the CRLQAS paper's comparison with earlier QAS methods under noise
#:   (Patel et al., ICLR 2024; rates as given in the tunegym issue for this family).
#: * "superconducting_damping_readout": the same depolarizing rates plus amplitude damping
#:   gamma = 5e-4 (1 - exp(-t / T1) for t = 50 ns gates and T1 = 100 us, typical of
#:   current superconducting qubits) and a 1 % symmetric readout error; illustrative
#:   round numbers, not one device's calibration.
NOISE_PRESETS: dict[str, NoiseModel] = {
    "noiseless": NoiseModel(),
    "crlqas_depolarizing": NoiseModel(depolarizing_1q=5.22e-4, depolarizing_2q=1.25e-2),
    "superconducting_damping_readout": NoiseModel(
        depolarizing_1q=5.22e-4, depolarizing_2q=1.25e-2, amplitude_damping=5e-4,
        readout_error=1e-2),
}


def _superoperator(kraus: list[torch.Tensor]) -> torch.Tensor:
    """(16, 16) sum_k K (x) conj(K): vec(K rho K^dagger) with row-major vec."""
    return sum(torch.kron(operator, operator.conj()) for operator in kraus)


@functools.lru_cache(maxsize=16)
def _transfer_bank(noise: NoiseModel) -> torch.Tensor:
    """(G, 3, 16, 16) float64 bank T with the Pauli-transfer matrix of gate code g at
    angle theta, followed by its noise, equal to T[g, 0] + cos(theta) T[g, 1]
    + sin(theta) T[g, 2] (U (x) conj(U) is linear in 1, cos theta, sin theta).

    The transfer matrix of a channel with superoperator S is Re(Q^H S Q) / 4, Q the
    (16, 16) Pauli basis (column p = vec(P_p), P_p = sigma_(p // 4) (x) sigma_(p % 4))."""
    identity, *others = pauli_matrices()
    paulis = [identity, *others]
    eye4 = torch.kron(identity, identity)
    p1, p2, gamma = noise.depolarizing_1q, noise.depolarizing_2q, noise.amplitude_damping
    damping = [torch.tensor([[1, 0], [0, math.sqrt(1 - gamma)]], dtype=torch.complex128),
               torch.tensor([[0, math.sqrt(gamma)], [0, 0]], dtype=torch.complex128)]
    one_qubit = _superoperator([torch.kron(identity, kraus) for kraus in damping]) \
        @ _superoperator([math.sqrt(1 - 3 * p1 / 4) * eye4]
                         + [math.sqrt(p1 / 4) * torch.kron(identity, pauli) for pauli in others])
    two_qubit = _superoperator([torch.kron(first, second) for first in damping
                                for second in damping]) \
        @ _superoperator([math.sqrt(1 - 15 * p2 / 16) * eye4]
                         + [math.sqrt(p2 / 16) * torch.kron(first, second)
                            for first in paulis for second in paulis][1:])
    after_gate = torch.stack([torch.eye(16, dtype=torch.complex128) if code == 0
                              else two_qubit if code in TWO_QUBIT_CODES else one_qubit
                              for code in range(len(GATES))])
    basis = torch.stack([torch.kron(first, second).reshape(16)
                         for first in paulis for second in paulis], dim=1)
    at_angle = []
    for angle in (0.0, math.pi / 2, math.pi):
        unitaries = GATE_BANK[:, 0] * math.cos(angle / 2) + GATE_BANK[:, 1] * math.sin(angle / 2)
        kron = (unitaries[:, :, None, :, None] * unitaries.conj()[:, None, :, None, :]
                ).reshape(len(GATES), 16, 16)
        at_angle.append((basis.conj().T @ after_gate @ kron @ basis).real / 4)
    constant = (at_angle[0] + at_angle[2]) / 2
    return torch.stack([constant, (at_angle[0] - at_angle[2]) / 2, at_angle[1] - constant],
                       dim=1)


def _density_to_pauli(density: torch.Tensor) -> torch.Tensor:
    """(B, 2^n, 2^n) complex -> (B, 4^n) float64 Pauli vectors Tr(rho P)."""
    batch_size, size = density.shape[0], density.shape[-1]
    n_qubits = size.bit_length() - 1
    order = [0] + [axis for qubit in range(n_qubits) for axis in (1 + qubit, 1 + n_qubits + qubit)]
    values = density.reshape(batch_size, *[2] * (2 * n_qubits)).permute(order)
    # Tr(rho P) = sum_ij rho[i, j] P[j, i], one qubit's (i, j) at a time.
    transposed = pauli_matrices().to(density.device).transpose(1, 2).reshape(4, 4)
    for _ in range(n_qubits):
        values = torch.einsum("bkr,dk->brd", values.reshape(batch_size, 4, -1),
                              transposed.to(values.dtype))
    return values.reshape(batch_size, -1).real.to(torch.float64)


def _pauli_to_density(vectors: torch.Tensor) -> torch.Tensor:
    """(B, 4^n) float64 Pauli vectors -> (B, 2^n, 2^n) complex128,
    rho = 2^-n sum_P r_P P."""
    batch_size = vectors.shape[0]
    n_qubits = (vectors.shape[1].bit_length() - 1) // 2
    halves = pauli_matrices().to(vectors.device).reshape(4, 4) / 2
    values = vectors.to(torch.complex128)
    for _ in range(n_qubits):
        values = torch.einsum("bdr,dk->brk", values.reshape(batch_size, 4, -1), halves)
    order = [0] + [1 + 2 * qubit for qubit in range(n_qubits)] \
        + [2 + 2 * qubit for qubit in range(n_qubits)]
    size = 2 ** n_qubits
    return values.reshape(batch_size, *[2] * (2 * n_qubits)).permute(order).reshape(
        batch_size, size, size)


def _distinct_rows(states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct rows of (B, ...) ``states`` (differentiable: the first occurrence of
    each) and (B,) int64, each row's position among them."""
    _, inverse = torch.unique(torch.view_as_real(states.detach()).flatten(1), dim=0,
                              return_inverse=True)
    batch_size = states.shape[0]
    first = torch.full((int(inverse.max()) + 1,), batch_size, device=states.device)
    first = first.scatter_reduce(0, inverse, torch.arange(batch_size, device=states.device),
                                 "amin")
    return states[first], inverse


def _initial_pauli(initial: torch.Tensor | None, batch_size: int, n_qubits: int,
                   device: torch.device) -> torch.Tensor:
    """(B, 4^n) Pauli vector of the starting state (see :func:`pauli_vectors`). Each
    distinct starting state is converted once (O(n 4^n) each): an env's rows typically
    share a few Hartree-Fock states."""
    size = 2 ** n_qubits
    if initial is not None and torch.as_tensor(initial).dim() == 3:
        density = torch.as_tensor(initial, device=device).to(torch.complex128)
        if tuple(density.shape) != (batch_size, size, size):
            raise ValueError(f"initial density matrices must have shape "
                             f"({batch_size}, {size}, {size}), got {tuple(density.shape)}")
        traces = torch.diagonal(density.detach(), dim1=1, dim2=2).sum(dim=1)
        if not bool(torch.allclose(traces, torch.ones_like(traces), atol=1e-6)):
            raise ValueError("initial density matrices must have trace 1")
        distinct, inverse = _distinct_rows(density)
        return _density_to_pauli(distinct)[inverse]
    if initial is None or torch.as_tensor(initial).dim() == 1:
        vector = initial_vectors(initial, 1, n_qubits, torch.complex128, device)
        return _density_to_pauli(vector[:, :, None] * vector.conj()[:, None, :]).expand(
            batch_size, -1)
    distinct, inverse = _distinct_rows(
        initial_vectors(initial, batch_size, n_qubits, torch.complex128, device))
    return _density_to_pauli(distinct[:, :, None] * distinct.conj()[:, None, :])[inverse]


def pauli_vectors(circuits: Circuits, n_qubits: int, noise: NoiseModel,
                  initial: torch.Tensor | None = None) -> torch.Tensor:
    """Run B circuits with gate noise; the final states as Pauli vectors.

    Args:
        circuits: B circuits of L positions.
        n_qubits: register size n >= 1.
        noise: the gate noise (its ``readout_error`` does not act here).
        initial: None for |0...0>; a (2^n,) or (B, 2^n) state vector; or (B, 2^n, 2^n)
            density matrices.

    Returns:
        (B, 4^n) float64, entry P = Tr(rho_b P) (base-4 index, I=0, X=1, Y=2, Z=3, qubit 0
        most significant; entry 0 is the trace, 1), differentiable w.r.t. the angles.
        Memory: B 4^n float64 plus the (n^2, 4^n) int64 permutation table.
    """
    check_qubit_count(n_qubits)
    if not isinstance(noise, NoiseModel):
        raise TypeError(f"noise must be a NoiseModel, got {type(noise).__name__}")
    circuits.validate(n_qubits)
    device = circuits.device
    width = min(16, 4 ** n_qubits)
    angles = circuits.rotation_angles()
    coefficients = torch.stack([torch.ones_like(angles), torch.cos(angles),
                                torch.sin(angles)], dim=-1)
    return apply_local_operators(
        _initial_pauli(initial, circuits.batch_size, n_qubits, device),
        _transfer_bank(noise)[..., :width, :width].to(device), coefficients, circuits,
        n_qubits, 4)


def density_matrices(circuits: Circuits, n_qubits: int, noise: NoiseModel,
                     initial: torch.Tensor | None = None) -> torch.Tensor:
    """The B circuits' final mixed states (arguments as for :func:`pauli_vectors`).

    Returns:
        (B, 2^n, 2^n) complex128 density matrices (trace 1, Hermitian, positive
        semidefinite up to rounding).
    """
    return _pauli_to_density(pauli_vectors(circuits, n_qubits, noise, initial))


def measured_term_expectations(circuits: Circuits, observable: PauliSum, noise: NoiseModel,
                               initial: torch.Tensor | None = None, shots=None,
                               generator: torch.Generator | None = None,
                               normals: torch.Tensor | None = None) -> torch.Tensor:
    """Measured expectations <P_k>_measured of every term of ``observable`` for B noisy
    circuits (coefficients not applied: callers may weight the terms per row).

    <P_k>_measured = (1 - 2 readout_error)^w_k Tr(rho P_k) (w_k the string's weight),
    plus, when ``shots`` is given, independent Gaussian noise per term with variance
    (1 - <P_k>_measured^2) / shots drawn from ``generator`` (see the module docstring;
    the noise's scale is not differentiated). Without gate noise (and for a state-vector
    ``initial``) the pure-state simulation is used.

    Args:
        circuits: as for :func:`pauli_vectors`.
        noise: as for :func:`pauli_vectors`.
        initial: as for :func:`pauli_vectors`.
        observable: the Pauli strings to measure (its n_qubits is the register size).
        shots: measurements per term (int >= 1, or a (B,) int64 tensor, one count per
            circuit), or None for the exact expectation.
        generator: torch.Generator for the shot noise (on the circuits' device).
        normals: (B, T) standard normal draws to use for the shot noise instead of the
            generator (e.g. counter-based ones, so a circuit's noise does not depend on
            the rest of the batch).

    Returns:
        (B, T) float64, differentiable w.r.t. the angles.
    """
    if not isinstance(noise, NoiseModel):
        raise TypeError(f"noise must be a NoiseModel, got {type(noise).__name__}")
    if isinstance(shots, torch.Tensor):
        if shots.shape != (circuits.batch_size,) or bool((shots < 1).any()):
            raise ValueError(f"shots given as a tensor must be ({circuits.batch_size},) "
                             f"counts >= 1, got {shots.tolist()}")
    elif shots is not None and (isinstance(shots, bool) or not isinstance(shots, int)
                                or shots < 1):
        raise ValueError(f"shots must be None, an int >= 1 or a (B,) tensor, got {shots!r}")
    device = circuits.device
    density_given = initial is not None and torch.as_tensor(initial).dim() == 3
    if noise.has_gate_noise or density_given:
        pauli = pauli_vectors(circuits, observable.n_qubits, noise, initial)
        values = pauli[:, observable.pauli_indices.to(device)]
    else:
        values = term_expectations(statevectors(circuits, observable.n_qubits, initial),
                                   observable)
    attenuation = torch.tensor(1 - 2 * noise.readout_error, dtype=torch.float64, device=device)
    values = values * attenuation ** observable.weights.to(device)
    if shots is not None:
        counts = shots[:, None] if isinstance(shots, torch.Tensor) else shots
        variance = (1 - values.detach() ** 2).clamp(min=0) / counts
        if normals is None:
            normals = torch.randn(values.shape, generator=generator, dtype=torch.float64,
                                  device=device)
        elif normals.shape != values.shape:
            raise ValueError(f"normals must have shape {tuple(values.shape)} (B, T), got "
                             f"{tuple(normals.shape)}")
        values = values + variance.sqrt() * normals
    return values


def noisy_energies(circuits: Circuits, observable: PauliSum, noise: NoiseModel,
                   initial: torch.Tensor | None = None, shots: int | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Measured energies sum_k c_k <P_k>_measured + constant of B noisy circuits, with
    <P_k>_measured from :func:`measured_term_expectations` (same arguments; readout
    error, and shot noise when ``shots`` is given).

    Returns:
        (B,) float64 in the observable's units, differentiable w.r.t. the angles.
    """
    values = measured_term_expectations(circuits, observable, noise, initial, shots, generator)
    return values @ observable.coefficients.to(circuits.device) + observable.constant
