"""Exercise 3's grader judges right: each typical mistake fails its own criterion with a
hint that names it while the other criteria still pass, and the grader's references agree
with tunegym's SubPO, with a hand computation, with Python sets and with brute force.

Broken solutions are the reference solution with one text substitution.
"""

import math
from pathlib import Path

import pytest
import torch

from tests.exercises.variants import SOLUTIONS, write_variant
from tunegym.agents.subpo import SubPO
from tunegym.baselines.coverage import GreedyMarginalGain, RandomMoves
from tunegym.envs.coverage import CoverageEnv
from tunegym.exercises import coverage_greedy_subpo as grader
from tunegym.exercises.grading import Grade, Measurement, load_student_module

SLUG = "03_coverage_greedy_subpo"
REFERENCE = SOLUTIONS / f"{SLUG}.py"
CRITERIA = ("loads", "gains", "choice", "greedy", "loss", "baseline", "training")
MOVES = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))


def load(tmp_path: Path, *replacements: tuple[str, str]):
    return load_student_module(write_variant(SLUG, tmp_path, *replacements))


def measure(check, *args, **kwargs) -> Measurement:
    """``check(*args, **kwargs)`` run the way grade() runs a criterion: a student's error
    becomes a failed measurement."""
    return Grade(REFERENCE).criterion("check", lambda: check(*args, **kwargs))


def by_criterion(results) -> dict:
    assert len(results) == len(CRITERIA)
    return dict(zip(CRITERIA, results))


def test_grading_is_deterministic():
    first, again = grader.grade(REFERENCE), grader.grade(REFERENCE)
    assert [result.measured for result in again] == [result.measured for result in first]


# ----------------------------------------------------------- whole grades of variants
@pytest.mark.parametrize("replacement, failing, fragment", [
    (("(sensed & ~covered)", "sensed"), {"gains", "greedy"}, "every cell of the footprint"),
    (("return -(log_probs", "return (log_probs"), {"loss", "baseline", "training"}, "sign"),
    (("def subpo_loss(", "def policy_loss("), {"loads", "loss", "baseline", "training"},
     "defines no `subpo_loss`"),
], ids=["gain-ignores-covered", "loss-sign", "missing-function"])
def test_a_mistake_fails_its_criteria_and_the_others_still_pass(tmp_path, replacement,
                                                                failing, fragment):
    results = by_criterion(grader.grade(write_variant(SLUG, tmp_path, replacement)))
    assert {name for name, result in results.items() if not result.passed} == failing
    first = results[min(failing, key=CRITERIA.index)]
    assert fragment in first.measured + first.hint
    for name in failing:
        assert results[name].hint and "Traceback" not in results[name].measured
    if "greedy" in failing:
        assert "fix marginal_gains first" in results["greedy"].hint


def test_syntax_error_fails_every_criterion_with_a_message(tmp_path):
    results = grader.grade(write_variant(SLUG, tmp_path, ("def greedy_action(",
                                                          "def greedy_action((")))
    assert not any(result.passed for result in results)
    assert "syntax error" in results[0].measured
    assert all("not graded" in result.measured for result in results[1:])


# ------------------------------------------------------------------ marginal_gains
@pytest.mark.parametrize("replacement, fragment", [
    (("<= footprint", "<= 1"), "Chebyshev distance"),
    (("cell = step_positions(free, position, actions)",
      "cell = position + torch.tensor([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]])[actions]"),
     "a move into a wall"),
    (("torch.stack(gains, dim=1)", "torch.stack(gains, dim=0)"), "must have shape (16, 5)"),
    (("return torch.stack(gains, dim=1)", "return -torch.stack(gains, dim=1)"), "negative"),
    (("    gains = []\n", "    gains = []\n    1 / 0\n"), "ZeroDivisionError"),
], ids=["hard-coded-footprint", "walls-not-blocking", "transposed", "negative", "raises"])
def test_marginal_gains_mistakes_are_named(tmp_path, replacement, fragment):
    module = load(tmp_path, replacement)
    measurement = measure(grader.check_marginal_gains, module.marginal_gains)
    assert not measurement.passed
    assert fragment in measurement.measured + measurement.hint
    assert "Traceback" not in measurement.measured and measurement.hint


def test_raised_error_names_the_students_line(tmp_path):
    module = load(tmp_path, ("    gains = []\n", "    gains = []\n    1 / 0\n"))
    measurement = measure(grader.check_marginal_gains, module.marginal_gains)
    assert "starter.py line" in measurement.measured and "`1 / 0`" in measurement.measured


