"""Published datasets: idempotent day-partitioned upserts, the scoring state and its logged resets."""
import json

import pandas as pd
import pyarrow as pa
import pytest

from pipeline import io

T0 = pd.Timestamp("2026-01-01 22:00", tz="UTC")


def frame(start, n, value):
    times = pd.date_range(start, periods=n, freq="1h", tz="UTC").as_unit("us")
    return pd.DataFrame({"group": "g", "timestamp": times, "v": [value] * n})


def test_upsert_replaces_the_range_and_splits_by_date(tmp_path):
    root = str(tmp_path)
    io.upsert_partitions(root, "scores", "g", frame(T0, 4, 1.0), "timestamp", T0, T0 + pd.Timedelta("3h"))
    days = sorted(p.parent.name for p in (tmp_path / "scores" / "group=g").glob("*/part-0.parquet"))
    assert days == ["date=2026-01-01", "date=2026-01-02"]
    again = frame(T0 + pd.Timedelta("2h"), 2, 2.0)
    io.upsert_partitions(root, "scores", "g", again, "timestamp", T0 + pd.Timedelta("2h"), T0 + pd.Timedelta("3h"))
    io.upsert_partitions(root, "scores", "g", again, "timestamp", T0 + pd.Timedelta("2h"), T0 + pd.Timedelta("3h"))
    out = io.read_dataset(root, "scores", "g")
    assert out["v"].tolist() == [1.0, 1.0, 2.0, 2.0]
    assert out["group"].unique().tolist() == ["g"]
    assert "group" not in pd.read_parquet(next((tmp_path / "scores").rglob("part-0.parquet"))).columns
    assert io.published_groups(root, "scores") == ["g"]


