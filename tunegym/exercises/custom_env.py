"""Grader of exercise 1: the student's gradient-descent step-size env on the tunegym contract.

The env (task text: ``material/01_custom_env/README.md``) picks the step size of each
gradient step on f(x) = 1/2 x^T A x - b^T x. The grader registers it from the
student's file and checks, each as its own criterion:

* bad kwargs are refused with an error naming the argument;
* instances are pure functions of (seed, split): symmetric A with eigenvalues in
  [1, kappa] that actually spread over that range (over 256 instances the smallest
  is below 1.5 and the largest above kappa / 1.5: a log-uniform draw does this with
  probability above 1 - 1e-30), the train and test splits differ;
* gymnasium's ``check_env``, same seed -> same trajectory, and vector env i == single
  env with seed s + i (:mod:`tunegym.core.conformance`);
* one step is a gradient step: position, reward, observation and info against a
  float64 numpy reference computed from the state before the step (position to
  1e-9 relative, the float32 reward and observation to 1e-4);
* episodes end as specified: with step sizes 1/lambda_j played once per eigenvalue
  the iterate reaches the minimiser in d steps, so the episode must terminate by
  step d; with the smallest step size it must be truncated exactly at the horizon.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import torch

from tunegym.core.conformance import (
    ContractViolation,
    check_determinism,
    check_gymnasium_checker,
    check_vector_matches_single,
)
from tunegym.core.registration import make_batched_env
from tunegym.exercises.grading import (
    CriterionResult,
    Grade,
    Measurement,
    StudentError,
    as_tensor,
    call_student,
    load_student_module,
    student_function,
)

ENV_ID = "student/GDStepSize-v0"
DIMENSION, CONDITION_NUMBER, HORIZON, TOLERANCE = 4, 100.0, 20, 1e-6
#: Kwargs that make episodes short, so the contract checks cross episode ends.
SHORT_EPISODES = {"horizon": 3}
#: Kwargs the env must refuse, each with the argument its error must name.
BAD_KWARGS = ({"dimension": 0}, {"condition_number": 0.5}, {"horizon": 0},
              {"tolerance": 0.0}, {"split": "validation"})


def _state_arrays(env, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Hessians (b, d, d), linear terms (b, d) and positions (b, d) of a batched env's
    state, checked and as float64 numpy arrays."""
    state = env.state
    missing = [key for key in ("hessian", "linear", "position") if key not in state]
    if missing:
        raise StudentError(f"the state dict returned by initial_state has no {missing}",
                           "keep the state keys named in the task text")
    return (as_tensor(state["hessian"], "state['hessian']", (batch, DIMENSION, DIMENSION))
            .numpy(),
            as_tensor(state["linear"], "state['linear']", (batch, DIMENSION)).numpy(),
            as_tensor(state["position"], "state['position']", (batch, DIMENSION)).numpy())


def step_size_of(action: np.ndarray) -> np.ndarray:
    """The task's step size 10 ** (1.5 a - 1.5) of a normalised action a in [-1, 1]."""
    return 10.0 ** (1.5 * action - 1.5)


def _value(hessian: np.ndarray, linear: np.ndarray, position: np.ndarray) -> np.ndarray:
    """f(x) = 1/2 x^T A x - b^T x per instance, (b,)."""
    return (0.5 * np.einsum("bi,bij,bj->b", position, hessian, position)
            - np.einsum("bi,bi->b", linear, position))


