"""The EXP3-on-SOR grader's judgement: each usual slip fails the criteria it should, with
a message that names it, while the other criteria still pass; and the grader's closed
form, driver and loss table agree with tunegym's shipped EXP3 and with the env itself.

Broken variants are made by text substitution on the reference solution.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.exercises.variants import write_variant
from tunegym.agents.bandits import EXP3
from tunegym.baselines.sor import best_fixed_arm_in_hindsight
from tunegym.envs.sor import SOREnv
from tunegym.exercises import exp3_sor, get_exercise
from tunegym.exercises.exp3_sor import (
    EXP3_CLOSED_FORM,
    SCRIPT_ARMS,
    SCRIPT_LOSSES,
    SCRIPT_NUM_ARMS,
    UNDERFLOW_ARMS,
    UNDERFLOW_LOSSES,
    USUAL_SLIPS,
    as_arm,
    grade,
    iterations_table,
    play_sequence,
)
from tunegym.exercises.grading import StudentError, load_student_module

SLUG = "02_exp3_sor"
CRITERIA = ("loads", "distribution", "closed form", "underflow", "sampling", "regret")
SAMPLE_LINE = "int(torch.multinomial(self.probabilities(), 1, generator=self.generator))"
SOFTMAX_LINE = ("return torch.softmax(-self.learning_rate() * self.cumulative_loss_estimates, "
                "dim=0)")
READ_P_LINE = "        played_probability = float(self.probabilities()[arm])\n"
NAIVE_LINES = ("weights = torch.exp(-self.learning_rate() * self.cumulative_loss_estimates)\n"
               "        return weights / weights.sum()")

# name: ((text replaced, replacement), ...), criteria that must fail, text the report
# must contain
VARIANTS = {
    "no importance weight": ((("loss / played_probability", "loss"),),
                             {"closed form", "underflow", "regret"}, "no importance weight"),
    "flipped sign": ((("-self.learning_rate() *", "self.learning_rate() *"),),
                     {"closed form", "underflow", "regret"}, "with a minus sign"),
    "constant learning rate": ((("round_number = self.rounds_played + 1",
                                 "round_number = 1"),),
                               {"closed form", "underflow"}, "a constant learning rate"),
    "learning rate one round ahead": ((("round_number = self.rounds_played + 1",
                                        "round_number = self.rounds_played + 2"),),
                                      {"closed form", "underflow"}, "one round ahead"),
    "1/p of the next round": (((READ_P_LINE, "        self.rounds_played += 1\n" + READ_P_LINE
                                + "        self.rounds_played -= 1\n"),),
                              {"closed form"}, "after the round counter advanced"),
    "every arm updated": ((("self.cumulative_loss_estimates[arm] +=",
                            "self.cumulative_loss_estimates +="),),
                          {"closed form", "underflow", "regret"}, "every arm's estimate"),
    "round counted in act": ((("        self.rounds_played += 1\n", ""),
                              (f"        return {SAMPLE_LINE}",
                               f"        self.rounds_played += 1\n        return {SAMPLE_LINE}")),
                             {"closed form", "underflow", "sampling"}, "act() only draws"),
    "greedy act": (((SAMPLE_LINE, "int(self.probabilities().argmax())"),),
                   {"sampling", "regret"}, "draw arm i with probability p[i]"),
    "naive exponential": (((SOFTMAX_LINE, NAIVE_LINES),), {"underflow"},
                          "subtract min(L_hat)"),
    "float32": ((("dtype=torch.float64", "dtype=torch.float32"),),
                {"distribution", "closed form", "underflow", "sampling"}, "compute in float64"),
    "seed ignored": ((("manual_seed(seed)", "manual_seed(0)"),), {"sampling"},
                     "seeds 3 and 4 drew the same 50 arms"),
    "probabilities of shape (1, K)": (((SOFTMAX_LINE, SOFTMAX_LINE.replace("dim=0)",
                                                                           "dim=0)[None]")),),
                                      {"distribution", "closed form", "underflow", "sampling",
                                       "regret"}, "must have shape (5,)"),
    "act returns a float": (((SAMPLE_LINE, SAMPLE_LINE.replace("int(", "float(", 1)),),
                            {"sampling", "regret"}, "must return an int arm index"),
    "update raises": (((READ_P_LINE, "        raise ValueError('oops')\n"),),
                      {"closed form", "underflow", "regret"}, "ValueError: oops (at"),
}


def _results_by_criterion(path: Path) -> dict:
    results = grade(path)
    assert len(results) == len(CRITERIA)
    return dict(zip(CRITERIA, results))


@pytest.mark.parametrize("name", VARIANTS)
def test_usual_slip_fails_its_criteria_with_a_message_and_only_those(name, tmp_path):
    substitutions, failing, message = VARIANTS[name]
    results = _results_by_criterion(write_variant(SLUG, tmp_path, *substitutions))
    failed = {criterion for criterion, result in results.items() if not result.passed}
    assert failed == failing, {criterion: results[criterion].measured for criterion in failed}
    report = " ".join(results[criterion].measured + " " + results[criterion].hint
                      for criterion in failing)
    assert message in report, report
    for criterion in failing:
        assert results[criterion].hint, f"{criterion} fails without a hint"
        assert "Traceback" not in results[criterion].measured


def test_missing_class_and_syntax_error_are_reported_on_every_line(tmp_path):
    for old, new, first_message in (("class EXP3:", "class Exp3:", "defines no `EXP3`"),
                                    ("def act(self) -> int:", "def act(self) -> int",
                                     "syntax error")):
        results = _results_by_criterion(write_variant(SLUG, tmp_path, (old, new)))
        assert first_message in results["loads"].measured
        assert not any(result.passed for result in results.values())
        assert all("not checked" in result.measured for criterion, result in results.items()
                   if criterion != "loads")


def test_grading_is_deterministic():
    path = Path(__file__).parent / "solutions" / "02_exp3_sor.py"
    first, second = grade(path), grade(path)
    assert [result.measured for result in first] == [result.measured for result in second]
    assert all(result.passed for result in first)


def test_reference_regret_leaves_margin_below_both_bounds():
    reference = load_student_module(Path(__file__).parent / "solutions" / "02_exp3_sor.py")
    iterations = iterations_table()
    best_total = float(iterations.sum(dim=0).min())
    regret = np.mean([play_sequence(reference.EXP3(iterations.shape[1], seed), iterations)
                      for seed in exp3_sor.AGENT_SEEDS]) - best_total
    tsallis_regret = np.mean(exp3_sor.tsallis_inf_totals()) - best_total
    uniform_regret = float(iterations.mean(dim=1).sum()) - best_total
    assert regret < 0.8 * exp3_sor.TSALLIS_INF_FACTOR * tsallis_regret
    assert regret < 0.8 * exp3_sor.UNIFORM_FRACTION * uniform_regret
    # Tsallis-INF itself learns: well below uniform play.
    assert tsallis_regret < 0.5 * uniform_regret


def test_untouched_starter_fails_before_building_the_loss_table():
    misses = exp3_sor._cached_iterations_table.cache_info().misses
    results = grade(get_exercise(2).material() / "starter.py")
    assert not results[-1].passed and "NotImplementedError" in results[-1].measured
    assert exp3_sor._cached_iterations_table.cache_info().misses == misses


def test_closed_form_and_driver_match_the_shipped_exp3():
    """tunegym's EXP3 (gamma = 0, scale 1), fed raw rewards -iterations, must follow the
    grader's closed form applied to the losses the grader's driver hands a student."""
    iterations = iterations_table()[:60]
    shipped = EXP3(num_arms=iterations.shape[1], seed=0)
    arms, shipped_probabilities = [], []
    for costs in iterations:
        arm = shipped.act()
        shipped.update(None, arm, -costs[arm])
        arms.append(int(arm))
        shipped_probabilities.append(shipped.probabilities()[0])

    class Replay:
        """Plays the shipped agent's arms and records the losses the driver feeds."""

        def __init__(self) -> None:
            self.arms, self.losses = iter(arms), []

        def act(self) -> int:
            return next(self.arms)

        def update(self, arm: int, loss: float) -> None:
            self.losses.append(loss)

    replay = Replay()
    total = play_sequence(replay, iterations)
    assert total == pytest.approx(float(iterations[torch.arange(60), arms].sum()))
    expected = EXP3_CLOSED_FORM.probabilities(tuple(arms), tuple(replay.losses),
                                              iterations.shape[1])[1:]
    torch.testing.assert_close(torch.stack(shipped_probabilities), expected, rtol=0, atol=1e-12)


