"""Normalised scores, aggregates and stratified-bootstrap intervals against independent
references: scipy.stats.trim_mean, scipy.stats.mannwhitneyu, brute-force counting and
the normal-theory interval of a mean."""

import numpy as np
import pytest
import scipy.stats

from tunegym.evaluation.scores import (
    iqm,
    mean,
    median,
    normalised_score,
    optimality_gap,
    performance_profile,
    performance_profile_ci,
    probability_of_improvement,
    probability_of_improvement_ci,
    stratified_bootstrap_ci,
)


def test_normalised_score_maps_random_to_0_and_best_to_1():
    assert normalised_score(10.0, random_score=10.0, best_score=30.0) == 0.0
    assert normalised_score(30.0, random_score=10.0, best_score=30.0) == 1.0
    assert normalised_score(20.0, random_score=10.0, best_score=30.0) == 0.5
    assert normalised_score(40.0, random_score=10.0, best_score=30.0) == 1.5


def test_normalised_score_of_a_lower_is_better_metric_rewards_fewer_iterations():
    iterations = np.array([500.0, 300.0, 100.0, 50.0, 700.0])
    scores = normalised_score(iterations, random_score=500.0, best_score=100.0,
                              higher_is_better=False)
    np.testing.assert_allclose(scores, [0.0, 0.5, 1.0, 1.125, -0.5])
    assert np.all(np.diff(scores[:4]) > 0)


def test_normalised_score_broadcasts_per_task_anchors():
    raw = np.array([[1.0, 10.0], [3.0, 30.0]])             # (runs, tasks)
    scores = normalised_score(raw, random_score=[1.0, 10.0], best_score=[3.0, 30.0])
    assert scores.dtype == np.float64
    np.testing.assert_array_equal(scores, [[0.0, 0.0], [1.0, 1.0]])


@pytest.mark.parametrize("random_score, best_score, higher_is_better, match", [
    (5.0, 5.0, True, "best_score must differ"),
    ([1.0, 2.0], [3.0, 2.0], True, "best_score must differ"),
    (30.0, 10.0, True, "swapped"),
    (100.0, 500.0, False, "swapped"),
    (np.nan, 1.0, True, "random_score must contain only finite"),
    (0.0, np.inf, True, "best_score must contain only finite"),
    ([0.0, 0.0, 0.0], [1.0, 1.0], True, "broadcast"),
])
def test_normalised_score_rejects_bad_anchors(random_score, best_score, higher_is_better, match):
    with pytest.raises(ValueError, match=match):
        normalised_score(np.zeros(2), random_score, best_score, higher_is_better)


def test_normalised_score_rejects_nan_raw():
    with pytest.raises(ValueError, match="raw"):
        normalised_score([0.0, np.nan], 0.0, 1.0)


@pytest.mark.parametrize("runs, tasks", [(4, 1), (8, 3), (5, 4), (1, 1), (2, 1), (3, 1),
                                         (5, 1), (7, 3), (10, 5), (13, 7)])
def test_iqm_is_trim_mean_of_each_score_repeated_four_times(runs, tasks):
    scores = np.random.default_rng(runs * 100 + tasks).normal(size=(runs, tasks))
    reference = scipy.stats.trim_mean(np.repeat(scores.ravel(), 4), 0.25)
    assert iqm(scores) == pytest.approx(reference, rel=1e-12, abs=1e-12)
    if scores.size % 4 == 0:
        assert iqm(scores) == pytest.approx(scipy.stats.trim_mean(scores, 0.25, axis=None),
                                            rel=1e-12, abs=1e-12)


def test_iqm_weights_the_scores_straddling_the_quartiles_fractionally():
    # n = 6: the middle half is [1.5, 4.5]; x_(2) and x_(5) each count for half.
    scores = np.array([[100.0, 1.0, 2.0], [3.0, 4.0, -100.0]])
    assert iqm(scores) == pytest.approx((0.5 * 1.0 + 2.0 + 3.0 + 0.5 * 4.0) / 3.0)


def test_mean_median_and_optimality_gap_closed_forms():
    scores = np.array([[0.0, 1.0, 3.0], [2.0, 1.0, 1.0]])  # per-task means 1, 1, 2
    assert mean(scores) == pytest.approx(4.0 / 3.0)
    assert median(scores) == 1.0
    # shortfalls below gamma = 1: 1, 0, 0, 0, 0, 0
    assert optimality_gap(scores) == pytest.approx(1.0 / 6.0)
    assert optimality_gap(scores, gamma=2.0) == pytest.approx((2 + 1 + 0 + 0 + 1 + 1) / 6.0)


