"""What a user would pick instead of the LSTM autoencoder, scored like it on the same signals.

Each baseline is a pure function from values ([time] or [time, metric]) and the number of
first rows to train on to a per-step anomaly score (higher = more anomalous; NaN where it
cannot score). `to_intervals` turns any of them into anomaly intervals with the pipeline's
`score` rule: a centred rolling mean over the default smoothing, a threshold of mean + k std
of the training rows' scores, and flagged runs merged across the default merge gap. The
pipeline's other rules (level, shift, recent context, min peak, daily repeat) are not applied:
they are part of what the autoencoder's detection is being compared on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest

from pipeline.detect.base import flag, row_max, runs, steps_in
from pipeline.detect.compose import Detection
from pipeline.detect.score import Score, calibrate
from pipeline.score import smooth, timestamp_means

WINDOW = 48  # steps a window sees: the merge gap, 4 hours at 5 minutes
MAD_FLOOR = 0.01  # in training standard deviations: a flat day must not divide by zero
MAD_SCALE = 1.4826  # MAD x this estimates the standard deviation of normal data


def standardised(values: np.ndarray, train_rows: int) -> np.ndarray:
    """[time, metric] in units of the training rows' mean and standard deviation (1 where that is 0)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[:, None] if values.ndim == 1 else values
    train = values[:train_rows]
    std = train.std(axis=0)
    return (values - train.mean(axis=0)) / np.where(std > 0, std, 1.0)


def windows_of(values: np.ndarray, window: int) -> np.ndarray:
    """Every `window`-step window (stride 1) flattened over its metrics, [start, window * metric]."""
    return sliding_window_view(values, window, axis=0).transpose(0, 2, 1).reshape(len(values) - window + 1, -1)


def spread_to_steps(per_window: np.ndarray, n_steps: int, window: int) -> np.ndarray:
    """Per-step mean of a per-window-position quantity [start, window] over the windows covering each step."""
    starts = np.arange(len(per_window))
    return timestamp_means(n_steps, window, [(starts, per_window[:, :, None])])[:, 0]


def pca_scores(values: np.ndarray, train_rows: int, window: int = WINDOW, variance: float = 0.9) -> np.ndarray:
    """PCA reconstruction error: the linear counterpart of the autoencoder. Components explaining
    `variance` of the training windows reconstruct every window; a step's score is its squared
    error (summed over metrics) averaged over the windows covering it."""
    scaled = standardised(values, train_rows)
    windows = windows_of(scaled, window)
    model = PCA(n_components=variance, svd_solver="full").fit(windows[:max(train_rows - window + 1, 1)])
    errors = (windows - model.inverse_transform(model.transform(windows))) ** 2
    per_position = errors.reshape(len(windows), window, -1).sum(axis=2)
    return spread_to_steps(per_position, len(scaled), window)


def isolation_forest_scores(values: np.ndarray, train_rows: int, window: int = WINDOW, seed: int = 7) -> np.ndarray:
    """Isolation Forest on the same windows: how easily a window is isolated from the training
    windows (sklearn's negated `score_samples`), averaged over the windows covering each step."""
    windows = windows_of(standardised(values, train_rows), window)
    forest = IsolationForest(random_state=seed).fit(windows[:max(train_rows - window + 1, 1)])
    per_window = -forest.score_samples(windows)
    return spread_to_steps(np.repeat(per_window[:, None], window, axis=1), len(values), window)


def robust_z_scores(values: np.ndarray, train_rows: int, trailing: int) -> np.ndarray:
    """|x - median| / (1.4826 MAD) over the `trailing` steps before each step (a day), the
    largest over metrics: the rule of thumb with no model. NaN for the first `trailing` steps."""
    scaled = standardised(values, train_rows)
    history = sliding_window_view(scaled[:-1], trailing, axis=0)  # [step - trailing, metric, trailing]
    median = np.median(history, axis=2)
    mad = np.maximum(np.median(np.abs(history - median[:, :, None]), axis=2), MAD_FLOOR)
    z = np.full(scaled.shape, np.nan)
    z[trailing:] = np.abs(scaled[trailing:] - median) / (MAD_SCALE * mad)
    return row_max(z)


@dataclass(frozen=True)
class Detected:
    """A baseline's detection: the smoothed per-step score the threshold is applied to, the
    flagged steps, and the merged intervals as inclusive (first, last) steps."""

    scores: np.ndarray
    flags: np.ndarray
    intervals: list[tuple[int, int]]
    threshold: float


def to_intervals(scores: np.ndarray, train_rows: int, detection: Detection = Detection(),
                 rule: Score = Score()) -> Detected:
    """The pipeline's post-processing of a score: smoothing, a threshold calibrated on the
    training rows (mean + k std, or the rule's quantile), runs merged across the merge gap."""
    smoothed = smooth(np.asarray(scores, dtype=np.float64), detection.smoothing) if detection.smoothing > 1 \
        else np.asarray(scores, dtype=np.float64)
    threshold = calibrate(smoothed[:train_rows], rule)
    flags = flag(smoothed, threshold)
    return Detected(smoothed, flags, runs(flags, detection.merge_gap), threshold)


BASELINES = ("pca", "isolation_forest", "robust_z")


def baseline_scores(name: str, values: np.ndarray, train_rows: int, interval: pd.Timedelta) -> np.ndarray:
    """One of `BASELINES` on a signal sampled every `interval` (the z-score's trailing day is in steps)."""
    if name == "pca":
        return pca_scores(values, train_rows)
    if name == "isolation_forest":
        return isolation_forest_scores(values, train_rows)
    if name == "robust_z":
        return robust_z_scores(values, train_rows, max(steps_in(1, interval), 2))
    raise ValueError(f"unknown baseline {name!r}; one of {', '.join(BASELINES)}")
