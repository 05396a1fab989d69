"""The Prometheus textfile: each group's newest published score, read from its newest scores
partition, and the file replaced at once (node_exporter must never read half of it)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.io.files import read_parquet, write_bytes_atomic
from pipeline.io.published import dataset_dir
from pipeline.io.store import ObjectPath


def latest_score(data_root: str, group: str) -> tuple[pd.Timestamp, float, float] | None:
    """The group's newest scored time with its score and threshold (None if nothing is published)."""
    files = sorted(dataset_dir(data_root, "scores", group).glob("date=*/part-0.parquet"))
    if not files:
        return None
    rows = read_parquet(files[-1], columns=["timestamp", "score", "threshold"])
    if rows.empty:
        return None
    newest = rows.loc[rows["timestamp"] == rows["timestamp"].max()].iloc[0]
    return newest["timestamp"], float(newest["score"]), float(newest["threshold"])


def write_textfile(path: Path | ObjectPath, text: str) -> None:
    write_bytes_atomic(path, text.encode())
