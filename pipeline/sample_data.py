"""Realistic sample metric groups with injected anomalies, in both landing layouts.

Each group is driven by one load curve (daily and weekly seasonality, trend, noise) that
its metrics follow, so they are correlated; anomalies are spikes, level shifts and a
metric decoupling from its group.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Injected:
    group: str
    kind: str
    metrics: tuple[str, ...]
    start: pd.Timestamp
    end: pd.Timestamp


def load_curve(index: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Traffic-like load in [~0.2, ~1.2]: daily and weekly cycles, slow trend, noise."""
    hours = (index - index[0]) / pd.Timedelta(hours=1)
    daily = 0.35 * np.sin(2 * np.pi * (hours - 9) / 24)
    weekend = np.where(index.day_of_week >= 5, -0.15, 0.0)
    trend = 0.1 * hours / hours.max()
    return 0.7 + daily + weekend + trend + rng.normal(0, 0.03, len(index))


GROUPS = {
    "web-01": {"cpu": (60, 5), "memory": (20, 50), "latency_p95": (80, 120), "requests": (900, 100),
               "errors": (5, 0.5)},
    "db-01": {"cpu": (40, 10), "iops": (3000, 500), "connections": (80, 20), "replication_lag": (0.5, 0.2)},
    "queue-01": {"depth": (200, 20), "consumers": (4, 8), "publish_rate": (500, 50)},
}


def group_frame(name: str, index: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    """Wide frame: each metric = base + gain * load (with its own lag and noise)."""
    rng = np.random.default_rng(seed)
    load = load_curve(index, rng)
    data = {}
    for i, (metric, (gain, base)) in enumerate(GROUPS[name].items()):
        lagged = np.roll(load, i)
        data[metric] = base + gain * lagged + rng.normal(0, 0.03 * gain, len(index))
    return pd.DataFrame(data, index=index)


def inject(frames: dict[str, pd.DataFrame]) -> list[Injected]:
    """Add a spike, a level shift and a decoupling in the last third (so the default 7-day
    report of 21 days shows them); return what was injected where."""
    out = []

    def at(frame: pd.DataFrame, fraction: float, hours: float) -> tuple[pd.Timestamp, pd.Timestamp]:
        """An injection `hours` long starting at `fraction` of the series, on the interval grid."""
        start = frame.index[int(fraction * len(frame))]
        return start, start + pd.Timedelta(hours=hours)

    web = frames["web-01"]
    start, end = at(web, 0.72, 0.5)
    web.loc[start:end, "latency_p95"] += 600
    out.append(Injected("web-01", "spike", ("latency_p95",), start, end))

    db = frames["db-01"]
    start, end = at(db, 0.80, 6)
    db.loc[start:end, "replication_lag"] += 8
    out.append(Injected("db-01", "level_shift", ("replication_lag",), start, end))

    queue = frames["queue-01"]
    start, end = at(queue, 0.88, 4)
    queue.loc[start:end, "depth"] = queue["depth"].max() * 1.6  # backlog while publishing stays normal
    out.append(Injected("queue-01", "decoupling", ("depth",), start, end))
    return out


def landing_files(days: int = 21, end: str = "2026-11-23", interval: str = "5min",
                  seed: int = 11) -> tuple[dict[str, pd.DataFrame], list[Injected]]:
    """Frames to write under the landing root (relative path -> frame), and the injections.

    web-01 lands in the long layout with a group column, hive-partitioned by date;
    db-01 lands wide, one file per week; queue-01 lands long without a group column,
    its group taken from a `group=` hive folder.
    """
    index = pd.date_range(end=pd.Timestamp(end, tz="UTC"), periods=days * pd.Timedelta("1D") //
                          pd.Timedelta(interval), freq=interval, name="timestamp")
    frames = {name: group_frame(name, index, seed + i) for i, name in enumerate(GROUPS)}
    injected = inject(frames)
    files: dict[str, pd.DataFrame] = {}

    web = frames["web-01"].reset_index().melt(id_vars="timestamp", var_name="metric", value_name="value")
    web.insert(1, "group", "web-01")
    for day, part in web.groupby(web["timestamp"].dt.date):
        files[f"cloudwatch/date={day}/web-01.parquet"] = part.reset_index(drop=True)

    db = frames["db-01"].reset_index()
    db["timestamp"] = db["timestamp"].dt.tz_localize(None)  # naive timestamps are read as UTC
    db.columns = ["timestamp"] + [f"db-01.{m}" for m in db.columns[1:]]
    for week, part in db.groupby(db["timestamp"].dt.isocalendar().week):
        files[f"exports/db-01-week{int(week):02d}.parquet"] = part.reset_index(drop=True)

    queue = frames["queue-01"].reset_index().melt(id_vars="timestamp", var_name="metric", value_name="value")
    files["prometheus/group=queue-01/metrics.parquet"] = queue.sample(frac=1.0, random_state=seed).reset_index(
        drop=True)  # unsorted on purpose
    return files, injected
