"""What landed: which files hold which series, the groups they form, and a group's rows read from them."""
from __future__ import annotations

import bisect
import dataclasses
import fnmatch
import functools
import re
from dataclasses import dataclass, field

import pandas as pd

from pipeline import io
from pipeline.config import ConfigError, GroupConfig, Settings, check_name
from pipeline.ingest import EARLIEST, LATEST, InputError
from pipeline.resample import Aligned, GridError, align


FUTURE_TOLERANCE = "1h"  # how far past the run's clock a landed row may be (clocks drift, files land late)
MICROSECOND = pd.Timedelta(1, "us")
SECOND = pd.Timedelta(1, "s")


@dataclass(frozen=True)
class Catalog:
    """Landing files with the series each holds, the files that could not be read, and the time
    no row after which is read: the run's clock plus a tolerance. A stray future timestamp would
    otherwise make scoring fill years of empty steps and move the watermark past every real row.
    `bounds`: each file's first and last row time and row count where its statistics tell them,
    so a read of a time range opens only the files that can hold rows in it (an hourly run: the
    day's file, not a month of them). `scans`: what the next run's `discover` needs to skip
    opening the files that did not change since (kept in the data root, `io.read_landing_scans`)."""

    files: dict[str, dict[str, str | None]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    until: pd.Timestamp | None = None
    bounds: dict[str, tuple[pd.Timestamp, pd.Timestamp, int]] = field(default_factory=dict)
    scans: dict[str, dict] = field(default_factory=dict)  # JSON-ready: each file's version, series, bounds

    @functools.cached_property
    def holders(self) -> dict[str, list[str]]:
        """Each series' files: a group's files are looked up, not searched for among every landing
        file (a fleet's catalog holds tens of thousands)."""
        out: dict[str, list[str]] = {}
        for path, held in self.files.items():
            for name in held:
                out.setdefault(name, []).append(path)
        return out

    @functools.cached_property
    def position(self) -> dict[str, int]:
        """Each file's place in the catalog: the order files are read in."""
        return {path: i for i, path in enumerate(self.files)}

    @functools.cached_property
    def series(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for held in self.files.values():
            for name, group in held.items():
                out.setdefault(name, group)
        return out


def discover(landing: str, now: pd.Timestamp | None = None, future_tolerance: str = FUTURE_TOLERANCE,
             known: dict[str, dict] | None = None) -> Catalog:
    """Scan every landing file's schema (and metric names for long files); rows after `now`
    (the current UTC time if not given) plus `future_tolerance` will not be read. `known`: an
    earlier catalog's `scans`; a file listed at the same version there is not opened again."""
    files, errors, bounds, scans = {}, {}, {}, {}
    for path, version in io.landing_files(landing).items():
        entry = (known or {}).get(path)
        if version is not None and entry is not None and entry["version"] == version:
            held, span = entry["series"], _bounds(entry["bounds"])
        else:
            try:
                held, span = io.scan_landed(path)
            except InputError as exc:
                errors[path] = str(exc)
                continue
        files[path] = held
        if span is not None:
            bounds[path] = span
        if version is not None:
            scans[path] = {"version": version, "series": held,
                           "bounds": None if span is None else [span[0].isoformat(), span[1].isoformat(), span[2]]}
    for path, error in _wide_collisions(files).items():
        del files[path]
        errors[path] = error
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    return Catalog(files=files, errors=errors, until=now + pd.Timedelta(future_tolerance),
                   bounds={p: b for p, b in bounds.items() if p in files}, scans=scans)


def _bounds(stored: list | None) -> tuple[pd.Timestamp, pd.Timestamp, int] | None:
    """A file's bounds as `scans` keep them (ISO times, NaT for a file without rows)."""
    return None if stored is None else (pd.Timestamp(stored[0]), pd.Timestamp(stored[1]), stored[2])


def _wide_collisions(files: dict[str, dict[str, str | None]]) -> dict[str, str]:
    """Wide files under different `group=` folders holding a column of the same name: the folder's
    group names no wide column, so the hosts' values would be averaged into one series. Each such
    file is refused, naming the column and the other folder."""
    folders: dict[str, dict[str, str]] = {}  # column -> hive group -> a file holding it there
    for path, held in files.items():
        hive = io.hive_group(path)
        for column, source in held.items():
            if hive is not None and source is None:  # wide columns carry no group of their own
                folders.setdefault(column, {}).setdefault(hive, path)
    refused = {}
    for column, where in folders.items():
        if len(where) > 1:
            for path in (p for p, held in files.items() if column in held and io.hive_group(p) in where):
                other = next(g for g in where if g != io.hive_group(path))
                refused.setdefault(path, f"{path}: wide column {column!r} also lands under group={other}/: a folder's "
                                         "group does not name wide columns, so the groups' values would be averaged "
                                         f"into one series; name the columns per group (e.g. '{other}.{column}') or "
                                         "land long files (timestamp, metric, value)")
    return refused


def _until(catalog: Catalog, end: pd.Timestamp | None) -> pd.Timestamp | None:
    """`end`, no later than the catalog's clock limit."""
    if catalog.until is None:
        return end
    return catalog.until if end is None else min(end, catalog.until)


def future_rows(catalog: Catalog, group: GroupConfig) -> list[str]:
    """One line per landing file of the group holding rows after the clock limit, which are
    not read: the file, how many rows and the latest time."""
    if catalog.until is None:
        return []
    lines = []
    for path in _sources(catalog, group, catalog.until + MICROSECOND):
        try:
            span = io.time_span(path, set(group.metrics), catalog.until + MICROSECOND)
        except InputError as exc:
            raise InputError(exc.source, exc.problem, exc.column, group.name) from exc
        if span is not None:
            lines.append(f"{path}: {span[2]} row(s) of group {group.name!r} after {catalog.until} (the run's clock "
                         f"plus the future tolerance) skipped; the latest at {span[1]}")
    return lines


def groups(settings: Settings, catalog: Catalog) -> list[GroupConfig]:
    return resolve_groups(settings, catalog.series)


def resolve_groups(settings: Settings, series: dict[str, str | None]) -> list[GroupConfig]:
    """Assign every discovered series (name -> source group) to a group with concrete metrics.

    Declared groups take the series their patterns match (a pattern matching nothing is kept
    as is, so reading the group fails naming it); the rest form one group per source `group`
    value, or one group per metric where the data carries none.
    """
    claimed: set[str] = set()
    resolved = []
    names = sorted(series)
    for group in settings.groups:
        found = {pattern: _matching(names, pattern) for pattern in group.metrics}
        matched = sorted(set().union(*found.values()))
        claimed.update(matched)
        unmatched = [pattern for pattern, names_of in found.items() if not names_of]
        resolved.append(dataclasses.replace(group, metrics=tuple(matched + unmatched)))
    auto: dict[str, list[str]] = {}
    for name in sorted(set(series) - claimed):
        auto.setdefault(series[name] or name, []).append(name)
    for group_name, metrics in sorted(auto.items()):
        resolved.append(dataclasses.replace(settings.defaults, name=group_name, metrics=tuple(metrics)))
    return resolved


def _matching(names: list[str], pattern: str) -> list[str]:
    """The sorted `names` a glob matches, among those sharing its literal start (found by bisection:
    a fleet's thousand `host.*` patterns each read their host's names, not every series)."""
    prefix = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    first = bisect.bisect_left(names, prefix)
    last = first
    while last < len(names) and names[last].startswith(prefix):
        last += 1
    return [name for name in names[first:last] if fnmatch.fnmatchcase(name, pattern)]


def _sources(catalog: Catalog, group: GroupConfig, start: pd.Timestamp | None = None,
             end: pd.Timestamp | None = None) -> list[str]:
    """The landing files holding the group's metrics, less those whose known bounds lie outside
    [start, end]; errors name file and group."""
    wanted = set(group.metrics)
    paths = {path for name in wanted for path in catalog.holders.get(name, ())}
    sources = sorted(paths, key=catalog.position.__getitem__)
    try:
        check_name(group.name)
    except ConfigError as exc:
        raise InputError(", ".join(sources) or "landing", f"unusable group name ({exc})", group=group.name) from exc
    unknown = sorted(wanted - catalog.series.keys())
    if unknown or not sources:
        unreadable = sorted(catalog.errors)
        hint = f" ({len(unreadable)} unreadable landing files, e.g. {unreadable[0]})" if unreadable else ""
        raise InputError("landing", f"no landed series for metrics {unknown or sorted(wanted)}{hint}",
                         group=group.name)
    return [path for path in sources if _may_hold(catalog.bounds.get(path), start, end)]


def _may_hold(bounds: tuple[pd.Timestamp, pd.Timestamp, int] | None, start: pd.Timestamp | None,
              end: pd.Timestamp | None) -> bool:
    """Whether a file with these row time bounds (None: unknown) can hold rows in [start, end];
    a second's margin, as the reads' parquet filters have."""
    if bounds is None:
        return True
    return ((start is None or bounds[1] >= pd.Timestamp(start) - SECOND)
            and (end is None or bounds[0] <= pd.Timestamp(end) + SECOND))


def read_group(catalog: Catalog, group: GroupConfig, start: pd.Timestamp | None = None,
               end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Landed rows of the group's metrics (only those timed in [start, end] if given), in long layout.

    Read whole, every metric must have a numeric value somewhere.
    """
    wanted, whole = set(group.metrics), start is None and end is None
    sources = _sources(catalog, group, start, _until(catalog, end)) or _sources(catalog, group)[:1]  # typed if empty
    try:
        rows = io.read_series(sources, wanted, start, _until(catalog, end))
    except InputError as exc:
        raise InputError(exc.source, exc.problem, exc.column, group.name) from exc
    if whole:
        empty = sorted(wanted - set(rows.loc[rows["value"].notna(), "series"].unique()))
        if empty:
            holders = ", ".join(p for p in sources if empty[0] in catalog.files[p])
            raise InputError(holders, "no numeric values (no rows, or all NaN/inf)", empty[0], group.name)
    return rows


def time_span(catalog: Catalog, group: GroupConfig, start: pd.Timestamp | None = None,
              end: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp, int] | None:
    """First and last time of the group's rows in [start, end], and how many rows there are."""
    spans, end = [], _until(catalog, end)
    for path in _sources(catalog, group, start, end):
        if _inside(catalog, group, path, start, end):  # its statistics are the answer
            spans.append(catalog.bounds[path])
            continue
        try:
            spans.append(io.time_span(path, set(group.metrics), start, end))
        except InputError as exc:
            raise InputError(exc.source, exc.problem, exc.column, group.name) from exc
    spans = [s for s in spans if s is not None]
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans), sum(s[2] for s in spans)


def _inside(catalog: Catalog, group: GroupConfig, path: str, start: pd.Timestamp | None,
            end: pd.Timestamp | None) -> bool:
    """Whether every row of the file is the group's and lies in [start, end], by its statistics
    (whole microseconds, as read times are, and times a read would not refuse): then its bounds
    are its span, without opening it."""
    bounds = catalog.bounds.get(path)
    if bounds is None or not set(catalog.files[path]) <= set(group.metrics):
        return False
    first, last, _ = bounds
    return (first == first.floor("us") and last == last.floor("us") and EARLIEST <= first and last < LATEST
            and (start is None or first >= start) and (end is None or last <= end))


def landed(catalog: Catalog, group: GroupConfig, start: pd.Timestamp, end: pd.Timestamp) -> list[list] | None:
    """The landing files that can hold the group's rows in [start, end], each as [path, first, last,
    rows, version] (JSON-ready; version None where the file system reports none): what a result
    computed from those rows was computed from, so a later run can tell whether a file landed late
    or was rewritten there. None when a file's bounds are unknown."""
    found = []
    for path in _sources(catalog, group, start, end):
        if path not in catalog.bounds:
            return None
        first, last, rows = catalog.bounds[path]
        found.append([path, first.isoformat(), last.isoformat(), rows, catalog.scans.get(path, {}).get("version")])
    return found


def load_aligned(catalog: Catalog, group: GroupConfig, start: pd.Timestamp | None = None,
                 end: pd.Timestamp | None = None, grid: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> Aligned:
    """The group's rows in [start, end], aligned to its interval with short gaps filled.

    The grid runs from the first to the last bucket observed, or over `grid` (first, last bucket).
    """
    rows = read_group(catalog, group, start, end)
    first, last = grid if grid is not None else (None, None)
    try:
        return align(rows, group.metrics, group.interval_td, group.aggregation, group.max_gap, first, last)
    except GridError as exc:
        raise InputError("landing", str(exc), group=group.name) from exc
