"""Backfills publish what one full pass over the same landed data does: a range scored in
consecutive pieces, then random sub-ranges scored again (some cutting anomaly intervals), leave
exactly the scores and anomaly intervals of one pass; re-backfilling never changes history."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.config import Settings
from pipeline.scoring import score_group
from pipeline.train import train_group
from tests.reliability.common import land, settings_for, wide

STEPS = 4 * 288  # four days at 5 min: the daily-repeat filter looks two days back
STEP = pd.Timedelta("5min")
INCIDENTS = [(700, 10, 0, 4.0), (740, 6, 1, 6.0), (900, 30, 0, 3.0), (1050, 8, 1, 5.0)]  # first, steps, metric, size
# flags that bite on four days: no recent-context check on the score, one day of it on the others
FLAGS = {"score": {"recent": None}, "level": {"steps": 24, "recent": {"days": 1, "factor": 1.2}},
         "shift": {"recent": {"days": 1, "k": 2.0, "floor": 0.5}}}


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory):
    """A group with injected incidents, trained once, its score threshold lowered so that many
    anomaly runs (some merged over the merge gap) exist; then one pass over all of it."""
    root = tmp_path_factory.mktemp("backfill")
    frame = wide("app", steps=STEPS)
    for first, steps, metric, size in INCIDENTS:
        frame.iloc[first:first + steps, 1 + metric] += size
    land(root / "data" / "landing", "exports/app.parquet", frame)
    settings = settings_for(root, [{"name": "app", "metrics": ["app.*"], "stride": 4}])  # windows every 4 steps
    catalog = discover(settings.storage.landing, now=frame["timestamp"].iloc[-1])
    (group,) = groups(settings, catalog)
    train_group(settings, group, catalog, "train", emit=lambda _: None)
    score_group(settings, group, catalog, "probe", emit=lambda _: None)
    probe = io.read_dataset(settings.storage.data_root, "scores", "app").drop_duplicates("timestamp")
    low = float(np.nanquantile(probe["score"], 0.7))
    for path in Path(settings.storage.models_root).glob("app/*/metadata.json"):
        meta = json.loads(path.read_text())
        meta["states"]["score"]["threshold"] = low
        for name, change in FLAGS.items():
            meta["config"]["detection"]["flags"][name].update(change)
        path.write_text(json.dumps(meta))
    full = into(settings, root / "one-pass")
    score_group(full, group, catalog, "one-pass", emit=lambda _: None)
    expected = published(full)
    assert len(expected["anomalies"]) >= 3 and (expected["anomalies"]["n_points"] > 20).any()
    return root, settings, catalog, group, expected


def into(settings: Settings, data_root: Path) -> Settings:
    """The same landing (the catalog's paths) and models, publishing under `data_root`."""
    return dataclasses.replace(settings, storage=dataclasses.replace(settings.storage, data_root=str(data_root)))


def published(settings: Settings) -> dict[str, pd.DataFrame]:
    """The group's scores and anomalies, sorted, without the run that wrote them."""
    keys = {"scores": ["timestamp", "metric"], "anomalies": ["start"]}
    return {name: io.read_dataset(settings.storage.data_root, name, "app").drop(columns="run_id")
            .sort_values(key).reset_index(drop=True) for name, key in keys.items()}


def assert_same(found: dict, expected: dict) -> None:
    pd.testing.assert_frame_equal(found["scores"], expected["scores"], check_exact=True)
    pd.testing.assert_frame_equal(found["anomalies"], expected["anomalies"], check_exact=True)


def test_pieces_then_random_backfills_publish_what_one_pass_does(one_pass, tmp_path):
    root, settings, catalog, group, expected = one_pass
    pieces = into(settings, tmp_path / "pieces")
    first = expected["scores"]["timestamp"].min()
    rng = np.random.default_rng(24)
    longest = expected["anomalies"].loc[expected["anomalies"]["n_points"].idxmax()]
    inside = longest["start"] + (longest["end"] - longest["start"]) / 2  # a cut through an interval
    cuts = sorted({*(first + STEP * rng.integers(1, STEPS, 5)), inside.floor(STEP)})
    score_group(pieces, group, catalog, "piece", end=cuts[0] - STEP, emit=lambda _: None)  # from the first row
    for start, stop in zip(cuts, [*cuts[1:], first + STEPS * STEP]):  # consecutive end-bounded runs
        score_group(pieces, group, catalog, "piece", start, stop - STEP, emit=lambda _: None)
    assert_same(published(pieces), expected)
    bounds = [(inside, inside + 30 * STEP), (longest["start"] - 60 * STEP, inside)]  # cutting either end
    bounds += [tuple(sorted(first + STEP * rng.integers(0, STEPS, 2))) for _ in range(4)]
    for start, end in bounds:
        score_group(pieces, group, catalog, "backfill", start, end, emit=lambda _: None)
        assert_same(published(pieces), expected)
