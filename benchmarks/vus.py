"""VUS-PR: the volume under the range-based precision-recall surface (Paparrizos et al., VLDB
2022), the threshold-free measure TSB-AD recommends for a continuous per-step anomaly score.

An overlap F1 judges one threshold's intervals; VUS-PR judges the score itself, so a detector
is not ranked by how well its threshold happened to be tuned. For each buffer length b in
0..`max_buffer` every labelled run is widened by b // 2 steps on each side, labelled
sqrt(1 - distance / b) there, and the range-based average precision is taken over thresholds
at evenly spaced ranks of the sorted scores; VUS-PR is its mean over the buffers. The
definitions (including recall's halved buffer credit and its existence factor) follow TSB-AD
1.5's `RangeAUC_volume_opt`, which tests/test_benchmark_vus.py checks this against.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DEFAULT_MAX_BUFFER = 48  # steps: the pipeline's merge gap (flags this close are one incident anyway)
DEFAULT_THRESHOLDS = 250  # TSB-AD's number of thresholds


def labels_at(timestamps: pd.DatetimeIndex, windows: Sequence[tuple[pd.Timestamp, pd.Timestamp]]) -> np.ndarray:
    """1 at each timestamp inside a labelled window (closed, as the overlap F1 counts them), else 0."""
    inside = np.zeros(len(timestamps), dtype=np.int64)
    for start, end in windows:
        inside[(timestamps >= start) & (timestamps <= end)] = 1
    return inside


def runs_of_ones(labels: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) steps of each run of 1s."""
    edges = np.diff(np.concatenate(([0], labels, [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def buffered_labels(labels: np.ndarray, runs: list[tuple[int, int]], buffer: int) -> np.ndarray:
    """The labels with each run's b // 2 neighbours on each side weighted sqrt(1 - distance / b),
    overlapping contributions added and capped at 1."""
    weights = labels.astype(np.float64)
    half, n = buffer // 2, len(labels)
    for first, last in runs:
        after = np.arange(last + 1, min(last + half + 1, n))
        weights[after] += np.sqrt(1 - (after - last) / buffer)
        before = np.arange(max(first - half, 0), first)
        weights[before] += np.sqrt(1 - (first - before) / buffer)
    return np.minimum(weights, 1.0)


def merged_ranges(runs: list[tuple[int, int]], buffer: int, n: int) -> list[tuple[int, int]]:
    """The runs widened by b // 2 steps each side, merged where they meet: the events whose
    detection the existence factor counts."""
    half = buffer // 2
    merged = [[max(runs[0][0] - half, 0), runs[0][1] + half]]
    for first, last in runs[1:]:
        if merged[-1][1] < first - half:
            merged.append([first - half, last + half])
        else:
            merged[-1][1] = last + half
    merged[-1][1] = min(merged[-1][1], n - 1)
    return [(a, b) for a, b in merged]


def range_average_precision(scores: np.ndarray, labels: np.ndarray, buffer: int,
                            thresholds: int = DEFAULT_THRESHOLDS) -> float:
    """Range-based average precision for one buffer length: sum over thresholds (descending) of
    the rise in range recall times the range precision there."""
    runs = runs_of_ones(labels)
    weights = buffered_labels(labels, runs, buffer)
    in_buffer = np.where(labels == 1, 0.0, weights)
    order = np.argsort(-scores, kind="stable")
    weight_sum = np.concatenate(([0.0], np.cumsum(weights[order])))  # over the k highest scores
    buffer_sum = np.concatenate(([0.0], np.cumsum(in_buffer[order])))
    ascending = np.sort(scores)
    levels = ascending[::-1][np.linspace(0, len(scores) - 1, thresholds).astype(int)]
    predicted = len(scores) - np.searchsorted(ascending, levels, side="left")  # steps with score >= level
    true_positive = weight_sum[predicted]
    positives = labels.sum() + buffer_sum[predicted] / 2  # the labelled steps, plus half the buffer credit taken
    event_peaks = np.array([scores[a:b + 1].max() for a, b in merged_ranges(runs, buffer, len(scores))])
    existence = (event_peaks[None, :] >= levels[:, None]).mean(axis=1)
    recall = np.minimum(true_positive / positives, 1.0) * existence
    precision = true_positive / predicted
    return float(np.sum(np.diff(np.concatenate(([0.0], recall))) * precision))


def vus_pr(scores: np.ndarray, labels: np.ndarray, max_buffer: int = DEFAULT_MAX_BUFFER,
           thresholds: int = DEFAULT_THRESHOLDS) -> float:
    """VUS-PR of a per-step score against 0/1 labels; NaN without a labelled step (undefined).

    NaN scores (steps a detector could not score) count as its lowest score."""
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if not labels.any():
        return float("nan")
    missing = np.isnan(scores)
    scores = np.where(missing, np.nanmin(scores) if not missing.all() else 0.0, scores)
    return float(np.mean([range_average_precision(scores, labels, buffer, thresholds)
                          for buffer in range(max_buffer + 1)]))
