"""Output frames for the published datasets; every row carries group, model version and run id.

- scores: one row per (timestamp, metric): value, imputed, metric_score, and the group's
  combined score, threshold and is_anomaly at that timestamp (points = rows with is_anomaly).
- anomalies: one row per merged interval (see pipeline.anomalies.INTERVAL_COLUMNS).
- features: one row per scored window: window_end and the encoder's bottleneck vector.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

SCORES_SCHEMA = {"group": "string", "timestamp": "datetime64[us, UTC]", "metric": "string",
                 "value": "float64", "imputed": "bool", "metric_score": "float64", "score": "float64",
                 "threshold": "float64", "is_anomaly": "bool", "model_version": "string", "run_id": "string"}
FEATURES_BASE = ["group", "window_end", "model_version", "run_id", "embedding"]


def scores_frame(group: str, index: pd.DatetimeIndex, metrics: tuple[str, ...], values: np.ndarray,
                 imputed: np.ndarray, metric_scores: np.ndarray, scores: np.ndarray, threshold: float,
                 flags: np.ndarray, version: str, run_id: str) -> pd.DataFrame:
    """Long per-metric rows for each timestamp of `index` (arrays are [time, metric] / [time])."""
    n, k = len(index), len(metrics)
    size = n * k
    frame = pd.DataFrame({
        "group": _strings(np.zeros(size, np.int32), [group]),
        "timestamp": index.repeat(k),
        "metric": _strings(np.tile(np.arange(k, dtype=np.int32), n), list(metrics)),
        "value": values.reshape(-1),
        "imputed": imputed.reshape(-1),
        "metric_score": metric_scores.reshape(-1),
        "score": np.repeat(scores, k),
        "threshold": np.full(size, threshold),
        "is_anomaly": np.repeat(flags, k),
        "model_version": _strings(np.zeros(size, np.int32), [version]),
        "run_id": _strings(np.zeros(size, np.int32), [run_id]),
    })
    return frame.astype(SCORES_SCHEMA)


def _strings(codes: np.ndarray, labels: list[str]) -> pd.api.extensions.ExtensionArray:
    """A string column of `labels[codes]`, built in Arrow (4x faster than Python strings)."""
    return pd.array(pa.DictionaryArray.from_arrays(codes, pa.array(labels, pa.string())).cast(pa.string()),
                    dtype="string")


def anomalies_frame(group: str, intervals: pd.DataFrame, version: str, run_id: str) -> pd.DataFrame:
    out = intervals.copy()
    out.insert(0, "group", group)
    out["model_version"], out["run_id"] = version, run_id
    return out.astype({"group": "string", "model_version": "string", "run_id": "string",
                       "top_metric": "string", "contributors": "string", "severity": "string"})


def features_frame(group: str, window_ends: pd.DatetimeIndex, codes: np.ndarray, version: str,
                   run_id: str) -> pd.DataFrame:
    return pd.DataFrame({
        "group": pd.Series([group] * len(window_ends), dtype="string"),
        "window_end": window_ends,
        "model_version": pd.Series([version] * len(window_ends), dtype="string"),
        "run_id": pd.Series([run_id] * len(window_ends), dtype="string"),
        "embedding": list(codes.astype(np.float32)),
    })
