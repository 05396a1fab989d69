"""Atomic local writes, parquet encoding settings and safe group paths."""
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline import io
from pipeline.config import ConfigError

T0 = pd.Timestamp("2026-01-01 22:00", tz="UTC")


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


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "/etc"])
def test_group_names_never_escape_the_root(tmp_path, name):
    with pytest.raises(ConfigError):
        io.safe_child(tmp_path, name)
    with pytest.raises(ConfigError):
        io.dataset_dir(str(tmp_path), "scores", name)


def test_arrow_state_files_read_back_to_the_bit_with_their_metadata(tmp_path):
    table = pa.table({"score": pa.array([0.1, np.nan, 1e-300]), "value": pa.array([1.5, -0.0, 3.25], pa.float32()),
                      "timestamp": pa.array(pd.date_range(T0, periods=3, freq="5min").as_unit("us"))})
    table = table.replace_schema_metadata({b"nightwatch.lookback": b'{"version": "v1"}'})
    path = tmp_path / "lookback" / "g.arrow"
    io.files.write_arrow_atomic(table, path)
    back = io.files.read_arrow(path)
    assert back.schema.equals(table.schema, check_metadata=True)
    assert back.column("score").to_numpy().view(np.uint64).tolist() == table.column("score").to_numpy().view(
        np.uint64).tolist()  # NaN and denormals as written
    assert back.column("value").to_pylist() == [1.5, -0.0, 3.25] and back.column("timestamp") == table.column("timestamp")
    assert [p.name for p in path.parent.iterdir()] == ["g.arrow"]  # written under a temp name, renamed


def test_a_writer_holding_the_lock_reuses_one_temp_name_and_overwrites_a_killed_ones(tmp_path):
    """Under the file's lock one temp name serves every write, so nothing is swept (no listing of a
    folder of a fleet's state files) and a killed writer's leftover is replaced by the next write."""
    path = tmp_path / "state" / "g.json"
    path.parent.mkdir()
    (tmp_path / "state" / ".tmp-g.json-held").write_bytes(b'{"half": ')  # a writer killed mid-write
    (tmp_path / "state" / "other.json").write_text("{}")
    io.files.write_json_atomic(path, {"scored_until": "2026-01-01T00:00:00+00:00"}, lock_held=True)
    assert json.loads(path.read_text()) == {"scored_until": "2026-01-01T00:00:00+00:00"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["g.json", "other.json"]
    io.files.write_arrow_atomic(pa.table({"a": [1]}), tmp_path / "g.arrow", lock_held=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.arrow", "state"]
