"""Every exercise's grader passes its reference solution and fails its untouched starter.

Reference solutions live in tests/exercises/solutions/<slug>.py only: they are not
shipped with the package.
"""

from pathlib import Path

import pytest

from tunegym.exercises import EXERCISES, check_exercise

SOLUTIONS = Path(__file__).parent / "solutions"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda exercise: exercise.slug)
def test_reference_solution_passes_every_criterion(exercise):
    results = check_exercise(exercise.number, SOLUTIONS / f"{exercise.slug}.py")
    failed = [f"{result.name}: {result.measured}" for result in results if not result.passed]
    assert results and not failed, failed


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda exercise: exercise.slug)
def test_untouched_starter_fails_with_a_message_not_a_traceback(exercise):
    results = check_exercise(exercise.number, exercise.material() / "starter.py")
    assert results and not all(result.passed for result in results)
    for result in results:
        assert result.measured and "Traceback" not in result.measured
        if not result.passed:
            assert result.hint, f"{result.name} fails without saying what to look at next"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda exercise: exercise.slug)
def test_material_has_task_text_and_starter_with_todos(exercise):
    folder = exercise.material()
    assert (folder / "README.md").read_text().startswith("# ")
    starter = (folder / "starter.py").read_text()
    assert "TODO" in starter
    compile(starter, str(folder / "starter.py"), "exec")
