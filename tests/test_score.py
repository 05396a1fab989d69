import numpy as np

from pipeline.score import combine, smooth, timestamp_means


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


def test_combine_ignores_excluded_metrics():
    errors = np.array([[1.0, 3.0], [1.0, 100.0], [5.0, 100.0]])
    excluded = np.array([[False, False], [False, True], [True, True]])
    combined = combine(errors, excluded)
    assert combined[:2].tolist() == [2.0, 1.0] and np.isnan(combined[2])


def test_smooth_is_centred_and_keeps_nan():
    out = smooth(np.array([0.0, 3.0, 0.0, np.nan]), 3)
    assert out[:3].tolist() == [1.5, 1.0, 1.5] and np.isnan(out[3])