def test_loss_table_is_what_the_env_reports():
    """Column k of the table is info["iterations"] of env.step(k), step by step."""
    table = iterations_table()
    num_arms = table.shape[1]
    env = SOREnv(num_envs=num_arms, split="test")
    env.reset(torch.full((num_arms,), exp3_sor.TEST_SEED, dtype=torch.int64))
    for step in range(4):
        info = env.step(torch.arange(num_arms))[-1]
        torch.testing.assert_close(info["iterations"].to(torch.float64), table[step])
    assert int(best_fixed_arm_in_hindsight(table[:, None, :])[0]) == int(table.sum(0).argmin())


def test_script_premises_hold():
    """The scripts the docstring describes: slips are >= 1e-2 off the closed form, no
    played arm has p < 0.05, and the naive formula really is 0/0 on the underflow script."""
    expected = EXP3_CLOSED_FORM.probabilities(SCRIPT_ARMS, SCRIPT_LOSSES, SCRIPT_NUM_ARMS)
    for slip in USUAL_SLIPS:
        distance = (slip.probabilities(SCRIPT_ARMS, SCRIPT_LOSSES, SCRIPT_NUM_ARMS)
                    - expected).abs().max()
        assert distance >= 1e-2, slip.slip
    played = expected[torch.arange(len(SCRIPT_ARMS)), list(SCRIPT_ARMS)]
    assert float(played.min()) >= 0.05
    underflow = EXP3_CLOSED_FORM.probabilities(UNDERFLOW_ARMS, UNDERFLOW_LOSSES, 3)
    assert bool(torch.isfinite(underflow).all())
    estimates = torch.tensor([3e4, 30001.0, 30002.0], dtype=torch.float64)
    naive = torch.exp(-exp3_sor.anytime_learning_rate(4, 3) * estimates)
    assert float(naive.sum()) == 0.0
    torch.testing.assert_close(underflow[-1], torch.softmax(
        -exp3_sor.anytime_learning_rate(4, 3) * estimates, dim=0), rtol=0, atol=1e-12)


def test_as_arm_accepts_integers_and_refuses_the_rest():
    assert as_arm(3, 5) == 3 and as_arm(np.int64(4), 5) == 4 and as_arm(torch.tensor(2), 5) == 2
    for bad in (2.0, True, torch.tensor(1.0), 5, -1, "1"):
        with pytest.raises(StudentError):
            as_arm(bad, 5)
