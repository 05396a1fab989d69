import numpy as np

from pipeline.config import ThresholdConfig
from pipeline.threshold import calibrate, calibrate_level, flag, flag_level


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
