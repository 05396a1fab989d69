"""Shared builders for the reliability suite: a quick model config and generated metric frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import Settings, parse_settings
from tests.helpers import TINY

T0 = pd.Timestamp("2026-11-18", tz="UTC")
STEPS = 2 * 288  # two days at 5 min: enough for window 16 with a 20% validation tail
QUICK = {**TINY, "model": {**TINY["model"], "units": 4, "bottleneck": 2, "epochs": 2}}


def settings_for(root: Path, groups: list[dict]) -> Settings:
    """Quick-training settings with storage under `root`."""
    raw = {"storage": {"data_root": str(root / "data"), "models_root": str(root / "models")},
           "defaults": QUICK, "groups": groups}
    return parse_settings(raw, "reliability-config", root)


def times(steps: int = STEPS, start: pd.Timestamp = T0) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=steps, freq="5min", name="timestamp")


def wide(prefix: str, metrics: int = 2, steps: int = STEPS, start: pd.Timestamp = T0, seed: int = 0) -> pd.DataFrame:
    """A wide frame `timestamp, <prefix>.m0, ...`: correlated daily waves with a little noise."""
    rng = np.random.default_rng(seed)
    index = times(steps, start)
    wave = np.sin(2 * np.pi * np.arange(steps) / 288)
    data = {f"{prefix}.m{i}": 10 * (i + 1) + (i + 1) * wave + rng.normal(0, 0.05, steps) for i in range(metrics)}
    return pd.DataFrame({"timestamp": index, **data})


def land(landing: Path, rel: str, content: pd.DataFrame | bytes) -> Path:
    """Write a frame as parquet (or raw bytes) under the landing root."""
    path = landing / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        content.to_parquet(path, index=False)
    return path
