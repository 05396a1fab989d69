"""The labels dataset: appends are atomic, keep every earlier row, and two processes appending at
once both keep theirs."""
import multiprocessing

import pandas as pd
import pytest

from pipeline import io

T = pd.Timestamp("2026-11-10", tz="UTC")


def test_appends_keep_earlier_rows_and_leave_no_temp_names(tmp_path):
    root = str(tmp_path)
    assert io.read_labels(root, "db-01").empty and list(io.read_labels(root, "db-01").columns) == [
        "group", "start", "end", "label", "note", "labelled_by", "labelled_at"]
    io.add_label(root, "db-01", "2026-11-10T03:00", "2026-11-10T04:00", "incident", "INC-1", "ana", T)
    io.add_label(root, "db-01", "2026-11-11", "2026-11-11T01:00", "false-alarm", by="bo", at=T + pd.Timedelta("1D"))
    labels = io.read_labels(root, "db-01")
    assert labels[["label", "note", "labelled_by"]].values.tolist() == [["incident", "INC-1", "ana"],
                                                                       ["false-alarm", "", "bo"]]
    assert labels["start"].dt.tz is not None and labels["labelled_at"].iloc[1] == T + pd.Timedelta("1D")
    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == [".lock", "db-01.parquet"]


def test_a_refused_label_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="is before start"):
        io.add_label(str(tmp_path), "db-01", "2026-11-10T04:00", "2026-11-10T03:00", "incident")
    assert not io.labels_path(str(tmp_path), "db-01").exists()


def test_removing_labels_keeps_the_rest_and_writes_nothing_when_none_matches(tmp_path):
    root = str(tmp_path)
    io.add_label(root, "db-01", "2026-11-10T03:00", "2026-11-10T04:00", "false-alarm", at=T)
    io.add_label(root, "db-01", "2026-11-11", "2026-11-11T01:00", "incident", at=T)
    removed = io.remove_labels(root, "db-01", "2026-11-10", "2026-11-10T23:00")
    assert removed["label"].tolist() == ["false-alarm"]
    assert io.read_labels(root, "db-01")["label"].tolist() == ["incident"]
    stamp = io.labels_path(root, "db-01").stat().st_mtime_ns
    assert io.remove_labels(root, "db-01", "2026-11-10", "2026-11-10T23:00").empty
    assert io.labels_path(root, "db-01").stat().st_mtime_ns == stamp
    assert io.remove_labels(root, "db-02", "2026-11-10", "2026-11-12").empty  # a group with no labels
    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == [".lock", "db-01.parquet"]


def test_an_unreadable_labels_file_is_named(tmp_path):
    path = io.labels_path(str(tmp_path), "db-01")
    path.parent.mkdir()
    path.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match=f"{path}: unreadable labels"):
        io.read_labels(str(tmp_path), "db-01")


def _append_many(root: str, who: str, count: int) -> None:
    for i in range(count):
        io.add_label(root, "db-01", T + pd.Timedelta(hours=i), T + pd.Timedelta(hours=i), "incident", by=who)


def test_two_processes_appending_at_once_keep_every_row(tmp_path):
    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=_append_many, args=(str(tmp_path), who, 15)) for who in ("ana", "bo")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    labels = io.read_labels(str(tmp_path), "db-01")
    assert labels.groupby("labelled_by").size().to_dict() == {"ana": 15, "bo": 15}


def test_published_intervals_are_read_with_the_newest_overlapping_label(tmp_path):
    root = str(tmp_path)
    assert io.read_anomalies(root, "db-01").empty
    starts = [T, T + pd.Timedelta("2h")]
    intervals = pd.DataFrame({"start": starts, "end": [s + pd.Timedelta("30min") for s in starts],
                              "severity": ["high", "low"]})
    io.upsert_partitions(root, "anomalies", "db-01", intervals, "start", T, T + pd.Timedelta("1D"))
    io.add_label(root, "db-01", T, T + pd.Timedelta("10min"), "incident", by="ana", at=T + pd.Timedelta("3h"))
    io.add_label(root, "db-01", T, T + pd.Timedelta("10min"), "false-alarm", by="bo", at=T + pd.Timedelta("4h"))
    anomalies = io.read_anomalies(root, "db-01")
    assert anomalies["label"].tolist() == ["false-alarm", pd.NA]  # bo's later verdict replaces ana's
    assert "label" not in pd.read_parquet(tmp_path / "anomalies").columns  # joined when read, not stored
