"""Raw anomaly scores: per-timestamp reconstruction error, per metric and combined."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def timestamp_means(n_steps: int, window: int,
                    batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Mean of a per-window quantity at each timestamp over all windows covering it, [time, k].

    `batches` yields `(starts, values [b, window, k])` (e.g. squared errors or
    reconstructions); uncovered timestamps are NaN.
    """
    total = None
    count = np.zeros(n_steps, dtype=np.int64)
    for starts, errors in batches:
        if total is None:
            total = np.zeros((n_steps, errors.shape[2]), dtype=np.float64)
        step = _common_step(starts)
        for t in range(window):  # starts within a batch are distinct, so fancy += is safe
            rows = slice(starts[0] + t, starts[-1] + t + 1, step) if step else starts + t
            total[rows] += errors[:, t, :]
            count[rows] += 1
    if total is None:
        return np.full((n_steps, 0), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count[:, None]


def _common_step(starts: np.ndarray) -> int | None:
    """The stride of evenly spaced increasing starts (then a slice replaces fancy indexing), else None."""
    if len(starts) == 1:
        return 1
    steps = np.diff(starts)
    return int(steps[0]) if len(steps) and steps[0] > 0 and (steps == steps[0]).all() else None


SCALE_FLOOR = 0.1  # a metric's usual error counts as at least 10% of the group's average


def metric_scales(metric_errors: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Each metric's usual error: its mean over the observed calibration steps, [metric].

    Dividing by it makes metric scores comparable (1 = usual), so a metric that is always
    hard to reconstruct does not hide a quiet metric's anomaly. Floored at `SCALE_FLOOR` x
    the metrics' average, so a metric the model reconstructs almost exactly cannot turn
    tiny errors into alarms.
    """
    observed = np.where(excluded, np.nan, metric_errors)
    counts = np.sum(~np.isnan(observed), axis=0)
    usual = np.nansum(observed, axis=0) / np.maximum(counts, 1)
    floor = SCALE_FLOOR * usual[counts > 0].mean() if (counts > 0).any() else 0.0
    scales = np.where(counts > 0, np.maximum(usual, floor), floor)  # a metric never observed takes the floor
    return np.where(scales > 0, scales, 1.0)


def combine(metric_scores: np.ndarray, excluded: np.ndarray, smoothing: int = 1, method: str = "max") -> np.ndarray:
    """One score per timestamp from the metrics really observed there: the largest metric
    score (`max`: one metric's incident is not averaged away by the others) or their `mean`.

    `excluded` [time, metric] marks imputed or missing values; a timestamp where every
    metric is excluded gets NaN, so filled data never raises an anomaly by itself.
    A centred rolling mean over `smoothing` steps damps single-step noise.
    """
    kept = np.where(excluded, np.nan, metric_scores)
    observed = np.sum(~np.isnan(kept), axis=1)
    if method == "max":
        largest = np.max(np.where(np.isnan(kept), -np.inf, kept), axis=1, initial=-np.inf)
        combined = np.where(observed > 0, largest, np.nan)
    elif method == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            combined = np.where(observed > 0, np.nansum(kept, axis=1) / np.maximum(observed, 1), np.nan)
    else:
        raise ValueError(f"unknown combine method {method!r}")
    if smoothing > 1:
        combined = smooth(combined, smoothing)
    return combined


def smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Centred rolling mean ignoring NaN; positions that were NaN stay NaN."""
    valid = ~np.isnan(values)
    kernel = np.ones(width)
    sums = np.convolve(np.where(valid, values, 0.0), kernel, mode="same")
    counts = np.convolve(valid.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, sums / counts, np.nan)