def _brute_force_probability_of_improvement(scores_x, scores_y):
    per_task = []
    for task in range(scores_x.shape[1]):
        wins = 0.0
        for x in scores_x[:, task]:
            for y in scores_y[:, task]:
                wins += 1.0 if x > y else 0.5 if x == y else 0.0
        per_task.append(wins / (len(scores_x) * len(scores_y)))
    return float(np.mean(per_task))


@pytest.mark.parametrize("runs_x, runs_y, tasks", [(5, 5, 1), (7, 4, 3), (12, 9, 5)])
def test_probability_of_improvement_matches_pair_counting_and_mann_whitney(runs_x, runs_y,
                                                                          tasks):
    rng = np.random.default_rng(runs_x + 10 * runs_y)
    # Integer scores: plenty of ties, within and between agents.
    scores_x = rng.integers(0, 5, size=(runs_x, tasks)).astype(float)
    scores_y = rng.integers(0, 5, size=(runs_y, tasks)).astype(float)
    result = probability_of_improvement(scores_x, scores_y)
    assert result == pytest.approx(_brute_force_probability_of_improvement(scores_x, scores_y))
    u_statistics = [scipy.stats.mannwhitneyu(scores_x[:, task], scores_y[:, task]).statistic
                    for task in range(tasks)]
    assert result == pytest.approx(np.mean(u_statistics) / (runs_x * runs_y))
    assert result + probability_of_improvement(scores_y, scores_x) == pytest.approx(1.0)


def test_performance_profile_matches_brute_force_counting():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, size=(9, 4)) / 5.0
    taus = np.array([-0.1, 0.0, 0.2, 0.5, 0.6, 1.0, 1.2])
    expected = [np.mean([sum(score > tau for score in scores[:, task]) / scores.shape[0]
                         for task in range(scores.shape[1])]) for tau in taus]
    profile = performance_profile(scores, taus)
    assert profile.shape == (len(taus),)
    np.testing.assert_allclose(profile, expected, rtol=0, atol=1e-15)


def test_bootstrap_interval_of_the_mean_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(2021)
    task_means = np.array([0.0, 1.0, -2.0, 0.5])
    true_mean = task_means.mean()
    repetitions = 200
    covered = 0
    for repetition in range(repetitions):
        scores = task_means + rng.normal(size=(40, 4))
        _, low, high = stratified_bootstrap_ci(scores, mean, reps=500, seed=repetition)
        covered += low <= true_mean <= high
    # 95% coverage has binomial standard deviation 1.5% over 200 repetitions.
    assert 0.90 <= covered / repetitions <= 0.99


def test_bootstrap_interval_width_shrinks_as_one_over_sqrt_runs():
    rng = np.random.default_rng(7)
    widths = {}
    for runs in (100, 1600):
        # averaged over 8 data sets: one data set's width varies by ~10% at 100 runs
        intervals = [stratified_bootstrap_ci(rng.normal(size=(runs, 2)), mean, reps=500,
                                             seed=data_set)
                     for data_set in range(8)]
        widths[runs] = np.mean([high - low for _, low, high in intervals])
        # normal-theory 95% interval of the mean of 2 * runs unit-variance scores
        assert widths[runs] == pytest.approx(2 * 1.96 / np.sqrt(2 * runs), rel=0.08)
    assert widths[100] / widths[1600] == pytest.approx(4.0, rel=0.08)


def test_bootstrap_resamples_each_task_from_its_own_runs_with_its_run_count():
    scores = np.arange(15.0).reshape(5, 3) + 100 * np.arange(3)   # task j: distinct values
    seen = []

    def record(resampled):
        seen.append(resampled.copy())
        return resampled.mean()

    stratified_bootstrap_ci(scores, record, reps=50)
    assert len(seen) == 51                                        # the point estimate, then reps
    for resampled in seen:
        assert resampled.shape == scores.shape
        for task in range(scores.shape[1]):
            assert set(resampled[:, task]) <= set(scores[:, task])


def test_bootstrap_of_tasks_constant_within_themselves_has_zero_width():
    # Resampling runs within a task cannot change a constant task; pooled resampling would.
    scores = np.tile([0.0, 1.0, 5.0], (6, 1))
    point, low, high = stratified_bootstrap_ci(scores, mean, reps=200)
    assert point == low == high == 2.0
    per_task = stratified_bootstrap_ci(scores, lambda resampled: resampled.mean(axis=0), reps=20)
    for bound in per_task:
        np.testing.assert_array_equal(bound, [0.0, 1.0, 5.0])


