"""What an ops person asks of published anomalies: which intervals, filtered as they are triaged,
and why one is anomalous (its rules, each metric's share of the error, the scores against their
thresholds), from the published `anomalies` and `scores` rows alone, so no model is loaded."""
from __future__ import annotations

import numpy as np
import pandas as pd

SEVERITIES = ("low", "medium", "high")


def triage(anomalies: pd.DataFrame, since: pd.Timestamp | None, min_severity: str | None) -> pd.DataFrame:
    """Intervals that end at or after `since` with at least `min_severity`, newest first."""
    if anomalies.empty:
        return anomalies
    keep = np.ones(len(anomalies), bool)
    if since is not None:
        keep &= (anomalies["end"] >= since).to_numpy()
    if min_severity is not None:
        ranks = anomalies["severity"].map({name: rank for rank, name in enumerate(SEVERITIES)})
        keep &= (ranks.fillna(-1) >= SEVERITIES.index(min_severity)).to_numpy()
    return anomalies[keep].sort_values(["start", "group"], ascending=[False, True], kind="stable")


def interval_at(anomalies: pd.DataFrame, time: pd.Timestamp) -> pd.Series | None:
    """The interval holding `time` (the latest starting one, should reruns have left two)."""
    if anomalies.empty:
        return None
    holding = anomalies[(anomalies["start"] <= time) & (anomalies["end"] >= time)]
    return None if holding.empty else holding.sort_values("start").iloc[-1]


def contributions(scores: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Per metric over [start, end]: its share of the summed metric scores (the error the interval
    holds), its peak metric score (1 = its usual error in training) and when, the value then, and
    the steps filled in for gaps; largest share first."""
    rows = scores[(scores["timestamp"] >= start) & (scores["timestamp"] <= end)]
    columns = ["metric", "share", "peak_metric_score", "peak_time", "value_at_peak", "imputed_steps"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    total = float(np.nansum(rows["metric_score"]))
    found = []
    for metric, own in rows.groupby("metric", sort=True):
        errors = own["metric_score"].to_numpy(float)
        top = int(np.nanargmax(errors)) if np.isfinite(errors).any() else 0
        found.append({"metric": metric, "share": float(np.nansum(errors)) / total if total > 0 else 0.0,
                      "peak_metric_score": float(errors[top]), "peak_time": own["timestamp"].iloc[top],
                      "value_at_peak": float(own["value"].iloc[top]), "imputed_steps": int(own["imputed"].sum())})
    return pd.DataFrame(found, columns=columns).sort_values("share", ascending=False, kind="stable")


def rule_lines(trigger: str, detection: dict, states: dict[str, dict], peak_score: float) -> list[str]:
    """One line per rule of the version: its settings and fitted state, marked when it fired here,
    with the peak score's ratio to the score rule's threshold."""
    fired = set(str(trigger).split("+"))
    settings = {**(detection.get("flags") or {}), **(detection.get("filters") or {})}
    lines = []
    for name in [*states, *(n for n in settings if n not in states)]:
        state = states.get(name)
        mark = "fired" if name in fired else "filter" if state is None else "quiet"
        line = f"{name:<13}{mark:<7}settings {_compact(settings.get(name))}"
        if state is not None:
            line += f"; fitted {_compact(state)}"
        if name == "score" and state and state.get("threshold"):
            line += f"; peak score {peak_score:.3f} = {peak_score / state['threshold']:.2f} x threshold"
        lines.append(line)
    return lines


def _compact(value) -> str:
    """Settings and states on one line, numbers to 4 significant digits."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)
