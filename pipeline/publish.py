"""Output rows for the published datasets; every row carries model version and run id.

- scores: one row per (timestamp, metric): value, imputed, metric_score (the metric's error
  over its usual error), and the group's combined score, threshold, anomaly_score (the largest
  of the rules' statistics over their thresholds) and is_anomaly at that timestamp (points =
  rows with is_anomaly).
- anomalies: one row per merged interval (see pipeline.anomalies.INTERVAL_COLUMNS).
- features: one row per scored window: window_end and the encoder's bottleneck vector.

The group is the dataset's folder, not a column of its files (`io.read_dataset` adds it).
All three are built straight in Arrow, with the pandas metadata that reads them back in their dtypes
(scores: eight rows a timestamp for an 8-metric group).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.anomalies import INTERVAL_DTYPES

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


def anomalies_table(intervals: pd.DataFrame, version: str, run_id: str) -> pa.Table:
    """One row per interval of `pipeline.anomalies.to_intervals`, with the version and run."""
    rows = len(intervals)
    columns = [pa.array(intervals[c], type=_ANOMALIES_ARROW.field(c).type) for c in intervals.columns]
    return pa.Table.from_arrays([*columns, _tiled_strings((version,), rows), _tiled_strings((run_id,), rows)],
                                schema=_ANOMALIES_ARROW)


def features_table(window_ends: pd.DatetimeIndex, codes: np.ndarray, version: str, run_id: str) -> pa.Table:
    """One row per window: its end and the encoder's bottleneck vector ([window, bottleneck] `codes`)."""
    rows, width = len(window_ends), codes.shape[1]
    offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * width)
    embedding = pa.ListArray.from_arrays(offsets, pa.array(codes.astype(np.float32).reshape(-1)))
    return pa.Table.from_arrays([pa.array(window_ends.as_unit("us")), _tiled_strings((version,), rows),
                                 _tiled_strings((run_id,), rows), embedding], schema=_FEATURES_ARROW)


def _arrow_schema(frame: pd.DataFrame) -> pa.Schema:
    """The Arrow schema of `frame`, with the pandas metadata that reads a file back in its dtypes."""
    return pa.Schema.from_pandas(frame, preserve_index=False)


_ANOMALIES_ARROW = _arrow_schema(pd.DataFrame(
    {**{c: pd.Series([], dtype="string" if c in TEXTS else t) for c, t in INTERVAL_DTYPES.items()},
     "model_version": pd.Series([], dtype="string"), "run_id": pd.Series([], dtype="string")}))
_FEATURES_ARROW = _arrow_schema(pd.DataFrame(
    {"window_end": pd.Series([pd.Timestamp(0, tz="UTC")], dtype="datetime64[us, UTC]"),
     "model_version": pd.Series([""], dtype="string"), "run_id": pd.Series([""], dtype="string"),
     "embedding": [np.zeros(1, np.float32)]}))
