"""The grading toolkit every exercise grader uses.

A grader loads a student's file, runs a list of criteria and returns one
:class:`CriterionResult` per criterion: passed or not, the figure it measured and,
when it failed, what to look at next. Student mistakes (a missing function, a
syntax error, a wrong shape, an exception inside the student's code) become a
failed criterion with a readable message that points at the student's line, never
a bare traceback.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import linecache
import math
import signal
import sys
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch


class StudentError(Exception):
    """A mistake in the student's file, worded for the student (shown without traceback).

    Args:
        message: what went wrong, naming the function or argument concerned.
        hint: what to look at next.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Measurement:
    """What one criterion's check found.

    Attributes:
        passed: whether the criterion is met.
        measured: the figure measured, with its reference, e.g. "regret 812 (bound 950)".
        hint: what to look at next when ``passed`` is False.
    """

    passed: bool
    measured: str
    hint: str = ""


@dataclass(frozen=True)
class CriterionResult:
    """One line of a grade report: the criterion's name and its :class:`Measurement`."""

    name: str
    passed: bool
    measured: str
    hint: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The result as a JSON-serialisable dict."""
        return asdict(self)


class CheckTimeout(BaseException):
    """A criterion's check ran past its time limit (raised by the alarm signal). A
    BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way,
    the student's or :func:`call_student`'s, swallows it."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`CheckTimeout` in the block after ``seconds`` of wall time, so that an
    endless loop in a student's code fails one criterion instead of hanging the grader.
    Needs SIGALRM and the main thread; elsewhere (Windows, worker threads) no limit."""
    usable = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise CheckTimeout(f"the check ran longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Grade:
    """Collects criterion results; a failing check never stops the later ones.

    Args:
        student_file: the graded file; exceptions raised inside it are reported with
            its line numbers.
        time_limit_s: wall-clock limit of each criterion's check, seconds (the graders
            finish a reference solution's checks in a few seconds each).
    """

    def __init__(self, student_file: Path, time_limit_s: float = 300.0) -> None:
        self.student_file = Path(student_file).resolve()
        self.time_limit_s = time_limit_s
        self.results: list[CriterionResult] = []

    def criterion(self, name: str, check: Callable[[], Measurement],
                  hint: str = "") -> Measurement:
        """Run ``check`` and record its measurement under ``name``.

        A :class:`StudentError` becomes a failed result with its message and hint; any
        other exception becomes a failed result that names the exception and, when
        it passed through the student's file, the line there, with ``hint`` (or a
        generic one) as what to look at next.
        """
        try:
            with time_limit(self.time_limit_s):
                measurement = check()
        except CheckTimeout as error:
            measurement = Measurement(False, describe_exception(error, self.student_file),
                                      "look for a loop that never ends, or work that grows "
                                      "faster than it should")
        except StudentError as error:
            measurement = Measurement(False, str(error), error.hint or hint)
        except NotImplementedError as error:
            measurement = Measurement(False, describe_exception(error, self.student_file),
                                      "fill in that TODO first")
        except Exception as error:  # noqa: BLE001 - every failure must become a report line
            measurement = Measurement(
                False, describe_exception(error, self.student_file),
                hint or "the check stopped on this exception; the message says where")
        self.results.append(CriterionResult(name, measurement.passed, measurement.measured,
                                            measurement.hint))
        return measurement

    @property
    def passed(self) -> bool:
        """Whether every criterion recorded so far passed (False when there are none)."""
        return bool(self.results) and all(result.passed for result in self.results)


def describe_exception(error: BaseException, student_file: Path) -> str:
    """One line: the exception type and message and, if the traceback passes through
    ``student_file``, the last line there (``file:line: code``)."""
    where = ""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if Path(frame.filename).resolve() == Path(student_file).resolve():
            code = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
            where = f" (at {Path(frame.filename).name} line {frame.lineno}: `{code}`)"
            break
    message = str(error) or "no message"
    return f"{type(error).__name__}: {message}{where}"


def load_student_module(path: str | Path) -> ModuleType:
    """Import the student's file as a fresh module (never cached between grades).

    Raises:
        StudentError: the file is missing, is not a .py file, has a syntax error or
            raises while being imported.
    """
    path = Path(path)
    if not path.is_file():
        raise StudentError(f"file {str(path)!r} does not exist",
                           "pass the path of your copy of starter.py")
    if path.suffix != ".py":
        raise StudentError(f"file {path.name!r} is not a Python file (.py)",
                           "pass the path of your copy of starter.py")
    name = f"tunegym_student_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    # Registered under a unique name, and kept, so that classes defined in the file
    # can find their module (dataclasses, inspect, pickle) while being graded.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        sys.modules.pop(name, None)
        raise StudentError(f"{path.name} line {error.lineno}: syntax error: {error.msg}",
                           "run `python FILE` to see the error in context") from None
    except Exception as error:  # noqa: BLE001 - an import-time failure of the student's file
        sys.modules.pop(name, None)
        raise StudentError(f"importing {path.name} failed: {describe_exception(error, path)}",
                           "the module level of your file must run without errors") from None
    return module


def student_function(module: ModuleType, name: str) -> Callable[..., Any]:
    """The callable ``name`` defined in the student's module.

    Raises:
        StudentError: it is missing or not callable.
    """
    function = getattr(module, name, None)
    if function is None:
        raise StudentError(f"your file defines no `{name}`",
                           f"keep the name `{name}` from the starter file")
    if not callable(function):
        raise StudentError(f"`{name}` must be a function or class, got "
                           f"{type(function).__name__}",
                           f"keep `{name}` as the starter file defines it")
    return function


def student_functions(module: ModuleType, names: tuple[str, ...],
                      found: dict[str, Callable[..., Any]]) -> None:
    """Put every callable of ``names`` defined in the student's module into ``found``,
    so that the criteria needing only those can still be graded.

    Raises:
        StudentError: naming every missing or non-callable one at once.
    """
    problems = []
    for name in names:
        try:
            found[name] = student_function(module, name)
        except StudentError as error:
            problems.append(str(error))
    if problems:
        raise StudentError("; ".join(problems),
                           f"keep the names {', '.join(names)} from the starter file")


def call_student(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a student's function; exceptions become a :class:`StudentError`.

    NotImplementedError means a TODO is still open and is reported as such.
    """
    name = getattr(function, "__qualname__", getattr(function, "__name__", repr(function)))
    try:
        return function(*args, **kwargs)
    except NotImplementedError as error:
        detail = f" ({error})" if str(error) else ""
        raise StudentError(f"`{name}` still raises NotImplementedError{detail}",
                           "fill in the TODO of this function") from None
    except Exception as error:  # noqa: BLE001 - the student's exception, reported with its line
        raise StudentError(f"`{name}` raised "
                           f"{describe_exception(error, _defining_file(function))}",
                           "the exception came from your code: start at the line shown "
                           "(run the function yourself on a small input)") from None


