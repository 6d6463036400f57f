"""Every exercise's grader passes its reference solution and fails its untouched starter.

Reference solutions live in tests/exercises/solutions/<slug>.py only: they are not
shipped with the package.
"""

import shutil
import sys
from pathlib import Path

import gymnasium
import pytest

from tests.test_docs import code_blocks, command_lines
from tunegym.cli import build_parser
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


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda exercise: exercise.slug)
def test_task_text_code_blocks_run_and_commands_parse(exercise, tmp_path, monkeypatch):
    """The python blocks of a task text run beside the reference solution saved as
    starter.py (the student's situation once done); its tunegym commands parse."""
    readme = exercise.material() / "README.md"
    for _, argv in command_lines(readme):
        build_parser().parse_args(argv)
    blocks = code_blocks(readme, "python")
    if not blocks:
        return
    shutil.copy(SOLUTIONS / f"{exercise.slug}.py", tmp_path / "starter.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    registered_before = set(gymnasium.registry)
    try:
        namespace = {"__name__": "__main__"}
        for _, block in blocks:
            exec(compile(block, str(readme), "exec"), namespace)  # noqa: S102 - the block is ours
    finally:
        sys.modules.pop("starter", None)
        for env_id in set(gymnasium.registry) - registered_before:
            gymnasium.registry.pop(env_id)
