"""Which landed steps a group's model trains on. An autoencoder trained on a range that holds an
incident learns the incident as normal and then cannot flag it; a clean range (known incidents
left out, or a range pinned to a period known to be normal) is what lets it see them."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TrainingRange:
    """By default the group's `lookback` before its newest data. `start` and `end` pin the range
    (either alone: the other side as by default), `first_steps` keeps only its first N steps,
    and `exclude` leaves out intervals written `start/end` (ISO 8601, inclusive), e.g. a known
    incident: their steps count as missing, so no training window, scaling statistic or
    calibration reads them."""

    start: str | None = None
    end: str | None = None
    first_steps: int | None = None
    exclude: tuple[str, ...] = field(default=(), metadata={"may_be_empty": True})

    def check(self) -> None:
        """Raises ValueError naming the key of a setting that cannot work."""
        for key in ("start", "end"):
            if getattr(self, key) is not None:
                _time(getattr(self, key), key)
        if self.start is not None and self.end is not None and _time(self.start, "start") > _time(self.end, "end"):
            raise ValueError(f"start: {self.start} is after end {self.end}")
        if self.first_steps is not None and self.first_steps < 1:
            raise ValueError(f"first_steps: must be at least 1, got {self.first_steps}")
        for i, _ in enumerate(self.exclude):
            self.intervals(i)

    def intervals(self, only: int | None = None) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """The excluded intervals as UTC times (`only`: just that one, to check it)."""
        found = []
        for i, text in enumerate(self.exclude):
            if only is not None and i != only:
                continue
            parts = text.split("/")
            if len(parts) != 2:
                raise ValueError(f"exclude[{i}]: {text!r} is not an interval 'start/end' (e.g. "
                                 "2026-11-10T03:00/2026-11-10T09:00)")
            lo, hi = _time(parts[0], f"exclude[{i}]"), _time(parts[1], f"exclude[{i}]")
            if lo > hi:
                raise ValueError(f"exclude[{i}]: {text!r} ends before it starts")
            found.append((lo, hi))
        return found

    def rows(self, index: pd.DatetimeIndex, lookback: str) -> np.ndarray:
        """The steps of `index` (aligned, sorted) in the training range, before exclusions."""
        if len(index) == 0:
            return np.zeros(0, bool)
        end = _time(self.end, "end") if self.end is not None else index.max()
        start = _time(self.start, "start") if self.start is not None else end - pd.Timedelta(lookback)
        keep = (index >= start) & (index <= end)
        if self.first_steps is not None:
            keep &= np.cumsum(keep) <= self.first_steps
        return np.asarray(keep)

    def excluded(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Steps of `index` inside an excluded interval."""
        mask = np.zeros(len(index), bool)
        for lo, hi in self.intervals():
            mask |= np.asarray((index >= lo) & (index <= hi))
        return mask


def _time(text: str, key: str) -> pd.Timestamp:
    """A configured time as UTC (naive ones are UTC, as landed timestamps are)."""
    try:
        time = pd.Timestamp(text)
    except ValueError:
        time = pd.NaT
    if time is pd.NaT:
        raise ValueError(f"{key}: not a time: {text!r} (e.g. 2026-11-10 or 2026-11-10T03:00Z)")
    return time.tz_localize("UTC") if time.tzinfo is None else time.tz_convert("UTC")
