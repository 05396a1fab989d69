"""Anomalous points merged into intervals, with peak, severity and contributing metrics."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.threshold import flag

INTERVAL_COLUMNS = ["start", "end", "n_points", "peak_time", "peak_score", "threshold",
                    "severity", "trigger", "top_metric", "contributors"]


def runs(flags: np.ndarray, merge_gap: int = 0) -> list[tuple[int, int]]:
    """Inclusive `(first, last)` index pairs of flagged runs; runs separated by at most
    `merge_gap` unflagged steps are merged."""
    idx = np.flatnonzero(flags)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > merge_gap + 1)
    firsts = np.concatenate(([idx[0]], idx[breaks + 1]))
    lasts = np.concatenate((idx[breaks], [idx[-1]]))
    return list(zip(firsts.tolist(), lasts.tolist()))


def confirm(scores: np.ndarray, flags: np.ndarray, threshold: float, merge_gap: int, min_peak: float) -> np.ndarray:
    """Keep only the flagged runs (merged over `merge_gap`) that peak at `min_peak` x threshold."""
    kept = np.zeros_like(flags)
    for first, last in runs(flags, merge_gap):
        if np.nanmax(scores[first:last + 1]) >= min_peak * threshold:
            kept[first:last + 1] = flags[first:last + 1]
    return kept


def _peak(scores: np.ndarray, first: int, last: int) -> int:
    """The step of the largest score in [first, last] (NaN ignored; the first step if all are NaN)."""
    return first + int(np.argmax(np.where(np.isnan(scores[first:last + 1]), -np.inf, scores[first:last + 1])))


def drop_repeats(scores: np.ndarray, flags: np.ndarray, repeats: np.ndarray, limit: float,
                 merge_gap: int) -> np.ndarray:
    """Drop the flagged runs whose peak step's `repeats` (pipeline.score.repeat_peaks) reached
    `limit`: the same time of day scored as high before, a daily pattern rather than an incident."""
    kept = flags.copy()
    for first, last in runs(flags, merge_gap):
        if repeats[_peak(scores, first, last)] >= limit:
            kept[first:last + 1] = False
    return kept


def severity(ratio: float) -> str:
    """Peak score over threshold: below 2 is low, below 5 medium, else high."""
    return "low" if ratio < 2 else "medium" if ratio < 5 else "high"


def contributors(metric_scores: np.ndarray, metrics: tuple[str, ...], top: int = 3) -> list[tuple[str, float]]:
    """Metrics ranked by their share of the interval's error (shares of at least 10%)."""
    totals = np.nansum(metric_scores, axis=0)
    if totals.sum() <= 0:
        return []
    shares = totals / totals.sum()
    order = np.argsort(-shares, kind="stable")[:top]
    return [(metrics[i], float(shares[i])) for i in order if shares[i] >= 0.10]


def to_intervals(index: pd.DatetimeIndex, scores: np.ndarray, flags: np.ndarray, metric_scores: np.ndarray,
                 metrics: tuple[str, ...], threshold: float, merge_gap: int, levels: np.ndarray | None = None,
                 level_threshold: float | None = None, shift_ratios: np.ndarray | None = None,
                 by_score: np.ndarray | None = None, by_level: np.ndarray | None = None) -> pd.DataFrame:
    """One row per merged anomalous interval (see INTERVAL_COLUMNS).

    `trigger` says what flagged it: `score` (the steps of `by_score`, by default those above the
    threshold), `level` (the steps of `by_level`, by default those whose sustained level `levels`
    is above `level_threshold`), `shift` (a metric's mean shift over its threshold, `shift_ratios`
    [time, metric] above 1), or several joined by `+`; severity is the largest ratio to a
    threshold. An interval flagged by shifts alone ranks its metrics by their shifts.
    """
    rows = []
    by_score = flag(scores, threshold) if by_score is None else by_score
    if levels is None or level_threshold is None:
        by_level = None
    elif by_level is None:
        by_level = flag(levels, level_threshold)
    for first, last in runs(flags, merge_gap):
        span, flagged = slice(first, last + 1), flags[first:last + 1]
        top = _peak(scores, first, last)
        ratio = float(scores[top]) / threshold if threshold > 0 else np.inf
        triggers = ["score"] if (by_score[span] & flagged).any() else []
        if by_level is not None and (on_level := by_level[span] & flagged).any():
            triggers.append("level")
            level_peak = np.nanmax(levels[span][on_level])
            ratio = max(ratio, level_peak / level_threshold if level_threshold > 0 else np.inf)
        shares = metric_scores[span][flagged]
        if shift_ratios is not None:
            shift_peak = np.nanmax(np.where(flagged[:, None], shift_ratios[span], np.nan), initial=-np.inf)
            if shift_peak > 1:
                triggers.append("shift")
                ratio = max(ratio, shift_peak)
                shares = shift_ratios[span][flagged] if triggers == ["shift"] else shares
        ranked = contributors(shares, metrics)
        rows.append({
            "start": index[first], "end": index[last], "n_points": int(flagged.sum()),
            "peak_time": index[top], "peak_score": float(scores[top]), "threshold": float(threshold),
            "severity": severity(ratio), "trigger": "+".join(triggers),
            "top_metric": ranked[0][0] if ranked else None,
            "contributors": ", ".join(f"{m} {s:.0%}" for m, s in ranked),
        })
    frame = pd.DataFrame(rows, columns=INTERVAL_COLUMNS)
    for col in ("start", "end", "peak_time"):
        frame[col] = pd.to_datetime(frame[col], utc=True).dt.as_unit("us")
    return frame
