import numpy as np
import pandas as pd
import pytest

from pipeline.detect.base import Flags
from pipeline.detect.daily_repeat import DailyRepeat, repeat_peaks

SIX_HOURS = pd.Timedelta("6h")  # 4 steps a day


def test_repeat_peaks_look_at_the_same_time_on_the_previous_days():
    scores = np.array([0, 5, 0, 0,   0, 0, 0, 0,   0, 0, 0, 7], dtype=float)  # 4 steps a day
    peaks = repeat_peaks(scores, period=4, days=2, tolerance=0)
    np.testing.assert_array_equal(peaks[:4], [np.nan] * 4)  # no earlier day
    np.testing.assert_array_equal(peaks[4:], [0, 5, 0, 0, 0, 5, 0, 0])  # step 9: two days after the 5
    near = repeat_peaks(scores, period=4, days=1, tolerance=1)  # within a step of the same time
    np.testing.assert_array_equal(near[4:8], [5, 5, 5, 0])


def test_runs_whose_peak_time_was_as_high_before_are_dropped():
    ratios = np.array([0, 4.0, 3.0, 0, 0, 5.0, 0]) / 2
    flags = Flags(ratios > 1, ratios)
    repeats = np.array([9, 1.0, 9.0, 9, 9, 3.0, 9]) / 2  # the same times' ratios on earlier days
    rule = DailyRepeat(factor=1.2)
    # the first run peaks at step 1 (repeat 0.5 < 1.2): kept; the second at step 5 (1.5 >= 1.2): dropped
    assert rule.keep(flags, flags.raised, repeats, 0).tolist() == [0, 1, 1, 0, 0, 0, 0]
    assert rule.keep(flags, flags.raised, np.full(7, np.nan), 0).tolist() == flags.raised.tolist()  # no history


def test_it_measures_the_previous_days_within_the_tolerance_and_is_off_for_coarse_intervals():
    rule = DailyRepeat(days=2, tolerance="6h")
    ratios = np.array([0, 2, 0, 0, 0, 0, 0, 0, 0, 0.0])
    measured = rule.measure(Flags(ratios > 1, ratios), SIX_HOURS)
    np.testing.assert_array_equal(measured[4:7], [2, 2, 2])  # one step either side of step 5
    assert rule.lookback(SIX_HOURS) == 2 * 4 + 1
    assert rule.measure(Flags(ratios > 1, ratios), pd.Timedelta("1D")) is None
    assert rule.lookback(pd.Timedelta("1D")) == 0


def test_the_tolerance_must_be_a_duration():
    with pytest.raises(ValueError, match="tolerance: must be a duration"):
        DailyRepeat(tolerance="soon").check()
