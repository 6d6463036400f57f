"""Exercise 4's grader judges plausible wrong solutions, and its thresholds hold against
order statistics of uniform sampling and the target spec's closed form.

Broken variants are the reference solution with a text substitution or two, written to
tmp_path.
"""

from pathlib import Path

import pytest
import torch

from tests.exercises.variants import grade_variant
from tunegym.envs.accelerator_design import DEFAULT_DESIGN, DESIGN_SPACE, AcceleratorDesignEnv
from tunegym.exercises import check_exercise
from tunegym.exercises.beat_random_search import (
    BUDGET,
    KNOB_SIZES,
    RATIO_THRESHOLD,
    BudgetedEvaluator,
    BudgetExceeded,
    design_rewards,
    make_evaluator,
    random_search_best,
)

SLUG = "04_beat_random_search"
CRITERIA = ("loads", "budget", "best", "seed", "random", "default")
RETURN_BEST = "    return torch.tensor(max(seen, key=seen.get))\n"
EVALUATE_CALL = "            rewards = evaluate(torch.tensor(fresh))\n"
UNCAPPED_BATCH = "if design not in seen][:evaluate.remaining]"


def graded(tmp_path: Path, *replacements: tuple[str, str]) -> dict[str, object]:
    """Grade the reference with each (old, new) of ``replacements`` applied:
    {short criterion name: result}, in the order of :data:`CRITERIA`."""
    results = grade_variant(SLUG, tmp_path, *replacements)
    assert len(results) == len(CRITERIA)
    return dict(zip(CRITERIA, results))


def passed(results: dict[str, object]) -> set[str]:
    return {name for name, result in results.items() if result.passed}


@pytest.fixture(scope="module")
def accelerator_env():
    return AcceleratorDesignEnv(split="test")


def test_reference_passes_with_margin(tmp_path):
    results = graded(tmp_path)
    assert passed(results) == set(CRITERIA), results
    measured = results["random"].measured
    ratio = float(measured.split("median ratio ")[1].split()[0])
    assert ratio <= RATIO_THRESHOLD - 0.3, measured
    assert "16/16 runs at least as good" in results["default"].measured


def test_returning_the_worst_design_fails_only_where_it_should(tmp_path):
    results = graded(tmp_path, (RETURN_BEST, RETURN_BEST.replace("max(", "min(")))
    assert {"loads", "budget", "seed"} <= passed(results)
    assert not results["best"].passed
    assert "best design evaluated had" in results["best"].measured
    assert not results["random"].passed


def test_a_request_beyond_the_budget_is_reported_with_the_line(tmp_path):
    results = graded(tmp_path, (UNCAPPED_BATCH, "if design not in seen]"))
    assert passed(results) == {"loads"}
    message = results["budget"].measured
    assert "BudgetExceeded" in message and "starter.py line" in message
    assert "evaluate.remaining" in results["budget"].hint
    assert "not measured" in results["random"].measured


def test_a_caught_refusal_still_fails_the_budget_criterion(tmp_path):
    caught = ("            try:\n"
              "                rewards = evaluate(torch.tensor(fresh))\n"
              "            except Exception:\n"
              "                return\n")
    results = graded(tmp_path, (UNCAPPED_BATCH, "if design not in seen]"),
                            (EVALUATE_CALL, caught))
    assert passed(results) == set(CRITERIA) - {"budget"}
    assert "evaluate refused" in results["budget"].measured


@pytest.mark.parametrize(("old", "new", "message"), [
    (RETURN_BEST, RETURN_BEST.replace("torch.tensor(max(seen, key=seen.get))",
                                      "torch.tensor([max(seen, key=seen.get)])"),
     "must have shape (9,), got (1, 9)"),
    (RETURN_BEST, RETURN_BEST.replace("torch.tensor(max(seen, key=seen.get))",
                                      "0.5 + torch.tensor(max(seen, key=seen.get))"),
     "must hold integers"),
    (EVALUATE_CALL, EVALUATE_CALL.replace("tensor(fresh)", "tensor(fresh[0])"),
     "for one design pass design[None, :]"),
], ids=["returns a batch", "returns floats", "evaluates a single design"])
def test_bad_shapes_and_types_fail_the_validity_criterion(tmp_path, old, new, message):
    results = graded(tmp_path, (old, new))
    assert passed(results) == {"loads"}
    assert message in results["budget"].measured


def test_state_kept_between_calls_fails_reproducibility(tmp_path):
    # The seed shifted by the number of calls so far: the repeated run differs.
    shifted_seed = ("    CALLS.append(seed)\n"
                    "    generator = torch.Generator().manual_seed(seed + len(CALLS))\n    seen")
    results = graded(
        tmp_path, ("Evaluate = Callable", "CALLS = []\nEvaluate = Callable"),
        ("    generator = torch.Generator().manual_seed(seed)\n    seen", shifted_seed))
    assert passed(results) == set(CRITERIA) - {"seed"}
    assert "torch.Generator" in results["seed"].hint


