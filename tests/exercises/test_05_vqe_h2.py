"""The judgement of exercise 5's grader (tunegym.exercises.vqe_h2).

Plausible wrong solutions, made by text substitution on the reference solution, fail the
criterion they break with a message that says what to fix, while the other criteria
still pass; the grader's own references (the ground energy, the energy function, the
exact gradient) are checked against a dense numpy simulation and a closed form.
"""

import math
from pathlib import Path

import numpy as np
import pytest

from tests.exercises.variants import SOLUTIONS, grade_variant
from tests.simulators.quantum.dense_reference import circuit_unitary, hamiltonian_matrix
from tunegym.envs.quantum_arch_search import CHEMICAL_ACCURACY
from tunegym.exercises import check_exercise
from tunegym.exercises.vqe_h2 import (
    ANSATZ,
    NUM_PARAMETERS,
    exact_gradient,
    exact_ground_energy,
    h2_energy,
    h2_hamiltonian,
    random_theta,
)
from tunegym.simulators.quantum import GATE_CODES

SLUG = "05_vqe_h2"
REFERENCE = SOLUTIONS / f"{SLUG}.py"
CRITERIA = ("loads", "gradient", "evaluations", "minimisation")


def graded(tmp_path: Path, *replacements: tuple[str, str]) -> dict:
    """Grade the reference with each (old, new) replaced; returns {criterion: result}
    keyed by :data:`CRITERIA`."""
    results = grade_variant(SLUG, tmp_path, *replacements)
    assert len(results) == len(CRITERIA)
    return dict(zip(CRITERIA, results))


def assert_only_failing(results: dict, *failing: str) -> None:
    outcome = {name: result.passed for name, result in results.items()}
    assert outcome == {name: name not in failing for name in CRITERIA}, results


# ------------------------------------------------------------------ the gradient
GRADIENT_LINE = "gradient[k] = (energy(theta + shift) - energy(theta - shift)) / 2"


def test_missing_half_fails_the_gradient_only_and_names_the_factor(tmp_path):
    results = graded(tmp_path, (GRADIENT_LINE, GRADIENT_LINE.removesuffix(" / 2")))
    assert_only_failing(results, "gradient")
    assert "2.00 x the exact one" in results["gradient"].hint


def test_sign_error_in_the_gradient_fails_with_a_negative_factor(tmp_path):
    swapped = "gradient[k] = (energy(theta - shift) - energy(theta + shift)) / 2"
    results = graded(tmp_path, (GRADIENT_LINE, swapped))
    assert_only_failing(results, "gradient")
    assert "-1.00 x the exact one" in results["gradient"].hint


def test_a_quarter_pi_shift_fails_both_gradient_criteria(tmp_path):
    results = graded(tmp_path, ("shift[k] = math.pi / 2", "shift[k] = math.pi / 4"))
    assert_only_failing(results, "gradient", "evaluations")
    assert "shifts theta[0] by 0.785 rad, not +-pi/2" in results["evaluations"].measured


def test_central_finite_difference_is_accurate_but_not_the_rule(tmp_path):
    results = graded(tmp_path, ("shift[k] = math.pi / 2", "shift[k] = 1e-5"),
                            (GRADIENT_LINE, GRADIENT_LINE.replace("/ 2", "/ 2e-5")))
    assert_only_failing(results, "evaluations")
    assert "(a finite-difference step)" in results["evaluations"].measured


def test_an_extra_evaluation_at_theta_fails_the_count(tmp_path):
    results = graded(tmp_path, ("    return gradient\n",
                                       "    print(energy(theta))\n    return gradient\n"))
    assert_only_failing(results, "evaluations")
    measured = results["evaluations"].measured
    assert measured.startswith("17 energy evaluations") and "at theta itself" in measured


def test_wrong_shape_and_exceptions_are_reported_without_hiding_the_loop(tmp_path):
    results = graded(tmp_path, ("    return gradient\n", "    return gradient[None]\n"))
    assert_only_failing(results, "gradient")
    assert "must have shape (8,), got (1, 8)" in results["gradient"].measured

    results = graded(tmp_path, ("shift[k] = math.pi / 2", "shift[k] = math.pi / undefined"))
    assert_only_failing(results, "gradient", "evaluations")
    for name in ("gradient", "evaluations"):
        assert "NameError" in results[name].measured
        assert "starter.py line" in results[name].measured


def test_a_gradient_that_never_stops_calling_energy_is_stopped(tmp_path):
    results = graded(tmp_path, ("for k in range(theta.numel()):",
                                       "for k in [step % 8 for step in range(10 ** 6)]:"))
    assert_only_failing(results, "gradient", "evaluations")
    assert "budget of 160 energy evaluations is used up; the rule needs 16" in \
        results["evaluations"].measured


# ------------------------------------------------------------------ the loop
STEP_LINE = "theta = theta - learning_rate * step_direction"


def test_ascent_instead_of_descent_fails_the_loop_only(tmp_path):
    results = graded(tmp_path, (STEP_LINE, STEP_LINE.replace("-", "+", 1)))
    assert_only_failing(results, "minimisation")
    assert "went up" in results["minimisation"].hint


