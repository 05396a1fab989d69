import numpy as np
import pandas as pd
import pytest

from pipeline.detect.base import Evidence
from pipeline.detect.shift import FLOOR, RecentShifts, Shift, calibrate, lowered, mean_shift

DAY = pd.Timedelta("6h")


def evidence(values) -> Evidence:
    values = np.asarray(values, dtype=float)
    return Evidence(np.zeros(len(values)), np.zeros(values.shape), values, ("cpu", "mem")[:values.shape[1]], DAY)


def test_the_shift_is_the_recent_means_distance_from_the_mean_before_it():
    values = np.array([[0, 0, 0, 0, 4, 4, 4], [1, 1, 1, 1, 1, 1, 1]], float).T
    out = mean_shift(values, recent=2, baseline=4)
    # step 4: mean(0, 4) = 2 against mean(0, 0, 0) = 0; step 6: mean(4, 4) against mean(0, 0, 0, 4) = 1
    np.testing.assert_allclose(out[:, 0], [np.nan, np.nan, np.nan, 0, 2, 4, 3])
    np.testing.assert_allclose(out[3:, 1], 0)  # a flat metric does not move


def test_the_shift_ignores_nan_and_needs_half_of_each_span():
    values = np.array([[0, np.nan, 0, 0, np.nan, 6]], float).T
    out = mean_shift(values, recent=2, baseline=4)
    # step 3: baseline (0, nan) has 1 of the 2 needed; step 4: recent (0, nan) -> 0, baseline (0, nan, 0) -> 0;
    # step 5: recent (nan, 6) -> 6, baseline (0, nan, 0, 0) -> 0
    np.testing.assert_allclose(out[:, 0], [np.nan, np.nan, np.nan, np.nan, 0, 6])


def test_thresholds_are_per_metric_mean_plus_k_std_with_a_floor():
    distances = np.array([[1.0, 0.0, np.nan], [3.0, 0.0, np.nan], [np.nan, 0.0, np.nan]])
    # metric 0: mean 2 + 2 x std 1; metric 1 flat in training: the floor; metric 2 never measured: never flagged
    np.testing.assert_allclose(calibrate(distances, k=2.0), [4.0, FLOOR, np.inf])


def test_fit_stores_each_metrics_threshold_by_name_none_for_never_measured():
    values = np.array([[0, 0, 0, 2, 2, 2], [np.nan] * 6]).T  # cpu steps up once; mem is never observed
    state = Shift(steps=1, baseline=2, k=0.0, recent=None).fit(evidence(values), first=0)
    assert list(state["thresholds"]) == ["cpu", "mem"] and state["thresholds"]["mem"] is None
    assert state["thresholds"]["cpu"] == pytest.approx(0.6)  # distances (0, 0, 2, 1, 0): mean 0.6 + 0 std


def test_alone_it_flags_a_step_when_any_metric_passes_its_own_threshold():
    values = np.array([[0, 0, 0, 5, 5, 5], [0, 0, 0, 0, 0, 0.5]]).T
    flags = Shift(steps=1, baseline=2, recent=None).flags(evidence(values), {"thresholds": {"cpu": 4.0, "mem": 0.2}})
    # cpu: distances [nan, 0, 0, 5, 2.5, 0]; mem: [.., 0, 0, 0.5]
    assert flags.raised.tolist() == [False, False, False, True, False, True]
    assert flags.metric_ratios[3].tolist() == [1.25, 0] and flags.ratio[5] == 2.5
    assert Shift(steps=1, baseline=2, recent=None).lookback(DAY) == 2


def test_recent_thresholds_come_down_to_the_recent_limit_but_not_below_the_floor():
    stored = np.array([4.0, 4.0, np.inf])
    limits = np.array([[1.0, 3.0, np.nan], [np.nan, 5.0, 1.0]])  # NaN: too little history to lower it
    expected = [[2.0, 3.0, np.inf], [4.0, 4.0, np.inf]]  # floor 0.5 x 4; a metric never calibrated stays off
    np.testing.assert_array_equal(lowered(stored, limits, floor=0.5), expected)


def test_with_recent_context_a_metric_steady_lately_is_flagged_for_a_smaller_shift():
    values = np.array([[0.0] * 8 + [3.0] * 2]).T  # steady for two days, then a step of 3 under the stored 4
    state = {"thresholds": {"cpu": 4.0}}
    alone = Shift(steps=1, baseline=2, recent=None).flags(evidence(values), state)
    recent = Shift(steps=1, baseline=2, recent=RecentShifts(days=1, k=1.0, floor=0.5)).flags(evidence(values), state)
    assert not alone.raised.any()
    # step 8: 3 over the threshold lowered to 0.5 x 4 by a flat day; step 9's distance 1.5 is under
    # the limit its recent shifts give (0.75 + 1.3)
    assert recent.raised.tolist() == [False] * 8 + [True, False]
    assert recent.ratio[8] == 1.5
