"""Thresholds calibrated on held-out training scores, stored with the model, applied later."""
from __future__ import annotations

import warnings

import numpy as np

from pipeline.config import ThresholdConfig


def calibrate(val_scores: np.ndarray, cfg: ThresholdConfig) -> float:
    """Threshold from the validation range's scores (NaN ignored).

    - quantile: the `quantile` of the scores times `factor`;
    - mean_std: mean + `k` standard deviations.
    """
    scores = val_scores[np.isfinite(val_scores)]
    if scores.size == 0:
        raise ValueError("no finite validation scores to calibrate a threshold on")
    if cfg.method == "quantile":
        return float(np.quantile(scores, cfg.quantile) * cfg.factor)
    if cfg.method == "mean_std":
        return float(scores.mean() + cfg.k * scores.std())
    raise ValueError(f"unknown threshold method {cfg.method!r}")


def calibrate_level(scores: np.ndarray, cfg: ThresholdConfig) -> float | None:
    """Threshold of the sustained level: `level_factor` x the mean score of the range (NaN
    ignored); None when the check is off (`level_steps` 0)."""
    if cfg.level_steps == 0:
        return None
    return float(cfg.level_factor * np.nanmean(scores))


SHIFT_FLOOR = 0.1  # a mean shift is flagged only above 0.1 training std, even for a metric flat in training


def calibrate_shift(distances: np.ndarray, k: float) -> np.ndarray:
    """Per-metric threshold of the mean shift (pipeline.score.shift, in scaled units): mean +
    `k` std of the range's distances (NaN ignored), at least `SHIFT_FLOOR`; infinite for a
    metric with no distance in the range."""
    with warnings.catch_warnings():  # an all-NaN metric gets an infinite threshold below
        warnings.simplefilter("ignore", RuntimeWarning)
        thresholds = np.nanmean(distances, axis=0) + k * np.nanstd(distances, axis=0)
    return np.where(np.isnan(thresholds), np.inf, np.maximum(thresholds, SHIFT_FLOOR))


def flag(scores: np.ndarray, threshold: float) -> np.ndarray:
    """True where the score exceeds the threshold; NaN scores are never anomalous."""
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(scores, nan=-np.inf) > threshold


def flag_level(scores: np.ndarray, levels: np.ndarray, level_threshold: float) -> np.ndarray:
    """True where the trailing median score and the step's own score both exceed the level
    threshold: a sustained rise, flagged until the scores fall back (not until the median does)."""
    return flag(levels, level_threshold) & flag(scores, level_threshold)


def stands_out(values: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """True where a value exceeds its limit or no limit is known (NaN: too little history)."""
    with np.errstate(invalid="ignore"):
        return np.isnan(limits) | (np.nan_to_num(values, nan=-np.inf) > limits)


def recent_shift_thresholds(thresholds: np.ndarray, limits: np.ndarray, floor: float) -> np.ndarray:
    """Per step and metric, the mean-shift threshold lowered to what stands out lately: the
    recent limit ([time, metric], e.g. mean + k std of the metric's shifts over the recent days),
    kept between `floor` x the stored threshold and the stored threshold; the stored one where no
    limit is known (NaN)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(limits), thresholds, np.clip(limits, floor * thresholds, thresholds))


def flag_shift(distances: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """True where any metric's mean shift exceeds its threshold ([time, metric] -> [time]);
    `thresholds` per metric, or per step and metric."""
    return flag(distances, thresholds).any(axis=1)
