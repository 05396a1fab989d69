"""Published datasets: idempotent day-partitioned upserts, watermarks."""
import pandas as pd
import pyarrow as pa

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


def test_watermark_round_trip_with_the_open_intervals_start(tmp_path):
    assert io.read_watermark(str(tmp_path), "g") is None and io.read_open_since(str(tmp_path), "g") is None
    io.write_watermark(str(tmp_path), "g", T0, T0 - pd.Timedelta("1h"))
    assert io.read_watermark(str(tmp_path), "g") == T0
    assert io.read_open_since(str(tmp_path), "g") == T0 - pd.Timedelta("1h")
    io.write_watermark(str(tmp_path), "g", T0 + pd.Timedelta("1h"))  # the interval closed
    assert io.read_open_since(str(tmp_path), "g") is None
