"""Exercise 1's grader fails the right criteria for each typical mistake, and only those."""


import pytest

from tests.exercises.variants import SOLUTIONS, grade_variant
from tunegym.exercises import check_exercise
from tunegym.exercises.grading import Grade, Measurement, call_student, load_student_module

SLUG = "01_custom_env"
REFERENCE = (SOLUTIONS / f"{SLUG}.py").read_text()

MISTAKES = {
    "no kwarg validation": (
        'self.dimension = check_integer("dimension", dimension)',
        "self.dimension = dimension",
        ("bad kwargs are refused",)),
    "global random state instead of the seed keys": (
        "linear = standard_normal(keys, (d,), stream=2)",
        "linear = torch.randn(len(seeds), d, dtype=torch.float64)",
        ("instances", "gymnasium's check_env", "same seed", "vector env")),
    "reward with the wrong sign": (
        "reward = (torch.log(before.clamp_min(1e-300))\n                  - torch.log(",
        "reward = -(torch.log(before.clamp_min(1e-300))\n                  - torch.log(",
        ("one step is a gradient step",)),
    "truncated and terminated together": (
        "truncated = (step >= self.horizon) & ~terminated",
        "truncated = step >= self.horizon",
        ("episodes terminate",)),
    "never terminates": (
        "terminated = after <= self.tolerance * state[\"initial_suboptimality\"]",
        "terminated = after < 0",
        ("episodes terminate",)),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_mistake_fails_its_criteria_only(tmp_path, mistake):
    old, new, criteria = MISTAKES[mistake]
    results = grade_variant(SLUG, tmp_path, (old, new))
    failed = [result.name for result in results if not result.passed]
    assert len(failed) == len(criteria), failed
    assert all(name.startswith(criteria) for name in failed), failed
    if mistake == "global random state instead of the seed keys":
        assert any("same seeds gave different" in result.measured for result in results)


def test_exception_in_student_code_names_the_line_not_a_traceback(tmp_path):
    results = grade_variant(SLUG, tmp_path, ("        step = state[\"step\"] + 1\n",
                                             "        step = state[\"step\"] + 1\n        1 / 0\n"))
    failed = [result for result in results if not result.passed]
    assert failed
    for result in failed:
        assert "ZeroDivisionError" in result.measured and "starter.py line" in result.measured
        assert "Traceback" not in result.measured and result.hint


def test_missing_register_reports_every_criterion_as_unchecked(tmp_path):
    results = grade_variant(SLUG, tmp_path, ("def register() -> None:",
                                             "def register_env() -> None:"))
    assert "defines no `register`" in results[0].measured
    assert len(results) == 8 and not any(result.passed for result in results)
    assert all("not checked" in result.measured for result in results[1:])


def test_syntax_error_is_reported_with_its_line(tmp_path):
    student_file = tmp_path / "starter.py"
    student_file.write_text(REFERENCE.replace("def register() -> None:", "def register( -> None:"))
    results = check_exercise(1, student_file)
    assert "syntax error" in results[0].measured and "line" in results[0].measured


def test_cli_start_then_check_end_to_end(tmp_path, capsys):
    from tunegym.cli import main

    assert main(["exercise", "start", "1", str(tmp_path / "work")]) == 0
    assert (tmp_path / "work" / "starter.py").exists()
    with pytest.raises(SystemExit, match="already exist"):
        main(["exercise", "start", "1", str(tmp_path / "work")])
    capsys.readouterr()
    assert main(["exercise", "check", "1", str(tmp_path / "work" / "starter.py")]) == 1
    report = capsys.readouterr().out
    assert "[FAIL] file loads" in report and "NotImplementedError" in report
    assert "next: fill in the TODO" in report and "0/8 criteria passed" in report
    (tmp_path / "work" / "starter.py").write_text(REFERENCE)
    assert main(["exercise", "check", "1", str(tmp_path / "work" / "starter.py")]) == 0
    assert "8/8 criteria passed: exercise complete" in capsys.readouterr().out


def test_cli_rejects_unknown_exercise_and_missing_file(tmp_path, capsys):
    from tunegym.cli import main

    with pytest.raises(SystemExit, match="unknown exercise '9'"):
        main(["exercise", "check", "9", "x.py"])
    assert main(["exercise", "check", "1", str(tmp_path / "missing.py")]) == 1
    assert "does not exist" in capsys.readouterr().out
    assert main(["exercise", "list"]) == 0
    assert "01_custom_env" in capsys.readouterr().out


def test_endless_loop_fails_one_criterion_within_the_time_limit(tmp_path):
    student_file = tmp_path / "starter.py"
    student_file.write_text("def spin():\n    while True:\n        pass\n")
    grade = Grade(student_file, time_limit_s=0.2)
    grade.criterion("ends", lambda: call_student(load_student_module(student_file).spin))
    grade.criterion("a later criterion still runs", lambda: Measurement(True, "ran"))
    assert not grade.results[0].passed and "longer than 0.2 s" in grade.results[0].measured
    assert "starter.py line" in grade.results[0].measured and grade.results[0].hint
    assert grade.results[1].passed
