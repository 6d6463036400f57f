"""Broken variants of the reference solutions, for the tests of the graders' judgement."""

from pathlib import Path

from tunegym.exercises import EXERCISES, check_exercise
from tunegym.exercises.grading import CriterionResult

SOLUTIONS = Path(__file__).parent / "solutions"


def write_variant(slug: str, directory: Path, *replacements: tuple[str, str]) -> Path:
    """Exercise ``slug``'s reference solution with each (old, new) text replacement applied
    (every ``old`` must occur in it), written to ``directory/starter.py``."""
    text = (SOLUTIONS / f"{slug}.py").read_text()
    for old, new in replacements:
        assert old in text, f"the reference solution no longer contains {old!r}"
        text = text.replace(old, new)
    path = directory / "starter.py"
    path.write_text(text)
    return path


def grade_variant(slug: str, directory: Path,
                  *replacements: tuple[str, str]) -> list[CriterionResult]:
    """Grade :func:`write_variant`'s file. Whatever the mistake, every result carries a
    message without a traceback, and every failed one a hint."""
    number, = (exercise.number for exercise in EXERCISES if exercise.slug == slug)
    results = check_exercise(number, write_variant(slug, directory, *replacements))
    for result in results:
        assert result.measured and "Traceback" not in result.measured, result
        assert result.passed or result.hint, result
    return results
