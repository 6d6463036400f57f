"""The grader of exercise 6 (solver schedule at NFE 5) judges as it should.

* Its figures are right: the bar is the published DPM-Solver++(2M) rule on the
  leaderboard's spacing (an independent implementation agrees), and the errors it
  measures are distances to the ODE's true solution (scipy's DOP853 agrees to far below
  the margin).
* The baseline's own schedule fails the margin; a timesteps-only improvement passes it.
* Each plausible mistake (written by text substitution on the reference solution) fails
  the criterion concerned with a message that names it, and the independent criteria
  still pass.
"""


import numpy
import pytest
import torch

from tests.exercises.variants import SOLUTIONS, grade_variant
from tests.simulators.published_solvers import dpm_solver_multistep
from tunegym.baselines.solver_schedule import BASELINE_SPACING
from tunegym.envs.solver_schedule import row_mixture
from tunegym.exercises import check_exercise, get_exercise
from tunegym.exercises import solver_schedule as grader
from tunegym.exercises.grading import load_student_module
from tunegym.simulators.diffusion import reference_solution, sample, timestep_spacing

SLUG = "06_solver_schedule"
REFERENCE = SOLUTIONS / f"{SLUG}.py"
STARTER = get_exercise(6).material() / "starter.py"
LOADS, INVERSE, VALID, MARGIN, RECIPES = range(5)
TIMES = '"timesteps": timesteps_from_fractions(FOUND_FRACTIONS),'
#: The start of the reference's design_schedule() return statement.
RETURN = "    return {\n        " + TIMES


def assert_reported(results, failing, message):
    """Exactly the criteria ``failing`` fail; the first of them says ``message``; every
    failure has a hint and no traceback."""
    assert [index for index, result in enumerate(results) if not result.passed] == failing, \
        [(result.name, result.measured) for result in results]
    assert message in results[failing[0]].measured, results[failing[0]].measured
    for result in results:
        assert "Traceback" not in result.measured
        assert result.passed or result.hint


def test_the_bar_is_the_published_dpm_solver_pp_2m_on_the_leaderboard_spacing():
    env = grader.instances("test")
    times = timestep_spacing(grader.NOISE_SCHEDULE, grader.NFE, BASELINE_SPACING)
    student = load_student_module(STARTER)
    for row in (0, 7):
        independent = dpm_solver_multistep(row_mixture(env.state, row), grader.NOISE_SCHEDULE,
                                           env.state["x"][row], times, order=2)
        error = (independent - env.state["reference"][row]).norm(dim=1).mean()
        # The grader's baseline figure, and the starter's dpm_solver_pp_2m() schedule run
        # through the grader's own evaluation, both equal the published rule.
        assert float(grader.schedule_errors(student.dpm_solver_pp_2m())[row]) == \
            pytest.approx(float(error), rel=1e-9)
    results = check_exercise(6, REFERENCE)
    baseline = float(grader.fixed_solver_errors(env, "DPM-Solver++(2M)", BASELINE_SPACING,
                                                grader.NFE).mean())
    assert f"uniform log-SNR steps {baseline:.4g}" in results[MARGIN].measured


def test_measured_errors_are_distances_to_the_true_ode_solution():
    """On 24 samples of one test instance, the env's reference samples agree with scipy's
    DOP853 solve of the probability-flow ODE to 2e-5 (measured 6e-6), so the reference
    schedule's error (about 0.03) is its own to 0.1 %, far inside the 10 % margin."""
    env = grader.instances("test")
    mixture, noise = row_mixture(env.state, 0), env.state["x"][0, :24]
    exact = reference_solution(mixture, grader.NOISE_SCHEDULE, noise, 1.0, 1e-3, rtol=1e-9,
                               atol=1e-10)
    assert float((env.state["reference"][0, :24] - exact).norm(dim=1).max()) < 2e-5
    checked = grader.check_schedule(load_student_module(REFERENCE).design_schedule())
    samples = sample(mixture, grader.NOISE_SCHEDULE, noise, checked["timesteps"],
                     checked["orders"], checked["predictions"], checked["correctors"],
                     checked["estimates"])
    error = float((samples - exact).norm(dim=1).mean())
    assert 0.01 < error < 0.06
    assert error == pytest.approx(float((samples - env.state["reference"][0, :24])
                                        .norm(dim=1).mean()), rel=1e-3)


def test_time_of_lambda_check_agrees_with_the_forward_map():
    """The grader's expected times invert the starter's own lambda_of_time formula."""
    student = load_student_module(STARTER)
    half_log_snrs = torch.linspace(-5.0, 4.5, 20, dtype=torch.float64)
    times = grader.NOISE_SCHEDULE.time_of_lambda(half_log_snrs)
    assert torch.allclose(student.lambda_of_time(times), half_log_snrs, rtol=0, atol=1e-10)


