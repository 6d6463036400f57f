"""Where independent tasks run: in this process (``"local"``) or on a Ray cluster (``"ray"``).

:func:`run_tasks` calls ``function(**kwargs)`` once per kwargs mapping and returns the
results in input order, whichever backend ran them, so callers (``tunegym evaluate``,
``tunegym sweep``) write the same result files with either backend.

* ``"local"`` runs the tasks one after another in this process, with the caller's torch
  settings.
* ``"ray"`` runs each task as a Ray task that reserves one CPU and calls
  ``torch.set_num_threads(1)`` first (one thread is the fastest setting on small CPUs,
  and a fixed thread count keeps float reductions, hence seeded results, the same as
  in a single-threaded local run). Ray is optional: ``pip install tunegym[ray]``.

Which Ray cluster: the one this process is already connected to (``ray.init`` called
earlier); else, when the ``RAY_ADDRESS`` environment variable is set, the cluster it
names (``ray.init(address="auto")``, e.g. ``RAY_ADDRESS=head-node:6379`` after ``ray
start --head`` there): the same code then spreads tasks over every node; else a new
local cluster (``num_cpus`` CPUs, default every core of this machine), which stays up
for later calls until the process exits. On a multi-node cluster, tunegym must be installed on every node,
and files the tasks write (checkpoints, run folders) must be on a shared filesystem.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tunegym.core import check_choice, check_integer

#: the values ``backend`` accepts.
BACKENDS = ("local", "ray")


class TaskError(RuntimeError):
    """A task raised: the message names the function, the task's index and kwargs, and
    the task's exception; ``__cause__`` is that exception (on Ray, the ``RayError``
    wrapping it, whose message holds the worker's traceback)."""

    def __init__(self, function: Callable, index: int, kwargs: Mapping[str, Any],
                 backend: str, cause: BaseException) -> None:
        super().__init__(f"task {index} of {function.__qualname__} ({backend} backend) "
                         f"failed with kwargs {dict(kwargs)!r}: "
                         f"{type(cause).__name__}: {cause}")
        self.index, self.kwargs = index, kwargs


def _import_ray():
    """The ``ray`` module, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError("backend 'ray' needs Ray, an optional dependency: "
                          "pip install tunegym[ray]") from error
    return ray


def run_tasks(function: Callable[..., Any], kwargs_list: Sequence[Mapping[str, Any]],
              backend: str = "local", num_cpus: int | None = None) -> list:
    """``[function(**kwargs) for kwargs in kwargs_list]``, run on ``backend``.

    Args:
        function: called as ``function(**kwargs)``; for Ray, it (a module-level
            function, or a closure over small values), its kwargs and its result must
            be picklable: pass paths, not loaded models.
        kwargs_list: one mapping of keyword arguments per task.
        backend: ``"local"`` (in this process, one task at a time) or ``"ray"``.
        num_cpus: ``"ray"`` only: at most this many tasks run at once (and the size of
            the local cluster when this call starts one); default: as many as the
            cluster has CPUs.

    Returns:
        The results, in the order of ``kwargs_list``.

    Raises:
        ValueError: an unknown ``backend``, or ``num_cpus`` not an int >= 1 or given
            with the local backend.
        ImportError: ``backend="ray"`` without Ray installed.
        TaskError: a task raised (on Ray, the tasks still pending are cancelled).
    """
    check_choice("backend", backend, BACKENDS)
    if num_cpus is not None:
        if backend == "local":
            raise ValueError("num_cpus applies to backend 'ray' only (the local backend "
                             "runs one task at a time)")
        num_cpus = check_integer("num_cpus", num_cpus)
    if backend == "local":
        results = []
        for index, kwargs in enumerate(kwargs_list):
            try:
                results.append(function(**kwargs))
            except Exception as error:
                raise TaskError(function, index, kwargs, backend, error) from error
        return results
    return _run_on_ray(function, list(kwargs_list), num_cpus)


def _call_single_threaded(function: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
    """The body of every Ray task: one torch thread, then the call."""
    import torch

    torch.set_num_threads(1)
    return function(**kwargs)


def _connect(ray, num_cpus: int | None) -> None:
    """Connect to the running cluster, the one ``RAY_ADDRESS`` names, or a new local one."""
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address="auto")
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False)


def _run_on_ray(function: Callable[..., Any], kwargs_list: list[Mapping[str, Any]],
                num_cpus: int | None) -> list:
    ray = _import_ray()
    if not kwargs_list:
        return []
    _connect(ray, num_cpus)
    remote = ray.remote(num_cpus=1)(_call_single_threaded)
    limit = num_cpus or len(kwargs_list)
    results: list[Any] = [None] * len(kwargs_list)
    pending: dict[Any, int] = {}
    submitted = 0
    while submitted < len(kwargs_list) or pending:
        while submitted < len(kwargs_list) and len(pending) < limit:
            pending[remote.remote(function, kwargs_list[submitted])] = submitted
            submitted += 1
        (finished,), _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(finished)
        try:
            results[index] = ray.get(finished)
        except ray.exceptions.RayError as error:
            for reference in pending:
                ray.cancel(reference)
            # a RayTaskError carries the task's own exception as .cause
            cause = getattr(error, "cause", None) or error
            raise TaskError(function, index, kwargs_list[index], "ray", cause) from error
    return results


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--backend {local,ray}`` (default local) and ``--num-cpus N`` to ``parser``;
    pass them on as ``backend=arguments.backend, num_cpus=arguments.num_cpus``."""
    parser.add_argument("--backend", choices=BACKENDS, default="local",
                        help="where the runs execute: 'local' (this process, one at a "
                             "time) or 'ray' (a Ray cluster: the one RAY_ADDRESS names, "
                             "else a local one; needs pip install tunegym[ray])")
    parser.add_argument("--num-cpus", type=int, default=None,
                        help="--backend ray: at most this many runs at once (default: "
                             "every CPU of the cluster)")
