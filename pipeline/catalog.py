"""What landed: which files hold which series, and a group's rows read from them."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.config import ConfigError, GroupConfig, Settings, check_name, resolve_groups
from pipeline.ingest import InputError
from pipeline.resample import MAX_STEPS, Aligned, GridError, align, fill_short_gaps


@dataclass(frozen=True)
class Catalog:
    """Landing files with the series each holds, and the files that could not be read."""

    files: dict[str, dict[str, str | None]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def series(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for held in self.files.values():
            for name, group in held.items():
                out.setdefault(name, group)
        return out


def discover(landing: str) -> Catalog:
    """Scan every landing file's schema (and metric names for long files)."""
    files, errors = {}, {}
    for path in io.landing_files(landing):
        try:
            files[path] = io.scan_file(path)
        except InputError as exc:
            errors[path] = str(exc)
    return Catalog(files=files, errors=errors)


def groups(settings: Settings, catalog: Catalog) -> list[GroupConfig]:
    return resolve_groups(settings, catalog.series)


def _sources(catalog: Catalog, group: GroupConfig) -> list[str]:
    """The landing files holding the group's metrics; errors name file and group."""
    wanted = set(group.metrics)
    sources = [path for path, held in catalog.files.items() if wanted.intersection(held)]
    try:
        check_name(group.name)
    except ConfigError as exc:
        raise InputError(", ".join(sources) or "landing", f"unusable group name ({exc})", group=group.name) from exc
    unknown = sorted(wanted - set(catalog.series))
    if unknown or not sources:
        unreadable = sorted(catalog.errors)
        hint = f" ({len(unreadable)} unreadable landing files, e.g. {unreadable[0]})" if unreadable else ""
        raise InputError("landing", f"no landed series for metrics {unknown or sorted(wanted)}{hint}",
                         group=group.name)
    return sources


def read_group(catalog: Catalog, group: GroupConfig, start: pd.Timestamp | None = None,
               end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Landed rows of the group's metrics (only those timed in [start, end] if given), in long layout.

    Read whole, every metric must have a numeric value somewhere.
    """
    wanted, sources = set(group.metrics), _sources(catalog, group)
    parts = []
    for path in sources:
        try:
            parts.append(io.read_series(path, wanted, start, end))
        except InputError as exc:
            raise InputError(exc.source, exc.problem, exc.column, group.name) from exc
    rows = pd.concat(parts, ignore_index=True)
    if start is None and end is None:
        empty = sorted(wanted - set(rows.loc[rows["value"].notna(), "series"].unique()))
        if empty:
            holders = ", ".join(p for p in sources if empty[0] in catalog.files[p])
            raise InputError(holders, "no numeric values (no rows, or all NaN/inf)", empty[0], group.name)
    return rows


def time_span(catalog: Catalog, group: GroupConfig, start: pd.Timestamp | None = None,
              end: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp, int] | None:
    """First and last time of the group's rows in [start, end], and how many rows there are."""
    spans = []
    for path in _sources(catalog, group):
        try:
            spans.append(io.time_span(path, set(group.metrics), start, end))
        except InputError as exc:
            raise InputError(exc.source, exc.problem, exc.column, group.name) from exc
    spans = [s for s in spans if s is not None]
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans), sum(s[2] for s in spans)


def load_aligned(catalog: Catalog, group: GroupConfig, start: pd.Timestamp | None = None,
                 end: pd.Timestamp | None = None, grid: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> Aligned:
    """The group's rows in [start, end], aligned to its interval with short gaps filled.

    The grid runs from the first to the last bucket observed, or over `grid` (first, last bucket).
    """
    rows = read_group(catalog, group, start, end)
    first, last = grid if grid is not None else (None, None)
    try:
        values = scatter_grid(rows, group.metrics, group.interval_td, group.aggregation, first, last)
        if values is None:
            return align(rows, group.metrics, group.interval_td, group.aggregation, group.max_gap, first, last)
        return fill_short_gaps(values, group.max_gap)
    except GridError as exc:
        raise InputError("landing", str(exc), group=group.name) from exc


def scatter_grid(rows: pd.DataFrame, metrics: tuple[str, ...], interval: pd.Timedelta, aggregation: str,
                 first: pd.Timestamp | None = None, last: pd.Timestamp | None = None) -> pd.DataFrame | None:
    """`resample.to_grid` for rows with at most one value per bucket and series, without its groupby
    (landed data already on its grid); None when some bucket holds more, for `to_grid` to aggregate."""
    times = rows["timestamp"].dt.tz_convert(None).to_numpy()
    step = np.timedelta64(interval.value, "ns")
    if first is None and len(times):
        first = pd.Timestamp(times.min()).tz_localize("UTC")
    if last is None and len(times):
        last = pd.Timestamp(times.max()).tz_localize("UTC")
    if first is None or last is None or pd.Timestamp(first).floor(interval) > pd.Timestamp(last).floor(interval):
        return None  # nothing to place: to_grid builds the empty frame
    lo, hi = pd.Timestamp(first).floor(interval), pd.Timestamp(last).floor(interval)
    if (hi - lo) // interval >= MAX_STEPS:
        return None  # to_grid refuses it, naming the range
    n, k = (hi - lo) // interval + 1, len(metrics)
    position = (times - lo.tz_convert(None).to_datetime64()) // step
    codes, names = pd.factorize(rows["series"])  # few names: look each up once
    column = pd.Index(metrics).get_indexer(names)[codes]
    keep = (column >= 0) & (position >= 0) & (position < n)
    cells = position[keep] * k + column[keep]
    if np.bincount(cells, minlength=n * k).max(initial=0) > 1:
        return None
    values = rows["value"].to_numpy()[keep]
    grid = np.full(n * k, np.nan)
    grid[cells] = np.nan_to_num(values, nan=0.0) if aggregation == "sum" else values  # as groupby sums [NaN]
    index = pd.date_range(lo, hi, freq=interval, name="timestamp").as_unit("us")
    return pd.DataFrame(grid.reshape(n, k), index=index, columns=pd.Index(list(metrics), name="series"))
