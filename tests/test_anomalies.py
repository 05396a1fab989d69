import numpy as np
import pandas as pd

from pipeline.anomalies import contributors, severity, to_intervals
from pipeline.detect.base import Flags


def test_contributors_rank_by_share():
    errors = np.array([[6.0, 3.0, 1.0], [0.0, 0.0, 0.0]])
    assert contributors(errors, ("a", "b", "c")) == [("a", 0.6), ("b", 0.3), ("c", 0.1)]
    assert contributors(np.array([[9.5, 0.5]]), ("a", "b")) == [("a", 0.95)]


def test_severity_bands():
    assert [severity(r) for r in (1.2, 3, 8)] == ["low", "medium", "high"]


def score_flags(scores: np.ndarray, threshold: float) -> dict[str, Flags]:
    return {"score": Flags(scores > threshold, scores / threshold)}


def test_to_intervals_hand_case():
    index = pd.date_range("2026-01-01", periods=6, freq="5min", tz="UTC")
    scores = np.array([0.1, 3.0, 9.0, 0.1, 0.1, 2.5])
    errors = np.array([[0, 0], [3, 0], [1, 8], [0, 0], [0, 0], [0, 2.5]], dtype=float)
    flags = score_flags(scores, 2.0)
    out = to_intervals(index, scores, errors, ("cpu", "mem"), 2.0, 0, {"score": scores > 2}, flags)
    assert len(out) == 2
    first = out.iloc[0]
    assert (first["start"], first["end"], first["peak_time"]) == (index[1], index[2], index[2])
    assert first["n_points"] == 2 and first["peak_score"] == 9.0 and first["severity"] == "medium"
    assert first["top_metric"] == "mem" and first["contributors"] == "mem 67%, cpu 33%"
    assert out.iloc[1]["severity"] == "low" and out.iloc[1]["contributors"] == "mem 100%"
    assert out["trigger"].tolist() == ["score", "score"]


def test_intervals_name_the_rules_that_kept_their_steps_and_the_largest_ratio():
    index = pd.date_range("2026-01-01", periods=8, freq="5min", tz="UTC")
    scores = np.array([0.1, 9.0, 0.1, 0.1, 1.5, 1.6, 1.5, 0.1])  # threshold 3: a spike, then a long rise
    levels = np.array([0.1, 0.1, 0.1, 0.1, 0.5, 1.5, 1.5, 0.1])  # level threshold 1: rises after the spike
    flags = {**score_flags(scores, 3.0), "level": Flags(levels > 1, levels / 1.0)}
    kept = {"score": scores > 3, "level": levels > 1}
    errors = np.ones((8, 1))
    out = to_intervals(index, scores, errors, ("cpu",), 3.0, 0, kept, flags)
    assert out["trigger"].tolist() == ["score", "level"]
    assert (out.iloc[1]["start"], out.iloc[1]["end"], out.iloc[1]["n_points"]) == (index[5], index[6], 2)
    assert out["severity"].tolist() == ["medium", "low"]  # 9 / 3 and 1.5 / 1
    both = to_intervals(index, scores, errors, ("cpu",), 3.0, 4, kept, flags)
    assert both["trigger"].tolist() == ["score+level"] and both.iloc[0]["severity"] == "medium"
    # what the rules really kept, where a filter dropped the score's flags
    lower = {**flags, "level": Flags(levels > 0.5, levels / 0.5)}
    told = to_intervals(index, scores, errors, ("cpu",), 3.0, 4, {"score": np.zeros(8, bool),
                                                                  "level": np.array([0, 1, 0, 0, 0, 1, 0, 0], bool)},
                        lower)
    assert told["trigger"].tolist() == ["level"] and told.iloc[0]["severity"] == "medium"  # level 1.5 / 0.5


def test_an_interval_flagged_by_mean_shifts_alone_names_the_metric_that_moved():
    index = pd.date_range("2026-01-01", periods=6, freq="5min", tz="UTC")
    scores = np.array([0.1, 9.0, 0.1, 0.1, 0.2, 0.1])  # threshold 3: a spike at 1
    errors = np.array([[1.0, 0.1]] * 6)  # the model's errors are all cpu's
    ratios = np.array([[0, 0], [0, 0], [0, 0], [0.1, 1.5], [0.1, 2.5], [0, 0]])  # memory moved at 3-4
    shifted = (ratios > 1).any(axis=1)
    flags = {**score_flags(scores, 3.0), "shift": Flags(shifted, ratios.max(axis=1), ratios)}
    kept = {"score": scores > 3, "shift": shifted}
    out = to_intervals(index, scores, errors, ("cpu", "memory"), 3.0, 0, kept, flags)
    assert out["trigger"].tolist() == ["score", "shift"]
    assert out["top_metric"].tolist() == ["cpu", "memory"] and out.iloc[1]["severity"] == "medium"  # 2.5 x
    both = to_intervals(index, scores, errors, ("cpu", "memory"), 3.0, 2, kept, flags)
    assert both["trigger"].tolist() == ["score+shift"] and both.iloc[0]["top_metric"] == "cpu"
