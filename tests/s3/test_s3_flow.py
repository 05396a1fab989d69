"""The flows on s3:// roots against a real S3 API server: the nightly flow end to end (its endpoint
from `storage.storage_options`, not the environment), incremental scoring and a backfill, the
registry's promotion, pin and pointers, and published parquet read straight from the bucket."""
from __future__ import annotations

import pandas as pd
import pyarrow.dataset as ds
import pytest
import s3fs
import yaml

from pipeline import io
from tests.helpers import DAYS, GROUPS, TINY
from pipeline.sample_data import landing_files

HELD_BACK = ("cloudwatch/date=2026-11-19/", "cloudwatch/date=2026-11-20/")  # web-01's last day, landed later


def land(bucket: str, held_back: bool) -> None:
    """The sample groups under `<bucket>/data/landing`: all but web-01's last day, or only that day."""
    files, _ = landing_files(days=DAYS, end="2026-11-20")
    for rel, frame in files.items():
        if any(name in rel for name in ("web-01", "db-01")) and any(rel.startswith(h) for h in HELD_BACK) == held_back:
            io.write_parquet_atomic(frame, io.location(f"{bucket}/data/landing") / rel)


@pytest.fixture(scope="module")
def nightly(tmp_path_factory, s3_server, prefect_harness):
    """The nightly flow on a fresh bucket; the endpoint only in the config file's storage_options."""
    from flows.nightly import nightly_flow

    bucket = "s3://nightwatch-flow"
    s3fs.S3FileSystem().mkdir(bucket[5:])
    land(bucket, held_back=False)
    root = tmp_path_factory.mktemp("s3-flow")
    config = root / "nightwatch.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"data_root": f"{bucket}/data", "models_root": f"{bucket}/models",
                    "storage_options": {"endpoint_url": s3_server}},
        "defaults": TINY, "groups": GROUPS}))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv("AWS_ENDPOINT_URL")
        state = nightly_flow(str(config), days=30, return_state=True)
    return bucket, str(config), state


def test_nightly_flow_publishes_to_the_bucket_readable_by_pyarrow(nightly, tmp_path):
    bucket, _, state = nightly
    assert state.is_completed(), state.message
    assert not list(tmp_path.iterdir())
    scores = ds.dataset(f"{bucket[5:]}/data/scores", filesystem=s3fs.S3FileSystem(), format="parquet",
                        partitioning="hive").to_table().to_pandas()  # what Athena, DuckDB or Spark see
    assert set(scores["group"]) == {"web-01", "db-01"}
    for group in ("web-01", "db-01"):
        published = io.read_dataset(f"{bucket}/data", "scores", group)
        assert len(published) == len(scores[scores["group"] == group])
        assert set(scores.loc[scores["group"] == group, "date"]) == set(published["timestamp"].dt.strftime("%Y-%m-%d"))
        assert len(io.read_dataset(f"{bucket}/data", "features", group)) > 0
    (report,) = (io.location(f"{bucket}/data") / "reports").glob("report-*.html")
    assert report.read_text().count("<svg") == 2  # both groups' sections read their data from the bucket
    assert "s3://" in state.message


def test_incremental_scoring_then_a_backfill_rewrite_only_their_range(nightly):
    from flows.nightly import score_flow

    bucket, config, _ = nightly
    data = f"{bucket}/data"
    before = io.read_dataset(data, "scores", "web-01")
    watermark, open_since = io.read_watermark(data, "web-01"), io.read_open_since(data, "web-01")
    land(bucket, held_back=True)
    assert score_flow(config)["failed"] == {}
    after = io.read_dataset(data, "scores", "web-01")
    assert io.read_watermark(data, "web-01") == after["timestamp"].max() > watermark
    assert io.read_watermark(data, "db-01") == io.read_dataset(data, "scores", "db-01")["timestamp"].max()
    assert io.read_lookback(data, "web-01").num_rows > 0  # the look-back carried to the next run, in the bucket
    kept = open_since or watermark  # steps before an interval open at the watermark are never scored again
    pd.testing.assert_frame_equal(before[before["timestamp"] < kept], after[after["timestamp"] < kept])
    assert not after.duplicated(["timestamp", "metric"]).any()

    day = (pd.Timestamp("2026-11-12", tz="UTC"), pd.Timestamp("2026-11-12 23:55", tz="UTC"))
    result = score_flow(config, start=day[0].isoformat(), end=day[1].isoformat())
    assert result["failed"] == {}
    backfilled = io.read_dataset(data, "scores", "web-01")
    in_day = backfilled["timestamp"].between(*day)
    assert backfilled.loc[in_day, "run_id"].nunique() == 1 and not backfilled.loc[in_day, "run_id"].isin(
        after["run_id"]).any()  # the day was published again ...
    same = ["timestamp", "metric", "value", "score", "is_anomaly"]
    pd.testing.assert_frame_equal(backfilled[same], after[same])  # ... with the same rows
    assert io.read_watermark(data, "web-01") == after["timestamp"].max()  # a backfill never moves it


def test_registry_promotion_pin_and_pointers_on_the_bucket(nightly):
    from flows.nightly import train_flow

    bucket, config, _ = nightly
    models = f"{bucket}/models"
    (first,) = io.versions(models, "web-01")
    assert io.current_version(models, "web-01") == first
    assert [e["action"] for e in io.read_log(models, "web-01")] == ["register", "promote"]
    land(bucket, held_back=True)  # idempotent: the test may run alone
    assert train_flow(config)["failed"] == {}
    first_, second = io.versions(models, "web-01")
    assert first_ == first and second > first
    assert io.current_version(models, "web-01") in (first, second)

    io.pin_version(models, "web-01", first, who="test", why="roll back")
    assert (io.current_version(models, "web-01"), io.pinned_version(models, "web-01")) == (first, first)
    with pytest.raises(io.PinnedError):
        io.set_current_version(models, "web-01", second, who="test")
    assert io.unpin_version(models, "web-01", who="test") == first
    io.set_current_version(models, "web-01", second, who="test", why="forward again")
    assert (io.current_version(models, "web-01"), io.pinned_version(models, "web-01")) == (second, None)
    assert [e["action"] for e in io.read_log(models, "web-01")][-3:] == ["pin", "unpin", "promote"]
    assert io.read_log(models, "web-01")[-1]["previous"] == first