def test_plain_gradient_descent_passes_at_0_4_but_is_too_slow_at_0_1(tmp_path):
    results = graded(tmp_path, (STEP_LINE, "theta = theta - 0.4 * slope"))
    assert_only_failing(results)
    results = graded(tmp_path, (STEP_LINE, "theta = theta - 0.1 * slope"))
    assert_only_failing(results, "minimisation")
    assert "not far enough" in results["minimisation"].hint


def test_a_loop_that_ignores_the_budget_is_stopped_and_told(tmp_path):
    results = graded(tmp_path, ("converged = 1e-3", "converged = 0.0"),
                            ("range(1, max_evaluations // (2 * theta.numel()) + 1)",
                             "range(1, 10 ** 6)"))
    assert_only_failing(results, "minimisation")
    assert "budget of 3200 energy evaluations is used up" in results["minimisation"].measured


def test_returning_the_start_is_caught(tmp_path):
    results = graded(tmp_path, ("    return theta\n", "    return initial_theta\n"))
    assert_only_failing(results, "minimisation")
    assert "starting energy" in results["minimisation"].hint


# ------------------------------------------------------------------ loading
def test_a_missing_function_fails_only_what_needs_it(tmp_path):
    results = graded(tmp_path, ("def minimise_energy(", "def minimize_energy("),
                            ("theta = minimise_energy(", "theta = minimize_energy("))
    assert_only_failing(results, "loads", "minimisation")
    assert "not graded: your file defines no `minimise_energy`" in \
        results["minimisation"].measured


def test_a_syntax_error_fails_every_criterion_with_the_load_message(tmp_path):
    results = graded(tmp_path, ("    return gradient\n", "    return gradient)\n"))
    assert not any(result.passed for result in results.values())
    for name in CRITERIA[1:]:
        assert results[name].measured.startswith("not graded: starter.py line")


def test_grading_is_deterministic():
    first, second = check_exercise(5, REFERENCE), check_exercise(5, REFERENCE)
    assert [result.measured for result in first] == [result.measured for result in second]


# ------------------------------------------------------------------ the grader's references
def dense_energy(theta: np.ndarray) -> float:
    """<psi|H|psi> of the ansatz by dense matrices (independent of tunegym's simulator)."""
    hamiltonian = h2_hamiltonian()
    angles, rotations = [], iter(theta)
    for gate, _ in ANSATZ:
        angles.append(next(rotations) if gate == "ry" else 0.0)
    unitary = circuit_unitary([GATE_CODES[gate] for gate, _ in ANSATZ],
                              [pair for _, pair in ANSATZ], angles, hamiltonian.n_qubits)
    state = unitary[:, int(hamiltonian.hf_bitstring, 2)]
    matrix = hamiltonian_matrix(list(hamiltonian.terms), hamiltonian.constant)
    return float(np.real(state.conj() @ matrix @ state))


def test_exact_ground_energy_matches_the_two_electron_sector_and_pyscf():
    hamiltonian = h2_hamiltonian()
    matrix = hamiltonian_matrix(list(hamiltonian.terms), hamiltonian.constant)
    two_electrons = [index for index in range(16) if index.bit_count() == 2]
    sector = np.linalg.eigvalsh(matrix[np.ix_(two_electrons, two_electrons)])[0]
    assert exact_ground_energy() == pytest.approx(sector, abs=1e-10)
    assert exact_ground_energy() == pytest.approx(hamiltonian.ground_energy, abs=1e-8)


@pytest.mark.parametrize("seed", [1, 2])
def test_energy_and_exact_gradient_match_a_dense_simulation(seed):
    theta = random_theta(seed)
    assert h2_energy(theta) == pytest.approx(dense_energy(theta.numpy()), abs=1e-12)
    step = 1e-5
    central = [(dense_energy(theta.numpy() + step * unit) - dense_energy(theta.numpy()
                                                                          - step * unit))
               / (2 * step) for unit in np.eye(NUM_PARAMETERS)]
    np.testing.assert_allclose(exact_gradient(theta).numpy(), central, atol=1e-8)


def test_the_ansatz_reaches_the_ground_energy_in_closed_form():
    """With theta_5 = pi (flipping qubit 1 back) and the rest 0 but theta_0, the energy is
    a + b cos(theta_0) + c sin(theta_0), whose minimum a - sqrt(b^2 + c^2) is E_0: the
    chemical-accuracy target is reachable exactly, not only to 1.6 mHa."""
    def energy(angle: float) -> float:
        theta = np.zeros(NUM_PARAMETERS)
        theta[0], theta[5] = angle, math.pi
        return dense_energy(theta)

    at_zero, at_half_pi, at_pi = energy(0.0), energy(math.pi / 2), energy(math.pi)
    mean, cosine, sine = (at_zero + at_pi) / 2, (at_zero - at_pi) / 2, at_half_pi - (
        at_zero + at_pi) / 2
    minimum = mean - math.hypot(cosine, sine)
    assert minimum == pytest.approx(exact_ground_energy(), abs=1e-10)
    assert CHEMICAL_ACCURACY == pytest.approx(1.6e-3)
