import numpy as np
import pandas as pd

from pipeline.detect.base import Evidence
from pipeline.detect.level import Level, RecentLevel, trailing_median

DAY = pd.Timedelta("6h")


def evidence(scores) -> Evidence:
    scores = np.asarray(scores, dtype=float)
    return Evidence(scores, scores[:, None], scores[:, None], ("x",), DAY)


def test_the_trailing_median_leaves_a_spike_and_follows_a_shift():
    spike = np.array([1, 1, 1, 9, 1, 1, 1], dtype=float)
    np.testing.assert_array_equal(trailing_median(spike, 4), [np.nan, 1, 1, 1, 1, 1, 1])  # half the steps seen
    shift = np.array([1, 1, 1, 9, 9, 9, 9], dtype=float)
    np.testing.assert_array_equal(trailing_median(shift, 4), [np.nan, 1, 1, 1, 5, 9, 9])
    gaps = np.array([1, np.nan, 9, 9, np.nan], dtype=float)  # NaN ignored, and a NaN step has no level
    np.testing.assert_array_equal(trailing_median(gaps, 4), [np.nan, np.nan, 5, 9, np.nan])


def test_the_threshold_is_a_factor_of_the_mean_score():
    assert Level(factor=2.5).fit(evidence([1.0, 3.0, np.nan]), first=0) == {"threshold": 5.0}


def test_alone_it_flags_only_while_the_median_and_the_steps_own_score_are_up():
    flags = Level(steps=2, recent=None).flags(evidence([1, 9, 9, 1, 9, 9, 9]), {"threshold": 4.0})
    # medians [1, 5, 9, 5, 5, 9, 9]: step 3's own score is down again
    assert flags.raised.tolist() == [False, True, True, False, True, True, True]
    np.testing.assert_array_equal(flags.ratio[1:3], [1.25, 2.25])
    assert Level(steps=2, recent=None).lookback(DAY) == 1


def test_the_flag_holds_while_the_steps_own_score_stays_above_hold_x_the_threshold():
    scores = [9, 9, 3, 9, 9, 1, 9, 9]  # a noisy level: medians over 2 steps [9, 9, 6, 6, 9, 5, 5, 9]
    held = Level(steps=2, hold=0.5, recent=None).flags(evidence(scores), {"threshold": 4.0})
    assert held.raised.tolist() == [True, True, True, True, True, False, True, True]  # 3 > 2 holds; 1 ends it
    strict = Level(steps=2, hold=1.0, recent=None).flags(evidence(scores), {"threshold": 4.0})
    assert strict.raised.tolist() == [True, True, False, True, True, False, True, True]
    np.testing.assert_array_equal(held.ratio, strict.ratio)  # the statistic is the median's either way


def test_with_recent_context_the_median_must_pass_a_factor_of_the_recent_mean():
    scores = [5, 5, 5, 5, 5, 12, 12]  # a day at 5 (mean 5); the medians 8.5 and 12 pass 1.5 x 5 and 1.5 x 6.75
    flags = Level(steps=2, recent=RecentLevel(days=1, factor=1.5)).flags(evidence(scores), {"threshold": 4.0})
    assert flags.raised.tolist() == [True, True, False, False, False, True, True]  # no recent days yet at 0-1
    assert Level(steps=2, recent=RecentLevel(days=1)).lookback(DAY) == 4
