"""Landing reads: listing, scanning, validated time-range reads and the row-group cache."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import io
from pipeline.io import landing
from pipeline.ingest import InputError

T0 = pd.Timestamp("2026-01-01 22:00", tz="UTC")


def test_landing_files_are_nested_sorted_and_skip_hidden(tmp_path):
    for rel in ("b/x.parquet", "a/date=2026-01-01/y.parquet", ".tmp-z.parquet", "_staging/w.parquet", "n.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    names = [p[len(str(tmp_path)) + 1:] for p in io.landing_files(str(tmp_path))]
    assert names == ["a/date=2026-01-01/y.parquet", "b/x.parquet"]
    with pytest.raises(InputError, match=f"{tmp_path / 'missing'}: the landing folder does not exist"):
        io.landing_files(str(tmp_path / "missing"))


def test_a_file_with_a_repeated_column_name_is_refused_naming_the_column(tmp_path):
    times = pa.array(pd.date_range(T0, periods=3, freq="5min"))
    pq.write_table(pa.table([times, pa.array([1.0] * 3), pa.array([2.0] * 3)], names=["timestamp", "d.x", "d.x"]),
                   tmp_path / "d.parquet")
    with pytest.raises(InputError, match=r"d\.parquet: column 'd\.x': 1 column name\(s\) appear more than once"):
        io.scan_file(str(tmp_path / "d.parquet"))


def test_scan_and_read_long_and_wide_files(tmp_path):
    long = pd.DataFrame({"timestamp": [T0, T0], "metric": ["cpu", "mem"], "value": [1.0, 2.0]})
    (tmp_path / "group=web").mkdir()
    long.to_parquet(tmp_path / "group=web" / "l.parquet")
    wide = pd.DataFrame({"timestamp": [T0], "db.cpu": [5.0], "db.mem": [6.0]})
    wide.to_parquet(tmp_path / "w.parquet")
    assert io.scan_file(str(tmp_path / "group=web" / "l.parquet")) == {"web/cpu": "web", "web/mem": "web"}
    assert io.scan_file(str(tmp_path / "w.parquet")) == {"db.cpu": None, "db.mem": None}
    out = io.read_series([str(tmp_path / "w.parquet")], {"db.mem"})
    assert out["series"].tolist() == ["db.mem"] and out["value"].tolist() == [6.0]


def test_unreadable_file_is_an_input_error_naming_it(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(InputError, match=r"bad.parquet: not a readable parquet file"):
        io.scan_file(str(bad))


def test_landing_reads_through_fsspec_urls():
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("memory://landing-test/group=web/part.parquet", "wb") as handle:
        pd.DataFrame({"timestamp": [T0], "metric": ["cpu"], "value": [1.5]}).to_parquet(handle)
    (path,) = io.landing_files("memory://landing-test")
    assert path.startswith("memory://") and path.endswith("/landing-test/group=web/part.parquet")
    assert io.scan_file(path) == {"web/cpu": "web"}
    assert io.read_series([path], {"web/cpu"})["value"].tolist() == [1.5]
    assert io.read_series([path], {"web/cpu"}, T0, T0)["value"].tolist() == [1.5]  # a time range: row groups


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
    rows = io.read_series([path], {"a"}, start, end)
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


def test_files_of_one_schema_are_read_together_and_a_problem_names_its_file(tmp_path):
    paths = []
    for hour, (cpu, stamp) in enumerate([(1.0, T0), (2.0, T0), (3.0, T0)]):
        paths.append(str(tmp_path / f"h{hour}.parquet"))
        pd.DataFrame({"timestamp": [stamp + pd.Timedelta(hours=hour)], "d.cpu": [cpu], "d.mem": [cpu * 10]}
                     ).to_parquet(paths[-1])
    paths.append(str(tmp_path / "other.parquet"))  # another schema: its own batch, after the others
    pd.DataFrame({"timestamp": [T0 + pd.Timedelta(hours=3)], "d.cpu": [4]}).to_parquet(paths[-1])
    rows = io.read_series(paths, {"d.cpu", "d.mem"}, T0 + pd.Timedelta(hours=1))
    assert rows.sort_values(["series", "timestamp"])["value"].tolist() == [2.0, 3.0, 4.0, 20.0, 30.0]
    pd.DataFrame({"timestamp": [T0 + pd.Timedelta(hours=1)], "d.cpu": [2e40], "d.mem": [1.0]}).to_parquet(paths[1])
    with pytest.raises(InputError, match=r"h1\.parquet: column 'd\.cpu': 1 values beyond") as caught:
        io.read_series(paths, {"d.cpu", "d.mem"})
    assert caught.value.source == paths[1]
    pd.DataFrame({"timestamp": [T0 + pd.Timedelta(hours=4)]}).to_parquet(paths[3])  # a layout problem, said as such
    with pytest.raises(InputError) as caught:
        io.read_series(paths[2:], {"d.cpu"}, T0)
    assert (caught.value.source, caught.value.problem) == (
        paths[3], "wide layout needs at least one metric column besides timestamp")


def test_a_row_without_a_time_is_refused_by_a_range_read_too(tmp_path):
    """Its time is unknown, so no range can exclude it: it is not dropped as outside the range."""
    path = str(tmp_path / "w.parquet")
    stamps = pd.Series(pd.date_range(T0, periods=4, freq="1h", tz="UTC")).mask(lambda t: t.index == 3)
    pd.DataFrame({"timestamp": stamps, "a": np.arange(4.0)}).to_parquet(path)
    for start in (None, T0 + pd.Timedelta("1h"), T0 + pd.Timedelta("9h")):
        with pytest.raises(InputError, match="column 'timestamp': 1 missing timestamps"):
            io.read_series([path], {"a"}, start, T0 + pd.Timedelta("10h"))
        with pytest.raises(InputError, match="1 missing timestamps"):
            io.time_span(path, {"a"}, start)


def test_time_range_reads_reuse_decoded_row_groups_until_the_file_changes(tmp_path):
    path = str(tmp_path / "w.parquet")
    stamps = pd.date_range(T0, periods=48, freq="30min", tz="UTC")
    pd.DataFrame({"timestamp": stamps, "a": np.arange(48.0)}).to_parquet(path, row_group_size=24)
    hour = pd.Timedelta("1h")
    assert io.read_series([path], {"a"}, T0 + 2 * hour, T0 + 3 * hour)["value"].tolist() == [4.0, 5.0, 6.0]
    assert io.read_series([path], {"a"}, T0 + 11 * hour, T0 + 13 * hour)["value"].tolist() == [22.0, 23.0, 24.0,
                                                                                          25.0, 26.0]
    cached = [key[-1] for key in landing._DECODED.tables if key[0] == path]
    assert cached == [0, 1]  # each row group decoded once; the second read took group 0 from the cache
    pd.DataFrame({"timestamp": stamps, "a": np.arange(48.0) + 100}).to_parquet(path, row_group_size=24)
    assert io.read_series([path], {"a"}, T0 + 2 * hour, T0 + 3 * hour)["value"].tolist() == [104.0, 105.0, 106.0]


def test_row_group_cache_keeps_the_latest_tables_within_its_budget():
    decoded = []

    def decode(name):
        decoded.append(name)
        return pa.table({"x": np.zeros(100)})  # 800 bytes

    cache = landing._RowGroupCache(budget=2000)
    for name in ("a", "b", "a", "c", "a", "b"):
        cache.get(name, lambda name=name: decode(name))
    assert decoded == ["a", "b", "c", "b"]  # "b" was the least recently used when "c" came in
    assert landing._RowGroupCache(budget=500).get("big", lambda: decode("big")).num_rows == 100


def test_time_span_skips_row_groups_outside_the_range(tmp_path, monkeypatch):
    """A range decodes only the row groups its statistics may hold (kept for the read that follows);
    a whole file's times are scanned in batches."""
    import pyarrow.parquet as pq

    path = str(tmp_path / "w.parquet")
    stamps = pd.date_range(T0, periods=48, freq="30min", tz="UTC")  # 4 row groups of 6 hours
    pd.DataFrame({"timestamp": stamps, "a": np.arange(48.0)}).to_parquet(path, row_group_size=12)
    read, real_group, real_batches = [], pq.ParquetFile.read_row_group, pq.ParquetFile.iter_batches

    def recording_group(self, number, *args, **kwargs):
        read.append(number)
        return real_group(self, number, *args, **kwargs)

    def recording_batches(self, *args, **kwargs):
        read.append("all")
        return real_batches(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", recording_group)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", recording_batches)
    assert io.time_span(path, {"a"}, start=stamps[40]) == (stamps[40], stamps[47], 8)
    assert io.time_span(path, {"a"}, stamps[11], stamps[12]) == (stamps[11], stamps[12], 2)
    assert io.time_span(path, {"a"}, start=stamps[47] + pd.Timedelta("1h")) is None
    assert io.time_span(path, {"a"}) == (stamps[0], stamps[47], 48)
    assert read == [3, 0, 1, "all"]  # the range after the file read nothing
    assert io.read_series([path], {"a"}, stamps[11], stamps[12])["value"].tolist() == [11.0, 12.0]
    assert read == [3, 0, 1, "all"]  # the read of a range time_span took decodes nothing again


