"""Align a group's long frame to a fixed interval, fill short gaps, and mask what was filled."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_STEPS = 5_000_000  # a longer grid means stray timestamps, not a metric history


class GridError(ValueError):
    """The group's timestamps span too many intervals to align."""


@dataclass(frozen=True)
class Aligned:
    """A group on its interval grid: `values` (NaN where still missing) and `imputed` (filled)."""

    values: pd.DataFrame
    imputed: pd.DataFrame

    @property
    def missing(self) -> pd.DataFrame:
        return self.values.isna()


def to_grid(long: pd.DataFrame, metrics: tuple[str, ...], interval: pd.Timedelta, aggregation: str,
            start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Aggregate values into interval buckets (duplicates and unsorted rows included).

    Every bucket from the first to the last observation (or `start`..`end`) is a row; every
    metric is a column, NaN where nothing was observed.
    """
    bucket = long["timestamp"].dt.floor(interval)
    grid = (long.assign(timestamp=bucket)
            .groupby(["timestamp", "series"])["value"].agg(aggregation)
            .unstack("series"))
    lo = pd.Timestamp(start).floor(interval) if start is not None else grid.index.min()
    hi = pd.Timestamp(end).floor(interval) if end is not None else grid.index.max()
    if pd.isna(lo) or pd.isna(hi) or lo > hi:
        index = pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("us")
    elif (hi - lo) // interval >= MAX_STEPS:
        raise GridError(f"timestamps span {lo} .. {hi}, over {MAX_STEPS} intervals of {interval}; "
                        "look for stray timestamps")
    else:
        index = pd.date_range(lo, hi, freq=interval, name="timestamp").as_unit("us")
    return grid.reindex(index=index, columns=list(metrics)).astype("float64")


def gap_lengths(missing: np.ndarray) -> np.ndarray:
    """For each missing cell, the length of the run of missing cells it belongs to (0 elsewhere)."""
    out = np.zeros(missing.shape, dtype=np.int64)
    for j in range(missing.shape[1]):
        col = missing[:, j]
        edges = np.flatnonzero(np.diff(np.concatenate(([0], col.astype(np.int8), [0]))))
        for start, stop in zip(edges[::2], edges[1::2]):
            out[start:stop, j] = stop - start
    return out


def fill_short_gaps(grid: pd.DataFrame, max_gap: int) -> Aligned:
    """Fill runs of at most `max_gap` missing buckets (linear inside, nearest at the edges)."""
    missing = grid.isna().to_numpy()
    short = missing & (gap_lengths(missing) <= max_gap)
    interpolated = grid.interpolate(method="linear", limit_area="inside").ffill().bfill()
    values = grid.mask(short, interpolated)
    return Aligned(values=values, imputed=pd.DataFrame(short, index=grid.index, columns=grid.columns))


def align(long: pd.DataFrame, metrics: tuple[str, ...], interval: pd.Timedelta, aggregation: str,
          max_gap: int, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> Aligned:
    """Grid the group's rows on `interval`, then fill short gaps."""
    return fill_short_gaps(to_grid(long, metrics, interval, aggregation, start, end), max_gap)
