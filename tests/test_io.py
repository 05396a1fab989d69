import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline import io
from pipeline.config import ConfigError
from pipeline.ingest import InputError

T0 = pd.Timestamp("2026-01-01 22:00", tz="UTC")


def test_landing_files_are_nested_sorted_and_skip_hidden(tmp_path):
    for rel in ("b/x.parquet", "a/date=2026-01-01/y.parquet", ".tmp-z.parquet", "_staging/w.parquet", "n.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    names = [p[len(str(tmp_path)) + 1:] for p in io.landing_files(str(tmp_path))]
    assert names == ["a/date=2026-01-01/y.parquet", "b/x.parquet"]
    assert io.landing_files(str(tmp_path / "missing")) == []


def test_scan_and_read_long_and_wide_files(tmp_path):
    long = pd.DataFrame({"timestamp": [T0, T0], "metric": ["cpu", "mem"], "value": [1.0, 2.0]})
    (tmp_path / "group=web").mkdir()
    long.to_parquet(tmp_path / "group=web" / "l.parquet")
    wide = pd.DataFrame({"timestamp": [T0], "db.cpu": [5.0], "db.mem": [6.0]})
    wide.to_parquet(tmp_path / "w.parquet")
    assert io.scan_file(str(tmp_path / "group=web" / "l.parquet")) == {"web/cpu": "web", "web/mem": "web"}
    assert io.scan_file(str(tmp_path / "w.parquet")) == {"db.cpu": None, "db.mem": None}
    out = io.read_series(str(tmp_path / "w.parquet"), {"db.mem"})
    assert out["series"].tolist() == ["db.mem"] and out["value"].tolist() == [6.0]


def test_unreadable_file_is_an_input_error_naming_it(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(InputError, match=r"bad.parquet: not a readable parquet file"):
        io.scan_file(str(bad))


def test_atomic_writes_leave_no_temp_files(tmp_path):
    io.write_json_atomic(tmp_path / "a" / "x.json", {"k": 1})
    io.write_parquet_atomic(pd.DataFrame({"a": [1]}), tmp_path / "a" / "x.parquet")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.json", "x.parquet"]
    assert json.loads((tmp_path / "a" / "x.json").read_text()) == {"k": 1}


def test_parquet_files_keep_statistics_for_time_and_flags_and_dictionaries_for_strings(tmp_path):
    import pyarrow.parquet as pq

    data = pd.DataFrame({"timestamp": pd.date_range(T0, periods=3, freq="1h", tz="UTC"), "metric": ["a", "b", "a"],
                         "score": [0.5, 1.5, 2.5], "is_anomaly": [False, True, False]})
    io.write_parquet_atomic(data, tmp_path / "x.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "x.parquet"), data, check_dtype=False)
    columns = {c.path_in_schema: c for c in (pq.ParquetFile(tmp_path / "x.parquet").metadata.row_group(0).column(i)
                                            for i in range(4))}
    assert {name for name, c in columns.items() if c.is_stats_set} == {"timestamp", "is_anomaly"}
    assert {name for name, c in columns.items() if c.has_dictionary_page} == {"metric"}


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
    monkeypatch.setattr(io.pd, "read_parquet", lambda path, *a, **k: reads.append(path))
    io.upsert_partitions(root, "scores", "g", frame(day0, 72, 2.0), "timestamp", day0, last)
    monkeypatch.undo()
    assert reads == []
    assert io.read_dataset(root, "scores", "g")["v"].tolist() == [2.0] * 72


class FakeModel:
    def save(self, path):
        path.write_bytes(b"weights")


def test_registry_versions_and_current_pointer(tmp_path):
    root = str(tmp_path)
    assert io.current_version(root, "web") is None
    folder = io.save_model_version(root, "web", "v1", FakeModel(), {"version": "v1"})
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.keras"]
    io.set_current_version(root, "web", "v1")
    assert io.current_version(root, "web") == "v1"
    assert io.read_metadata(root, "web", "v1") == {"version": "v1"}
    assert [p.name for p in (tmp_path / "web").iterdir() if p.name.startswith(".tmp")] == []


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "/etc"])
def test_group_names_never_escape_the_root(tmp_path, name):
    with pytest.raises(ConfigError):
        io.safe_child(tmp_path, name)
    with pytest.raises(ConfigError):
        io.dataset_dir(str(tmp_path), "scores", name)


def test_watermark_round_trip(tmp_path):
    assert io.read_watermark(str(tmp_path), "g") is None
    io.write_watermark(str(tmp_path), "g", T0)
    assert io.read_watermark(str(tmp_path), "g") == T0


def test_landing_reads_through_fsspec_urls():
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("memory://landing-test/group=web/part.parquet", "wb") as handle:
        pd.DataFrame({"timestamp": [T0], "metric": ["cpu"], "value": [1.5]}).to_parquet(handle)
    (path,) = io.landing_files("memory://landing-test")
    assert path.startswith("memory://") and path.endswith("/landing-test/group=web/part.parquet")
    assert io.scan_file(path) == {"web/cpu": "web"}
    assert io.read_series(path, {"web/cpu"})["value"].tolist() == [1.5]
    assert io.read_series(path, {"web/cpu"}, T0, T0)["value"].tolist() == [1.5]  # a time range: row groups


@pytest.mark.parametrize("stamps", [
    pd.date_range(T0, periods=48, freq="30min", tz="UTC"),  # timestamp[us, UTC]: parquet filters
    pd.date_range(T0, periods=48, freq="30min").tz_convert("Europe/Paris").as_unit("ms"),  # another zone and unit
    pd.date_range(T0, periods=48, freq="30min").tz_localize(None),  # naive, taken as UTC
    pd.date_range(T0, periods=48, freq="30min", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),  # ISO strings
])
def test_time_range_reads_and_spans(tmp_path, stamps):
    path = str(tmp_path / "w.parquet")
    pd.DataFrame({"timestamp": stamps, "a": range(48), "b": 1.0}).to_parquet(path)
    start, end = T0 + pd.Timedelta("2h"), T0 + pd.Timedelta("5h") - pd.Timedelta("1us")
    rows = io.read_series(path, {"a"}, start, end)
    assert rows["value"].tolist() == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert io.time_span(path, {"a"}, start, end) == (T0 + pd.Timedelta("2h"), T0 + pd.Timedelta("4h30min"), 6)
    assert io.time_span(path, {"a"}, end=T0 - pd.Timedelta("1s")) is None


def test_time_span_of_a_long_file_counts_only_the_wanted_series(tmp_path):
    (tmp_path / "group=web").mkdir()
    times = [T0, T0 + pd.Timedelta("1h"), T0 + pd.Timedelta("2h")]
    pd.DataFrame({"timestamp": times, "metric": ["cpu", "mem", "cpu"], "value": 1.0}).to_parquet(
        tmp_path / "group=web" / "l.parquet")
    path = str(tmp_path / "group=web" / "l.parquet")
    assert io.time_span(path, {"web/mem"}) == (times[1], times[1], 1)
    assert io.time_span(path, {"web/cpu"}, start=T0 + pd.Timedelta("1min")) == (times[2], times[2], 1)


def test_time_range_reads_reuse_decoded_row_groups_until_the_file_changes(tmp_path):
    path = str(tmp_path / "w.parquet")
    stamps = pd.date_range(T0, periods=48, freq="30min", tz="UTC")
    pd.DataFrame({"timestamp": stamps, "a": np.arange(48.0)}).to_parquet(path, row_group_size=24)
    hour = pd.Timedelta("1h")
    assert io.read_series(path, {"a"}, T0 + 2 * hour, T0 + 3 * hour)["value"].tolist() == [4.0, 5.0, 6.0]
    assert io.read_series(path, {"a"}, T0 + 11 * hour, T0 + 13 * hour)["value"].tolist() == [22.0, 23.0, 24.0,
                                                                                          25.0, 26.0]
    cached = [key[-1] for key in io._DECODED.tables if key[0] == path]
    assert cached == [0, 1]  # each row group decoded once; the second read took group 0 from the cache
    pd.DataFrame({"timestamp": stamps, "a": np.arange(48.0) + 100}).to_parquet(path, row_group_size=24)
    assert io.read_series(path, {"a"}, T0 + 2 * hour, T0 + 3 * hour)["value"].tolist() == [104.0, 105.0, 106.0]


def test_row_group_cache_keeps_the_latest_tables_within_its_budget():
    import pyarrow as pa

    decoded = []

    def decode(name):
        decoded.append(name)
        return pa.table({"x": np.zeros(100)})  # 800 bytes

    cache = io._RowGroupCache(budget=2000)
    for name in ("a", "b", "a", "c", "a", "b"):
        cache.get(name, lambda name=name: decode(name))
    assert decoded == ["a", "b", "c", "b"]  # "b" was the least recently used when "c" came in
    assert io._RowGroupCache(budget=500).get("big", lambda: decode("big")).num_rows == 100
