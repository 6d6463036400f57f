"""Exercise 5: the VQE inner loop for H2, parameter-shift gradients to chemical accuracy.

The problem (shared by the starter, which imports it from here, and the grader): the
4-qubit Jordan-Wigner Hamiltonian of H2 in STO-3G at 0.7414 angstrom shipped with
tunegym, and a fixed hardware-efficient ansatz of 8 RY angles (:data:`ANSATZ`) acting on
the Hartree-Fock state |1100>. :func:`h2_energy` maps the angles theta (8,) to the
energy <psi(theta)|H|psi(theta)> in hartree with tunegym's state-vector simulator.

The student writes ``parameter_shift_gradient(energy, theta)`` and
``minimise_energy(energy, gradient, initial_theta, max_evaluations)``. Criteria:

1. the file loads and defines both functions;
2. the gradient equals the exact one (autograd through the simulator) at 3 seeded
   random theta in [-pi, pi)^8 to 1e-6 Ha/rad (max |difference|). The rule is exact,
   so a correct float64 implementation is off by ~1e-16, and a wrong factor (a missing
   1/2, a pi/4 shift without its denominator, a sign) by ~1e-2 or more. A finite
   difference with a small enough step passes this criterion too (with exact energies
   it can be accurate to ~1e-8); criterion 3 tells it apart;
3. the gradient costs exactly 2 x 8 = 16 energy evaluations, at theta +- (pi/2) e_k
   (points compared to 1e-9 rad): a central finite difference passes criterion 2 with
   a tiny step but is not the parameter-shift rule (on hardware, where energies are
   shot-noisy, a tiny step amplifies the noise), and an extra evaluation at theta
   itself is a wasted call;
4. from 3 seeded starts (angles uniform in [-0.1, 0.1]) the loop, given the grader's
   own exact gradient (autograd, charged 16 evaluations like the rule, so that a broken
   criterion 2 does not hide a correct loop), returns angles whose energy is within
   chemical accuracy, 1.6e-3 Ha, of the exact ground energy (np.linalg.eigvalsh of the
   Hamiltonian's dense matrix, independent of the simulator), using at most
   :data:`EVALUATION_BUDGET` = 3200 evaluations (200 gradients) per start. Measured on
   the reference (Adam, learning rate 0.1, stopped when every gradient entry is below
   1e-3 Ha/rad): errors of 0.001 mHa or less after 1264 to 1600 evaluations, a 2x
   margin on the budget and 1000x on the accuracy. Plain gradient descent reaches
   chemical accuracy after ~55-80 gradients at learning rate 0.4 and ~105-155 at 0.2,
   so both pass, while 0.1 is too slow for the budget, and a sign error never gets
   below the start.

Grading is deterministic: the starts and the random theta come from fixed seeds and the
student's calls run under a fixed torch seed (the global torch generator is restored
afterwards). Grading the reference takes ~0.5 s on one CPU thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunegym.envs.quantum_arch_search import CHEMICAL_ACCURACY
from tunegym.exercises.grading import (
    CriterionResult,
    Grade,
    Measurement,
    StudentError,
    as_tensor,
    call_student,
    load_student_module,
    student_functions,
)
from tunegym.simulators.quantum import GATE_CODES, Circuits, PauliSum, basis_state, energies
from tunegym.simulators.quantum.hamiltonians import Hamiltonian, load_hamiltonian

#: H-H distance of the graded Hamiltonian (the equilibrium geometry), angstrom.
BOND_LENGTH_ANGSTROM = 0.7414
#: The ansatz as (gate, (first qubit, second qubit)): a layer of RY on every qubit, a
#: CNOT ladder (control, target), a second RY layer. Angle k belongs to the k-th RY.
ANSATZ: tuple[tuple[str, tuple[int, int]], ...] = (
    *(("ry", (qubit, qubit)) for qubit in range(4)),
    ("cnot", (0, 1)), ("cnot", (1, 2)), ("cnot", (2, 3)),
    *(("ry", (qubit, qubit)) for qubit in range(4)),
)
#: Number of angles P of the ansatz.
NUM_PARAMETERS = sum(gate == "ry" for gate, _ in ANSATZ)
#: Energy evaluations allowed per optimisation (a parameter-shift gradient costs 2 P).
EVALUATION_BUDGET = 200 * 2 * NUM_PARAMETERS
#: Largest allowed max |parameter_shift_gradient - exact gradient|, Ha/rad.
GRADIENT_TOLERANCE = 1e-6
#: Tolerance on the evaluation points of the rule, rad.
SHIFT_TOLERANCE = 1e-9
#: Seeds of the random theta of criteria 2 and 3, and of the starts of criterion 4.
GRADIENT_SEEDS = (501, 502, 503)
START_SEEDS = (511, 512, 513)
#: Half-width of the starting angles' interval, rad.
START_SCALE = 0.1

#: Energy calls one parameter_shift_gradient call may make before it is stopped.
GRADIENT_CAP = 10 * 2 * NUM_PARAMETERS
GRADIENT_CAP_ADVICE = f"the rule needs {2 * NUM_PARAMETERS} for {NUM_PARAMETERS} angles"
GRADIENT_HINT = ("the message says what failed; keep the starter's signature "
                 "parameter_shift_gradient(energy, theta)")

FUNCTIONS = ("parameter_shift_gradient", "minimise_energy")


@lru_cache(maxsize=1)
def h2_hamiltonian() -> Hamiltonian:
    """The shipped 4-qubit Jordan-Wigner H2 Hamiltonian at :data:`BOND_LENGTH_ANGSTROM`."""
    return load_hamiltonian("H2", BOND_LENGTH_ANGSTROM, n_qubits=4)


@lru_cache(maxsize=1)
def _observable() -> PauliSum:
    hamiltonian = h2_hamiltonian()
    return PauliSum(list(hamiltonian.terms), hamiltonian.constant)


@lru_cache(maxsize=1)
def exact_ground_energy() -> float:
    """Lowest eigenvalue of the Hamiltonian's dense 16 x 16 matrix (np.linalg.eigvalsh),
    hartree: independent of the state-vector simulator."""
    return float(np.linalg.eigvalsh(h2_hamiltonian().to_matrix())[0])


def ansatz_energies(thetas: torch.Tensor) -> torch.Tensor:
    """Energies of B sets of ansatz angles.

    Args:
        thetas: (B, P) float64 angles, rad (may require grad).

    Returns:
        (B,) float64 energies, hartree, differentiable w.r.t. ``thetas``.
    """
    batch_size = thetas.shape[0]
    gates = torch.tensor([[GATE_CODES[gate] for gate, _ in ANSATZ]]).expand(batch_size, -1)
    qubits = torch.tensor([[pair for _, pair in ANSATZ]]).expand(batch_size, -1, -1)
    rotation = gates[0] == GATE_CODES["ry"]
    angles = torch.zeros(gates.shape, dtype=torch.float64)
    angles[:, rotation] = thetas
    initial = basis_state(h2_hamiltonian().hf_bitstring)
    return energies(Circuits(gates, qubits, angles), _observable(), initial)


def h2_energy(theta: Any) -> float:
    """The VQE cost function: <psi(theta)|H|psi(theta)> of the ansatz, hartree.

    Args:
        theta: (P,) angles in radians (tensor, array or list).
    """
    theta = as_tensor(theta, "theta passed to energy()", (NUM_PARAMETERS,))
    with torch.no_grad():
        return float(ansatz_energies(theta[None])[0])


def exact_gradient(theta: torch.Tensor) -> torch.Tensor:
    """(P,) float64 dE/dtheta by autograd through the simulator, Ha/rad."""
    theta = theta.detach().to(torch.float64).clone().requires_grad_(True)
    ansatz_energies(theta[None])[0].backward()
    return theta.grad.detach()


def starting_theta(seed: int) -> torch.Tensor:
    """(P,) float64 starting angles, uniform in [-START_SCALE, START_SCALE] rad."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(NUM_PARAMETERS, generator=generator, dtype=torch.float64) * 2 - 1) \
        * START_SCALE


