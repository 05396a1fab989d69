"""Each group's latest score, threshold and open-anomaly state in Prometheus's text exposition
format, for node_exporter's textfile collector, so Prometheus and Grafana alerting can use them."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

METRICS = (
    ("nightwatch_score", "Latest combined anomaly score of the group (1 = the usual reconstruction error).",
     "score"),
    ("nightwatch_threshold", "Score threshold of the group's current model version.", "threshold"),
    ("nightwatch_anomaly_open", "1 if an anomaly interval is still open at the group's watermark, else 0.",
     "anomaly_open"),
    ("nightwatch_last_scored_timestamp_seconds", "Unix time of the group's newest scored step.", "scored_at"),
)


@dataclass(frozen=True)
class GroupScore:
    """What is exported for one group."""

    group: str
    scored_at: pd.Timestamp
    score: float
    threshold: float
    anomaly_open: bool


def prometheus_text(groups: list[GroupScore]) -> str:
    """The exposition text: per metric a HELP and a TYPE (gauge) line, then one sample per group
    (groups sorted by name)."""
    lines = []
    ordered = sorted(groups, key=lambda g: g.group)
    for name, help_text, attribute in METRICS:
        lines += [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} gauge"]
        for group in ordered:
            lines.append(f'{name}{{group="{_escape_label(group.group)}"}} {_value(group, attribute)}')
    return "\n".join(lines) + "\n"


def _value(group: GroupScore, attribute: str) -> str:
    if attribute == "anomaly_open":
        return "1" if group.anomaly_open else "0"
    if attribute == "scored_at":
        return _number(group.scored_at.timestamp())
    return _number(getattr(group, attribute))


def _number(value: float) -> str:
    """Go's float syntax as the format reads it: NaN, +Inf, -Inf, else the shortest repr."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if value != int(value) else str(int(value))


def _escape_label(value: str) -> str:
    """Label values escape backslash, double quote and line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    """HELP text escapes backslash and line feed."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")
