"""Landing files: the listing, what a footer tells (series, time bounds), unreadable files named."""
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import io
from pipeline.ingest import InputError

T0 = pd.Timestamp("2026-01-01 22:00", tz="UTC")


def test_landing_files_are_nested_sorted_and_skip_hidden(tmp_path):
    for rel in ("b/x.parquet", "a/date=2026-01-01/y.parquet", ".tmp-z.parquet", "_staging/w.parquet", "n.csv",
                "c/u.PARQUET", "c/v.pq", "c/w.parquet.tmp"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    names = [p[len(str(tmp_path)) + 1:] for p in io.landing_files(str(tmp_path))]
    assert names == ["a/date=2026-01-01/y.parquet", "b/x.parquet", "c/u.PARQUET", "c/v.pq"]
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
    filtered = pd.concat([wide, wide.assign(timestamp=T0 + pd.Timedelta("5min"))])  # index 0, 0: to_parquet keeps it
    filtered.to_parquet(tmp_path / "f.parquet")
    assert "__index_level_0__" in pq.read_schema(tmp_path / "f.parquet").names
    assert io.scan_file(str(tmp_path / "f.parquet")) == {"db.cpu": None, "db.mem": None}


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
