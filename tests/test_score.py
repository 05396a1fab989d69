import numpy as np

from pipeline.score import combine, metric_scales, smooth, timestamp_means


def test_errors_are_averaged_over_covering_windows():
    # 5 steps, window 3, windows at 0 and 2; window 0 errors 1, window 2 errors 3.
    batches = [(np.array([0, 2]), np.stack([np.ones((3, 1)), 3 * np.ones((3, 1))]))]
    errors = timestamp_means(5, 3, batches)
    assert errors[:, 0].tolist() == [1.0, 1.0, 2.0, 3.0, 3.0]


def test_unevenly_spaced_windows_are_averaged_too():
    # windows at 0, 1 and 3 (as a stride-1 run ending with a realigned last window), errors 1, 2, 4.
    batches = [(np.array([0, 1, 3]), np.stack([np.full((2, 1), v) for v in (1.0, 2.0, 4.0)]))]
    assert timestamp_means(5, 2, batches)[:, 0].tolist() == [1.0, 1.5, 2.0, 4.0, 4.0]


def test_evenly_spaced_batches_give_what_window_by_window_sums_give():
    rng = np.random.default_rng(3)
    starts = np.append(np.arange(0, 80, 3), 82)  # stride 3, then the last window realigned to the end
    errors = rng.random((len(starts), 8, 2))
    expected_total, expected_count = np.zeros((90, 2)), np.zeros(90)
    for start, window_errors in zip(starts, errors):
        expected_total[start:start + 8] += window_errors
        expected_count[start:start + 8] += 1
    batches = [(starts[i:i + 5], errors[i:i + 5]) for i in range(0, len(starts), 5)]
    np.testing.assert_allclose(timestamp_means(90, 8, batches), expected_total / expected_count[:, None])


def test_uncovered_steps_are_nan():
    errors = timestamp_means(4, 2, [(np.array([0]), np.ones((1, 2, 1)))])
    assert errors[:2, 0].tolist() == [1.0, 1.0] and np.isnan(errors[2:, 0]).all()


def test_combine_takes_the_largest_or_the_mean_observed_metric_score():
    errors = np.array([[1.0, 3.0], [1.0, 100.0], [5.0, 100.0], [np.nan, 2.0]])
    excluded = np.array([[False, False], [False, True], [True, True], [False, False]])
    largest, mean = combine(errors, excluded), combine(errors, excluded, method="mean")
    assert largest[[0, 1, 3]].tolist() == [3.0, 1.0, 2.0] and np.isnan(largest[2])
    assert mean[[0, 1, 3]].tolist() == [2.0, 1.0, 2.0] and np.isnan(mean[2])  # NaN (uncovered) counts as unobserved


def test_one_metrics_incident_is_flagged_by_the_max_and_averaged_away_by_the_mean():
    rng = np.random.default_rng(1)
    train, new = rng.uniform(0, 2, (1000, 5)), rng.uniform(0, 2, (1000, 5))  # five metrics, usual score 1
    new[500:510, 2] += 4.0  # one metric at about 5x its usual score for 10 steps
    none = np.zeros_like(train, dtype=bool)

    def flagged(method):
        usual, scores = combine(train, none, method=method), combine(new, none, method=method)
        return set(np.flatnonzero(scores > usual.mean() + 6 * usual.std()))

    # max: usual 1.67 +- 0.28, threshold ~3.3, the incident >= 4; mean: threshold ~2.5, the incident ~1.8
    assert flagged("max") == set(range(500, 510))
    assert flagged("mean") == set()


def test_smooth_is_centred_and_keeps_nan():
    out = smooth(np.array([0.0, 3.0, 0.0, np.nan]), 3)
    assert out[:3].tolist() == [1.5, 1.0, 1.5] and np.isnan(out[3])


def test_metric_scales_are_each_metrics_usual_error_over_observed_steps():
    errors = np.array([[1.0, 0.02, 5.0], [3.0, 0.04, 7.0], [2.0, 9.0, 6.0]])
    excluded = np.array([[False, False, False], [False, False, False], [False, True, False]])
    # usual errors 2, 0.03 (the imputed 9.0 left out) and 6; floor 0.1 x mean(2, 0.03, 6) = 0.2677
    assert np.allclose(metric_scales(errors, excluded), [2.0, 0.1 * (2.0 + 0.03 + 6.0) / 3, 6.0])


def test_metric_scales_give_a_never_observed_metric_the_floor_and_never_zero():
    errors = np.array([[2.0, 0.0, 5.0], [2.0, 0.0, 5.0]])
    assert np.allclose(metric_scales(errors, np.array([[False, False, True]] * 2)), [2.0, 0.1, 0.1])  # 0.1 x 1
    assert np.allclose(metric_scales(np.zeros((2, 2)), np.zeros((2, 2), bool)), [1.0, 1.0])


def test_a_quiet_metrics_anomaly_is_not_drowned_by_a_noisy_metric():
    rng = np.random.default_rng(0)
    noisy, quiet = rng.chisquare(1, 2000), 0.01 * rng.chisquare(1, 2000)  # squared errors of unit and 0.1 noise
    train = np.column_stack([noisy[:1000], quiet[:1000]])
    new = np.column_stack([noisy[1000:], quiet[1000:]])
    new[500:510, 1] += 1.0  # the quiet metric's error rises to the noisy one's usual level for 10 steps
    none = np.zeros_like(train, dtype=bool)

    def flagged(scales):
        usual = combine(train / scales, none)
        scores = combine(new / scales, none)
        return np.flatnonzero(scores > usual.mean() + 6 * usual.std())

    assert not set(range(500, 510)) & set(flagged(np.ones(2)))  # raw errors: the noisy metric hides it
    assert set(range(500, 510)) <= set(flagged(metric_scales(train, none)))  # scaled: quiet's usual is floored