def random_theta(seed: int) -> torch.Tensor:
    """(P,) float64 angles uniform in [-pi, pi) rad."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(NUM_PARAMETERS, generator=generator, dtype=torch.float64) * 2 - 1) \
        * math.pi


class EvaluationBudgetExceeded(Exception):
    """Raised into the student's loop when it asks for more evaluations than allowed."""


class CountingEnergy:
    """:func:`h2_energy` that counts its calls and keeps the points it was called at.

    Args:
        budget: the most evaluations allowed; the call that would exceed it raises
            :class:`EvaluationBudgetExceeded` with ``advice`` in its message.
        advice: what the student should do instead, appended to that message.

    Attributes:
        evaluations: calls so far, gradients included (2 P each).
        points: the (P,) float64 angles of every direct call, in order.
    """

    def __init__(self, budget: int, advice: str) -> None:
        self.budget, self.advice = budget, advice
        self.evaluations = 0
        self.points: list[torch.Tensor] = []

    def _charge(self, count: int) -> None:
        if self.evaluations + count > self.budget:
            raise EvaluationBudgetExceeded(
                f"the budget of {self.budget} energy evaluations is used up; {self.advice}")
        self.evaluations += count

    def __call__(self, theta: Any) -> float:
        theta = as_tensor(theta, "theta passed to energy()", (NUM_PARAMETERS,)).detach()
        self._charge(1)
        self.points.append(theta.clone())
        return h2_energy(theta)

    def gradient(self, theta: Any) -> torch.Tensor:
        """(P,) exact gradient (autograd), charged 2 P evaluations like the rule."""
        theta = as_tensor(theta, "theta passed to gradient()", (NUM_PARAMETERS,))
        self._charge(2 * NUM_PARAMETERS)
        return exact_gradient(theta)


