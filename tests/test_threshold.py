import numpy as np

from pipeline.config import ThresholdConfig
from pipeline.threshold import (SHIFT_FLOOR, calibrate, calibrate_level, calibrate_shift, flag, flag_level, flag_shift,
                                recent_shift_thresholds, stands_out)


def test_quantile_times_factor():
    scores = np.arange(101, dtype=float)  # quantile 0.9 -> 90
    assert calibrate(scores, ThresholdConfig(method="quantile", quantile=0.9, factor=2.0)) == 180.0


def test_mean_std_ignores_nan():
    scores = np.array([1.0, 3.0, np.nan])  # mean 2, std 1
    assert calibrate(scores, ThresholdConfig(method="mean_std", k=3)) == 5.0


def test_flag_never_flags_nan():
    assert flag(np.array([1.0, 5.0, np.nan]), 2.0).tolist() == [False, True, False]


def test_level_threshold_is_a_factor_of_the_mean_score_or_off():
    scores = np.array([1.0, 3.0, np.nan])  # mean 2
    assert calibrate_level(scores, ThresholdConfig(level_steps=10, level_factor=2.5)) == 5.0
    assert calibrate_level(scores, ThresholdConfig(level_steps=0)) is None


def test_a_level_flags_only_while_the_steps_own_score_stays_up():
    scores = np.array([1.0, 9.0, 9.0, 1.0, 1.0, np.nan])
    levels = np.array([1.0, 1.0, 9.0, 9.0, 5.0, 9.0])  # the trailing median lags both ways
    assert flag_level(scores, levels, 4.0).tolist() == [False, False, True, False, False, False]


def test_shift_thresholds_are_per_metric_mean_plus_k_std_with_a_floor():
    distances = np.array([[1.0, 0.0, np.nan], [3.0, 0.0, np.nan], [np.nan, 0.0, np.nan]])
    # metric 0: mean 2 + 2 x std 1; metric 1 flat in training: the floor; metric 2 never measured: never flagged
    np.testing.assert_allclose(calibrate_shift(distances, k=2.0), [4.0, SHIFT_FLOOR, np.inf])


def test_a_value_stands_out_above_its_limit_or_where_no_limit_is_known():
    values = np.array([1.0, 5.0, np.nan, 3.0, 2.0])
    limits = np.array([2.0, 2.0, 2.0, np.nan, 2.0])
    assert stands_out(values, limits).tolist() == [False, True, False, True, False]


def test_recent_shift_thresholds_come_down_to_the_recent_limit_but_not_below_the_floor():
    thresholds = np.array([4.0, 4.0, np.inf])
    limits = np.array([[1.0, 3.0, np.nan], [np.nan, 5.0, 1.0]])  # NaN: too little history to lower it
    expected = [[2.0, 3.0, np.inf], [4.0, 4.0, np.inf]]  # floor 0.5 x 4; a metric never calibrated stays off
    np.testing.assert_array_equal(recent_shift_thresholds(thresholds, limits, floor=0.5), expected)
    distances = np.array([[2.5, 0.0, 9.0], [3.0, 3.0, 9.0]])
    assert flag_shift(distances, recent_shift_thresholds(thresholds, limits, 0.5)).tolist() == [True, False]


def test_a_shift_flags_a_step_when_any_metric_passes_its_own_threshold():
    distances = np.array([[5.0, 0.1], [0.5, 0.3], [np.nan, 0.1], [0.5, np.nan]])
    assert flag_shift(distances, np.array([4.0, 0.2])).tolist() == [True, True, False, False]