def test_random_search_in_disguise_does_not_beat_random_search(tmp_path):
    # No default design, and uniform designs instead of the incumbent's neighbours.
    results = graded(
        tmp_path, ("evaluate_new(torch.cat([EYERISS_DESIGN[None, :],",
                   "evaluate_new(torch.cat([random_designs(knob_sizes, 1, generator),"),
        ("neighbours(incumbent, knob_sizes, NEIGHBOURS_PER_BATCH, generator)",
         "random_designs(knob_sizes, NEIGHBOURS_PER_BATCH, generator)"))
    assert passed(results) == {"loads", "budget", "best", "seed"}
    ratio = float(results["random"].measured.split("median ratio ")[1].split()[0])
    assert 0.85 <= ratio <= 1.2


@pytest.mark.parametrize("text", ["def search(:\n", "def other_name():\n    pass\n"])
def test_a_file_that_does_not_load_fails_every_criterion_readably(tmp_path, text):
    path = tmp_path / "broken.py"
    path.write_text(text)
    results = check_exercise(4, path)
    assert not any(result.passed for result in results)
    assert all(result.hint and "Traceback" not in result.measured for result in results)
    assert "did not load" in results[1].measured or "defines no `search`" in results[1].measured


def test_evaluator_counts_refuses_and_validates(accelerator_env):
    evaluator = BudgetedEvaluator(accelerator_env, 0, budget=3)
    designs = torch.tensor([list(DESIGN_SPACE.encode(DEFAULT_DESIGN))] * 2)
    rewards = evaluator(designs)
    assert rewards.dtype == torch.float64 and rewards.shape == (2,)
    designs[0, 0] = 5     # the caller's later change must not rewrite the history
    assert evaluator.history()[0][0, 0] != 5
    with pytest.raises(BudgetExceeded, match="asked for 2 designs but only 1"):
        evaluator(designs)
    assert (evaluator.used, evaluator.remaining, evaluator.refused) == (2, 1, 1)
    with pytest.raises(ValueError, match=r"knob 5 \(global_buffer_kib\) must lie in \[0, 8\)"):
        evaluator([[0, 0, 0, 0, 0, 8, 0, 0, 0]])
    with pytest.raises(ValueError, match="integer choice indices"):
        evaluator(torch.zeros(1, 9))
    assert evaluator(torch.zeros(0, 9, dtype=torch.int64)).shape == (0,)
    assert evaluator.used == 2


def test_default_design_distance_is_the_closed_form(accelerator_env):
    default = torch.as_tensor(DESIGN_SPACE.encode(DEFAULT_DESIGN))[None, :]
    closed_form = 0.3 / 0.7 + 0.2 / 0.8 + 0.15 / 0.85
    for index in range(len(accelerator_env.workloads)):
        distance = -float(design_rewards(accelerator_env, index, default)[0])
        assert distance == pytest.approx(closed_form, rel=1e-6)
    assert make_evaluator("resnet18", budget=1)(default)[0] == pytest.approx(-closed_form,
                                                                             rel=1e-6)


@pytest.mark.parametrize(("index", "sample_size"), [(0, 40_000), (1, 100_000)])
def test_random_reference_matches_order_statistics(accelerator_env, index, sample_size):
    """The median of the best of n uniform designs is the F-quantile at 0.5 ** (1 / n) of
    one uniform design's reward; the grader's 64-run median must agree within 8 %, and a
    median of 16 disguised random-search runs must rarely reach the threshold."""
    generator = torch.Generator().manual_seed(1234 + index)
    designs = (torch.rand(sample_size, len(KNOB_SIZES), generator=generator)
               * torch.tensor(KNOB_SIZES)).long()
    distances = -design_rewards(accelerator_env, index, designs)
    exact_median = float(distances.quantile(1 - 0.5 ** (1 / BUDGET)))
    grader_median = -float(random_search_best(accelerator_env, index).median())
    assert grader_median == pytest.approx(exact_median, rel=0.08)
    # Best-of-BUDGET draws by inverse transform from the sample's distribution.
    ordered = distances.sort().values
    uniform = torch.rand(2000, 16, generator=generator, dtype=torch.float64)
    ranks = (sample_size * (1 - uniform ** (1 / BUDGET))).long().clamp(max=sample_size - 1)
    disguised_ratio = (ordered[ranks] / grader_median).median(dim=1).values
    assert float((disguised_ratio <= RATIO_THRESHOLD).double().mean()) < 0.01
