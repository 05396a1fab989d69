"""Score a group's new data with its current model and publish scores, anomalies and features.

A long range is scored in parts of `CHUNK` steps, each read with the context its scores need
(the windows covering its steps, the smoothing and gap-filling neighbours), so memory stays
flat and every score equals the one scoring the range at once gives. A part is published
up to the start of an anomaly run that later steps could still extend; that run is kept
and joined to the next part, so intervals are never split (memory grows only with the
longest such run, not with the range).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.anomalies import confirm, drop_repeats, to_intervals
from pipeline.catalog import Catalog, load_aligned, time_span
from pipeline.config import GroupConfig, Settings, group_from_dict
from pipeline.inference import run_windows, scaled_input
from pipeline.ingest import InputError
from pipeline.parts import Grid, Part, closed_until, part_stop
from pipeline.publish import anomalies_frame, features_frame, scores_table
from pipeline.resample import MAX_STEPS
from pipeline.saved import load_autoencoder
from pipeline.scale import Scaler
from pipeline.score import combine, level, recent_stats, repeat_peaks, shift
from pipeline.threshold import flag, flag_level, flag_shift, recent_shift_thresholds, stands_out
from pipeline.window import window_starts

log = logging.getLogger(__name__)
CHUNK = 1 << 16  # steps scored per part of a long range
MICROSECOND = pd.Timedelta(1, "us")  # published times are microseconds


def score_group(settings: Settings, group: GroupConfig, catalog: Catalog, run_id: str,
                start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                emit: Callable[[str], None] = log.info, chunk: int = CHUNK) -> dict:
    """Score data after the group's watermark (or in [start, end] for a backfill) and publish it.

    The watermark moves after each published part, so a killed run resumes where it stopped. An
    anomaly interval still open at the watermark is scored again from its start, so that new
    steps extend it as scoring the whole range at once would, instead of starting a second one.
    """
    models_root, data_root = settings.storage.models_root, settings.storage.data_root
    version = io.current_version(models_root, group.name)
    if version is None:
        raise InputError("models", "no current model; run training first", group=group.name)
    meta = io.read_metadata(models_root, group.name, version)
    group = group_from_dict(meta["config"])  # score as the model was trained: metrics, grid, window
    watermark = io.read_watermark(data_root, group.name)
    start, end = (None if t is None else _utc(t) for t in (start, end))
    first_new = start if start is not None else (watermark + group.interval_td if watermark is not None else None)
    grid = _grid(catalog, group, _context(group, first_new), end, first_new)
    if grid is None:
        emit(f"{group.name}: nothing new to score after {watermark}")
        return {"group": group.name, "scored": 0, "anomalies": 0, "model_version": version}
    open_since = io.read_open_since(data_root, group.name) if start is None and end is None else None
    if open_since is not None and first_new is not None:  # at most `chunk` steps back
        first_new = max(open_since, first_new - chunk * group.interval_td)
        grid = _grid(catalog, group, _context(group, first_new), end, first_new)
    context = _context(group, first_new)

    model = load_autoencoder(io.model_path(models_root, group.name, version))
    scaler, threshold = Scaler.from_dict(meta["scaler"]), float(meta["threshold"]["value"])
    level_threshold = meta["threshold"].get("level_value") if group.threshold.level_steps else None
    shift_thresholds = _shift_thresholds(meta, group)
    usual = meta.get("metric_scales", {})  # models from before per-metric scales: raw errors
    scales = np.array([usual.get(metric, 1.0) for metric in group.metrics])
    merge_gap, incremental = group.threshold.merge_gap, start is None and end is None
    recent_k, recent_factor, recent_shift_floor = (group.threshold.recent_k, group.threshold.recent_factor,
                                                   group.threshold.recent_shift_floor)
    done, scored_to, intervals, open_run = 0, 0, 0, None  # steps before `done` are published (or context)
    keep = _history_steps(group)  # the latest scores and mean shifts, for the next part's checks:
    history = (np.empty(0), np.empty((0, len(group.metrics))))
    with ThreadPoolExecutor(1, thread_name_prefix="publish") as publisher:  # one part written while the next is scored
        pending = None
        while done < grid.n:
            stop = part_stop(grid, scored_to, chunk)
            part = _score_part(catalog, group, grid, scored_to, stop, context, end, model, scaler, scales, history)
            history = tuple(np.concatenate([old, new])[max(len(old) + len(new) - keep, 0):]
                            for old, new in zip(history, (part.scores, part.shifts)))
            part, scored_to = (part if open_run is None else open_run.join(part)), stop
            recent_mean, recent_std = part.recent_means, part.recent_stds  # NaN (no limit) when the check is off
            flags = flag(part.scores, threshold) & stands_out(part.scores, recent_mean + recent_k * recent_std)
            levels = (flag_level(part.scores, part.levels, level_threshold)
                      & stands_out(part.levels, recent_factor * recent_mean) if level_threshold is not None
                      else np.zeros_like(flags))
            shift_levels = (None if shift_thresholds is None else  # [time, metric]
                            recent_shift_thresholds(shift_thresholds, part.shift_limits, recent_shift_floor))
            shifted = flag_shift(part.shifts, shift_levels) if shift_levels is not None else np.zeros_like(flags)
            split = len(flags) if stop == grid.n else closed_until(flags | levels | shifted, merge_gap)
            open_run = part.tail(split) if split < len(flags) else None  # kept, not scored again
            if split == 0:
                continue
            by_score = confirm(part.scores[:split], flags[:split], threshold, merge_gap, group.threshold.min_peak)
            if group.threshold.repeat_days:
                by_score = drop_repeats(part.scores[:split], by_score, part.repeats[:split],
                                        group.threshold.repeat_factor * threshold, merge_gap)
            kept = by_score | levels[:split] | shifted[:split]
            intervals += pending.result() if pending is not None else 0  # parts are published in order
            done += split
            open_at = closed_until(kept, merge_gap)  # where a published run that later steps could extend starts
            still_open = grid.time(part.start + max(open_at, grid.new - part.start)) if open_at < split else None
            mark = (grid.time(done - 1), still_open) if incremental and done > grid.new else None
            pending = publisher.submit(_publish_and_mark, data_root, group, grid, part,
                                       (kept, by_score, levels[:split]), split,
                                       (threshold, level_threshold, shift_levels), version, run_id, mark)
            if grid.n - grid.new > chunk:
                emit(f"{group.name}: publishing {grid.time(max(grid.new, part.start))} .. {grid.time(done - 1)}")
        intervals += pending.result() if pending is not None else 0
    lo, hi = grid.time(grid.new), grid.time(grid.n - 1)
    emit(f"{group.name}: scored {grid.n - grid.new} steps {lo} .. {hi}, {intervals} anomaly intervals")
    return {"group": group.name, "scored": grid.n - grid.new, "anomalies": intervals,
            "model_version": version, "start": str(lo), "end": str(hi)}


def _context(group: GroupConfig, first_new: pd.Timestamp | None) -> pd.Timestamp | None:
    """The first step an incremental run reads: what the scores and levels of its new steps use."""
    return None if first_new is None else first_new - _context_steps(group) * group.interval_td


def _context_steps(group: GroupConfig) -> int:
    """Steps before a step that its score and checks depend on: the steps of its history, and
    the steps their scores and mean shifts need (`_score_context`)."""
    return _score_context(group) + _history_steps(group)


def _score_context(group: GroupConfig) -> int:
    """Steps before a step that its score and mean shift depend on: the windows covering it and
    the smoothing neighbours, or the shift's two spans; then the gap-filling neighbours."""
    shift_steps = group.threshold.shift_steps + group.threshold.shift_baseline - 1 if group.threshold.shift_steps else 0
    return max(group.window - 1 + max(group.threshold.smoothing, 1) // 2, shift_steps) + group.max_gap + 1


def _shift_thresholds(meta: dict, group: GroupConfig) -> np.ndarray | None:
    """The stored per-metric mean-shift thresholds (infinite where none was calibrated); None
    when the check is off (as for a model that predates it: `group_from_dict`)."""
    if not group.threshold.shift_steps:
        return None
    stored = meta["threshold"]["shift_values"]
    return np.array([np.inf if stored[m] is None else stored[m] for m in group.metrics])


def _history_steps(group: GroupConfig) -> int:
    """Earlier steps whose scores (and mean shifts) a step's checks use: its level's trailing
    steps, the previous days of its repeats, or the recent days it must stand out against."""
    period, tolerance = _repeat_steps(group)
    return max(group.threshold.level_steps - 1, group.threshold.repeat_days * period + tolerance if period else 0,
               _recent_steps(group), 0)


def _recent_steps(group: GroupConfig) -> int:
    """Steps in the recent-context check's days; 0 when it is off (or they make under 2 steps)."""
    steps = round(group.threshold.recent_days * pd.Timedelta("1D") / group.interval_td)
    return steps if steps >= 2 else 0


def _repeat_steps(group: GroupConfig) -> tuple[int, int]:
    """Steps in a day and in the repeat tolerance; (0, 0) when the daily-repeat check is off
    (or the interval is over half a day)."""
    period = round(pd.Timedelta("1D") / group.interval_td)
    if not group.threshold.repeat_days or period < 2:
        return 0, 0
    return period, pd.Timedelta(group.threshold.repeat_tolerance) // group.interval_td


def _utc(time) -> pd.Timestamp:
    """A backfill bound as a UTC time (naive ones are taken as UTC, as landed timestamps are)."""
    time = pd.Timestamp(time)
    return time.tz_localize("UTC") if time.tzinfo is None else time.tz_convert("UTC")


def _grid(catalog: Catalog, group: GroupConfig, context: pd.Timestamp | None, end: pd.Timestamp | None,
          first_new: pd.Timestamp | None) -> Grid | None:
    """The buckets from the first to the last row in [context, end]; None if nothing new to score."""
    span = time_span(catalog, group, context, end)
    if span is None:
        return None
    interval = group.interval_td
    first, last = span[0].floor(interval), span[1].floor(interval)
    n = (last - first) // interval + 1
    new = 0 if first_new is None else min(n, max(0, -((first - first_new) // interval)))
    if n >= MAX_STEPS and span[2] < n:
        raise InputError("landing", f"timestamps span {first} .. {last}, over {MAX_STEPS} intervals of {interval} "
                         f"with only {span[2]} rows; look for stray timestamps", group=group.name)
    return Grid(first, n, new, interval) if new < n and n >= group.window else None


def _score_part(catalog: Catalog, group: GroupConfig, grid: Grid, start: int, stop: int,
                context: pd.Timestamp | None, end: pd.Timestamp | None, model, scaler: Scaler,
                scales: np.ndarray, history: tuple[np.ndarray, np.ndarray]) -> Part:
    """Scores of steps [start, stop), from a read of the steps around them that those scores use;
    metric scores are errors over each metric's usual error (`scales`). `history` holds the
    scores and mean shifts of the steps before `start` (as many as `_history_steps`, fewer at
    the grid's start) that earlier parts gave, for its checks."""
    window, smoothing, fill = group.window, max(group.threshold.smoothing, 1), group.max_gap + 1
    lo = max(0, start - _score_context(group))
    hi = min(grid.n, stop + (window - 1) + (smoothing - 1) // 2 + fill)
    rows_from, rows_to = grid.time(lo), grid.time(hi) - MICROSECOND
    aligned = load_aligned(catalog, group, rows_from if context is None else max(rows_from, context),
                           rows_to if end is None else min(rows_to, end),
                           grid=(grid.time(lo), grid.time(hi - 1)))
    values, imputed = aligned.values.to_numpy(), aligned.imputed.to_numpy()
    starts = window_starts(grid.n, window, group.stride, lo, hi) - lo
    out = run_windows(model, scaled_input(values, scaler), window, starts)
    metric_scores = out.metric_errors / scales
    scores = combine(metric_scores, imputed | np.isnan(values), group.threshold.smoothing, group.threshold.combine)
    ends = out.starts + lo + window - 1
    mine = (ends >= start) & (ends < stop)
    core = slice(start - lo, stop - lo)
    steps, (period, tolerance), n = group.threshold.level_steps, _repeat_steps(group), stop - start
    known = np.concatenate([history[0], scores[core]])
    levels = level(known, steps)[-n:] if steps else np.full(n, np.nan)
    repeats = repeat_peaks(known, period, group.threshold.repeat_days, tolerance)[-n:] if period else np.full(n, np.nan)
    shifts = (shift(scaler.transform(values), group.threshold.shift_steps, group.threshold.shift_baseline)[core]
              if group.threshold.shift_steps else np.full(metric_scores[core].shape, np.nan))
    means = stds = np.full(n, np.nan)
    shift_limits = np.full(shifts.shape, np.nan)
    if recent_steps := _recent_steps(group):
        means, stds = (stat[-n:] for stat in recent_stats(known, recent_steps))
    if recent_steps and group.threshold.shift_steps:
        shift_means, shift_stds = recent_stats(np.concatenate([history[1], shifts]), recent_steps)
        shift_limits = (shift_means + group.threshold.recent_k * shift_stds)[-n:]
    return Part(start=start, index=aligned.values.index[core], values=values[core], imputed=imputed[core],
                metric_scores=metric_scores[core], scores=scores[core], levels=levels, repeats=repeats,
                shifts=shifts, recent_means=means, recent_stds=stds, shift_limits=shift_limits,
                window_ends=ends[mine], codes=out.codes[mine])


def _publish_and_mark(data_root: str, group: GroupConfig, grid: Grid, part: Part, flags: tuple, split: int,
                      thresholds: tuple, version: str, run_id: str,
                      mark: tuple[pd.Timestamp, pd.Timestamp | None] | None) -> int:
    """Publish the part, then move the watermark (and the open interval's start) to `mark`, if
    any, so a killed run resumes after it."""
    found = _publish(data_root, group, grid, part, flags, split, thresholds, version, run_id)
    if mark is not None:
        io.write_watermark(data_root, group.name, *mark)
    return found


def _publish(data_root: str, group: GroupConfig, grid: Grid, part: Part, flags: tuple, split: int,
             thresholds: tuple, version: str, run_id: str) -> int:
    """Publish the part's new steps before `split`; returns the number of anomaly intervals.
    `flags`: the steps kept as anomalous, and those the score and the sustained-level checks
    kept (each up to `split`); `thresholds`: the score's, the sustained level's and the mean
    shifts' ([time, metric] for the part's steps; None when that check is off)."""
    first = max(grid.new - part.start, 0)
    if first >= split:
        return 0
    new = slice(first, split)
    idx, metrics, merge_gap = part.index[new], group.metrics, group.threshold.merge_gap
    threshold, level_threshold, shift_thresholds = thresholds
    kept, by_score, by_level = flags
    stop = part.start + split
    lo, hi = idx[0], idx[-1] if stop == grid.n else grid.time(stop) - MICROSECOND
    intervals = to_intervals(idx, part.scores[new], kept[new], part.metric_scores[new], metrics, threshold, merge_gap,
                             part.levels[new], level_threshold,
                             None if shift_thresholds is None else part.shifts[new] / shift_thresholds[new],
                             by_score[new], by_level[new])
    windows = (part.window_ends >= part.start + first) & (part.window_ends < stop)
    io.upsert_partitions(data_root, "scores", group.name, scores_table(
        idx, metrics, part.values[new], part.imputed[new], part.metric_scores[new],
        part.scores[new], threshold, kept[new], version, run_id), "timestamp", lo, hi)
    io.upsert_partitions(data_root, "anomalies", group.name,
                         anomalies_frame(intervals, version, run_id), "start", lo, hi)
    io.upsert_partitions(data_root, "features", group.name, features_frame(
        part.index[part.window_ends[windows] - part.start], part.codes[windows], version, run_id),
        "window_end", lo, hi)
    return len(intervals)