def square_gain(weights, covered, free, row, column, action, footprint) -> float:
    """F(S + {x}) - F(S) with Python sets: the cells of the square around the cell reached
    that are not covered, after the move rule (walls and borders block)."""
    height, width = len(weights), len(weights[0])
    target = (row + MOVES[action][0], column + MOVES[action][1])
    if not (0 <= target[0] < height and 0 <= target[1] < width and free[target[0]][target[1]]):
        target = (row, column)
    square = {(r, c) for r in range(target[0] - footprint, target[0] + footprint + 1)
              for c in range(target[1] - footprint, target[1] + footprint + 1)
              if 0 <= r < height and 0 <= c < width}
    return sum(weights[r][c] for r, c in square if not covered[r][c])


@pytest.mark.parametrize("kwargs", [{"map": "two_rooms", "task": "biodiversity"},
                                    {"task": "informative_path", "height": 9, "width": 9,
                                     "footprint": 2}])
def test_gain_reference_agrees_with_python_sets(kwargs):
    env = CoverageEnv(num_envs=4, split="test", **kwargs)
    observation = env.reset(torch.arange(4))
    walker = RandomMoves(4, seed=1)
    for _ in range(12):
        observation = env.step(walker.act(observation))[0]
    expected = GreedyMarginalGain(env).one_step_gains()
    state = {name: value.tolist() for name, value in env.state.items()
             if name in ("weights", "covered", "free", "position")}
    for episode in range(4):
        row, column = state["position"][episode]
        for action in range(5):
            by_sets = square_gain(state["weights"][episode], state["covered"][episode],
                                  state["free"][episode], row, column, action, env.footprint)
            assert expected[episode, action].item() == pytest.approx(by_sets, abs=1e-9)


# ------------------------------------------------------------------- greedy_action
FIRST_ACTION = """    best = gains >= gains.max(dim=1, keepdim=True).values - TIE_TOLERANCE
    return torch.where(best, tie_break, -1.0).argmax(dim=1)"""


@pytest.mark.parametrize("replacement, fragment", [
    ((FIRST_ACTION, "    return gains.argmax(dim=1)"), "not the first one"),
    (("gains >= gains.max(dim=1, keepdim=True).values - TIE_TOLERANCE",
      "gains == gains.max(dim=1, keepdim=True).values"), "not `==`"),
    (("torch.where(best, tie_break, -1.0)", "torch.where(best, -tie_break, -2.0)"), "LARGEST"),
    (("- TIE_TOLERANCE", "- 1e-5"), "a 1e-6 difference is real"),
    (("argmax(dim=1)", "argmax(dim=1).double()"), "must hold integers"),
], ids=["no-tie-break", "exact-ties", "smallest-tie-break", "loose-ties", "float-actions"])
def test_greedy_action_mistakes_are_named(tmp_path, replacement, fragment):
    module = load(tmp_path, replacement)
    measurement = measure(grader.check_greedy_action, module.greedy_action)
    assert not measurement.passed
    assert fragment in measurement.measured + measurement.hint


def test_greedy_episodes_depend_on_the_tie_break(tmp_path):
    module = load(tmp_path, (FIRST_ACTION, "    return gains.argmax(dim=1)"))
    earlier = (Measurement(True, ""), Measurement(False, ""))
    measurement = grader.check_greedy_policy(module.marginal_gains, module.greedy_action,
                                             earlier)
    assert not measurement.passed and "fix greedy_action first" in measurement.hint


def test_greedy_has_no_constant_factor_guarantee_on_walks():
    """The grader's ungraded ratio: greedy falls below 1 - 1/e of the brute-force optimum
    on a small two-room map, so the README's claim holds and no criterion may use it."""
    reference = load_student_module(REFERENCE)
    seeds = torch.arange(grader.RATIO_EPISODES)
    env = CoverageEnv(num_envs=grader.RATIO_EPISODES, **grader.RATIO_SETTING)
    env.reset(seeds)
    start = env.state["value"].clone()
    returns = grader.greedy_values(reference.marginal_gains, reference.greedy_action, env,
                                   seeds) - start
    ratios = returns / torch.tensor(grader.brute_force_optima(), dtype=torch.float64)
    assert bool((ratios <= 1 + 1e-9).all())
    assert float(ratios.min()) < 1 - 1 / math.e


# ---------------------------------------------------------------------- subpo_loss
RETURNS_TO_GO = "gains.flip(1).cumsum(dim=1).flip(1)"
BASELINE = "returns_to_go - returns_to_go.mean(dim=0, keepdim=True)"


