"""pipeline.io.store: local roots stay pathlib Paths (rename and flock as before); other fsspec URLs
become ObjectPaths, written whole. Checked on fsspec's in-memory store, which has no conditional
writes, so its lease refuses a second writer instead of waiting."""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pandas as pd
import pytest

from pipeline import io
from pipeline.config import StorageConfig
from pipeline.io.lease import LeaseError
from pipeline.io.store import ObjectPath, local_copy, location, use_storage


@pytest.fixture
def root() -> str:
    return f"memory://nightwatch-{uuid.uuid4().hex[:8]}"


def test_local_roots_and_file_urls_are_paths_others_object_paths(tmp_path):
    assert location(str(tmp_path)) == tmp_path and location(f"file://{tmp_path}") == tmp_path
    assert location("s3://bucket/data") == ObjectPath("s3://bucket/data")
    path = location("s3://bucket/data/") / "state" / "web-01.json"
    assert (str(path), path.name, path.stem, str(path.parent)) == (
        "s3://bucket/data/state/web-01.json", "web-01.json", "web-01", "s3://bucket/data/state")
    ordered = [ObjectPath("s3://b/10"), ObjectPath("s3://b/2")]
    assert sorted(reversed(ordered)) == ordered


def test_object_path_writes_lists_and_removes(root):
    base = location(root)
    (base / "a" / "x.json").write_bytes(b"{}")
    (base / "a" / "sub" / "y.json").write_bytes(b"[]")
    assert (base / "a" / "x.json").read_text() == "{}" and (base / "a").is_dir()
    assert [p.name for p in sorted((base / "a").iterdir())] == ["sub", "x.json"]
    assert [str(p) for p in (base / "a").glob("*.json")] == [f"{root}/a/x.json"]
    (base / "a" / "x.json").unlink()
    (base / "a" / "x.json").unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError):
        (base / "a" / "x.json").unlink()
    (base / "a").remove_tree()
    assert not (base / "a").exists() and (base / "nothing").iterdir() == []


def test_published_rows_state_and_log_on_an_object_store(root):
    rows = pd.DataFrame({"timestamp": pd.date_range("2026-11-18 23:50", periods=3, freq="5min", tz="UTC"),
                         "value": [1.0, 2.0, 3.0]})
    written = io.upsert_partitions(root, "scores", "g", rows, "timestamp", rows["timestamp"].min(),
                                   rows["timestamp"].max())
    assert [str(p) for p in written] == [f"{root}/scores/group=g/date=2026-11-18/part-0.parquet",
                                         f"{root}/scores/group=g/date=2026-11-19/part-0.parquet"]
    assert io.read_dataset(root, "scores", "g")["value"].tolist() == [1.0, 2.0, 3.0]
    assert io.published_groups(root, "scores") == ["g"]
    io.write_watermark(root, "g", rows["timestamp"].max())
    assert io.read_watermark(root, "g") == pd.Timestamp("2026-11-19 00:00", tz="UTC")
    assert io.state_groups(root) == ["g"]
    now = pd.Timestamp("2026-11-20", tz="UTC")
    io.reset_state(root, "g", pd.Timestamp("2026-11-18", tz="UTC"), now, who="a")
    io.reset_state(root, "g", None, now, who="b")
    assert [json.loads(line)["who"] for line in io.read_audit(root, "g", 5)] == ["a", "b"]  # appended whole
    assert io.read_watermark(root, "g") is None
    assert not list(location(root).glob("**/.*lock"))  # each lease was given back


def test_a_store_without_conditional_writes_refuses_a_held_lease_at_once(root):
    lock = location(root) / "scores" / "group=g" / ".lock"
    holder = {"owner": "other:1:abc", "host": "other", "pid": 1, "renewed_at": pd.Timestamp.now().timestamp()}
    lock.write_bytes(json.dumps(holder).encode())
    with pytest.raises(LeaseError, match="held by other:1:abc.*no conditional writes"):
        with io.locked(lock, timeout=30):
            pass
    lock.write_bytes(json.dumps({**holder, "renewed_at": 0}).encode())  # not renewed for long: its holder died
    with io.locked(lock, timeout=30):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


def test_local_copy_is_cached_by_url_and_etag(root):
    model = location(root) / "g" / "v1" / "model.keras"
    model.write_bytes(b"first")
    first = local_copy(model)
    assert Path(first).read_bytes() == b"first" and local_copy(model) == first


def test_use_storage_applies_options_to_the_roots_protocol(root):
    import fsspec

    use_storage(StorageConfig(data_root=f"{root}/data", models_root="models", storage_options=(("extra", 1),)))
    assert fsspec.config.conf["memory"]["extra"] == 1
    fsspec.config.conf["memory"].pop("extra")
