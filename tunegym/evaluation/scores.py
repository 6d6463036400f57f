"""Normalised scores, robust aggregates and stratified-bootstrap confidence intervals.

The statistics follow Agarwal et al., "Deep Reinforcement Learning at the Edge of the
Statistical Precipice" (NeurIPS 2021), re-implemented here from the paper's definitions;
the normalisation follows Bayesmark (0 = random policy, 1 = the family's best known
baseline or oracle).

A score matrix ``scores`` has shape (runs, tasks): one row per run (an episode or a
seed), one column per task (an env or instance set), float64, unitless normalised
scores. Every task has the same number of runs.

Aggregates (each maps a score matrix to one number):

- :func:`mean`: mean of all scores (equal to the mean of the per-task means).
- :func:`median`: median over tasks of the per-task mean scores.
- :func:`iqm`: interquartile mean of all pooled scores, with fractional weights when
  runs * tasks is not divisible by 4 (see :func:`iqm`).
- :func:`optimality_gap`: mean of ``max(gamma - score, 0)`` over all scores.

Uncertainty comes from :func:`stratified_bootstrap_ci` (runs resampled with replacement
within each task, percentile interval).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

import numpy as np

from tunegym.core import check_integer


def _finite_array(name: str, value: Any) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return array


def _score_matrix(name: str, scores: Any) -> np.ndarray:
    matrix = _finite_array(name, scores)
    if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 1:
        raise ValueError(f"{name} must have shape (runs, tasks) with runs >= 1 and "
                         f"tasks >= 1, got shape {matrix.shape}")
    return matrix


def _check_confidence(confidence: Any) -> float:
    if (isinstance(confidence, bool) or not isinstance(confidence, Real)
            or not 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be a number in the open interval (0, 1), "
                         f"got {confidence!r}")
    return float(confidence)


def _scalar_or_array(value: np.ndarray) -> float | np.ndarray:
    return float(value) if value.ndim == 0 else value


def normalised_score(raw: Any, random_score: Any, best_score: Any,
                     higher_is_better: bool = True) -> np.float64 | np.ndarray:
    """Map raw metrics affinely so that the random policy scores 0 and the best known
    baseline (the family's oracle) scores 1: ``(raw - random) / (best - random)``.

    The same affine map makes "better" mean "higher" in both directions: for a
    lower-is-better metric (iterations, errors) ``best_score < random_score``, so a raw
    value below ``best_score`` scores above 1 and one worse than random scores below 0.
    ``higher_is_better`` states which way the raw metric improves and is checked
    against the anchors, so swapped ``random_score``/``best_score`` raise instead of
    silently flipping a ranking.

    Args:
        raw: raw metric, any shape (e.g. (runs, tasks)), in the metric's units.
        random_score: the random policy's metric, same units, broadcastable to ``raw``
            (e.g. shape (tasks,) for per-task anchors).
        best_score: the best known baseline's metric, same units, broadcastable.
        higher_is_better: True for rewards, False for costs such as iterations.

    Returns:
        float64 array of the broadcast shape, unitless (a float64 scalar for scalars).
    """
    raw = _finite_array("raw", raw)
    random_score = _finite_array("random_score", random_score)
    best_score = _finite_array("best_score", best_score)
    try:
        np.broadcast_shapes(raw.shape, random_score.shape, best_score.shape)
    except ValueError:
        raise ValueError(f"raw {raw.shape}, random_score {random_score.shape} and best_score "
                         f"{best_score.shape} must broadcast to one shape") from None
    if np.any(best_score == random_score):
        raise ValueError("best_score must differ from random_score (the normalisation "
                         "divides by best_score - random_score)")
    improvement = best_score - random_score if higher_is_better else random_score - best_score
    if np.any(improvement < 0):
        relation = ">" if higher_is_better else "<"
        raise ValueError(f"with higher_is_better={higher_is_better}, best_score must be "
                         f"{relation} random_score everywhere; are the anchors swapped?")
    return ((raw - random_score) / (best_score - random_score))[()]


def mean(scores: Any) -> float:
    """Mean of all scores in ``scores`` (runs, tasks); with equal runs per task this is
    the mean over tasks of the per-task mean."""
    return float(np.mean(_score_matrix("scores", scores)))


def median(scores: Any) -> float:
    """Median over tasks of the per-task mean score of ``scores`` (runs, tasks)."""
    return float(np.median(np.mean(_score_matrix("scores", scores), axis=0)))


def iqm(scores: Any) -> float:
    """Interquartile mean: the mean of the middle 50% of all pooled scores.

    The n = runs * tasks sorted scores x_(1) <= ... <= x_(n) are read as a step function
    on [0, n], x_(i) occupying [i - 1, i]; the IQM is its average over [n/4, 3n/4]:

        IQM = (2 / n) * sum_i x_(i) * |[i - 1, i] intersect [n/4, 3n/4]|

    so a score straddling a quartile gets the fractional weight of the part inside.
    When n is divisible by 4 this equals ``scipy.stats.trim_mean(scores, 0.25,
    axis=None)`` (rliable's definition); otherwise ``trim_mean`` drops only
    floor(n/4) scores at each end and averages more than the middle half. For every n
    this equals ``trim_mean`` of each score repeated 4 times.

    Args:
        scores: (runs, tasks) normalised scores.

    Returns:
        The IQM (unitless).
    """
    pooled = np.sort(_score_matrix("scores", scores), axis=None)
    size = pooled.size
    cell_end = np.arange(1, size + 1, dtype=np.float64)
    weights = np.clip(np.minimum(cell_end, 0.75 * size) - np.maximum(cell_end - 1, 0.25 * size),
                      0.0, 1.0)
    return float(np.dot(weights, pooled) / (0.5 * size))


def optimality_gap(scores: Any, gamma: float = 1.0) -> float:
    """Mean over all scores of ``max(gamma - score, 0)``: how far runs fall short of
    ``gamma`` (default 1, the best known baseline), ignoring any excess above it.

    Args:
        scores: (runs, tasks) normalised scores.
        gamma: the target score, finite.
    """
    if isinstance(gamma, bool) or not isinstance(gamma, Real) or not np.isfinite(gamma):
        raise ValueError(f"gamma must be a finite number, got {gamma!r}")
    return float(np.mean(np.maximum(float(gamma) - _score_matrix("scores", scores), 0.0)))


def _stratified_ci(matrices: tuple[np.ndarray, ...], aggregate: Callable[..., Any], reps: int,
                   confidence: float, seed: int) -> tuple[Any, Any, Any]:
    point = np.asarray(aggregate(*matrices), dtype=np.float64)
    rng = np.random.default_rng(seed)
    replicates = np.empty((reps,) + point.shape)
    for rep in range(reps):
        # Column j of a resample holds runs draws from column j only: stratified by task.
        resampled = tuple(
            np.take_along_axis(matrix, rng.integers(0, matrix.shape[0], size=matrix.shape), 0)
            for matrix in matrices)
        replicates[rep] = aggregate(*resampled)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(replicates, [tail, 1.0 - tail], axis=0)
    return _scalar_or_array(point), _scalar_or_array(low), _scalar_or_array(high)


def _score_matrices(names: tuple[str, ...], values: tuple[Any, ...]) -> tuple[np.ndarray, ...]:
    matrices = tuple(_score_matrix(name, value) for name, value in zip(names, values))
    if len({matrix.shape[1] for matrix in matrices}) > 1:
        shapes = ", ".join(f"{name} {matrix.shape}" for name, matrix in zip(names, matrices))
        raise ValueError(f"{' and '.join(names)} must have the same number of tasks "
                         f"(columns), got {shapes}")
    return matrices


def _bootstrap_input(name: str, scores: Any) -> tuple[np.ndarray, ...]:
    if isinstance(scores, tuple):
        if not scores:
            raise ValueError(f"{name} must not be an empty tuple")
        return _score_matrices(tuple(f"{name}[{index}]" for index in range(len(scores))),
                               scores)
    return (_score_matrix(name, scores),)


def stratified_bootstrap_ci(scores: Any, aggregate: Callable[..., Any], reps: int = 2000,
                            confidence: float = 0.95, seed: int = 0) -> Any:
    """Point estimate and stratified-bootstrap percentile confidence interval of an
    aggregate.

    Each of ``reps`` replicates resamples, independently for every task, that task's
    runs with replacement (as many draws as the task has runs), then recomputes
    ``aggregate``. The interval is the (1 - confidence)/2 and (1 + confidence)/2
    quantiles of the replicates (``numpy.quantile``, linear interpolation); the point
    estimate is ``aggregate`` of the original scores.

    Args:
        scores: a (runs, tasks) score matrix (an array or nested lists); or a tuple of
            score matrices with the same tasks (runs may differ), each resampled
            independently and passed to ``aggregate`` as positional arguments (e.g. two
            agents for :func:`probability_of_improvement`); or a dict {agent: either}.
        aggregate: maps the score matrix (or matrices) to a float or a float array of
            fixed shape, e.g. :func:`iqm`.
        reps: number of bootstrap replicates, >= 1.
        confidence: coverage of the interval, in (0, 1).
        seed: non-negative seed of the ``numpy.random.Generator``; results are
            deterministic for a seed. Every agent of a dict is resampled with a fresh
            generator from ``seed``, so its interval does not depend on the other agents.

    Returns:
        ``(point, low, high)``: floats, or arrays of the aggregate's shape; for a dict,
        {agent: (point, low, high)} in the dict's order.
    """
    if not callable(aggregate):
        raise TypeError(f"aggregate must be callable, got {type(aggregate).__name__}")
    reps = check_integer("reps", reps, minimum=1)
    confidence = _check_confidence(confidence)
    seed = check_integer("seed", seed, minimum=0)
    if isinstance(scores, Mapping):
        if not scores:
            raise ValueError("scores must not be an empty dict")
        return {agent: _stratified_ci(_bootstrap_input(f"scores[{agent!r}]", agent_scores),
                                      aggregate, reps, confidence, seed)
                for agent, agent_scores in scores.items()}
    return _stratified_ci(_bootstrap_input("scores", scores), aggregate, reps, confidence, seed)


def probability_of_improvement(scores_x: Any, scores_y: Any) -> float:
    """P(X > Y): the probability that a run of agent X beats a run of agent Y on the same
    task, averaged over tasks with equal weight.

    Per task with n runs of X and m runs of Y this is the Mann-Whitney U statistic of X
    divided by n * m: the fraction of the n * m (x, y) pairs with x > y, ties counting 1/2.

    Args:
        scores_x: (runs_x, tasks) scores of agent X.
        scores_y: (runs_y, tasks) scores of agent Y, the same tasks in the same order.

    Returns:
        The probability, in [0, 1].
    """
    scores_x, scores_y = _score_matrices(("scores_x", "scores_y"), (scores_x, scores_y))
    per_task = np.empty(scores_x.shape[1])
    for task in range(scores_x.shape[1]):
        sorted_y = np.sort(scores_y[:, task])
        below = np.searchsorted(sorted_y, scores_x[:, task], side="left")
        below_or_tied = np.searchsorted(sorted_y, scores_x[:, task], side="right")
        wins = below.sum() + 0.5 * (below_or_tied - below).sum()
        per_task[task] = wins / (scores_x.shape[0] * scores_y.shape[0])
    return float(per_task.mean())


def probability_of_improvement_ci(scores_x: Any, scores_y: Any, reps: int = 2000,
                                  confidence: float = 0.95,
                                  seed: int = 0) -> tuple[float, float, float]:
    """:func:`probability_of_improvement` with its stratified-bootstrap percentile
    interval: the runs of X and of Y are resampled independently within each task (see
    :func:`stratified_bootstrap_ci` for ``reps``, ``confidence`` and ``seed``).

    Returns:
        ``(point, low, high)``.
    """
    return stratified_bootstrap_ci((scores_x, scores_y), probability_of_improvement,
                                   reps=reps, confidence=confidence, seed=seed)


def _thresholds(taus: Any) -> np.ndarray:
    thresholds = _finite_array("taus", taus)
    if thresholds.ndim != 1 or thresholds.size < 1:
        raise ValueError(f"taus must be a non-empty 1-D array of thresholds, got shape "
                         f"{thresholds.shape}")
    return thresholds


def performance_profile(scores: Any, taus: Any) -> np.ndarray:
    """Score distribution: for each threshold tau, the fraction of runs scoring > tau,
    computed per task and averaged over tasks (each task weighs the same).

    Args:
        scores: (runs, tasks) normalised scores.
        taus: (thresholds,) score thresholds.

    Returns:
        (thresholds,) fractions in [0, 1], non-increasing in tau.
    """
    scores = _score_matrix("scores", scores)
    thresholds = _thresholds(taus)
    above = scores[:, :, None] > thresholds            # (runs, tasks, thresholds)
    return above.mean(axis=0).mean(axis=0)


def performance_profile_ci(scores: Any, taus: Any, reps: int = 2000, confidence: float = 0.95,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`performance_profile` with pointwise stratified-bootstrap percentile
    intervals (see :func:`stratified_bootstrap_ci` for ``reps``, ``confidence``,
    ``seed``).

    Returns:
        ``(point, low, high)``, each of shape (thresholds,).
    """
    thresholds = _thresholds(taus)
    return stratified_bootstrap_ci(scores, lambda matrix: performance_profile(matrix, thresholds),
                                   reps=reps, confidence=confidence, seed=seed)
