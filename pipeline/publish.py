"""Output rows for the published datasets; every row carries model version and run id.

- scores: one row per (timestamp, metric): value, imputed, metric_score (the metric's error
  over its usual error), and the group's combined score, threshold, anomaly_score (the largest
  of the rules' statistics over their thresholds) and is_anomaly at that timestamp (points =
  rows with is_anomaly).
- anomalies: one row per merged interval (see pipeline.anomalies.INTERVAL_COLUMNS).
- features: one row per scored window: window_end and the encoder's bottleneck vector.

The group is the dataset's folder, not a column of its files (`io.read_dataset` adds it).
Scores, eight rows a timestamp for an 8-metric group, are built straight in Arrow.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

SCORES_SCHEMA = {"group": "string", "timestamp": "datetime64[us, UTC]", "metric": "string",
                 "value": "float64", "imputed": "bool", "metric_score": "float64", "score": "float64",
                 "threshold": "float64", "anomaly_score": "float64", "is_anomaly": "bool", "model_version": "string",
                 "run_id": "string"}
# the Arrow schema of a scores file, with the pandas metadata that reads it back as SCORES_SCHEMA
TEXTS = ("severity", "trigger", "top_metric", "contributors")  # interval columns published as strings
_SCORES_ARROW = pa.Schema.from_pandas(pd.DataFrame({c: pd.Series([], dtype=t) for c, t in SCORES_SCHEMA.items()
                                                    if c != "group"}), preserve_index=False)


def scores_table(index: pd.DatetimeIndex, metrics: tuple[str, ...], values: np.ndarray, imputed: np.ndarray,
                 metric_scores: np.ndarray, scores: np.ndarray, threshold: float, anomaly_scores: np.ndarray,
                 flags: np.ndarray, version: str, run_id: str) -> pa.Table:
    """Long per-metric rows for each timestamp of `index` (arrays are [time, metric] / [time])."""
    n, k = len(index), len(metrics)
    columns = [pa.array(index.repeat(k).as_unit("us")), _tiled_strings(metrics, n), values.reshape(-1),
               imputed.reshape(-1), metric_scores.reshape(-1), np.repeat(scores, k), np.full(n * k, threshold),
               np.repeat(anomaly_scores, k), np.repeat(flags, k), _tiled_strings((version,), n * k),
               _tiled_strings((run_id,), n * k)]
    return pa.Table.from_arrays(columns, schema=_SCORES_ARROW)


def _tiled_strings(labels: tuple[str, ...], times: int) -> pa.Array:
    """`labels` repeated `times` times, as one string column built from its buffers (no string per row)."""
    encoded = [label.encode() for label in labels]
    offsets = np.zeros(len(encoded) * times + 1, np.int64)
    np.cumsum(np.tile([len(b) for b in encoded], times), out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded) * times)
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), data)


def anomalies_frame(intervals: pd.DataFrame, version: str, run_id: str) -> pd.DataFrame:
    rows = len(intervals)
    texts = {column: pd.array(intervals[column].to_numpy(), dtype="string") for column in TEXTS}
    return pd.DataFrame({**{column: texts.get(column, intervals[column]) for column in intervals.columns},
                         "model_version": pd.array([version] * rows, dtype="string"),
                         "run_id": pd.array([run_id] * rows, dtype="string")})


def features_frame(window_ends: pd.DatetimeIndex, codes: np.ndarray, version: str, run_id: str) -> pd.DataFrame:
    return pd.DataFrame({
        "window_end": window_ends,
        "model_version": pd.Series([version] * len(window_ends), dtype="string"),
        "run_id": pd.Series([run_id] * len(window_ends), dtype="string"),
        "embedding": list(codes.astype(np.float32)),
    })
