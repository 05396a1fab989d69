import numpy as np
import pandas as pd

from pipeline.evaluate import attribution_counts, f1_scores, overlap_counts, point_counts, summarise


def ts(hour):
    return pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(hours=hour)


def test_contextual_overlap_hand_case():
    labelled = [(ts(1), ts(2)), (ts(5), ts(6)), (ts(9), ts(10))]
    detected = [(ts(0), ts(1)), (ts(1.5), ts(1.6)), (ts(3), ts(4)), (ts(6), ts(7))]
    # window 1 touched (closed intervals), window 2 touched at its end, window 3 missed;
    # (3, 4) overlaps nothing.
    assert overlap_counts(detected, labelled) == {"tp": 2, "fp": 1, "fn": 1}
    assert overlap_counts([], labelled) == {"tp": 0, "fp": 0, "fn": 3}
    assert overlap_counts([(ts(0), ts(10))], labelled) == {"tp": 3, "fp": 0, "fn": 0}


def test_attribution_hand_case():
    labelled = [(ts(1), ts(2)), (ts(5), ts(6)), (ts(9), ts(10)), (ts(12), ts(13))]
    culprits = ["cpu", "latency", "cpu", None]
    detected = [(ts(1.5), ts(1.6)), (ts(5), ts(5.5)), (ts(5.8), ts(7)), (ts(12), ts(12))]
    tops = ["cpu", "cpu", "latency", "cpu"]
    # window 1 found with cpu on top; window 2 found twice, one interval naming latency;
    # window 3 missed; window 4 found but its culprit is unknown
    assert attribution_counts(detected, tops, labelled, culprits) == {"found_with_culprit": 2, "attributed": 2}
    assert attribution_counts(detected, ["latency"] * 4, labelled, culprits) == {"found_with_culprit": 2,
                                                                                "attributed": 1}


def test_f1_hand_case():
    assert f1_scores(2, 1, 1) == {"f1": 2 / 3, "precision": 2 / 3, "recall": 2 / 3}
    assert f1_scores(0, 0, 3)["f1"] == 0.0


def test_point_counts_and_summary():
    times = pd.DatetimeIndex([ts(h) for h in range(10)])
    flags = np.zeros(10, bool)
    flags[[1, 2, 7]] = True
    counts = point_counts(times, flags, [(ts(1), ts(3))])
    assert counts == {"points": 10, "anomalous": 3, "flagged": 3, "flagged_in_window": 2}
    row = {"tp": 1, "fp": 1, "fn": 0, "seconds": 2.0, **counts}
    summary = summarise([row, {**row, "seconds": 4.0}])
    assert summary["flagged_fraction"] == 0.3 and summary["point_precision"] == 2 / 3
    assert summary["f1"] == 2 / 3 and summary["seconds_per_signal"] == 3.0 and summary["signals"] == 2
    assert summary["found_with_culprit"] == summary["attributed"] == 0  # signals without known culprits
    assert summary["point_recall"] == 2 / 3 and summary["point_f1"] == 2 / 3
    assert summary["false_alarm_rate"] == 2 / 14  # 1 of each signal's 7 normal points flagged
