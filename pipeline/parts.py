"""The steps of a range being scored and the parts it is scored in: where a part stops, and
how far its steps can be published before an anomaly run that later steps could extend."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.anomalies import runs


@dataclass(frozen=True)
class Grid:
    """The steps of the range being scored: `n` buckets from `first`, new data from step `new`."""

    first: pd.Timestamp
    n: int
    new: int
    interval: pd.Timedelta

    def time(self, step: int) -> pd.Timestamp:
        return self.first + step * self.interval


@dataclass(frozen=True)
class Part:
    """Per-step results for steps [start, start + len(index)) of the grid, and the windows ending there."""

    start: int
    index: pd.DatetimeIndex
    values: np.ndarray
    imputed: np.ndarray
    metric_scores: np.ndarray  # [time, metric] error over the metric's usual error
    scores: np.ndarray
    levels: np.ndarray  # the trailing median score (pipeline.score.level); NaN when the check is off
    repeats: np.ndarray  # the same time of day's highest score on the previous days (score.repeat_peaks)
    shifts: np.ndarray  # [time, metric] each metric's mean shift (score.shift); NaN when the check is off
    recent_means: np.ndarray  # mean and std of the recent days' scores before each step (score.recent_stats);
    recent_stds: np.ndarray  # NaN when the check is off
    shift_limits: np.ndarray  # [time, metric] mean + recent_k std of the metric's recent shifts; NaN when off
    window_ends: np.ndarray  # grid steps
    codes: np.ndarray

    def tail(self, first: int) -> Part:
        """The steps from `first` (relative) on, with their windows."""
        keep = self.window_ends >= self.start + first
        return Part(self.start + first, self.index[first:], self.values[first:], self.imputed[first:],
                    self.metric_scores[first:], self.scores[first:], self.levels[first:], self.repeats[first:],
                    self.shifts[first:], self.recent_means[first:], self.recent_stds[first:],
                    self.shift_limits[first:], self.window_ends[keep], self.codes[keep])

    def join(self, later: Part) -> Part:
        """This part followed by the `later` one that starts where it stops."""
        arrays = {name: np.concatenate([getattr(self, name), getattr(later, name)])
                  for name in ("values", "imputed", "metric_scores", "scores", "levels", "repeats", "shifts",
                                "recent_means", "recent_stds", "shift_limits", "window_ends")}
        codes = [c for c in (self.codes, later.codes) if len(c)]
        return Part(self.start, self.index.append(later.index), codes=np.concatenate(codes) if codes else self.codes,
                    **arrays)


def part_stop(grid: Grid, begin: int, chunk: int) -> int:
    """Where a part from `begin` stops: `chunk` steps on, moved back to the first step of that
    day when the part then still spans a day, so each date partition is written once."""
    stop = begin + chunk
    if stop >= grid.n:
        return grid.n
    midnight = stop - (grid.time(stop) - grid.time(stop).floor("D")) // grid.interval
    return midnight if midnight > begin else stop


def closed_until(flags: np.ndarray, merge_gap: int) -> int:
    """How many leading steps no later flagged step can merge with: all of them when the last
    `merge_gap` + 1 steps hold no flag, else those before the last run."""
    found = runs(flags, merge_gap)
    if not found or len(flags) - found[-1][1] > merge_gap + 1:
        return len(flags)
    return found[-1][0]
