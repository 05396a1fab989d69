import numpy as np
import pandas as pd

from pipeline.anomalies import confirm, contributors, drop_repeats, runs, severity, to_intervals


def test_runs_merge_small_gaps():
    flags = np.array([1, 1, 0, 1, 0, 0, 0, 1], dtype=bool)
    assert runs(flags) == [(0, 1), (3, 3), (7, 7)]
    assert runs(flags, merge_gap=1) == [(0, 3), (7, 7)]
    assert runs(np.zeros(3, bool)) == []


def test_contributors_rank_by_share():
    errors = np.array([[6.0, 3.0, 1.0], [0.0, 0.0, 0.0]])
    assert contributors(errors, ("a", "b", "c")) == [("a", 0.6), ("b", 0.3), ("c", 0.1)]
    assert contributors(np.array([[9.5, 0.5]]), ("a", "b")) == [("a", 0.95)]


def test_severity_bands():
    assert [severity(r) for r in (1.2, 3, 8)] == ["low", "medium", "high"]


def test_to_intervals_hand_case():
    index = pd.date_range("2026-01-01", periods=6, freq="5min", tz="UTC")
    scores = np.array([0.1, 3.0, 9.0, 0.1, 0.1, 2.5])
    flags = scores > 2
    errors = np.array([[0, 0], [3, 0], [1, 8], [0, 0], [0, 0], [0, 2.5]], dtype=float)
    out = to_intervals(index, scores, flags, errors, ("cpu", "mem"), 2.0, merge_gap=0)
    assert len(out) == 2
    first = out.iloc[0]
    assert (first["start"], first["end"], first["peak_time"]) == (index[1], index[2], index[2])
    assert first["n_points"] == 2 and first["peak_score"] == 9.0 and first["severity"] == "medium"
    assert first["top_metric"] == "mem" and first["contributors"] == "mem 67%, cpu 33%"
    assert out.iloc[1]["severity"] == "low" and out.iloc[1]["contributors"] == "mem 100%"


def test_confirm_drops_runs_that_barely_cross_the_threshold():
    scores = np.array([0, 1.05, 0, 0, 3.0, 1.0, 0, 1.2, 0])
    flags = scores > 1.0
    # merge_gap 1: three separate runs; the one peaking at 1.05 < 1.1 x 1.0 is dropped
    assert confirm(scores, flags, 1.0, 1, 1.1).tolist() == [0, 0, 0, 0, 1, 0, 0, 1, 0]
    # merge_gap 2: one run from 1 to 7 peaking at 3.0, so every flag is kept
    assert confirm(scores, flags, 1.0, 2, 1.1).tolist() == [0, 1, 0, 0, 1, 0, 0, 1, 0]


def test_intervals_say_whether_the_score_or_the_sustained_level_flagged_them():
    index = pd.date_range("2026-01-01", periods=8, freq="5min", tz="UTC")
    scores = np.array([0.1, 9.0, 0.1, 0.1, 1.5, 1.6, 1.5, 0.1])  # threshold 3: a spike, then a long rise
    levels = np.array([0.1, 0.1, 0.1, 0.1, 0.5, 1.5, 1.5, 0.1])  # level threshold 1: rises after the spike
    flags = (scores > 3) | (levels > 1)
    errors = np.ones((8, 1))
    out = to_intervals(index, scores, flags, errors, ("cpu",), 3.0, merge_gap=0, levels=levels, level_threshold=1.0)
    assert out["trigger"].tolist() == ["score", "level"]
    assert (out.iloc[1]["start"], out.iloc[1]["end"], out.iloc[1]["n_points"]) == (index[5], index[6], 2)
    assert out["severity"].tolist() == ["medium", "low"]  # 9 / 3 and 1.5 / 1
    both = to_intervals(index, scores, flags, errors, ("cpu",), 3.0, merge_gap=4, levels=levels, level_threshold=0.5)
    assert both["trigger"].tolist() == ["score+level"] and both.iloc[0]["severity"] == "medium"
    assert to_intervals(index, scores, scores > 3, errors, ("cpu",), 3.0, 0)["trigger"].tolist() == ["score"]
    # what the checks really kept, where another rule (e.g. the recent-context check) overrode a threshold
    by_score, by_level = np.zeros(8, bool), np.array([0, 1, 0, 0, 0, 1, 0, 0], bool)
    told = to_intervals(index, scores, flags, errors, ("cpu",), 3.0, merge_gap=4, levels=levels, level_threshold=0.5,
                        by_score=by_score, by_level=by_level)
    assert told["trigger"].tolist() == ["level"] and told.iloc[0]["severity"] == "medium"  # level 1.5 / 0.5


def test_an_interval_flagged_by_mean_shifts_alone_names_the_metric_that_moved():
    index = pd.date_range("2026-01-01", periods=6, freq="5min", tz="UTC")
    scores = np.array([0.1, 9.0, 0.1, 0.1, 0.2, 0.1])  # threshold 3: a spike at 1
    errors = np.array([[1.0, 0.1]] * 6)  # the model's errors are all cpu's
    ratios = np.array([[0, 0], [0, 0], [0, 0], [0.1, 1.5], [0.1, 2.5], [0, 0]])  # memory moved at 3-4
    flags = (scores > 3) | (ratios > 1).any(axis=1)
    out = to_intervals(index, scores, flags, errors, ("cpu", "memory"), 3.0, merge_gap=0, shift_ratios=ratios)
    assert out["trigger"].tolist() == ["score", "shift"]
    assert out["top_metric"].tolist() == ["cpu", "memory"] and out.iloc[1]["severity"] == "medium"  # 2.5 x
    both = to_intervals(index, scores, flags, errors, ("cpu", "memory"), 3.0, merge_gap=2, shift_ratios=ratios)
    assert both["trigger"].tolist() == ["score+shift"] and both.iloc[0]["top_metric"] == "cpu"


def test_runs_whose_peak_time_scored_as_high_before_are_dropped():
    scores = np.array([0, 4.0, 3.0, 0, 0, 5.0, 0])
    flags = scores > 2
    repeats = np.array([9, 1.0, 9.0, 9, 9, 3.0, 9])  # what the same times scored on earlier days
    # the first run peaks at step 1 (repeat 1.0 < 2.4): kept; the second at step 5 (3.0 >= 2.4): dropped
    assert drop_repeats(scores, flags, repeats, 2.4, 0).tolist() == [0, 1, 1, 0, 0, 0, 0]
    assert drop_repeats(scores, flags, np.full(7, np.nan), 2.4, 0).tolist() == flags.tolist()  # no history