def test_reference_passes_with_margin_and_is_deterministic():
    first = check_exercise(6, REFERENCE)
    grader.instances.cache_clear()                   # the second grade rebuilds everything
    second = check_exercise(6, REFERENCE)
    assert first == second and all(result.passed for result in first)
    ratio = float(first[MARGIN].measured.split("ratio ")[1].split()[0])
    assert ratio < 0.25                              # bound 0.9: a wide margin


def test_untouched_starter_fails_without_building_the_instances():
    grader.instances.cache_clear()
    results = check_exercise(6, STARTER)
    assert grader.instances.cache_info().currsize == 0
    assert_reported(results, [INVERSE, VALID, MARGIN, RECIPES], "NotImplementedError")
    assert "not measured: no valid schedule" in results[MARGIN].measured


def test_the_starters_train_helper_works_before_any_todo_is_done():
    student = load_student_module(STARTER)
    baseline_train = student.evaluate_on_train(student.dpm_solver_pp_2m())
    assert 0.1 < baseline_train < 0.3
    assert baseline_train != pytest.approx(
        float(grader.schedule_errors(student.dpm_solver_pp_2m()).mean()), rel=1e-6)


def test_the_baselines_own_schedule_fails_the_margin(tmp_path):
    results = grade_variant(SLUG, tmp_path, (RETURN, "    return dpm_solver_pp_2m()\n" + RETURN))
    assert_reported(results, [MARGIN, RECIPES], "ratio 1.000")
    assert "the baseline's own schedule" in results[MARGIN].hint
    assert "DPM-Solver++(2M), uniform_lambda" in results[RECIPES].hint


def test_retuned_timesteps_alone_pass_the_margin(tmp_path):
    """DPM-Solver++(2M) with timesteps from Nelder-Mead on the train split."""
    results = grade_variant(
        SLUG,
        tmp_path,
        ("FOUND_FRACTIONS = (0.0, 0.3533, 0.5055, 0.6360, 0.8829, 1.0)",
         "FOUND_FRACTIONS = (0.0, 0.3915, 0.5489, 0.6768, 0.7935, 1.0)"),
        ('"orders": [1, 2, 3, 2, 2],', '"orders": [1, 2, 2, 2, 2],'),
        ('"predictions": ["data", "noise", "noise", "noise", "noise"],',
         '"predictions": ["data"] * 5,'),
        ('"estimates": ["taylor", "unipc_bh1", "unipc_bh1", "dpm_solver", "dpm_solver"],',
         '"estimates": ["dpm_solver"] * 5,'),
        ('"correctors": [True, False, False, False, False],', '"correctors": [False] * 5,'))
    assert all(result.passed for result in results)
    ratio = float(results[MARGIN].measured.split("ratio ")[1].split()[0])
    assert 0.55 < ratio < 0.75


TIME_OF_LAMBDA = "    log_alpha = -0.5 * torch.nn.functional.softplus(-2.0 * half_log_snr)"
ROOT = "    return (torch.sqrt(BETA_MIN ** 2 - 4.0 * spread * log_alpha) - BETA_MIN) / spread"
FIRST_STEP = '"orders": [1, 2, 3, 2, 2],'
CORRECTORS = '"correctors": [True, False, False, False, False],'
ESTIMATES = '"estimates": ["taylor", "unipc_bh1", "unipc_bh1", "dpm_solver", "dpm_solver"],'