def test_upsert_sorts_rows_by_time_within_each_day(tmp_path):
    root, rows = str(tmp_path), frame(T0, 4, 1.0).drop(columns="group")
    rows["v"] = [0.0, 1.0, 2.0, 3.0]
    shuffled = pa.Table.from_pandas(rows.iloc[[3, 1, 0, 2]], preserve_index=False)  # Arrow rows, as scores are
    io.upsert_partitions(root, "scores", "g", shuffled, "timestamp", T0, T0 + pd.Timedelta("3h"))
    out = io.read_dataset(root, "scores", "g")
    assert out["v"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert out["timestamp"].is_monotonic_increasing


def test_upsert_over_several_days_keeps_only_rows_outside_the_range(tmp_path):
    root, day0 = str(tmp_path), pd.Timestamp("2026-03-01", tz="UTC")
    io.upsert_partitions(root, "scores", "g", frame(day0, 72, 1.0), "timestamp", day0, day0 + pd.Timedelta("71h"))
    start, end = day0 + pd.Timedelta("12h"), day0 + pd.Timedelta("54h")
    rewritten = frame(start, 43, 2.0)
    rewritten = rewritten[rewritten["timestamp"] != day0 + pd.Timedelta("30h")]  # a step no longer scored
    io.upsert_partitions(root, "scores", "g", rewritten, "timestamp", start, end)
    out = io.read_dataset(root, "scores", "g").set_index("timestamp")["v"]
    hours = ((out.index - day0) / pd.Timedelta("1h")).astype(int).tolist()
    assert hours == [h for h in range(72) if h != 30]
    assert out.tolist() == [2.0 if 12 <= h <= 54 else 1.0 for h in hours]


def test_upsert_does_not_read_back_days_it_rewrites_whole(tmp_path, monkeypatch):
    root, day0 = str(tmp_path), pd.Timestamp("2026-03-01", tz="UTC")
    last = day0 + pd.Timedelta("3D") - pd.Timedelta(1, "us")  # as scoring publishes: up to a day's last µs
    io.upsert_partitions(root, "scores", "g", frame(day0, 72, 1.0), "timestamp", day0, last)
    reads = []
    monkeypatch.setattr(pd, "read_parquet", lambda path, *a, **k: reads.append(path))
    io.upsert_partitions(root, "scores", "g", frame(day0, 72, 2.0), "timestamp", day0, last)
    monkeypatch.undo()
    assert reads == []
    assert io.read_dataset(root, "scores", "g")["v"].tolist() == [2.0] * 72


def test_nothing_to_publish_in_a_range_the_day_holds_nothing_of_leaves_the_day_unwritten(tmp_path, monkeypatch):
    """An hour without anomalies: no rows now, none there before, so the day's file is not
    rewritten; where the range held rows, they are removed as before."""
    root, day0 = str(tmp_path), pd.Timestamp("2026-03-01", tz="UTC")
    io.upsert_partitions(root, "anomalies", "g", frame(day0, 3, 1.0), "timestamp", day0, day0 + pd.Timedelta("2h"))
    written = []
    real = io.published.write_table_atomic
    monkeypatch.setattr(io.published, "write_table_atomic", lambda table, path: written.append(path) or real(table, path))
    empty = frame(day0, 0, 1.0)
    io.upsert_partitions(root, "anomalies", "g", empty, "timestamp", day0 + pd.Timedelta("5h"), day0 + pd.Timedelta("6h"))
    assert written == [] and io.read_dataset(root, "anomalies", "g")["v"].tolist() == [1.0] * 3
    io.upsert_partitions(root, "anomalies", "g", empty, "timestamp", day0 + pd.Timedelta("1h"), day0 + pd.Timedelta("6h"))
    assert len(written) == 1
    assert io.read_dataset(root, "anomalies", "g")["timestamp"].tolist() == [day0]


def test_watermark_round_trip_with_the_open_intervals_start(tmp_path):
    assert io.read_watermark(str(tmp_path), "g") is None and io.read_open_since(str(tmp_path), "g") is None
    io.write_watermark(str(tmp_path), "g", T0, T0 - pd.Timedelta("1h"))
    assert io.read_watermark(str(tmp_path), "g") == T0
    assert io.read_open_since(str(tmp_path), "g") == T0 - pd.Timedelta("1h")
    io.write_watermark(str(tmp_path), "g", T0 + pd.Timedelta("1h"))  # the interval closed
    assert io.read_open_since(str(tmp_path), "g") is None


def test_reset_state_moves_the_watermark_keeps_an_earlier_open_start_and_logs_the_change(tmp_path):
    root, now = str(tmp_path), T0 + pd.Timedelta("1D")
    io.write_watermark(root, "g", pd.Timestamp("2030-01-01", tz="UTC"), T0 - pd.Timedelta("2h"))
    entry = io.reset_state(root, "g", T0, now, who="cli")
    assert (io.read_watermark(root, "g"), io.read_open_since(root, "g")) == (T0, T0 - pd.Timedelta("2h"))
    assert entry == {"time": now.isoformat(), "group": "g", "who": "cli",
                     "old_watermark": "2030-01-01T00:00:00+00:00", "old_open_since": "2026-01-01T20:00:00+00:00",
                     "new_watermark": T0.isoformat(), "new_open_since": "2026-01-01T20:00:00+00:00"}
    io.reset_state(root, "g", T0 - pd.Timedelta("3h"), now, who="cli")  # before the open start: it goes
    assert io.read_open_since(root, "g") is None
    lines = io.audit_path(root, "g").read_text().splitlines()
    assert [json.loads(line)["new_watermark"] for line in lines] == [T0.isoformat(), "2026-01-01T19:00:00+00:00"]
    assert io.read_audit(root, "g", 1) == lines[-1:]
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == [".g.lock", "g.json", "g.log"]  # no .tmp-*


def test_reset_state_without_a_state_file_creates_it_and_clear_removes_it(tmp_path):
    root, now = str(tmp_path), T0 + pd.Timedelta("1h")
    io.reset_state(root, "g", T0, now, who="cli")
    assert io.state_path(root, "g") == tmp_path / "state" / "g.json" and io.read_watermark(root, "g") == T0
    entry = io.reset_state(root, "g", None, now, who="cli")
    assert not io.state_path(root, "g").exists() and io.read_watermark(root, "g") is None
    assert (entry["old_watermark"], entry["new_watermark"]) == (T0.isoformat(), None)
    assert len(io.read_audit(root, "g", 10)) == 2


def test_reset_state_refuses_a_time_after_now_naming_the_group(tmp_path):
    with pytest.raises(ValueError, match="group 'g': cannot reset the watermark to 2026-01-01 22:00:00"):
        io.reset_state(str(tmp_path), "g", T0, T0 - pd.Timedelta("1s"), who="cli")
    assert not (tmp_path / "state").exists() and io.read_audit(str(tmp_path), "g", 5) == []


def test_newest_time_reads_the_newest_partition(tmp_path):
    root = str(tmp_path)
    assert io.newest_time(root, "scores", "g", "timestamp") is None
    io.upsert_partitions(root, "scores", "g", frame(T0, 5, 1.0), "timestamp", T0, T0 + pd.Timedelta("4h"))
    assert io.newest_time(root, "scores", "g", "timestamp") == T0 + pd.Timedelta("4h")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"scored_until": "soon"}',
                                     '{"scored_until": "2026-11-18T00:00Z", "open_since": "2026-11-18T12:00Z"}'])
def test_an_unreadable_state_file_is_named_with_the_way_out_and_a_reset_mends_it(tmp_path, content):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "web.json").write_text(content)
    with pytest.raises(io.StateError, match=f"{tmp_path / 'state' / 'web.json'}: unreadable scoring state .*"
                                            "`nightwatch state reset web --to TIME` \\(or --clear\\) rewrites it"):
        io.read_watermark(str(tmp_path), "web")
    io.reset_state(str(tmp_path), "web", pd.Timestamp("2026-11-18", tz="UTC"), pd.Timestamp("2026-11-19", tz="UTC"),
                   who="test")
    assert io.read_watermark(str(tmp_path), "web") == pd.Timestamp("2026-11-18", tz="UTC")


def test_a_carried_look_back_that_is_not_an_arrow_file_reads_as_none(tmp_path):
    """The look-back only saves reading days again: a damaged file must not stop the group's scoring."""
    table = pa.table({"score": [1.0, 2.0]})
    io.write_lookback(str(tmp_path), "g1", table)
    assert io.read_lookback(str(tmp_path), "g1").equals(table)
    io.lookback_path(str(tmp_path), "g1").write_bytes(b"PAR1 damaged")
    assert io.read_lookback(str(tmp_path), "g1") is None
    assert io.read_lookback(str(tmp_path), "g2") is None
