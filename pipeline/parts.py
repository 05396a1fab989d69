"""The steps of a range being scored and the parts it is scored in: where a part stops, and
how far its steps can be published before an anomaly run that later steps could extend."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.detect.base import Evidence, joined, runs, sliced
from pipeline.detect.compose import Raised


@dataclass(frozen=True)
class Grid:
    """The steps of the range being scored: `n` buckets from `first` (all that landed, as the
    windows of the last published steps read those after them); steps [`new`, `stop`) are published."""

    first: pd.Timestamp
    n: int
    new: int
    stop: int
    interval: pd.Timedelta

    def time(self, step: int) -> pd.Timestamp:
        return self.first + step * self.interval

    def phase(self, stride: int, origin: pd.Timestamp) -> int:
        """The first step's place among windows `stride` steps apart counted from `origin` (the model
        version's first training step): where windows start does not depend on where a run's read
        starts, and one pass over the training range has them where training had them."""
        return (self.first - origin) // self.interval % stride


@dataclass(frozen=True)
class Part:
    """Steps [start, start + len(index)) of the grid: their values, evidence and rule flags, and
    the windows ending there."""

    start: int
    index: pd.DatetimeIndex
    values: np.ndarray
    imputed: np.ndarray
    evidence: Evidence
    raised: Raised
    window_ends: np.ndarray  # grid steps
    codes: np.ndarray

    def tail(self, first: int) -> Part:
        """The steps from `first` (relative) on, with their windows."""
        keep, rows = self.window_ends >= self.start + first, slice(first, None)
        return Part(self.start + first, self.index[rows], self.values[rows], self.imputed[rows],
                    sliced(self.evidence, rows), sliced(self.raised, rows), self.window_ends[keep], self.codes[keep])

    def join(self, later: Part) -> Part:
        """This part followed by the `later` one that starts where it stops."""
        codes = [c for c in (self.codes, later.codes) if len(c)]
        return Part(self.start, self.index.append(later.index), *(joined(getattr(self, name), getattr(later, name))
                    for name in ("values", "imputed", "evidence", "raised", "window_ends")),
                    codes=np.concatenate(codes) if codes else self.codes)


def part_stop(grid: Grid, begin: int, chunk: int) -> int:
    """Where a part from `begin` stops: `chunk` steps on, moved back to the first step of that
    day when the part then still spans a day, so each date partition is written once."""
    stop = begin + chunk
    if stop >= grid.stop:
        return grid.stop
    midnight = stop - (grid.time(stop) - grid.time(stop).floor("D")) // grid.interval
    return midnight if midnight > begin else stop


def closed_until(flags: np.ndarray, merge_gap: int) -> int:
    """How many leading steps no later flagged step can merge with: all of them when the last
    `merge_gap` + 1 steps hold no flag, else those before the last run."""
    found = runs(flags, merge_gap)
    if not found or len(flags) - found[-1][1] > merge_gap + 1:
        return len(flags)
    return found[-1][0]


def run_start(flags_of: Callable[[int, int], np.ndarray], step: int, merge_gap: int, floor: int) -> int:
    """The first step of a flagged run ending `merge_gap` steps or fewer before `step` (else
    `step`), from the flags of steps [lo, `step`) that `flags_of(lo, step)` gives: spans twice
    as long each time until one starts `merge_gap` + 1 quiet steps before the run, or at `floor`."""
    span = merge_gap + 1
    while True:
        lo = max(step - span, floor)
        found = runs(flags_of(lo, step), merge_gap) if lo < step else []
        if not found or found[-1][1] < step - lo - merge_gap - 1:
            return step
        if len(found) > 1 or found[-1][0] > merge_gap or lo == floor:
            return lo + found[-1][0]
        span *= 2


def run_stop(flags_of: Callable[[int, int], np.ndarray], step: int, merge_gap: int, ceiling: int) -> int:
    """One past the last step of a flagged run starting `merge_gap` steps or fewer after `step`
    - 1 (else `step`), as `run_start` looks before a step, up to `ceiling`."""
    span = merge_gap + 1
    while True:
        hi = min(step + span, ceiling)
        found = runs(flags_of(step, hi), merge_gap) if hi > step else []
        if not found or found[0][0] > merge_gap:
            return step
        if len(found) > 1 or found[0][1] < hi - step - merge_gap - 1 or hi == ceiling:
            return step + found[0][1] + 1
        span *= 2
