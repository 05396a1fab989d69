"""What the scoring tests share: copies of a scored data root with the stored model changed, the
published outputs, and their comparison."""
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.config import GroupConfig, Settings
from pipeline.scoring import score_group
from pipeline.train import train_group
from tests.helpers import land_sample, tiny_settings


# Flagging rules with their recent-context checks on, and off; filters loose enough to keep repeats.
RECENT = {"score": {"recent": {"days": 3, "k": 2.0}}, "level": {"steps": 24, "recent": {"days": 3, "factor": 1.2}},
          "shift": {"recent": {"days": 3, "k": 2.0, "floor": 0.5}}}
NO_RECENT = {"score": {"recent": None}, "level": {"steps": 24, "recent": None}, "shift": {"recent": None}}
LOOSE_REPEATS = {"min_peak": {}, "daily_repeat": {"factor": 1.5}}
LAG = "db-01.replication_lag"


def trained_and_scored(root: Path) -> tuple:
    """The db-01 sample group landed under `root`, trained and scored once with the tiny settings:
    (root, settings, catalog, group, injected anomalies, score summary), the scoring tests' base."""
    injected = land_sample(root, keep=("db-01",))
    settings = tiny_settings(root)
    catalog = discover(settings.storage.landing)
    (db,) = [g for g in groups(settings, catalog) if g.name == "db-01"]
    train_group(settings, db, catalog, "train-run", emit=lambda _: None)
    summary = score_group(settings, db, catalog, "score-run", emit=lambda _: None)
    return root, settings, catalog, db, injected, summary


def scoring_copy(settings, target: Path, stride: int | None = None, threshold: float | None = None,
                 flags: dict | None = None, filters: dict | None = None) -> Settings:
    """A fresh data root with the same landing and models; the current model's stride, score
    threshold or flagging rules changed (`flags`: a rule's changed settings, None to turn it off),
    and the settings' filters replaced (`filters`: the config file's mapping)."""
    shutil.copytree(settings.storage.landing, target / "data" / "landing")
    shutil.copytree(settings.storage.models_root, target / "models")
    for path in (target / "models").glob("*/*/metadata.json"):
        meta = json.loads(path.read_text())
        meta["config"]["stride"] = stride or meta["config"]["stride"]
        meta["states"]["score"]["threshold"] = threshold or meta["states"]["score"]["threshold"]
        stored = meta["config"]["detection"]["flags"]
        for name, change in (flags or {}).items():
            if change is None:
                del stored[name]
            else:
                stored[name].update(change)
        path.write_text(json.dumps(meta))
    return tiny_settings(target, detection=None if filters is None else {"filters": filters})


def db_group(settings) -> GroupConfig:
    """The db-01 group as `settings` configure it (their filters apply at scoring)."""
    (db,) = [g for g in groups(settings, discover(settings.storage.landing)) if g.name == "db-01"]
    return db


def published(settings) -> dict[str, pd.DataFrame]:
    return {name: io.read_dataset(settings.storage.data_root, name, "db-01").drop(columns="run_id", errors="ignore")
            for name in ("scores", "anomalies", "features")}


def published_from(outputs: dict, start: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """`published` outputs from `start` on (scores and features by time, anomalies by start); no
    rows: an empty frame, whatever columns it had."""
    kept = {name: frame if frame.empty else frame[frame[column] >= start].reset_index(drop=True)
            for (name, frame), column in zip(outputs.items(), ("timestamp", "start", "window_end"))}
    return {name: pd.DataFrame() if frame.empty else frame for name, frame in kept.items()}


def assert_same_outputs(a: dict, b: dict) -> None:
    """Equal rows; floats within 1e-4 (small parts run the model unpadded by XLA: last-bit differences)."""
    pd.testing.assert_frame_equal(a["scores"], b["scores"], rtol=1e-4, atol=1e-7)
    pd.testing.assert_frame_equal(a["anomalies"], b["anomalies"], rtol=1e-4)
    pd.testing.assert_frame_equal(a["features"].drop(columns="embedding"), b["features"].drop(columns="embedding"))
    np.testing.assert_allclose(np.stack(a["features"]["embedding"]), np.stack(b["features"]["embedding"]),
                               rtol=1e-4, atol=1e-5)


def assert_scaled_by_usual_errors_and_backfilled_as_one_pass(settings, db, catalog, stored, tmp_path) -> dict:
    """Score the whole range once: the metric with the largest usual error (never raised to the
    floor) has mean metric score 1; a backfill from mid-day (not at a day's first step) of a
    fresh copy publishes what the one pass did from there. Returns the backfill's outputs."""
    score_group(settings, db, catalog, "score-run", emit=lambda _: None)
    one_pass = published(settings)
    scores = one_pass["scores"]
    assert set(scores["metric"]) == set(db.metrics) and scores["score"].notna().any()
    scales = pd.Series(stored.metric_scales, index=list(db.metrics))
    mine = scores[(scores["metric"] == scales.idxmax()) & ~scores["imputed"] & scores["value"].notna()]
    assert mine["metric_score"].mean() == pytest.approx(1.0, rel=1e-3)
    copy = scoring_copy(settings, tmp_path / "backfill")
    start = scores["timestamp"].max() - pd.Timedelta("2D") + pd.Timedelta("35min")
    score_group(copy, db, discover(copy.storage.landing), "score-run", start=start, emit=lambda _: None)
    backfilled = published_from(published(copy), start)
    assert_same_outputs(backfilled, published_from(one_pass, start))
    return backfilled
