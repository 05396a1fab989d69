"""Rule `shift`: a level change in a metric's values, e.g. a metric that settles at a new value
the model reconstructs as well as the old one."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from pipeline.detect.base import Evidence, Flags, flag, threshold_number, ratio, row_max, steps_in
from pipeline.detect.recent import recent_stats

FLOOR = 0.1  # a mean shift is flagged only above 0.1 training std, even for a metric flat in training


@dataclass(frozen=True)
class RecentShifts:
    """A metric steady lately is flagged for a smaller shift: its threshold comes down, per step,
    to mean + `k` std of its own shifts over the last `days` days, but not below `floor` x the
    stored threshold."""

    days: int = 5
    k: float = 6.0
    floor: float = 0.5

    def check(self) -> None:
        if self.days < 1 or self.k <= 0 or not 0 < self.floor <= 1:
            raise ValueError("days must be at least 1, k above 0, floor above 0 and at most 1")


@dataclass(frozen=True)
class Shift:
    """Per metric, the mean of the last `steps` steps against the mean of the `baseline` steps
    before them; flagged above mean + `k` std of that distance over the training range."""

    name: ClassVar[str] = "shift"
    steps: int = 24
    baseline: int = 288
    k: float = 6.0
    recent: RecentShifts | None = field(default_factory=RecentShifts)

    def check(self) -> None:
        if self.steps < 1 or self.baseline < 1 or self.k <= 0:
            raise ValueError("steps and baseline must be at least 1 and k above 0")

    def lookback(self, interval: pd.Timedelta) -> int:
        recent = steps_in(self.recent.days, interval) if self.recent is not None else 0
        return self.steps + self.baseline - 1 + recent

    def fit(self, evidence: Evidence, first: int) -> dict:
        thresholds = calibrate(mean_shift(evidence.values, self.steps, self.baseline)[first:], self.k)
        return {"thresholds": {m: float(t) if np.isfinite(t) else None for m, t in zip(evidence.metrics, thresholds)}}

    def check_state(self, state: dict, metrics: tuple[str, ...]) -> None:
        """One threshold per metric: a number above 0, or null for a metric with no shifts in training
        (never flagged)."""
        thresholds = state.get("thresholds")
        if not isinstance(thresholds, dict) or sorted(thresholds) != sorted(metrics):
            raise ValueError(f"thresholds: must give each of the metrics {list(metrics)} a threshold, got "
                             f"{sorted(thresholds) if isinstance(thresholds, dict) else thresholds!r}")
        for metric in metrics:
            if thresholds[metric] is not None:
                threshold_number(thresholds[metric], f"thresholds.{metric}")

    def scaled(self, state: dict, factor: float) -> dict:
        return {"thresholds": {m: None if t is None else t * factor for m, t in state["thresholds"].items()}}

    def flags(self, evidence: Evidence, state: dict) -> Flags:
        stored = np.array([np.inf if state["thresholds"].get(m) is None else state["thresholds"][m]
                           for m in evidence.metrics])
        distances = mean_shift(evidence.values, self.steps, self.baseline)
        limits = np.broadcast_to(stored, distances.shape)
        if self.recent is not None and (days := steps_in(self.recent.days, evidence.interval)):
            mean, std = recent_stats(distances, days)
            limits = lowered(stored, mean + self.recent.k * std, self.recent.floor)
        ratios = ratio(distances, limits)
        return Flags(flag(distances, limits).any(axis=1), row_max(ratios), ratios)


def mean_shift(values: np.ndarray, recent: int, baseline: int) -> np.ndarray:
    """Per metric, how far the mean of the last `recent` steps moved from the mean of the
    `baseline` steps before them, [time, metric] (NaN ignored; NaN where fewer than half of
    either span is observed)."""
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


def calibrate(distances: np.ndarray, k: float) -> np.ndarray:
    """Per-metric threshold: mean + `k` std of the range's distances (NaN ignored), at least
    `FLOOR`; infinite for a metric with no distance in the range."""
    with warnings.catch_warnings():  # an all-NaN metric gets an infinite threshold below
        warnings.simplefilter("ignore", RuntimeWarning)
        thresholds = np.nanmean(distances, axis=0) + k * np.nanstd(distances, axis=0)
    return np.where(np.isnan(thresholds), np.inf, np.maximum(thresholds, FLOOR))


def lowered(stored: np.ndarray, limits: np.ndarray, floor: float) -> np.ndarray:
    """Per step and metric, the stored threshold lowered to what stands out lately (`limits`),
    kept between `floor` x the stored threshold and the stored one; the stored one where no
    limit is known (NaN)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(limits), stored, np.clip(limits, floor * stored, stored))
