"""Time-range reads of landing files: validated rows, spans, row groups picked by statistics and kept decoded."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import io
from pipeline.io import landing_reads
from pipeline.ingest import InputError

T0 = pd.Timestamp("2026-01-01 22:00", tz="UTC")


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
    cached = [key[-1] for key in landing_reads._DECODED.tables if key[0] == path]
    assert cached == [0, 1]  # each row group decoded once; the second read took group 0 from the cache
    pd.DataFrame({"timestamp": stamps, "a": np.arange(48.0) + 100}).to_parquet(path, row_group_size=24)
    assert io.read_series([path], {"a"}, T0 + 2 * hour, T0 + 3 * hour)["value"].tolist() == [104.0, 105.0, 106.0]


def test_row_group_cache_keeps_the_latest_tables_within_its_budget():
    decoded = []

    def decode(name):
        decoded.append(name)
        return pa.table({"x": np.zeros(100)})  # 800 bytes

    cache = landing_reads._RowGroupCache(budget=2000)
    for name in ("a", "b", "a", "c", "a", "b"):
        cache.get(name, lambda name=name: decode(name))
    assert decoded == ["a", "b", "c", "b"]  # "b" was the least recently used when "c" came in
    assert landing_reads._RowGroupCache(budget=500).get("big", lambda: decode("big")).num_rows == 100


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