def _optimal_value(hessian: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """f* = -1/2 b^T A^-1 b per instance, (b,)."""
    return -0.5 * np.einsum("bi,bi->b", linear, np.linalg.solve(hessian, linear[..., None])[..., 0])


def _check_bad_kwargs() -> Measurement:
    accepted, unnamed = [], []
    for kwargs in BAD_KWARGS:
        (name, value), = kwargs.items()
        try:
            gymnasium.make(ENV_ID, **kwargs)
        except (ValueError, TypeError) as error:
            if name not in str(error):
                unnamed.append(f"{name}={value!r} ({error})")
        else:
            accepted.append(f"{name}={value!r}")
    if accepted or unnamed:
        return Measurement(False, "accepted: " + (", ".join(accepted) or "none")
                           + "; refused without naming the argument: "
                           + (", ".join(unnamed) or "none"),
                           "validate the kwargs in __init__ (tunegym.core.check_integer / "
                           "check_real name the argument for you)")
    return Measurement(True, f"all {len(BAD_KWARGS)} bad kwargs refused with the argument named")


def _check_instances() -> Measurement:
    count = 256
    env = make_batched_env(ENV_ID, count)
    seeds = torch.arange(count) + 1000
    env.reset(seeds)
    hessian, linear, position = _state_arrays(env, count)
    asymmetry = float(np.abs(hessian - hessian.transpose(0, 2, 1)).max())
    if asymmetry > 1e-10:
        raise StudentError(f"the Hessians are not symmetric (max |A - A^T| = {asymmetry:.2e})",
                           "build A = Q diag(lambda) Q^T and symmetrise it")
    eigenvalues = np.linalg.eigvalsh(hessian)
    low, high = float(eigenvalues.min()), float(eigenvalues.max())
    measured = f"eigenvalues over {count} instances in [{low:.4g}, {high:.4g}]"
    if low < 1 - 1e-9 or high > CONDITION_NUMBER * (1 + 1e-9):
        return Measurement(False, measured + f", outside [1, {CONDITION_NUMBER:g}]",
                           "draw the eigenvalues in [1, condition_number]")
    if low > 1.5 or high < CONDITION_NUMBER / 1.5:
        return Measurement(False, measured + f": they do not spread over [1, "
                           f"{CONDITION_NUMBER:g}]", "draw log(lambda) uniformly in "
                           "[0, log(condition_number)]")
    again = make_batched_env(ENV_ID, count)
    again.reset(seeds)
    if not all(np.array_equal(first, second) for first, second
               in zip((hessian, linear, position), _state_arrays(again, count))):
        return Measurement(False, measured + "; two resets with the same seeds gave different "
                           "instances", "generate instances only from the seeds, with "
                           "tunegym.core.random (no global random state)")
    test = make_batched_env(ENV_ID, count, split="test")
    test.reset(seeds)
    if np.array_equal(_state_arrays(test, count)[0], hessian):
        return Measurement(False, measured + "; the train and test splits gave the same "
                           "instances", "mix self.split_key into the hash of the seeds")
    if len({row.tobytes() for row in linear}) < count:
        return Measurement(False, measured + "; different seeds gave the same instance",
                           "hash each env's seed into its own random key")
    return Measurement(True, measured + "; pure function of (seed, split), train != test")


def _contract_check(check, name: str, hint: str):
    """A criterion running one :mod:`tunegym.core.conformance` check on short episodes;
    gymnasium's warnings (advice, not failures) are listed in the measured line."""
    def run() -> Measurement:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                check(ENV_ID, **SHORT_EPISODES)
            except ContractViolation as violation:
                return Measurement(False, str(violation), hint)
        advice = sorted({re.sub(r"\x1b\[[0-9;]*m", "", str(warning.message))
                         .removeprefix("WARN: ") for warning in caught})
        return Measurement(True, f"{name} passed (horizon {SHORT_EPISODES['horizon']}, "
                           "crossing episode ends)"
                           + "".join(f"; gymnasium's advice: {line}" for line in advice))
    return run


def _check_gradient_step() -> Measurement:
    batch = 6
    env = make_batched_env(ENV_ID, batch)
    env.reset(torch.arange(batch) + 7)
    hessian, linear, position = _state_arrays(env, batch)
    optimal_value = _optimal_value(hessian, linear)
    initial_gap = _value(hessian, linear, position) - optimal_value
    initial_gradient = np.linalg.norm(np.einsum("bij,bj->bi", hessian, position) - linear, axis=1)
    generator = np.random.default_rng(0)
    worst = {"position": 0.0, "reward": 0.0, "observation": 0.0}
    for step in range(1, 4):
        action = generator.uniform(-1.0, 0.0, size=(batch, 1)).astype(np.float32)
        observation, reward, _, _, info = env.step(torch.as_tensor(action))
        step_size = step_size_of(action.astype(np.float64))
        gradient = np.einsum("bij,bj->bi", hessian, position) - linear
        expected_position = position - step_size * gradient
        gap_before = _value(hessian, linear, position) - optimal_value
        gap_after = _value(hessian, linear, expected_position) - optimal_value
        expected_reward = np.log(gap_before) - np.log(gap_after)
        new_gradient = np.einsum("bij,bj->bi", hessian, expected_position) - linear
        expected_observation = np.stack([
            np.log10(gap_after / initial_gap),
            np.log10(np.linalg.norm(new_gradient, axis=1) / initial_gradient),
            np.full(batch, step / HORIZON)], axis=1)
        got_position = _state_arrays(env, batch)[2]
        got_reward = as_tensor(reward, "reward", (batch,)).numpy()
        got_observation = as_tensor(observation, "observation", (batch, 3)).numpy()
        if "suboptimality" not in info:
            raise StudentError("info has no 'suboptimality' key",
                               "return {'suboptimality': f(x_new) - f*} as the info")
        got_gap = as_tensor(info["suboptimality"], "info['suboptimality']", (batch,)).numpy()
        worst["position"] = max(worst["position"], float(
            np.abs(got_position - expected_position).max() / np.abs(expected_position).max()))
        worst["reward"] = max(worst["reward"], float(np.abs(got_reward - expected_reward).max()))
        worst["observation"] = max(worst["observation"],
                                   float(np.abs(got_observation - expected_observation).max()))
        worst["suboptimality"] = max(worst.get("suboptimality", 0.0),
                                     float(np.abs(got_gap / gap_after - 1).max()))
        position = expected_position
    measured = (f"worst errors over 3 steps x {batch} envs: position {worst['position']:.1e} "
                f"(relative), reward {worst['reward']:.1e} nats, observation "
                f"{worst['observation']:.1e}, info suboptimality {worst['suboptimality']:.1e} "
                "(relative)")
    tolerances = {"position": 1e-9, "reward": 1e-4, "observation": 1e-4, "suboptimality": 1e-6}
    wrong = [name for name, tolerance in tolerances.items() if worst[name] > tolerance]
    if wrong:
        return Measurement(False, measured, f"check {', '.join(wrong)} against the formulas "
                           "of the task text (step size = 10 ** action, float64 inside)")
    return Measurement(True, measured)


def _check_episode_ends() -> Measurement:
    # The horizon equals d here, so the terminating step may also be the last one:
    # terminated then wins, and truncated must be False.
    env = make_batched_env(ENV_ID, 1, horizon=DIMENSION)
    env.reset(torch.tensor([21]))
    hessian = _state_arrays(env, 1)[0]
    eigenvalues = np.linalg.eigvalsh(hessian[0])
    terminated_at = None
    for step, eigenvalue in enumerate(eigenvalues, start=1):
        action = torch.tensor([[(np.log10(1.0 / eigenvalue) + 1.5) / 1.5]],
                              dtype=torch.float32)
        _, _, terminated, truncated, _ = env.step(action)
        if bool(as_tensor(terminated, "terminated", (1,), floating=False).item()):
            terminated_at = step
            break
    if terminated_at is None:
        return Measurement(False, f"step sizes 1/lambda_j for the {DIMENSION} eigenvalues "
                           f"reach the minimiser, yet the episode did not terminate by step "
                           f"{DIMENSION}", "terminate once f(x) - f* <= tolerance * "
                           "(f(x0) - f*)")
    if bool(as_tensor(truncated, "truncated", (1,), floating=False).item()):
        return Measurement(False, f"at step {terminated_at} (= horizon) the episode terminated "
                           "and was truncated at once", "truncated must be False when the "
                           "episode terminates: truncated = (step >= horizon) & ~terminated")
    env = make_batched_env(ENV_ID, 1)
    env.reset(torch.tensor([22]))
    smallest = torch.tensor([[-1.0]])
    for step in range(1, HORIZON + 1):
        _, _, terminated, truncated, _ = env.step(smallest)
        ended = (bool(as_tensor(terminated, "terminated", (1,), floating=False).item()),
                 bool(as_tensor(truncated, "truncated", (1,), floating=False).item()))
        if ended != (False, step == HORIZON):
            return Measurement(False, f"with step size 1e-3, step {step} returned (terminated, "
                               f"truncated) = {ended}; expected (False, {step == HORIZON})",
                               f"truncate when the step count reaches horizon = {HORIZON}, "
                               "and never at the same time as terminating")
    return Measurement(True, f"terminated at step {terminated_at} with step sizes 1/lambda_j; "
                       f"truncated exactly at step {HORIZON} with step size 1e-3")


def grade(student_file: Path) -> list[CriterionResult]:
    """Grade exercise 1: one result per criterion (see the module docstring)."""
    grade = Grade(student_file)
    # A previous grade in this process may have registered the id from another file.
    gymnasium.registry.pop(ENV_ID, None)

    def load() -> Measurement:
        module = load_student_module(student_file)
        call_student(student_function(module, "register"))
        if ENV_ID not in gymnasium.registry:
            raise StudentError(f"register() ran but {ENV_ID!r} is not registered",
                               "call register_family(ENV_ID, __name__, 'GDStepSize')")
        return Measurement(True, f"{ENV_ID} registered from {Path(student_file).name}")

    try:
        loaded = grade.criterion(f"file loads and register() registers {ENV_ID}", load).passed
        criteria = [
            ("bad kwargs are refused with an error naming the argument", _check_bad_kwargs,
             "validate the kwargs in __init__"),
            ("instances: symmetric A, eigenvalues spread over [1, kappa], pure function "
             + "of (seed, split)", _check_instances, "look at initial_state"),
            ("gymnasium's check_env passes",
             _contract_check(check_gymnasium_checker, "check_env",
                             "spaces, dtypes (float32 observations) and reset/step returns"),
             "look at the spaces and at observe"),
            ("same seed, same trajectory",
             _contract_check(check_determinism, "determinism",
                             "draw every random number from the seed-derived keys"),
             "draw every random number from the seed-derived keys"),
            ("vector env i == single env with seed s + i",
             _contract_check(check_vector_matches_single, "vector == single",
                             "build each env's instance from its own seed only; no Python "
                             "state outside the state dict"),
             "build each env's instance from its own seed only"),
            ("one step is a gradient step: position, reward, observation, info",
             _check_gradient_step, "look at transition and observe"),
            ("episodes terminate at the tolerance and truncate at the horizon",
             _check_episode_ends, "look at the terminated/truncated lines of transition"),
        ]
        for name, check, hint in criteria:
            if loaded:
                grade.criterion(name, check, hint)
            else:
                grade.results.append(CriterionResult(
                    name, False, "not checked: the env could not be registered",
                    "fix the first criterion first"))
    finally:
        gymnasium.registry.pop(ENV_ID, None)
    return grade.results
