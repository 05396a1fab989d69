from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import io
from pipeline.catalog import discover, groups, load_aligned
from pipeline.config import ModelConfig
from pipeline.model import load_autoencoder, train_autoencoder
from pipeline.publish import SCORES_SCHEMA
from pipeline.scale import fit_scaler
from pipeline.scoring import run_model, scaled_input, score_group
from pipeline.train import train_group
from pipeline.window import window_starts, window_view
from tests.helpers import STEPS, land_sample, overlaps, tiny_settings


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("score")
    injected = land_sample(root, keep=("db-01",))
    settings = tiny_settings(root)
    catalog = discover(settings.storage.landing)
    (db,) = [g for g in groups(settings, catalog) if g.name == "db-01"]
    train_group(settings, db, catalog, "train-run", emit=lambda _: None)
    summary = score_group(settings, db, catalog, "score-run", emit=lambda _: None)
    return root, settings, catalog, db, injected, summary


def test_scores_are_published_with_schema_and_injection_found(scored):
    root, settings, _, db, injected, summary = scored
    assert summary["scored"] == STEPS and summary["anomalies"] >= 1
    scores = io.read_dataset(settings.storage.data_root, "scores", "db-01")
    assert {c: str(t) for c, t in scores.dtypes.items()} == SCORES_SCHEMA
    assert len(scores) == STEPS * 4 and set(scores["run_id"]) == {"score-run"}
    anomalies = io.read_dataset(settings.storage.data_root, "anomalies", "db-01")
    (shift,) = injected
    assert overlaps(anomalies, shift.start, shift.end)
    hit = anomalies[(anomalies["start"] <= shift.end) & (anomalies["end"] >= shift.start)].iloc[0]
    assert hit["top_metric"] == "db-01.replication_lag"
    flagged = scores.drop_duplicates("timestamp")
    assert flagged["is_anomaly"].mean() < 0.10  # quiet outside the incidents
    features = io.read_dataset(settings.storage.data_root, "features", "db-01")
    assert len(features) == STEPS - 16 + 1 and len(features["embedding"].iloc[0]) == 4
    assert io.read_watermark(settings.storage.data_root, "db-01") == scores["timestamp"].max()


def test_nothing_new_after_the_watermark(scored):
    _, settings, catalog, db, _, _ = scored
    assert score_group(settings, db, catalog, "again", emit=lambda _: None)["scored"] == 0


def test_backfill_rerun_gives_identical_rows(scored):
    _, settings, catalog, db, _, _ = scored
    root = settings.storage.data_root
    before = io.read_dataset(root, "scores", "db-01").drop(columns="run_id")
    mark = io.read_watermark(root, "db-01")
    start, end = before["timestamp"].min(), before["timestamp"].max()
    score_group(settings, db, catalog, "backfill", str(start), str(end), emit=lambda _: None)
    after = io.read_dataset(root, "scores", "db-01").drop(columns="run_id")
    pd.testing.assert_frame_equal(before, after)
    assert io.read_watermark(root, "db-01") == mark


def test_incremental_scoring_adds_only_new_steps(scored):
    _, settings, catalog, db, _, _ = scored
    root = settings.storage.data_root
    last = io.read_watermark(root, "db-01")
    new_times = pd.date_range(last + pd.Timedelta("5min"), periods=12, freq="5min").tz_localize(None)
    aligned = load_aligned(catalog, db)
    tail = aligned.values.iloc[-12:].to_numpy()
    extra = pd.DataFrame(tail, columns=list(db.metrics)).assign(timestamp=new_times)
    io.write_parquet_atomic(extra, Path(settings.storage.landing) / "exports" / "late.parquet")
    summary = score_group(settings, db, discover(settings.storage.landing), "incr", emit=lambda _: None)
    assert summary["scored"] == 12
    scores = io.read_dataset(root, "scores", "db-01")
    assert not scores.duplicated(["timestamp", "metric"]).any() and len(scores) == (STEPS + 12) * 4


def test_saved_version_scores_identically_to_the_trained_model(tmp_path):
    values = np.sin(np.arange(300)[:, None] / 10 + np.arange(2)).astype(float)
    scaler = fit_scaler(values, ("a", "b"))
    scaled = scaled_input(values, scaler)
    starts = window_starts(300, 12, 1)
    result = train_autoencoder(window_view(scaled, 12), starts[:200], starts[200:],
                               ModelConfig(units=4, bottleneck=2, epochs=1), emit=lambda _: None)
    io.save_model_version(str(tmp_path), "g", "v1", result.model, {"version": "v1"})
    loaded = load_autoencoder(io.model_path(str(tmp_path), "g", "v1"))
    a, b = run_model(result.model, scaled, 12, 1), run_model(loaded, scaled, 12, 1)
    np.testing.assert_array_equal(a.metric_errors, b.metric_errors)
    np.testing.assert_array_equal(a.codes, b.codes)
