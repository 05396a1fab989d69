"""Detection quality against labelled windows, as Orion's benchmark measures it.

Contextual overlap: a labelled window overlapped by any detected interval is a true
positive, one overlapped by none a false negative, and a detected interval that
overlaps no labelled window a false positive (intervals are closed; touching counts).
Because flagging everything scores F1 = 1 under that rule, the point-wise view is kept
too: the fraction of points flagged, the share of them inside labelled windows, and the
point-wise F1 and false-alarm rate over the points pooled across signals.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

Interval = tuple[pd.Timestamp, pd.Timestamp]


def _touches(a: Interval, b: Interval) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def overlap_counts(detected: Sequence[Interval], labelled: Sequence[Interval]) -> dict[str, int]:
    """tp, fp and fn of detected intervals against labelled windows by contextual overlap."""
    tp = sum(any(_touches(w, d) for d in detected) for w in labelled)
    fp = sum(not any(_touches(d, w) for w in labelled) for d in detected)
    return {"tp": tp, "fp": fp, "fn": len(labelled) - tp}


def attribution_counts(detected: Sequence[Interval], top_metrics: Sequence[str | None], labelled: Sequence[Interval],
                       culprits: Sequence[str | None]) -> dict[str, int]:
    """Of the found windows whose anomalous metric is known (`culprits`, None where not), how many
    an overlapping interval names as its top metric."""
    found = attributed = 0
    for window, culprit in zip(labelled, culprits):
        hits = [top for interval, top in zip(detected, top_metrics) if _touches(window, interval)]
        if culprit is not None and hits:
            found += 1
            attributed += culprit in hits
    return {"found_with_culprit": found, "attributed": attributed}


def point_counts(timestamps: pd.DatetimeIndex, flags: np.ndarray, labelled: Sequence[Interval]) -> dict[str, int]:
    """Points scored, inside a labelled window (anomalous), flagged, and flagged inside a window."""
    inside = np.zeros(len(timestamps), dtype=bool)
    for start, end in labelled:
        inside |= (timestamps >= start) & (timestamps <= end)
    return {"points": int(len(timestamps)), "anomalous": int(inside.sum()), "flagged": int(flags.sum()),
            "flagged_in_window": int((flags & inside).sum())}


def f1_scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall}


def summarise(signals: Iterable[dict]) -> dict[str, float]:
    """Category figures from per-signal counts: tp/fp/fn summed, then F1 and point-wise rates."""
    rows = list(signals)
    total = {k: sum(r[k] for r in rows) for k in ("tp", "fp", "fn", "points", "anomalous", "flagged",
                                                  "flagged_in_window")}
    out = {**total, **f1_scores(total["tp"], total["fp"], total["fn"])}
    out["flagged_fraction"] = total["flagged"] / total["points"] if total["points"] else 0.0
    out["point_precision"] = total["flagged_in_window"] / total["flagged"] if total["flagged"] else 0.0
    out["point_recall"] = total["flagged_in_window"] / total["anomalous"] if total["anomalous"] else 0.0
    both = out["point_precision"] + out["point_recall"]
    out["point_f1"] = 2 * out["point_precision"] * out["point_recall"] / both if both else 0.0
    normal = total["points"] - total["anomalous"]  # pooled over signals, as sensor benchmarks score
    out["false_alarm_rate"] = (total["flagged"] - total["flagged_in_window"]) / normal if normal else 0.0
    out["seconds_per_signal"] = float(np.mean([r["seconds"] for r in rows])) if rows else 0.0
    out["signals"] = len(rows)
    for key in ("found_with_culprit", "attributed"):
        out[key] = sum(r.get(key, 0) for r in rows)
    return out
