"""Anomalous points merged into intervals, with peak, severity and contributing metrics."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.detect.base import Flags, peak, runs

INTERVAL_COLUMNS = ["start", "end", "n_points", "peak_time", "peak_score", "threshold",
                    "severity", "trigger", "top_metric", "contributors"]
TIMES = "datetime64[us, UTC]"
INTERVAL_DTYPES = {"start": TIMES, "end": TIMES, "n_points": "int64", "peak_time": TIMES, "peak_score": "float64",
                   "threshold": "float64", "severity": object, "trigger": object, "top_metric": object,
                   "contributors": object}  # the same with no interval as with some


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


def to_intervals(index: pd.DatetimeIndex, scores: np.ndarray, metric_scores: np.ndarray, metrics: tuple[str, ...],
                 threshold: float, merge_gap: int, kept: dict[str, np.ndarray], flags: dict[str, Flags]) -> pd.DataFrame:
    """One row per merged interval of the steps some rule kept a flag at (see INTERVAL_COLUMNS).

    `kept` holds each flagging rule's flags that the filters kept, `flags` what each rule
    raised (`pipeline.detect`), in the rules' order. `trigger` names the rules that kept steps
    of the interval, joined by `+`; severity is the largest ratio to a threshold: the peak
    score's to the score threshold, or a triggering rule's on the steps it kept. An interval
    triggered by one rule that judges each metric (`shift`) ranks its metrics by that rule's
    ratios, any other by their scores.
    """
    rows = []
    flagged = np.logical_or.reduce(list(kept.values())) if kept else np.zeros(len(index), bool)
    for first, last in runs(flagged, merge_gap):
        span, on = slice(first, last + 1), flagged[first:last + 1]
        top = peak(scores, first, last)
        ratio = float(scores[top]) / threshold if threshold > 0 else np.inf
        triggers = [name for name, steps in kept.items() if steps[span].any()]
        for name in triggers:
            ratio = max(ratio, float(np.nanmax(flags[name].ratio[span][kept[name][span]])))
        only = flags[triggers[0]].metric_ratios if len(triggers) == 1 else None
        ranked = contributors((metric_scores if only is None else only)[span][on], metrics)
        rows.append({
            "start": index[first], "end": index[last], "n_points": int(on.sum()),
            "peak_time": index[top], "peak_score": float(scores[top]), "threshold": float(threshold),
            "severity": severity(ratio), "trigger": "+".join(triggers),
            "top_metric": ranked[0][0] if ranked else None,
            "contributors": ", ".join(f"{m} {s:.0%}" for m, s in ranked),
        })
    return pd.DataFrame({column: pd.Series([row[column] for row in rows], dtype=dtype)
                         for column, dtype in INTERVAL_DTYPES.items()})
