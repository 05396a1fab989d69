"""Score a group's new data with its current model and publish scores, anomalies and features.

A long range is scored in parts of `CHUNK` steps, each read with the context its scores need
(the windows covering its steps, the smoothing and gap-filling neighbours), so memory stays
flat and every score equals the one scoring the range at once gives. A part is published
up to the start of an anomaly run that later steps could still extend; that run is kept
and joined to the next part, so intervals are never split (memory grows only with the
longest such run, not with the range).

A backfill [start, end] publishes what one pass over all the landed data does for its steps:
it reads the landed rows after `end` that the windows of its last steps use (up to the run's
clock limit), and its ends move out to the whole anomaly runs reaching them (`pipeline.ranges.backfill_grid`).
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from pipeline import io, resume
from pipeline.anomalies import to_intervals
from pipeline.catalog import Catalog, future_rows, load_aligned
from pipeline.config import GroupConfig, Settings
from pipeline.detect.base import Evidence, joined, sliced
from pipeline.detect.compose import anomaly_scores, filter_flags, published, raise_flags
from pipeline.detect.evidence import evidence
from pipeline.inference import run_windows
from pipeline.metadata import StoredVersion, check_input_shape, check_model_file, read_version
from pipeline.overlaps import overlapping
from pipeline.parts import Grid, Part, closed_until, part_stop
from pipeline.ranges import backfill_grid, context_start, context_steps, grid_of, no_evidence, score_context, utc
from pipeline.publish import anomalies_table, features_table, scores_table
from pipeline.saved import load_autoencoder
from pipeline.seasonal import deseasonalised, rules_input
from pipeline.time_inputs import model_input
from pipeline.window import window_starts

log = logging.getLogger(__name__)
CHUNK = 1 << 16  # steps scored per part of a long range
MICROSECOND = pd.Timedelta(1, "us")  # published times are microseconds
MAX_UNSCORED = 0.05  # a larger share of scored steps without a score (no metric observed) is warned about


class NoCurrentModel(LookupError):
    """The group has no model version to score with (not trained yet, or its training failed)."""


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
        raise NoCurrentModel(f"{models_root}: group {group.name!r}: no current model; run training first")
    stored = read_version(models_root, group.name, version)
    configured, group = group, _as_trained(group, stored.config)
    warnings = future_rows(catalog, group)  # rows past the clock: not scored, and the watermark stays before them
    for line in warnings:
        emit(f"warning: {line}")
    watermark = io.read_watermark(data_root, group.name)
    if watermark is not None and catalog.until is not None and watermark > catalog.until:  # older release, or by hand
        warnings.append(f"{group.name}: watermark {watermark} is after the run's clock ({catalog.until}), so no "
                        f"step before it is scored; `nightwatch state reset {group.name} --to TIME` moves it back")
    carried = resume.carried(data_root, group) if start is None and end is None else None
    files_now = None if carried is None else resume.landed_now(catalog, group, carried)
    alike = carried is not None and watermark is not None and resume.aligned_alike(models_root, group, carried.version,
                                                                                    version)
    stale = resume.stale_since(data_root, catalog, group, carried, files_now, watermark) if alike else None
    rescoring = {}  # how many steps, from when, were scored again for late rows
    if stale is not None:
        line = (f"{group.name}: rows landed or changed at or before the watermark {watermark} since they were "
                f"scored; scoring {stale} .. {watermark} again")
        emit(f"warning: {line}")
        again = score_group(settings, configured, catalog, run_id, stale, watermark, emit, chunk)
        warnings += [line, *(w for w in again["warnings"] if w not in warnings)]
        rescoring = {"rescored": again["scored"], "rescored_from": str(stale)}
        carried = None  # the backfill dropped the carried look-back
    start, end = (None if t is None else utc(t) for t in (start, end))
    first_new = start if start is not None else (watermark + group.interval_td if watermark is not None else None)
    grid = grid_of(catalog, group, context_start(group, first_new), end, first_new)
    if grid is None:
        emit(f"{group.name}: nothing new to score after {watermark}")
        return {"group": group.name, "scored": 0, "anomalies": 0, "model_version": version, "warnings": warnings,
                **rescoring}
    open_since = io.read_open_since(data_root, group.name) if start is None and end is None else None
    if open_since is not None and first_new is not None:  # at most `chunk` steps back
        first_new = max(open_since, first_new - chunk * group.interval_td)
        grid = grid_of(catalog, group, context_start(group, first_new), end, first_new)
    context = context_start(group, first_new)
    for line in overlapping(catalog, group, grid.time(grid.new) - group.interval_td, grid.time(grid.stop - 1)):
        if line not in warnings:
            emit(f"warning: {line}")
            warnings.append(line)

    model_file = io.model_path(models_root, group.name, version)
    check_model_file(model_file, stored)
    model = load_autoencoder(model_file)
    check_input_shape(model.template.input_shape, stored, model_file)
    detection = group.detection
    threshold = stored.states.get("score", {}).get("threshold", np.nan)  # published beside each score
    merge_gap, incremental = detection.merge_gap, start is None and end is None
    scorer = functools.partial(_score_part, catalog, group, model, stored)
    if not incremental:
        io.drop_lookback(data_root, group.name)  # the next hourly run reads the days it covered again
        grid, context = backfill_grid(catalog, group, grid, context, first_new, end, chunk, scorer)
    score = functools.partial(scorer, context)
    done = scored_to = max(grid.new - context_steps(group), 0)  # steps before `done` are published (or context)
    intervals, open_run = 0, None
    history = no_evidence(group)  # the latest steps' evidence, the look-back of the next part's rules
    resumed = resume.resumed(group, grid, version, carried, files_now) if carried is not None else None
    if resumed is not None:  # the carried steps read, the rest scored (the grid's first ones are context)
        carried_from, history, done = resumed
        if carried_from > score_context(group):  # steps before the carried ones: the grid moved back
            before, _ = score(grid, score_context(group), carried_from, no_evidence(group))
            history = joined(before.evidence, history)
        scored_to = done
    unscored = 0  # new steps with no score: every metric missing or imputed there
    unobserved = np.zeros(len(group.metrics), np.int64)  # new steps with a score where a metric has no value
    with ThreadPoolExecutor(1, thread_name_prefix="publish") as publisher:  # one part written while the next is scored
        pending = None
        while done < grid.stop:
            stop = part_stop(grid, scored_to, chunk)
            part, history = score(grid, scored_to, stop, history)
            part, scored_to = (part if open_run is None else open_run.join(part)), stop
            split = len(part.index) if stop == grid.stop else closed_until(part.raised.any, merge_gap)
            open_run = part.tail(split) if split < len(part.index) else None  # kept, not scored again
            if split == 0:
                continue
            kept = filter_flags(detection, part.raised, split)
            new = slice(max(grid.new - part.start, 0), split)
            scoreless = np.isnan(part.evidence.scores[new])
            unscored += int(scoreless.sum())
            unobserved += ((np.isnan(part.values[new]) | part.imputed[new]) & ~scoreless[:, None]).sum(axis=0)
            intervals += pending.result() if pending is not None else 0  # parts are published in order
            done += split
            open_at = closed_until(published(kept, split), merge_gap)  # where a run later steps could extend starts
            still_open = grid.time(part.start + max(open_at, grid.new - part.start)) if open_at < split else None
            mark = (grid.time(done - 1), still_open) if incremental and done > grid.new else None
            publish = (data_root, group, grid, part, kept, split, threshold, version, run_id, mark)
            if stop < grid.stop:
                pending = publisher.submit(_publish_and_mark, *publish)
            else:  # the last part (an hourly run's only one): no scoring left to overlap, so no thread started
                pending, intervals = None, intervals + _publish_and_mark(*publish)
            if grid.stop - grid.new > chunk:
                emit(f"{group.name}: publishing {grid.time(max(grid.new, part.start))} .. {grid.time(done - 1)}")
        intervals += pending.result() if pending is not None else 0
    if incremental and done > grid.new:
        resume.carry(data_root, catalog, group, grid, history, version)
    lo, hi, scored = grid.time(grid.new), grid.time(grid.stop - 1), grid.stop - grid.new
    emit(f"{group.name}: scored {scored} steps {lo} .. {hi}, {intervals} anomaly intervals")
    warnings += _coverage(configured, group, set(catalog.series), unscored, unobserved, scored, version)
    return {"group": group.name, "scored": scored, "anomalies": intervals,
            "model_version": version, "start": str(lo), "end": str(hi), "warnings": warnings,
            **rescoring}


def _coverage(configured: GroupConfig, trained: GroupConfig, landed: set[str], unscored: int,
              unobserved: np.ndarray, scored: int, version: str) -> list[str]:
    """What scoring could not see, where anomalies go unseen: steps with no score (no metric
    observed), a trained metric missing at many steps the others are observed at (renamed or
    stopped upstream), and metrics landed for the group since its training."""
    lines = [f"{trained.name}: {unscored / scored:.0%} of scored steps have no score (missing or imputed values)"
             ] if unscored > MAX_UNSCORED * scored else []
    lines += [f"{trained.name}: metric {metric!r} has no value at {count / scored:.0%} of scored steps (renamed or "
              "stopped upstream?)" for metric, count in zip(trained.metrics, unobserved.tolist())
              if count > MAX_UNSCORED * scored]
    new = sorted((set(configured.metrics) & landed) - set(trained.metrics))
    if new:
        lines.append(f"{trained.name}: metrics {new} are not in model version {version} and are not scored; a "
                     "training takes them in once its training split holds their values")
    return lines


def _as_trained(configured: GroupConfig, trained: GroupConfig) -> GroupConfig:
    """Score as the model was trained (metrics, grid, window, the rules it fitted), with the
    settings that need no fitting (filters, merge gap) as configured now."""
    detection = dataclasses.replace(trained.detection, merge_gap=configured.detection.merge_gap,
                                    filters=configured.detection.filters)
    return dataclasses.replace(trained, detection=detection)


def _score_part(catalog: Catalog, group: GroupConfig, model, stored: StoredVersion, context: pd.Timestamp | None,
                grid: Grid, start: int, stop: int, history: Evidence) -> tuple[Part, Evidence]:
    """Evidence and flags of steps [start, stop), from a read of the steps around them that their
    scores use (landed rows after the published ones included), and the look-back the next part's
    rules read. Metric scores are errors over each metric's usual error (the version's metric
    scales); `history` is the evidence of the steps before `start` (as many as the rules look
    back, fewer at the grid's start) that earlier parts gave. Steps before the grid's new ones
    raise no flag."""
    scales, states = stored.metric_scales, stored.states
    window, smoothing, fill = group.span, max(group.detection.smoothing, 1), group.max_gap + 1
    lo = max(0, start - score_context(group))
    hi = min(grid.n, stop + (window - 1) + (smoothing - 1) // 2 + fill)
    rows_from, rows_to = grid.time(lo), grid.time(hi) - MICROSECOND
    aligned = load_aligned(catalog, group, rows_from if context is None else max(rows_from, context), rows_to,
                           grid=(grid.time(lo), grid.time(hi - 1)))
    values, imputed = aligned.values.to_numpy(), aligned.imputed.to_numpy()
    residual = deseasonalised(values, aligned.values.index, stored.seasonal, group.interval_td)
    scaled = stored.scaler.transform(residual)
    read = rules_input(values, residual, group.model.seasonal)
    rule_values = scaled if read is residual else stored.scaler.transform(read)
    starts = window_starts(grid.n, window, group.stride, lo, hi, grid.phase(group.stride, stored.windows_from)) - lo
    inputs = model_input(np.nan_to_num(scaled, nan=0.0), aligned.values.index, group.model.time_inputs)
    out = run_windows(model, inputs, window, starts)  # missing cells at the mean
    core = slice(start - lo, stop - lo)
    found = sliced(evidence(out.metric_errors, imputed | np.isnan(values), scales, rule_values, group.detection,
                            group.metrics, group.interval_td), core)
    known = joined(history, found)
    lookback = group.detection.lookback(group.interval_td)
    ends = out.starts + lo + window - 1
    mine = (ends >= start) & (ends < stop)
    part = Part(start=start, index=aligned.values.index[core], values=values[core], imputed=imputed[core],
                evidence=found, raised=raise_flags(group.detection, known, states, len(history)).quiet_before(
                    grid.new - start),
                window_ends=ends[mine], codes=out.codes[mine])
    return part, sliced(known, slice(max(len(known) - lookback, 0), None))


def _publish_and_mark(data_root: str, group: GroupConfig, grid: Grid, part: Part, kept: dict[str, np.ndarray],
                      split: int, threshold: float, version: str, run_id: str,
                      mark: tuple[pd.Timestamp, pd.Timestamp | None] | None) -> int:
    """Publish the part, then move the watermark (and the open interval's start) to `mark`, if
    any, so a killed run resumes after it."""
    found = _publish(data_root, group, grid, part, kept, split, threshold, version, run_id)
    if mark is not None:
        io.write_watermark(data_root, group.name, *mark)
    return found


def _publish(data_root: str, group: GroupConfig, grid: Grid, part: Part, kept: dict[str, np.ndarray], split: int,
             threshold: float, version: str, run_id: str) -> int:
    """Publish the part's new steps before `split`; returns the number of anomaly intervals.
    `kept`: each flagging rule's flags that the filters kept (up to `split`); `threshold`: the
    score's, published beside each score."""
    first = max(grid.new - part.start, 0)
    if first >= split:
        return 0
    new = slice(first, split)
    idx, metrics, found = part.index[new], group.metrics, sliced(part.evidence, new)
    kept, flags = sliced(kept, new), sliced(part.raised.flags, new)
    stop = part.start + split
    lo, hi = idx[0], idx[-1] if stop == grid.n else grid.time(stop) - MICROSECOND
    intervals = to_intervals(idx, found.scores, found.metric_scores, metrics, threshold,
                             group.detection.merge_gap, kept, flags)
    windows = (part.window_ends >= part.start + first) & (part.window_ends < stop)
    io.upsert_partitions(data_root, "scores", group.name, scores_table(
        idx, metrics, part.values[new], part.imputed[new], found.metric_scores, found.scores, threshold,
        anomaly_scores(flags, len(idx)), published(kept, len(idx)), version, run_id),
        "timestamp", lo, hi)
    io.upsert_partitions(data_root, "anomalies", group.name,
                         anomalies_table(intervals, version, run_id), "start", lo, hi)
    io.upsert_partitions(data_root, "features", group.name, features_table(
        part.index[part.window_ends[windows] - part.start], part.codes[windows], version, run_id),
        "window_end", lo, hi)
    return len(intervals)