def _run_student(function: Callable[..., Any], hint: str, *args: Any) -> Any:
    """call_student under a fixed torch seed (restored afterwards), with ``hint`` for
    failures that come without one."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        try:
            return call_student(function, *args)
        except StudentError as error:
            raise StudentError(str(error), error.hint or hint) from None


def _returned(value: Any, name: str, hint: str) -> torch.Tensor:
    """A student's return value as a (P,) float64 tensor; StudentError with ``hint``."""
    return as_tensor(value, f"{name}'s return value", (NUM_PARAMETERS,), hint=hint)


def _check_gradient(gradient_function: Callable[..., Any]) -> Measurement:
    worst, worst_scale = 0.0, 1.0
    for seed in GRADIENT_SEEDS:
        theta = random_theta(seed)
        returned = _run_student(gradient_function, GRADIENT_HINT,
                                CountingEnergy(GRADIENT_CAP, GRADIENT_CAP_ADVICE), theta.clone())
        gradient = _returned(returned, "parameter_shift_gradient",
                             f"return a ({NUM_PARAMETERS},) tensor: one derivative per angle")
        exact = exact_gradient(theta)
        error = float((gradient - exact).abs().max())
        if error >= worst:
            worst, worst_scale = error, float(gradient @ exact / (exact @ exact))
    measured = (f"max |gradient - exact| {worst:.1e} Ha/rad over {len(GRADIENT_SEEDS)} random "
                f"theta (tolerance {GRADIENT_TOLERANCE:.0e}; exact gradient by autograd)")
    if worst <= GRADIENT_TOLERANCE:
        return Measurement(True, measured)
    if abs(worst_scale - 1) > 0.05 and abs(worst_scale) > 0.05:
        hint = (f"your gradient is about {worst_scale:.2f} x the exact one: check the sign, "
                "the shift (+-pi/2) and the factor 1/2 of the rule")
    else:
        hint = ("check that you shift one angle at a time by exactly +-pi/2, and return "
                "[E(theta + pi/2 e_k) - E(theta - pi/2 e_k)] / 2 in position k")
    return Measurement(False, measured, hint)


def _describe_point(index: int, point: torch.Tensor, theta: torch.Tensor) -> str | None:
    """Why evaluation ``index`` at ``point`` is not theta +- pi/2 e_k (None if it is)."""
    shift = point - theta
    moved = (shift.abs() > SHIFT_TOLERANCE).nonzero().flatten().tolist()
    if not moved:
        return f"evaluation {index + 1} is at theta itself, which the rule never needs"
    if len(moved) > 1:
        return (f"evaluation {index + 1} moves {len(moved)} angles at once; the rule "
                "shifts one angle at a time")
    size = float(shift[moved[0]])
    if abs(abs(size) - math.pi / 2) > SHIFT_TOLERANCE:
        kind = " (a finite-difference step)" if abs(size) < 0.1 else ""
        return (f"evaluation {index + 1} shifts theta[{moved[0]}] by {size:.3g} rad{kind}, "
                "not +-pi/2")
    return None


