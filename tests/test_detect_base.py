import numpy as np
import pandas as pd

from pipeline.detect.base import Evidence, Flags, flag, joined, peak, ratio, row_max, runs, sliced, steps_in


def test_runs_merge_small_gaps():
    flags = np.array([1, 1, 0, 1, 0, 0, 0, 1], dtype=bool)
    assert runs(flags) == [(0, 1), (3, 3), (7, 7)]
    assert runs(flags, merge_gap=1) == [(0, 3), (7, 7)]
    assert runs(np.zeros(3, bool)) == []


def test_flag_never_flags_nan_and_takes_a_threshold_per_column():
    assert flag(np.array([1.0, 5.0, np.nan]), 2.0).tolist() == [False, True, False]
    assert flag(np.array([[1.0, 5.0]]), np.array([0.5, 6.0])).tolist() == [[True, False]]


def test_ratios_peaks_and_row_maxima_ignore_nan():
    assert ratio(np.array([2.0, np.nan, 1.0]), 2.0).tolist()[::2] == [1.0, 0.5]
    assert ratio(np.array([1.0]), 0.0).tolist() == [np.inf]
    assert peak(np.array([0, 3, np.nan, 5, 1.0]), 1, 4) == 3 and peak(np.full(3, np.nan), 0, 2) == 0
    np.testing.assert_array_equal(row_max(np.array([[1, np.nan], [np.nan, np.nan], [2, 3]])), [1, np.nan, 3])


def test_steps_in_days_are_off_when_the_interval_is_too_coarse():
    assert steps_in(5, pd.Timedelta("5min")) == 1440
    assert steps_in(1, pd.Timedelta("1D")) == 0  # one step a day is no history to compare with


def test_evidence_and_flags_slice_and_join_per_step_arrays_only():
    evidence = Evidence(np.arange(4.0), np.ones((4, 2)), np.zeros((4, 2)), ("a", "b"), pd.Timedelta("1h"))
    head, tail = sliced(evidence, slice(0, 1)), sliced(evidence, slice(1, None))
    assert len(head) == 1 and tail.scores.tolist() == [1, 2, 3] and tail.metrics == ("a", "b")
    back = joined(head, tail)
    assert back.scores.tolist() == [0, 1, 2, 3] and back.values.shape == (4, 2) and back.interval == evidence.interval
    flags = {"score": Flags(np.array([True, False]), np.array([2.0, 0.5]))}
    assert sliced(flags, slice(1, None))["score"].ratio.tolist() == [0.5]
    assert sliced(flags, slice(1, None))["score"].metric_ratios is None
