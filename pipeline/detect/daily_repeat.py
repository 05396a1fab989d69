"""Filter `daily_repeat`: a run whose peak time of day was as high on the previous days is a
daily pattern, not an incident."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from pipeline.detect.base import Flags, peak, runs


@dataclass(frozen=True)
class DailyRepeat:
    """Drops a run of flags whose peak step's time of day (within `tolerance`) already reached
    `factor` x the rule's threshold on one of the previous `days` days."""

    name: ClassVar[str] = "daily_repeat"
    days: int = 2
    tolerance: str = "1h"
    factor: float = 0.8
    applies_to: tuple[str, ...] = ("score",)

    def check(self) -> None:
        if self.days < 1 or self.factor <= 0:
            raise ValueError("days must be at least 1 and factor above 0")
        try:
            pd.Timedelta(self.tolerance)
        except ValueError:
            raise ValueError("tolerance: must be a duration like '1h'") from None

    def _steps(self, interval: pd.Timedelta) -> tuple[int, int]:
        """Steps in a day and in the tolerance; (0, 0) when the interval is over half a day."""
        period = round(pd.Timedelta("1D") / interval)
        return (period, pd.Timedelta(self.tolerance) // interval) if period >= 2 else (0, 0)

    def lookback(self, interval: pd.Timedelta) -> int:
        period, tolerance = self._steps(interval)
        return self.days * period + tolerance if period else 0

    def measure(self, flags: Flags, interval: pd.Timedelta) -> np.ndarray | None:
        period, tolerance = self._steps(interval)
        return repeat_peaks(flags.ratio, period, self.days, tolerance) if period else None

    def keep(self, flags: Flags, mask: np.ndarray, measure: np.ndarray | None, merge_gap: int) -> np.ndarray:
        kept = mask.copy()
        if measure is None:
            return kept
        for first, last in runs(mask, merge_gap):
            if measure[peak(flags.ratio, first, last)] >= self.factor:
                kept[first:last + 1] = False
        return kept


def repeat_peaks(values: np.ndarray, period: int, days: int, tolerance: int) -> np.ndarray:
    """Per step, the largest value within `tolerance` steps of the same time of day on the
    previous `days` days (`period` steps a day); NaN where none of those steps has a value."""
    near = pd.Series(values).rolling(2 * tolerance + 1, center=True, min_periods=1).max().to_numpy()
    peaks = np.full(len(values), np.nan)
    for lag in range(period, min(days * period, len(values) - 1) + 1, period):
        peaks[lag:] = np.fmax(peaks[lag:], near[:-lag])
    return peaks