def _check_evaluations(gradient_function: Callable[..., Any]) -> Measurement:
    theta = random_theta(GRADIENT_SEEDS[0])
    energy = CountingEnergy(GRADIENT_CAP, GRADIENT_CAP_ADVICE)
    _run_student(gradient_function, GRADIENT_HINT, energy, theta.clone())
    expected = 2 * NUM_PARAMETERS
    measured = f"{energy.evaluations} energy evaluations for {NUM_PARAMETERS} angles " \
               f"(the rule: 2 x {NUM_PARAMETERS} = {expected})"
    problems = [problem for index, point in enumerate(energy.points)
                if (problem := _describe_point(index, point, theta)) is not None]
    covered = {(int((point - theta).abs().argmax()), bool((point - theta).sum() > 0))
               for point in energy.points}
    if energy.evaluations == expected and not problems and len(covered) == expected:
        return Measurement(True, measured + ", each at theta +- (pi/2) e_k")
    if problems:
        detail = problems[0] + (f" ({len(problems) - 1} more such)" if len(problems) > 1
                                else "")
        return Measurement(False, f"{measured}; {detail}",
                           "evaluate E at theta + pi/2 e_k and theta - pi/2 e_k for every k, "
                           "nothing else; the shift is exact, no small step is needed")
    return Measurement(False, f"{measured}; {len(covered)} of the {expected} points "
                       "theta +- (pi/2) e_k were evaluated",
                       "evaluate each of the 2 P shifted points exactly once")


def _check_minimisation(minimise: Callable[..., Any]) -> Measurement:
    ground = exact_ground_energy()
    errors_mha, used = [], []
    for seed in START_SEEDS:
        start = starting_theta(seed)
        energy = CountingEnergy(EVALUATION_BUDGET, f"a gradient costs {2 * NUM_PARAMETERS}: "
                                "stop the loop within max_evaluations")
        returned = _run_student(
            minimise, "the message says what failed; keep the starter's signature "
            "minimise_energy(energy, gradient, initial_theta, max_evaluations)",
            energy, energy.gradient, start.clone(), EVALUATION_BUDGET)
        theta = _returned(returned, "minimise_energy",
                          f"return the ({NUM_PARAMETERS},) optimised angles")
        if energy.evaluations == 0:
            raise StudentError("minimise_energy never called energy() or gradient()",
                               "optimise with the energy and gradient functions passed in")
        errors_mha.append((h2_energy(theta) - ground) * 1e3)
        used.append(energy.evaluations)
    worst = max(errors_mha)
    accuracy_mha = CHEMICAL_ACCURACY * 1e3
    measured = (f"energy error {', '.join(f'{error:.3f}' for error in errors_mha)} mHa from "
                f"{len(START_SEEDS)} starts (chemical accuracy {accuracy_mha:.1f} mHa; exact "
                f"ground energy {ground:.6f} Ha by eigvalsh); energy evaluations "
                f"{', '.join(map(str, used))} (budget {EVALUATION_BUDGET})")
    if worst < accuracy_mha:
        return Measurement(True, measured)
    start_error_mha = (h2_energy(starting_theta(START_SEEDS[0])) - ground) * 1e3
    if errors_mha[0] > start_error_mha + 1e-9:
        hint = "the energy went up from the start: step against the gradient"
    elif errors_mha[0] > start_error_mha - 1e-9:
        hint = "the returned angles have the starting energy: return the optimised theta"
    else:
        hint = ("the energy went down but not far enough: a larger learning rate (gradient "
                "descent ~0.4, Adam ~0.1) or more of the budget")
    return Measurement(False, measured, hint)


def grade(student_file: Path) -> list[CriterionResult]:
    """Grade a solution of exercise 5 (see the module docstring for the criteria)."""
    grade = Grade(student_file)
    functions: dict[str, Callable[..., Any]] = {}
    load_problem: list[str] = []

    def load() -> Measurement:
        try:
            module = load_student_module(student_file)
        except StudentError as error:
            load_problem.append(str(error))
            raise
        student_functions(module, FUNCTIONS, functions)
        return Measurement(True, f"defines {', '.join(FUNCTIONS)}")

    def needs(name: str) -> Callable[..., Any]:
        if name in functions:
            return functions[name]
        reason = load_problem[0] if load_problem else f"your file defines no `{name}`"
        raise StudentError(f"not graded: {reason}", "fix the first criterion first")

    grade.criterion(f"file loads and defines {', '.join(FUNCTIONS)}", load)
    grade.criterion(f"parameter_shift_gradient equals the exact gradient to "
                    f"{GRADIENT_TOLERANCE:.0e} Ha/rad",
                    lambda: _check_gradient(needs("parameter_shift_gradient")))
    grade.criterion(f"parameter_shift_gradient uses 2 x {NUM_PARAMETERS} energy evaluations "
                    f"at theta +- (pi/2) e_k",
                    lambda: _check_evaluations(needs("parameter_shift_gradient")))
    grade.criterion(f"minimise_energy reaches chemical accuracy ({CHEMICAL_ACCURACY * 1e3:.1f} "
                    f"mHa) within {EVALUATION_BUDGET} energy evaluations",
                    lambda: _check_minimisation(needs("minimise_energy")))
    return grade.results
