"""Robust training (`model.robust`): windows the model keeps failing to reconstruct stop teaching it.

A training range that holds an incident teaches the autoencoder the incident as normal: it
learns to reconstruct it, and scoring then misses it (benchmarks/RESULTS.md). An autoencoder
learns the common shapes first, so after a few epochs (`warmup`) a rare incident's windows
still stand out by their reconstruction error. From then on, at each epoch's start, every
training window's error under the current weights is measured, and the `trim` fraction with
the largest errors get weight 0 for that epoch: left out of it (a trimmed loss). A window is
judged again each epoch, so one that was only slow to learn comes back once others' errors pass
it. Early stopping reads the validation windows' mean error trimmed alike, from the first epoch,
so an incident in the held-out end does not decide which epoch's weights are kept.

A fixed fraction rather than a cut at the median plus k MADs: per-window errors are so
heavy-tailed on real signals that such a cut left out 1.4% of one NAB signal's windows and a
third of another's; its log-error version left out none of some (benchmarks/RESULTS.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Robust:
    """`warmup`: epochs trained on every window before any is left out; `trim`: the fraction of
    windows, those with the largest errors, left out of each later epoch."""

    warmup: int = 3
    trim: float = 0.05

    def check(self) -> None:
        if self.warmup < 1:
            raise ValueError(f"warmup: must be at least 1 (the cut reads a model's errors), got {self.warmup}")
        if not 0 < self.trim < 0.5:
            raise ValueError(f"trim: must be above 0 and below 0.5, got {self.trim}")


def kept(errors: np.ndarray, trim: float) -> np.ndarray:
    """Which windows stay: all but the `floor(trim * n)` with the largest errors (ties broken
    by position, so the choice is the same every run)."""
    errors = np.asarray(errors)
    keep = np.ones(len(errors), bool)
    left_out = int(trim * len(errors))
    if left_out:
        keep[np.argsort(errors, kind="stable")[len(errors) - left_out:]] = False
    return keep


def window_weights(errors: np.ndarray, cfg: Robust | None, epoch: int) -> np.ndarray:
    """Each training window's weight (1 or 0) in epoch `epoch` (0-based) given its current
    reconstruction error: 1 for all without the option or during the warm-up."""
    if cfg is None or epoch < cfg.warmup:
        return np.ones(len(errors), np.float32)
    return kept(errors, cfg.trim).astype(np.float32)


def trimmed_mean(errors: np.ndarray, trim: float) -> float:
    """The mean error of the windows `kept`: the validation loss early stopping reads."""
    errors = np.asarray(errors, dtype=np.float64)
    return float(errors[kept(errors, trim)].mean())
