"""Raw anomaly scores: per-timestamp reconstruction error, per metric and combined."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


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


def level(scores: np.ndarray, steps: int) -> np.ndarray:
    """Median score over the trailing `steps` steps (NaN ignored), where at least half of them
    and the step itself are observed, else NaN. It stays high through a sustained shift whose
    scores, too long-lasting to be outliers of the training range, never pass the threshold,
    and low through isolated spikes."""
    medians = pd.Series(scores).rolling(steps, min_periods=max(steps // 2, 1)).median().to_numpy()
    return np.where(np.isnan(scores), np.nan, medians)


def recent_stats(values: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the `steps` values before each step, per column of a
    [time, metric] array (NaN ignored; NaN where fewer than half of them are observed): what
    has been usual lately, to which an alarm is compared as well as to the training range."""
    before = pd.DataFrame(values).shift(1).rolling(steps, min_periods=max(steps // 2, 1))
    shape = np.shape(values)
    return before.mean().to_numpy().reshape(shape), before.std(ddof=0).to_numpy().reshape(shape)


def shift(values: np.ndarray, recent: int, baseline: int) -> np.ndarray:
    """Per metric, how far the mean of the last `recent` steps moved from the mean of the
    `baseline` steps before them, [time, metric] (NaN ignored; NaN where fewer than half of
    either span is observed). A change of level that the model may reconstruct as well as the
    old one, e.g. a metric that settles at a new value."""
    values = np.asarray(values, dtype=np.float64)  # float32 running sums would drift over long parts
    observed = ~np.isnan(values)
    zero = np.zeros((1, values.shape[1]))
    sums = np.concatenate([zero, np.cumsum(np.where(observed, values, 0.0), axis=0)])
    counts = np.concatenate([zero, np.cumsum(observed, axis=0)])
    ends = np.arange(1, len(values) + 1)

    def trailing_mean(width: int, lag: int) -> np.ndarray:
        """Mean of the `width` steps ending `lag` steps before each step (those that exist)."""
        hi = np.maximum(ends - lag, 0)
        lo = np.maximum(hi - width, 0)
        n = counts[hi] - counts[lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n >= max(width // 2, 1), (sums[hi] - sums[lo]) / n, np.nan)

    return np.abs(trailing_mean(recent, 0) - trailing_mean(baseline, recent))


def repeat_peaks(scores: np.ndarray, period: int, days: int, tolerance: int) -> np.ndarray:
    """Per step, the largest score within `tolerance` steps of the same time of day on the
    previous `days` days (`period` steps a day); NaN where none of those steps has a score."""
    near = pd.Series(scores).rolling(2 * tolerance + 1, center=True, min_periods=1).max().to_numpy()
    peaks = np.full(len(scores), np.nan)
    for shift in range(period, min(days * period, len(scores) - 1) + 1, period):
        peaks[shift:] = np.fmax(peaks[shift:], near[:-shift])
    return peaks
