"""Pure label logic: checking a label, the steps it covers, the training range it leaves, and the
label an anomaly interval carries."""
import numpy as np
import pandas as pd
import pytest

from pipeline.labels import covered, empty, feedback, interval_labels, label_row, used, with_incidents, within
from pipeline.training_range import TrainingRange

T = pd.Timestamp("2026-11-10", tz="UTC")
INDEX = pd.date_range(T, periods=12, freq="1h")  # 00:00 .. 11:00


def labels(*rows) -> pd.DataFrame:
    """Rows of (first hour, last hour, kind, labelled at hour)."""
    frame = pd.DataFrame([label_row("g", T + pd.Timedelta(hours=a), T + pd.Timedelta(hours=b), kind, None, "ana",
                                    T + pd.Timedelta(days=1, hours=at)) for a, b, kind, at in rows])
    return frame.astype(empty().dtypes.to_dict()) if len(frame) else empty()


def test_a_label_row_is_checked_and_in_utc():
    row = label_row("g", "2026-11-10T03:00", "2026-11-10T05:00+01:00", "incident", None, "ana", "2026-11-11")
    assert row["start"] == T + pd.Timedelta(hours=3) and row["end"] == T + pd.Timedelta(hours=4)
    assert row["note"] == "" and row["labelled_at"] == T + pd.Timedelta(days=1)
    with pytest.raises(ValueError, match="end: 2026-11-10T02:00 is before start 2026-11-10T03:00"):
        label_row("g", "2026-11-10T03:00", "2026-11-10T02:00", "incident", None, "ana", T)
    with pytest.raises(ValueError, match="label: 'bug' is not one of incident, false-alarm"):
        label_row("g", T, T, "bug", None, "ana", T)
    with pytest.raises(ValueError, match="not a time: 'soon'"):
        label_row("g", "soon", T, "incident", None, "ana", T)


def test_labels_within_a_range_lie_wholly_in_it_both_ends_included():
    found = labels((2, 3, "incident", 0), (3, 5, "false-alarm", 0), (4, 9, "false-alarm", 0))
    first, last = T + pd.Timedelta(hours=2), T + pd.Timedelta(hours=5)
    assert within(found, first, last).tolist() == [True, True, False]  # the third reaches past 05:00
    assert within(found, first, last, "false-alarm").tolist() == [False, True, False]
    assert not within(empty(), first, last).any()


def test_covered_steps_are_inclusive_of_both_ends():
    mask = covered(labels((2, 3, "incident", 0), (9, 9, "false-alarm", 0)), INDEX)
    assert np.flatnonzero(mask).tolist() == [2, 3, 9]
    assert not covered(empty(), INDEX).any()


def test_incidents_in_the_range_become_excluded_intervals_and_false_alarms_do_not():
    configured = TrainingRange(exclude=("2026-11-01/2026-11-02",))
    given = labels((2, 3, "incident", 0), (5, 6, "false-alarm", 0), (30, 31, "incident", 0), (2, 3, "incident", 1))
    training = with_incidents(configured, given, INDEX)
    assert training.exclude == ("2026-11-01/2026-11-02", "2026-11-10T02:00:00+00:00/2026-11-10T03:00:00+00:00")
    assert np.flatnonzero(training.excluded(INDEX)).tolist() == [2, 3]  # the one implementation of leaving out
    assert with_incidents(configured, empty(), INDEX) is configured


def test_an_interval_carries_the_newest_overlapping_label():
    anomalies = pd.DataFrame({"start": [T + pd.Timedelta(hours=h) for h in (1, 5, 9)],
                              "end": [T + pd.Timedelta(hours=h) for h in (2, 6, 10)]})
    given = labels((6, 7, "incident", 2), (0, 1, "false-alarm", 0), (5, 5, "false-alarm", 1))
    assert interval_labels(anomalies, given).tolist() == ["false-alarm", "incident", pd.NA]
    assert interval_labels(anomalies, empty()).isna().all()


def test_feedback_masks_each_incident_in_the_range_and_lists_the_labels_used():
    given = labels((2, 3, "incident", 0), (5, 6, "false-alarm", 0), (30, 31, "incident", 0), (8, 8, "incident", 0))
    values = np.arange(12.0)[:, None]
    values[4] = np.nan
    imputed = np.zeros((12, 1), bool)
    imputed[7] = True
    found = feedback(given, INDEX, values, imputed)
    assert np.flatnonzero(found.false_alarms).tolist() == [5, 6]
    assert [np.flatnonzero(m).tolist() for m in found.incidents] == [[2, 3], [8]]
    assert np.flatnonzero(found.excluded[:, 0]).tolist() == [4, 7]
    assert [(u["label"], u["start"]) for u in found.used] == [("incident", "2026-11-10T02:00:00+00:00"),
                                                              ("false-alarm", "2026-11-10T05:00:00+00:00"),
                                                              ("incident", "2026-11-10T08:00:00+00:00")]
    assert used(given, INDEX[:2]) == []
