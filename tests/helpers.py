"""Small fixtures shared by the tests: a tiny model configuration and landed sample data."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from pipeline import io
from pipeline.config import Settings, parse_settings
from pipeline.sample_data import landing_files

TINY = {
    "interval": "5min", "window": 16, "stride": 1, "train_stride": 2, "lookback": "28D", "max_gap": 3,
    "model": {"units": 8, "bottleneck": 4, "epochs": 4, "batch_size": 64, "patience": 2},
}
DAYS = 16  # a 6-hour incident must stay a small part (<2%) of the training range: see RESULTS.md
STEPS = DAYS * 288  # 5-minute steps
GROUPS = [{"name": "web-01", "metrics": ["web-01/*"]}, {"name": "db-01", "metrics": ["db-01.*"]}]


def tiny_config(root: Path, groups: list[dict] | None = None, detection: dict | None = None) -> dict:
    """The tiny defaults; `detection` (the config file's section) replaces the default detection."""
    return {"storage": {"data_root": str(root / "data"), "models_root": str(root / "models")},
            "defaults": {**TINY, **({"detection": detection} if detection is not None else {})},
            "groups": GROUPS if groups is None else groups}


def write_config(root: Path, groups: list[dict] | None = None) -> Path:
    path = root / "nightwatch.yaml"
    path.write_text(yaml.safe_dump(tiny_config(root, groups)))
    return path


def land_sample(root: Path, days: int = DAYS, keep: tuple[str, ...] = ("web-01", "db-01")) -> list:
    """Write the sample groups in `keep` under root/data/landing; return their injections."""
    files, injected = landing_files(days=days, end="2026-11-20")
    for rel, frame in files.items():
        if any(name in rel for name in keep):
            io.write_parquet_atomic(frame, root / "data" / "landing" / rel)
    return [i for i in injected if i.group in keep]


BAD_GROUP = {"name": "bad", "metrics": ["bad.*"]}


def land_sample_with_bad_inputs(root: Path) -> list:
    """The sample groups, plus a group whose values are strings and a file that is not parquet."""
    injected = land_sample(root)
    landing = root / "data" / "landing"
    pd.DataFrame({"timestamp": pd.date_range("2026-11-17", periods=500, freq="5min"),
                  "bad.x": ["oops"] * 500}).to_parquet(landing / "bad.parquet")
    (landing / "broken.parquet").write_text("this is not parquet")
    return injected


def tiny_settings(root: Path, groups: list[dict] | None = None, detection: dict | None = None) -> Settings:
    return parse_settings(tiny_config(root, groups, detection), "test-config", root)


def overlaps(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> bool:
    """Whether any interval row of `frame` overlaps [start, end]."""
    return bool(((frame["start"] <= end) & (frame["end"] >= start)).any())