@pytest.mark.parametrize("unit, tz", [("s", None), ("ms", "Europe/Berlin"), ("us", "UTC"), ("ns", None)])
def test_a_files_time_bounds_come_from_its_statistics_in_utc_whatever_its_unit(tmp_path, unit, tz):
    """A `s` column is stored in ms: the bounds use the parquet column's unit, not Arrow's."""
    times = pd.date_range("2026-01-01 23:00", periods=3, freq="30min", tz=tz)
    column = pa.array(times.as_unit("s" if unit == "s" else unit), pa.timestamp(unit, tz))
    pq.write_table(pa.table({"timestamp": column, "w.x": [1.0, 2.0, 3.0]}), tmp_path / "w.parquet",
                   row_group_size=2)  # two row groups: the bounds span both
    series, bounds = io.scan_landed(str(tmp_path / "w.parquet"))
    assert series == {"w.x": None}
    expected = times.tz_localize("UTC") if tz is None else times.tz_convert("UTC")
    assert bounds == (expected[0], expected[-1], 3)


def test_a_file_without_usable_time_statistics_has_no_bounds(tmp_path):
    pq.write_table(pa.table({"timestamp": ["2026-01-01T00:00:00Z"], "w.x": [1.0]}), tmp_path / "iso.parquet")
    pq.write_table(pa.table({"timestamp": pa.array([T0]), "w.x": [1.0]}), tmp_path / "bare.parquet",
                   write_statistics=False)
    assert io.scan_landed(str(tmp_path / "iso.parquet"))[1] is None
    assert io.scan_landed(str(tmp_path / "bare.parquet"))[1] is None
    pq.write_table(pa.table({"timestamp": pa.array([T0, None]), "w.x": [1.0, 2.0]}), tmp_path / "null.parquet")
    assert io.scan_landed(str(tmp_path / "null.parquet"))[1] is None  # read, so its missing time is refused
    pq.write_table(pa.table({"timestamp": pa.array([], pa.timestamp("us")), "w.x": pa.array([], pa.float64())}),
                   tmp_path / "empty.parquet")
    first, last, rows = io.scan_landed(str(tmp_path / "empty.parquet"))[1]
    assert first is pd.NaT and last is pd.NaT and rows == 0  # no range holds a row of it
