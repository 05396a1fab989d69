"""Score a group's new data with its current model and publish scores, anomalies and features."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.anomalies import confirm, to_intervals
from pipeline.catalog import Catalog, load_aligned
from pipeline.config import GroupConfig, Settings, group_from_dict
from pipeline.ingest import InputError
from pipeline.model import load_autoencoder, reconstruct
from pipeline.publish import anomalies_frame, features_frame, scores_frame
from pipeline.scale import Scaler
from pipeline.score import combine, timestamp_means
from pipeline.threshold import flag
from pipeline.window import window_starts, window_view

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelOutput:
    """What one pass of a model over a series gives, per timestamp and per window."""

    metric_errors: np.ndarray  # [time, metric] squared error averaged over covering windows
    starts: np.ndarray  # window start indices
    codes: np.ndarray  # [window, bottleneck]


def scaled_input(values: np.ndarray, scaler: Scaler) -> np.ndarray:
    """Scale [time, metric] values; still-missing cells become the metric's mean (0)."""
    return np.nan_to_num(scaler.transform(values), nan=0.0)


def run_model(model, scaled: np.ndarray, window: int, stride: int, batch_size: int = 1024) -> ModelOutput:
    """Stream windows every `stride` steps through the model; aggregate per timestamp."""
    starts = window_starts(len(scaled), window, stride)
    codes: list[np.ndarray] = []

    def batches():
        for chunk, x, recon, code in reconstruct(model, window_view(scaled, window), starts, batch_size):
            codes.append(code)
            yield chunk, np.square(recon - x)

    errors = timestamp_means(len(scaled), window, batches())
    code_array = np.concatenate(codes) if codes else np.empty((0, 0), np.float32)
    return ModelOutput(metric_errors=errors, starts=starts, codes=code_array)


def score_group(settings: Settings, group: GroupConfig, catalog: Catalog, run_id: str,
                start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                emit: Callable[[str], None] = log.info) -> dict:
    """Score data after the group's watermark (or in [start, end] for a backfill) and publish it."""
    models_root, data_root = settings.storage.models_root, settings.storage.data_root
    version = io.current_version(models_root, group.name)
    if version is None:
        raise InputError("models", "no current model; run training first", group=group.name)
    meta = io.read_metadata(models_root, group.name, version)
    group = group_from_dict(meta["config"])  # score as the model was trained: metrics, grid, window
    metrics, window = group.metrics, group.window
    watermark = io.read_watermark(data_root, group.name)
    first_new = pd.Timestamp(start) if start is not None else (
        watermark + group.interval_td if watermark is not None else None)
    context = first_new - (window - 1) * group.interval_td if first_new is not None else None
    aligned = load_aligned(catalog, group, context, end)
    index = aligned.values.index
    new = index >= first_new if first_new is not None else np.ones(len(index), bool)
    if not new.any() or len(index) < window:
        emit(f"{group.name}: nothing new to score after {watermark}")
        return {"group": group.name, "scored": 0, "anomalies": 0, "model_version": version}

    scaler = Scaler.from_dict(meta["scaler"])
    values = aligned.values.to_numpy()
    out = run_model(load_autoencoder(io.model_path(models_root, group.name, version)),
                    scaled_input(values, scaler), window, group.stride)
    excluded = aligned.imputed.to_numpy() | np.isnan(values)
    scores = combine(out.metric_errors, excluded, group.threshold.smoothing)
    threshold = float(meta["threshold"]["value"])
    flags = confirm(scores, flag(scores, threshold), threshold, group.threshold.merge_gap, group.threshold.min_peak)

    idx = index[new]
    intervals = to_intervals(idx, scores[new], flags[new], out.metric_errors[new], metrics, threshold,
                             group.threshold.merge_gap)
    window_ends = index[out.starts + window - 1]
    keep = window_ends >= idx[0]
    lo, hi = idx[0], idx[-1]
    io.upsert_partitions(data_root, "scores", group.name, scores_frame(
        group.name, idx, metrics, values[new], aligned.imputed.to_numpy()[new], out.metric_errors[new],
        scores[new], threshold, flags[new], version, run_id), "timestamp", lo, hi)
    io.upsert_partitions(data_root, "anomalies", group.name,
                         anomalies_frame(group.name, intervals, version, run_id), "start", lo, hi)
    io.upsert_partitions(data_root, "features", group.name, features_frame(
        group.name, window_ends[keep], out.codes[keep], version, run_id), "window_end", lo, hi)
    if start is None and end is None:
        io.write_watermark(data_root, group.name, hi)
    emit(f"{group.name}: scored {len(idx)} steps {lo} .. {hi}, {len(intervals)} anomaly intervals")
    return {"group": group.name, "scored": int(len(idx)), "anomalies": int(len(intervals)),
            "model_version": version, "start": str(lo), "end": str(hi)}
