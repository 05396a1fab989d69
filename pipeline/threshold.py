"""Thresholds calibrated on held-out training scores, stored with the model, applied later."""
from __future__ import annotations

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


def flag(scores: np.ndarray, threshold: float) -> np.ndarray:
    """True where the score exceeds the threshold; NaN scores are never anomalous."""
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(scores, nan=-np.inf) > threshold


def flag_level(scores: np.ndarray, levels: np.ndarray, level_threshold: float) -> np.ndarray:
    """True where the trailing median score and the step's own score both exceed the level
    threshold: a sustained rise, flagged until the scores fall back (not until the median does)."""
    return flag(levels, level_threshold) & flag(scores, level_threshold)