@pytest.mark.parametrize("replacement, failing, fragment", [
    (("return -(log_probs", "return (log_probs"), {False, True}, "sign"),
    (("/ log_probs.shape[0]", "/ log_probs.numel()"), {False, True}, "B only"),
    ((RETURNS_TO_GO, "gains.sum(dim=1, keepdim=True).expand_as(gains)"), {False, True},
     "whole episode's gain"),
    ((RETURNS_TO_GO, f"{RETURNS_TO_GO} - gains"), {False, True}, "step t itself"),
    ((RETURNS_TO_GO, "gains.cumsum(dim=1)"), {False, True}, "END"),
    ((BASELINE, BASELINE.replace("dim=0", "dim=1")), {True}, "EPISODES"),
    ((BASELINE, f"({BASELINE}) / returns_to_go.std(dim=0, keepdim=True)"), {True},
     "standard deviation"),
    (("    if baseline:\n", "    if not baseline:\n"), {False, True}, "baseline="),
    (("-(log_probs * ", "-(log_probs.detach() * "), {False, True}, "no gradient"),
    (("return -(log_probs * returns_to_go.detach()).sum() / log_probs.shape[0]",
      "return (-(log_probs * returns_to_go.detach()).sum() / log_probs.shape[0]).item()"),
     {False, True}, "scalar torch tensor"),
], ids=["sign", "mean-over-steps", "total-return", "future-only", "forward-cumsum",
        "baseline-over-time", "std-normalised", "baseline-inverted", "detached", "item"])
def test_loss_mistakes_fail_the_right_setting_with_a_named_hint(tmp_path, replacement,
                                                                failing, fragment):
    module = load(tmp_path, replacement)
    for baseline in (False, True):
        measurement = measure(grader.check_subpo_loss, module.subpo_loss,
                                              baseline=baseline)
        assert measurement.passed == (baseline not in failing), measurement
        if not measurement.passed:
            assert fragment in measurement.measured + measurement.hint


def test_loss_reference_by_hand():
    """B = 2 episodes of T = 2 steps, gains [[1, 2], [3, 0]]: reward-to-go [[3, 2], [3, 0]],
    baseline [3, 1]; the gradient with respect to log_probs is -(G - c) / B."""
    gains = torch.tensor([[1.0, 2.0], [3.0, 0.0]], dtype=torch.float64)
    log_probs = torch.tensor([[-0.1, -0.2], [-0.3, -0.4]], dtype=torch.float64,
                             requires_grad=True)
    for baseline, weights in ((False, [[3.0, 2.0], [3.0, 0.0]]),
                              (True, [[0.0, 1.0], [0.0, -1.0]])):
        weights = torch.tensor(weights, dtype=torch.float64)
        loss = grader.reference_loss(log_probs, gains, baseline)
        (gradient,) = torch.autograd.grad(loss, log_probs)
        assert torch.allclose(gradient, -weights / 2)
        assert loss.item() == pytest.approx(-(weights * log_probs.detach()).sum().item() / 2)


def test_loss_reference_equals_tunegym_subpo_loss():
    """The grader's (episodes, horizon) formula is SubPO.loss (no entropy bonus) on a real
    rollout, value and gradient, to float32 round-off."""
    env = CoverageEnv(num_envs=16, split="train", **grader.TRAINING_MAP)
    agent = SubPO(env.single_observation_space.shape[0], seed=0)
    batch = agent.rollout(env, torch.arange(16))
    expected, _ = agent.loss(batch["observations"], batch["actions"], batch["rewards"])
    expected_gradient = torch.autograd.grad(expected, list(agent.network.parameters()))
    log_policy = torch.log_softmax(agent.logits(batch["observations"]), dim=-1)
    log_probs = log_policy.gather(-1, batch["actions"][..., None])[..., 0]
    loss = grader.reference_loss(log_probs.T, batch["rewards"].T, baseline=True)
    gradient = torch.autograd.grad(loss, list(agent.network.parameters()))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-5)
    for mine, theirs in zip(gradient, expected_gradient):
        assert torch.allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_training_threshold_leaves_margin_for_the_reference():
    before, after = grader.subpo_test_returns(load_student_module(REFERENCE).subpo_loss)
    _, reference_after = grader.reference_training_returns()
    threshold = before + grader.TRAINING_SHARE * (reference_after - before)
    assert after - threshold > 0.3 * (reference_after - before)