def _defining_file(function: Callable[..., Any]) -> Path:
    """The file a function, method or class was defined in ("" if unknown)."""
    try:
        return Path(inspect.getfile(inspect.unwrap(function)))
    except TypeError:
        return Path("")


def as_tensor(value: Any, name: str, shape: tuple[int, ...], *, floating: bool = True,
              finite: bool = True, hint: str = "") -> torch.Tensor:
    """``value`` (tensor, array or list) as a float64 (or int64) tensor of ``shape``.

    Args:
        value: what the student's code returned.
        name: how the report names it, e.g. "the return value of `act`".
        shape: the required shape.
        floating: float64 (True) or integers, returned as int64 (False).
        finite: refuse NaN and infinite entries (floating only).
        hint: what to look at next; defaults to the task text's interface.

    Raises:
        StudentError: it cannot be converted, has another shape or dtype, or holds NaN/inf.
    """
    hint = hint or "compare with the interface in the task text (README.md)"
    try:
        # Lists of Python floats straight to float64: via float32 1e-3 would become
        # 1.0000000475e-3.
        is_float_list = floating and not isinstance(value, torch.Tensor | np.ndarray)
        tensor = torch.as_tensor(value, dtype=torch.float64 if is_float_list else None)
    except (TypeError, ValueError, RuntimeError) as error:
        raise StudentError(f"{name} must be a tensor of shape {shape}, got "
                           f"{type(value).__name__} ({error})", hint) from None
    if tuple(tensor.shape) != tuple(shape):
        raise StudentError(f"{name} must have shape {tuple(shape)}, got {tuple(tensor.shape)}",
                           hint)
    if floating:
        tensor = tensor.to(torch.float64)
        if finite and not bool(torch.isfinite(tensor).all()):
            raise StudentError(f"{name} holds NaN or infinite entries", hint)
    elif tensor.is_floating_point() or tensor.is_complex():
        raise StudentError(f"{name} must hold integers, got dtype {tensor.dtype}", hint)
    else:
        tensor = tensor.to(torch.int64)
    return tensor


def as_float(value: Any, name: str, hint: str = "") -> float:
    """``value`` as a finite Python float (a 0-d or 1-element tensor is accepted)."""
    hint = hint or "compare with the interface in the task text (README.md)"
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise StudentError(f"{name} must be a number, got {type(value).__name__}",
                           hint) from None
    if not math.isfinite(number):
        raise StudentError(f"{name} must be finite, got {number}", hint)
    return number


def format_report(title: str, results: list[CriterionResult]) -> str:
    """The report a student reads: one PASS/FAIL line per criterion, its figure and,
    for failures, the hint; a last line with the count."""
    lines = [title, ""]
    for result in results:
        lines.append(f"[{'PASS' if result.passed else 'FAIL'}] {result.name}")
        lines.append(f"       measured: {result.measured}")
        if not result.passed and result.hint:
            lines.append(f"       next: {result.hint}")
    passed = sum(result.passed for result in results)
    lines += ["", f"{passed}/{len(results)} criteria passed"
              + (": exercise complete" if results and passed == len(results) else "")]
    return "\n".join(lines)
