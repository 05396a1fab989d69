"""Rows that land, or change, behind the watermark: a slow exporter's metric, a day's file landed
after the next day's, a gap filled later, placeholder rows rewritten with their values.

An hourly run scores the steps after the watermark, so such rows would never be scored. The
look-back the last run carried names the landing files the steps up to the watermark were read
from: where one is new or changed, the steps' values are aligned again from the files as they
are now and compared with the published ones, and the first step whose value moved marks where
the published scores are stale. A rewritten file whose earlier rows did not change (an exporter
rewriting its day's file each hour) marks nothing. Rows landing later than the look-back's days
need a backfill (`nightwatch score --start`).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def changed_files(scored: list, now: list) -> list:
    """The entries of `now` (`catalog.landed`: path, first, last, rows and version) that were not
    so when the steps were scored: new paths, or other bounds, row count or version. An entry of
    an older release, with no version, is compared by its bounds and row count."""
    before = {entry[0]: entry for entry in scored}
    return [entry for entry in now if (old := before.get(entry[0])) is None or old[1:4] != entry[1:4]
            or (len(old) > 4 and old[4:] != entry[4:])]


def stale_since(scored: list, now: list | None, watermark: pd.Timestamp, interval: pd.Timedelta,
                recompute: Callable[[pd.Timestamp, pd.Timestamp], pd.DataFrame],
                published: Callable[[pd.Timestamp], pd.DataFrame], fill: int, context: int) -> pd.Timestamp | None:
    """The first published step whose score is stale, or None.

    `scored`, `now`: the landing files holding the watermark's look-back when it was scored and
    now (`catalog.landed`; `now` None: unknown, nothing found). `recompute(first, last)`: the
    aligned values of those buckets [time, metric] from the files as they are now;
    `published(first)`: the values published for the steps from `first` on. `fill`: the steps a
    row's gap filling reaches, so values are read from that far before the first changed row's
    step and compared from there. `context`: the steps before a step whose score reads it; the
    stale steps start that far before the first value that moved."""
    if now is None or now == scored:
        return None
    changed = changed_files(scored, now)
    if not changed:
        return None
    first = min(pd.Timestamp(entry[1]) for entry in changed).floor(interval) - fill * interval
    times = pd.date_range(first, watermark, freq=interval)
    if times.empty:
        return None
    values = recompute(times[0] - fill * interval, times[-1] + fill * interval).reindex(times).to_numpy()
    was = published(times[0]).reindex(times).to_numpy()
    moved = ~((values == was) | (np.isnan(values) & np.isnan(was))).all(axis=1)
    return times[int(np.argmax(moved))] - context * interval if moved.any() else None
