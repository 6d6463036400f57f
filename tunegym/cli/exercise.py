"""``tunegym exercise list | start N DIR | check N FILE``."""

from __future__ import annotations

import json

from tunegym.exercises import EXERCISES, check_exercise, exercise_by_name, start_exercise
from tunegym.exercises.grading import format_report


def register(commands) -> None:
    """Add ``tunegym exercise list|start|check``."""
    exercise = commands.add_parser("exercise", help="teaching exercises: list, start, check")
    actions = exercise.add_subparsers(dest="exercise_command", required=True)
    actions.add_parser("list", help="the exercises, easy to open-ended")
    start = actions.add_parser("start", help="copy an exercise's task text and starter file")
    start.add_argument("number", help="exercise number (see `tunegym exercise list`)")
    start.add_argument("directory", help="where README.md and starter.py go (created)")
    start.add_argument("--force", action="store_true", help="overwrite files already there")
    check = actions.add_parser("check", help="grade a file: pass/fail per criterion")
    check.add_argument("number", help="exercise number")
    check.add_argument("file", help="your solution, e.g. DIR/starter.py")
    check.add_argument("--json", action="store_true",
                       help="print the results as a JSON list (for a teacher's scripts)")
    exercise.set_defaults(handler=run, threads=1)


def run(arguments) -> int:
    """Run ``tunegym exercise``; exit status 0 when everything asked for succeeded, 1 when
    a criterion failed."""
    if arguments.exercise_command == "list":
        for exercise in EXERCISES:
            print(f"{exercise.number}  {exercise.slug:28s} [{exercise.family}] {exercise.title}")
        print("\nstart one with: tunegym exercise start N DIR")
        return 0
    try:
        exercise = exercise_by_name(arguments.number)
        if arguments.exercise_command == "start":
            written = start_exercise(exercise.number, arguments.directory,
                                     overwrite=arguments.force)
            print(f"exercise {exercise.number}: {exercise.title}\n")
            print("\n".join(f"wrote {path}" for path in written))
            print(f"\nread {written[0]}, fill in the TODOs of {written[1]}, then run:\n"
                  f"  tunegym exercise check {exercise.number} {written[1]}")
            return 0
    except (ValueError, FileExistsError) as error:
        raise SystemExit(f"tunegym exercise: {error}") from error
    results = check_exercise(exercise.number, arguments.file)
    if arguments.json:
        print(json.dumps([result.as_dict() for result in results], indent=2))
    else:
        print(format_report(f"exercise {exercise.number}: {exercise.title}\n"
                            f"graded file: {arguments.file}", results))
    return 0 if results and all(result.passed for result in results) else 1