MISTAKES = {
    # lambda taken as the full log-SNR, alpha^2 = sigmoid(lambda): the schedule built on it
    # is valid, but its times are not the searched ones and it loses the margin
    "log_snr_not_halved": ([(TIME_OF_LAMBDA, TIME_OF_LAMBDA.replace("-2.0 *", "-1.0 *"))],
                           [INVERSE, MARGIN, RECIPES], "max relative error"),
    "shape_flattened": ([(ROOT, ROOT.replace("return (", "return ((") + ").flatten()")],
                        [INVERSE], "must have shape (4, 12), got (48,)"),
    # the negative root: negative times, so the schedule is invalid as well
    "negative_root": ([(ROOT, ROOT.replace("(torch.sqrt", "(-torch.sqrt"))],
                      [INVERSE, VALID, MARGIN, RECIPES], "max relative error"),
    "second_order_first_step": ([(FIRST_STEP, '"orders": [2, 2, 3, 2, 2],')],
                                [VALID, MARGIN, RECIPES], "schedule['orders'][0] must be in 1..1"),
    "third_order_second_step": ([(FIRST_STEP, '"orders": [1, 3, 3, 2, 2],')],
                                [VALID, MARGIN, RECIPES], "schedule['orders'][1] must be in 1..2"),
    "nfe_six": ([("(0.0, 0.3533, 0.5055,", "(0.0, 0.2, 0.3533, 0.5055,")],
                [VALID, MARGIN, RECIPES], "has 7 times, i.e. NFE 6"),
    "times_reversed": ([(TIMES, TIMES.replace("FRACTIONS),", "FRACTIONS).flip(0),"))],
                       [VALID, MARGIN, RECIPES], "schedule['timesteps'][0] must be t = 1"),
    "ends_at_zero": ([(TIMES, '"timesteps": [*timesteps_from_fractions(FOUND_FRACTIONS)[:5], 0.0],')],
                     [VALID, MARGIN, RECIPES], "schedule['timesteps'][5] must be t = 0.001"),
    "inner_times_not_decreasing": ([(TIMES, '"timesteps": [1.0, 0.5, 0.6, 0.2, 0.1, 1e-3],')],
                                   [VALID, MARGIN, RECIPES], "entry 2 (0.6) >= entry 1"),
    "nan_time": ([(TIMES, '"timesteps": [1.0, float("nan"), 0.3, 0.2, 0.1, 1e-3],')],
                 [VALID, MARGIN, RECIPES], "NaN"),
    "corrector_on_last_step": ([(CORRECTORS, '"correctors": [True, False, False, False, True],')],
                               [VALID, MARGIN, RECIPES], "schedule['correctors'][-1] must be False"),
    "corrector_flags_as_ints": ([(CORRECTORS, '"correctors": [1, 0, 0, 0, 0],')],
                                [VALID, MARGIN, RECIPES], "must be 5 bools"),
    "estimate_misspelt": ([(ESTIMATES, ESTIMATES.replace('["taylor"', '["dpm-solver"'))],
                          [VALID, MARGIN, RECIPES], "did you mean 'dpm_solver'"),
    "prediction_as_one_string": ([('"predictions": ["data", "noise", "noise", "noise", "noise"],',
                                   '"predictions": "noise",')],
                                 [VALID, MARGIN, RECIPES], "must be a list of 5 names"),
    "key_misspelt": ([(FIRST_STEP, FIRST_STEP.replace('"orders"', '"order"'))],
                     [VALID, MARGIN, RECIPES], "unknown key 'order'; did you mean 'orders'"),
    "returns_a_tuple": ([(RETURN, RETURN.replace("return {", "return tuple({")),
                         (CORRECTORS + "\n    }", CORRECTORS + "\n    }.values())")],
                        [VALID, MARGIN, RECIPES], "must be a dict"),
    "exception_in_design": ([(FIRST_STEP, '"orders": {"one": 1}["two"],')],
                            [VALID, MARGIN, RECIPES], "raised KeyError: 'two' (at starter.py line"),
    "design_schedule_renamed": ([("def design_schedule() -> dict:", "def schedule() -> dict:")],
                                [LOADS, VALID, MARGIN, RECIPES],
                                "defines no function design_schedule"),
    "syntax_error": ([(FIRST_STEP, '"orders": [1, 2, 3, 2, 2,')],
                     [LOADS, INVERSE, VALID, MARGIN, RECIPES], "syntax error"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_mistake_fails_its_criterion_with_a_message(tmp_path, mistake):
    replacements, failing, message = MISTAKES[mistake]
    results = grade_variant(SLUG, tmp_path, *replacements)
    assert_reported(results, failing, message)


def test_a_schedule_with_non_finite_samples_fails_with_a_hint(tmp_path, monkeypatch):
    monkeypatch.setattr(grader, "sample", lambda *args, **kwargs: torch.full(
        (grader.NUM_INSTANCES, 256, 8), float("nan"), dtype=torch.float64))
    results = check_exercise(6, REFERENCE)
    assert not results[MARGIN].passed and "not finite" in results[MARGIN].hint


def test_check_schedule_accepts_arrays_and_leaves_the_students_tensor_alone():
    times = timestep_spacing(grader.NOISE_SCHEDULE, grader.NFE, "uniform_lambda")
    times[-1] = 1e-3 * (1 + 1e-8)                        # within the end tolerance
    original = times.clone()
    schedule = {"timesteps": times, "orders": numpy.array([1, 2, 2, 2, 2]),
                "predictions": ("data",) * 5, "estimates": ["taylor"] * 5,
                "correctors": numpy.zeros(5, dtype=bool)}
    checked = grader.check_schedule(schedule)
    assert torch.equal(times, original) and float(checked["timesteps"][-1]) == 1e-3
    assert checked["orders"].tolist() == [1, 2, 2, 2, 2] and bool(checked["predictions"].all())
    as_list = grader.check_schedule({**schedule, "timesteps": [1.0, 0.5, 0.3, 0.2, 0.1, 1e-3]})
    assert float(as_list["timesteps"][-1]) == 1e-3       # a list of floats is read at float64
