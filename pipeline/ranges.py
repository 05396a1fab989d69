"""What a scoring run reads and publishes: the grid of steps from the context its new steps need
(windows, smoothing, gap filling, the rules' look-back) to the last landed row, the steps it
publishes, and a backfill's ends widened to the whole anomaly runs reaching them."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd

from pipeline.catalog import Catalog, time_span
from pipeline.config import GroupConfig
from pipeline.detect.base import Evidence
from pipeline.ingest import InputError
from pipeline.parts import Grid, run_start, run_stop
from pipeline.resample import MAX_STEPS


def context_start(group: GroupConfig, first_new: pd.Timestamp | None) -> pd.Timestamp | None:
    """The first step an incremental run reads: what the scores and flags of its new steps use."""
    return None if first_new is None else first_new - context_steps(group) * group.interval_td


def context_steps(group: GroupConfig) -> int:
    """Steps before a step that its flags depend on: the rules' look-back over earlier steps'
    evidence, and the steps that evidence needs (`score_context`)."""
    return score_context(group) + group.detection.lookback(group.interval_td)


def score_context(group: GroupConfig) -> int:
    """Steps before a step that its score depends on: the windows covering it and the smoothing
    neighbours, then the gap-filling neighbours."""
    return group.span - 1 + max(group.detection.smoothing, 1) // 2 + group.max_gap + 1


def no_evidence(group: GroupConfig) -> Evidence:
    """The look-back before a range's first step: none."""
    metrics = len(group.metrics)
    return Evidence(np.empty(0), np.empty((0, metrics)), np.empty((0, metrics)), group.metrics, group.interval_td)


def utc(time) -> pd.Timestamp:
    """A backfill bound as a UTC time (naive ones are taken as UTC, as landed timestamps are)."""
    time = pd.Timestamp(time)
    return time.tz_localize("UTC") if time.tzinfo is None else time.tz_convert("UTC")


def grid_of(catalog: Catalog, group: GroupConfig, context: pd.Timestamp | None, end: pd.Timestamp | None,
          first_new: pd.Timestamp | None) -> Grid | None:
    """The buckets from the first row after `context` to the last landed one (the windows of the
    steps up to `end` read the rows after it), publishing those from `first_new` up to `end`;
    None if nothing new to score."""
    span = time_span(catalog, group, context)
    if span is None:
        return None
    interval = group.interval_td
    first, last = span[0].floor(interval), span[1].floor(interval)
    n = (last - first) // interval + 1
    new = 0 if first_new is None else min(n, max(0, -((first - first_new) // interval)))
    stop = n if end is None else min(n, (end.floor(interval) - first) // interval + 1)
    if n >= MAX_STEPS and span[2] < n:
        raise InputError("landing", f"timestamps span {first} .. {last}, over {MAX_STEPS} intervals of {interval} "
                         f"with only {span[2]} rows; look for stray timestamps", group=group.name)
    return Grid(first, n, new, stop, interval) if new < stop and n >= group.span else None


def backfill_grid(catalog: Catalog, group: GroupConfig, grid: Grid, context: pd.Timestamp | None,
                   first_new: pd.Timestamp | None, end: pd.Timestamp | None, chunk: int,
                   scorer: Callable) -> tuple[Grid, pd.Timestamp | None]:
    """A backfill's grid and the first time it reads, its steps widened to the whole flagged runs
    (any rule's flags, merged over the merge gap) reaching either end, as one pass over all the
    data publishes them: the filters judge whole runs and an interval is replaced whole, never
    cut into a fragment beside the one already published. The runs are found by scoring the
    steps beyond each end (at most `chunk` back, as for an interval open at the watermark)."""
    if first_new is not None:  # reach back that far (same new steps: never None)
        context = context_start(group, first_new - chunk * group.interval_td)
        grid = grid_of(catalog, group, context, end, first_new)
    lookback, merge_gap = group.detection.lookback(group.interval_td), group.detection.merge_gap

    def flags(lo: int, hi: int) -> np.ndarray:
        """Steps of [lo, hi) some rule flags, as one pass does: scored with the look-back before them."""
        begin = max(lo - lookback, 0)
        part, _ = scorer(context, dataclasses.replace(grid, new=lo), begin, hi, no_evidence(group))
        return part.raised.any[lo - begin:]

    first = run_start(flags, grid.new, merge_gap, max(grid.new - chunk, 0))
    return dataclasses.replace(grid, new=first, stop=run_stop(flags, grid.stop, merge_gap, grid.n)), context