def test_bootstrap_is_deterministic_for_a_seed_and_varies_with_it():
    scores = np.random.default_rng(0).normal(size=(10, 3))
    first = stratified_bootstrap_ci(scores, iqm, reps=300, seed=11)
    assert stratified_bootstrap_ci(scores, iqm, reps=300, seed=11) == first
    assert stratified_bootstrap_ci(scores, iqm, reps=300, seed=12)[1:] != first[1:]
    low, high = first[1:]
    assert low < first[0] < high


def test_bootstrap_of_a_dict_gives_each_agent_its_own_single_agent_result():
    rng = np.random.default_rng(1)
    agents = {"bandit": rng.normal(size=(8, 3)), "oracle": rng.normal(1.0, size=(8, 3))}
    results = stratified_bootstrap_ci(agents, iqm, reps=200, seed=4)
    assert list(results) == ["bandit", "oracle"]
    for agent, scores in agents.items():
        assert results[agent] == stratified_bootstrap_ci(scores, iqm, reps=200, seed=4)


def test_probability_of_improvement_interval():
    rng = np.random.default_rng(5)
    scores_x = rng.normal(1.0, size=(10, 4))
    scores_y = rng.normal(size=(6, 4))
    point, low, high = probability_of_improvement_ci(scores_x, scores_y, reps=300)
    assert point == probability_of_improvement(scores_x, scores_y)
    assert 0.0 <= low < point < high <= 1.0
    assert low > 0.5                                   # a mean shift of one sigma is detected


def test_performance_profile_interval():
    scores = np.random.default_rng(6).uniform(size=(20, 3))
    taus = np.linspace(0.0, 1.0, 11)
    point, low, high = performance_profile_ci(scores, taus, reps=300)
    np.testing.assert_array_equal(point, performance_profile(scores, taus))
    assert point.shape == low.shape == high.shape == (11,)
    assert np.all(low <= point) and np.all(point <= high)
    assert low[0] == high[0] == 1.0 and low[-1] == high[-1] == 0.0


@pytest.mark.parametrize("aggregate", [mean, median, iqm, optimality_gap])
@pytest.mark.parametrize("scores, match", [
    (np.zeros(5), r"scores must have shape \(runs, tasks\)"),
    (np.zeros((0, 3)), r"scores must have shape \(runs, tasks\)"),
    (np.zeros((2, 2, 2)), r"scores must have shape \(runs, tasks\)"),
    ([[0.0, np.nan]], "scores must contain only finite"),
])
def test_aggregates_reject_bad_score_matrices(aggregate, scores, match):
    with pytest.raises(ValueError, match=match):
        aggregate(scores)


@pytest.mark.parametrize("kwargs, match", [
    ({"reps": 0}, "reps must be an integer >= 1"),
    ({"reps": 10.0}, "reps must be an integer >= 1"),
    ({"confidence": 0.0}, r"confidence must be a number in the open interval \(0, 1\)"),
    ({"confidence": 1.0}, r"confidence must be a number in the open interval \(0, 1\)"),
    ({"confidence": 95}, r"confidence must be a number in the open interval \(0, 1\)"),
    ({"confidence": np.nan}, r"confidence must be a number in the open interval \(0, 1\)"),
    ({"seed": -1}, "seed must be an integer >= 0"),
])
def test_bootstrap_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        stratified_bootstrap_ci(np.zeros((3, 2)), mean, **kwargs)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match=r"scores\['b'\] must contain only finite"):
        stratified_bootstrap_ci({"a": np.zeros((3, 2)), "b": [[np.nan]]}, mean)
    with pytest.raises(ValueError, match="scores must not be an empty dict"):
        stratified_bootstrap_ci({}, mean)
    with pytest.raises(TypeError, match="aggregate must be callable"):
        stratified_bootstrap_ci(np.zeros((3, 2)), "iqm")
    with pytest.raises(ValueError, match="scores_x and scores_y must have the same number of "
                                         "tasks"):
        probability_of_improvement(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="scores_y must have shape"):
        probability_of_improvement(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="taus must be a non-empty 1-D array"):
        performance_profile(np.zeros((3, 2)), 0.5)
    with pytest.raises(ValueError, match="taus must contain only finite"):
        performance_profile(np.zeros((3, 2)), [0.5, np.nan])
    with pytest.raises(ValueError, match="gamma must be a finite number"):
        optimality_gap(np.zeros((3, 2)), gamma=np.inf)
