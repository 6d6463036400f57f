"""Teaching exercises: a task text, a starter file with TODOs and a grader for each.

    tunegym exercise list                 the exercises, easy to open-ended
    tunegym exercise start N DIR          copy exercise N's task text and starter into DIR
    tunegym exercise check N FILE         grade FILE: pass/fail per criterion, with figures

Each exercise's task text (README.md) and starter (starter.py) live in
``tunegym/exercises/material/<NN_slug>/`` so that they ship with the package; its
grader is the module named in :data:`EXERCISES`, whose ``grade(student_file)``
returns one :class:`~tunegym.exercises.grading.CriterionResult` per criterion.
Reference solutions live in the repository's tests only.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tunegym.core.batched import did_you_mean
from tunegym.exercises.grading import CriterionResult, StudentError
from tunegym.io import write_text_atomically

#: Files copied by ``tunegym exercise start``.
MATERIAL_FILES = ("README.md", "starter.py")


@dataclass(frozen=True)
class Exercise:
    """One exercise.

    Attributes:
        number: its number in ``tunegym exercise`` commands (1, 2, ...).
        slug: its folder under ``material/``, e.g. "01_custom_env".
        title: one line.
        family: the env family it teaches ("core" for the contract itself).
        grader: the module whose ``grade(student_file)`` grades it.
    """

    number: int
    slug: str
    title: str
    family: str
    grader: str

    def material(self) -> Path:
        """The folder holding README.md and starter.py."""
        return Path(str(resources.files("tunegym.exercises") / "material" / self.slug))


EXERCISES: tuple[Exercise, ...] = (
    Exercise(1, "01_custom_env", "Write and register your own tuning env: the step size of "
             "gradient descent on random quadratics", "core", "tunegym.exercises.custom_env"),
    Exercise(2, "02_exp3_sor", "EXP3 picks SOR relaxation factors: regret against the best "
             "fixed omega", "sor", "tunegym.exercises.exp3_sor"),
    Exercise(3, "03_coverage_greedy_subpo", "Greedy marginal-gain coverage, then SubPO's "
             "policy-gradient loss", "coverage", "tunegym.exercises.coverage_greedy_subpo"),
    Exercise(4, "04_beat_random_search", "Beat random search on AcceleratorDesign at an equal "
             "evaluation budget", "architecture", "tunegym.exercises.beat_random_search"),
    Exercise(5, "05_vqe_h2", "The VQE inner loop for H2: parameter-shift gradients to "
             "chemical accuracy", "quantum", "tunegym.exercises.vqe_h2"),
    Exercise(6, "06_solver_schedule", "Design a solver schedule that beats DPM-Solver++(2M) "
             "at NFE 5", "solver_schedule", "tunegym.exercises.solver_schedule"),
)


def get_exercise(number: int) -> Exercise:
    """The exercise numbered ``number``; ValueError naming the allowed numbers otherwise."""
    for exercise in EXERCISES:
        if exercise.number == number:
            return exercise
    allowed = [exercise.number for exercise in EXERCISES]
    raise ValueError(f"exercise number must be one of {allowed}, got {number!r}")


def start_exercise(number: int, directory: str | Path, overwrite: bool = False) -> list[Path]:
    """Copy exercise ``number``'s README.md and starter.py into ``directory`` (created).

    Args:
        number: the exercise number.
        directory: where the copies go.
        overwrite: replace files already there (otherwise FileExistsError, so that a
            second ``start`` never wipes a student's work).

    Returns:
        The paths written.
    """
    exercise = get_exercise(number)
    directory = Path(directory)
    targets = [directory / name for name in MATERIAL_FILES]
    existing = [str(target) for target in targets if target.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist; pass overwrite=True "
                              "(--force) to replace them")
    directory.mkdir(parents=True, exist_ok=True)
    for name, target in zip(MATERIAL_FILES, targets):
        write_text_atomically(target, (exercise.material() / name).read_text())
    return targets


def check_exercise(number: int, student_file: str | Path) -> list[CriterionResult]:
    """Grade ``student_file`` against exercise ``number``: one result per criterion.

    Student mistakes never raise; they come back as failed criteria with a message.
    """
    exercise = get_exercise(number)
    grader = importlib.import_module(exercise.grader)
    return grader.grade(Path(student_file))


def exercise_by_name(text: str) -> Exercise:
    """The exercise for a CLI argument: its number ("2") or its slug ("02_exp3_sor")."""
    for exercise in EXERCISES:
        if text in (str(exercise.number), exercise.slug):
            return exercise
    raise ValueError(f"unknown exercise {text!r}: give a number "
                     f"{[exercise.number for exercise in EXERCISES]} or a folder name"
                     f"{did_you_mean(text, [exercise.slug for exercise in EXERCISES])}")


__all__ = ["EXERCISES", "CriterionResult", "Exercise", "StudentError", "check_exercise",
           "exercise_by_name", "get_exercise", "start_exercise"]
