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
    metric is a column, NaN where nothing was observed. Rows already on their grid (at most
    one per bucket and metric, as landed data usually is) are placed without a groupby.
    """
    index = grid_index(long["timestamp"], interval, start, end)
    placed = _scatter(long, metrics, index, interval, aggregation)
    return placed if placed is not None else aggregate_to_grid(long, metrics, index, interval, aggregation)


def grid_index(times: pd.Series, interval: pd.Timedelta, start: pd.Timestamp | None = None,
               end: pd.Timestamp | None = None) -> pd.DatetimeIndex:
    """Buckets from `start` (or the first time) to `end` (or the last), refusing absurd spans."""
    lo = pd.Timestamp(start if start is not None else times.min()).floor(interval)
    hi = pd.Timestamp(end if end is not None else times.max()).floor(interval)
    if pd.isna(lo) or pd.isna(hi) or lo > hi:
        return pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("us")
    if (hi - lo) // interval >= MAX_STEPS:
        raise GridError(f"timestamps span {lo} .. {hi}, over {MAX_STEPS} intervals of {interval}; "
                        "look for stray timestamps")
    return pd.date_range(lo, hi, freq=interval, name="timestamp").as_unit("us")


def aggregate_to_grid(long: pd.DataFrame, metrics: tuple[str, ...], index: pd.DatetimeIndex,
                      interval: pd.Timedelta, aggregation: str) -> pd.DataFrame:
    """The general path: group rows by bucket and series, aggregate, reindex onto `index`."""
    grid = (long.assign(timestamp=long["timestamp"].dt.floor(interval))
            .groupby(["timestamp", "series"])["value"].agg(aggregation)
            .unstack("series"))
    return grid.reindex(index=index, columns=pd.Index(list(metrics), name="series")).astype("float64")


def _scatter(long: pd.DataFrame, metrics: tuple[str, ...], index: pd.DatetimeIndex, interval: pd.Timedelta,
             aggregation: str) -> pd.DataFrame | None:
    """Place each value in its cell; None when some cell gets more than one (they need aggregating)."""
    if index.empty:
        return None
    n, k = len(index), len(metrics)
    offset = long["timestamp"].dt.tz_convert(None).to_numpy() - index[0].tz_convert(None).to_datetime64()
    position = offset // np.timedelta64(interval.value, "ns")
    codes, names = pd.factorize(long["series"])  # few names: look each up once
    column = pd.Index(metrics).get_indexer(names)[codes]
    keep = (column >= 0) & (position >= 0) & (position < n)
    cells = position[keep] * k + column[keep]
    if np.bincount(cells, minlength=n * k).max(initial=0) > 1:
        return None
    values = long["value"].to_numpy()[keep]
    grid = np.full(n * k, np.nan)
    grid[cells] = np.nan_to_num(values, nan=0.0) if aggregation == "sum" else values  # as groupby sums [NaN]
    return pd.DataFrame(grid.reshape(n, k), index=index, columns=pd.Index(list(metrics), name="series"))


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
