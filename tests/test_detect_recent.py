import numpy as np

from pipeline.detect.recent import recent_stats, stands_out


def test_recent_stats_are_the_mean_and_std_of_the_steps_before_each_step():
    scores = np.array([1, 3, 5, np.nan, 9], dtype=float)
    means, stds = recent_stats(scores, 2)
    # step 0: nothing before; step 1: (1) is half of 2 steps; step 4: (5, nan) -> 5; the step itself never counts
    np.testing.assert_array_equal(means, [np.nan, 1, 2, 4, 5])
    np.testing.assert_array_equal(stds, [np.nan, 0, 1, 1, 0])
    means, _ = recent_stats(scores, 4)
    np.testing.assert_array_equal(means, [np.nan, np.nan, 2, 3, 3])  # (1, 3, 5, nan) -> 3
    means, stds = recent_stats(np.stack([scores, 2 * scores], axis=1), 2)  # per metric of [time, metric]
    np.testing.assert_array_equal(means[:, 1], [np.nan, 2, 4, 8, 10])
    np.testing.assert_array_equal(stds[:, 1], [np.nan, 0, 2, 2, 0])


def test_a_value_stands_out_above_its_limit_or_where_no_limit_is_known():
    values = np.array([1.0, 5.0, np.nan, 3.0, 2.0])
    limits = np.array([2.0, 2.0, 2.0, np.nan, 2.0])
    assert stands_out(values, limits).tolist() == [False, True, False, True, False]
