"""The ops anomaly report: one self-contained HTML page (inline SVG, no network) and a markdown summary."""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

WIDTH, PANEL, PAD, AXIS = 960, 46, 4, 16
COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MAX_POINTS = 1200


@dataclass(frozen=True)
class GroupSection:
    """What the report shows for one group: its recent scores and anomaly intervals, or its error,
    and what its run warned about (scored, but maybe not to be trusted: e.g. few steps with a score)."""

    group: str
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    anomalies: pd.DataFrame = field(default_factory=pd.DataFrame)
    error: str | None = None
    warnings: tuple[str, ...] = ()


def _path(times: np.ndarray, values: np.ndarray, t0: float, span: float, top: float,
          limits: tuple[float, float] | None = None) -> str:
    """SVG polyline points for one metric scaled into its panel (NaN breaks are skipped)."""
    ok = ~np.isnan(values)
    if not ok.any():
        return ""
    v = values[ok]
    lo, hi = limits or (float(v.min()), float(v.max()))
    xs = (times[ok] - t0) / span * WIDTH
    return " ".join(f"{x:.1f},{_y(y, lo, hi, top):.1f}" for x, y in zip(xs, v))


def _y(value: float, lo: float, hi: float, top: float) -> float:
    return top + PANEL - PAD - (value - lo) / ((hi - lo) or 1.0) * (PANEL - 2 * PAD)


def _label(x: float, y: float, text: str, anchor: str = "start") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="{anchor}" paint-order="stroke" '
            f'stroke="#fff" stroke-width="3">{html.escape(text)}</text>')


def plot_svg(scores: pd.DataFrame, anomalies: pd.DataFrame) -> str:
    """Stacked panels, one per metric plus the combined score with its threshold (dashed),
    anomaly intervals shaded, and a time axis."""
    wide = scores.pivot_table(index="timestamp", columns="metric", values="value", aggfunc="first")
    combined = scores.groupby("timestamp")["score"].first().reindex(wide.index)
    threshold = float(scores["threshold"].iloc[-1]) if "threshold" in scores else None
    step = max(1, len(wide) // MAX_POINTS)
    wide, combined = wide.iloc[::step], combined.iloc[::step]
    times = wide.index.as_unit("ns").asi8.astype(float)  # same unit as Timestamp.value below
    t0, span = times[0], max(times[-1] - times[0], 1.0)
    rows = [(str(m), wide[m].to_numpy(dtype=float)) for m in wide.columns]
    height = PANEL * (len(rows) + 1) + AXIS
    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}">']
    for _, row in anomalies.iterrows():
        x0 = (pd.Timestamp(row["start"]).value - t0) / span * WIDTH
        x1 = (pd.Timestamp(row["end"]).value - t0) / span * WIDTH
        parts.append(f'<rect class="anomaly" x="{x0:.1f}" y="0" width="{max(x1 - x0, 2):.1f}" '
                     f'height="{height - AXIS}" fill="#d62728" fill-opacity="0.25"/>')
    for i, (name, values) in enumerate(rows):
        top = i * PANEL
        parts.append(f'<line x1="0" y1="{top + PANEL}" x2="{WIDTH}" y2="{top + PANEL}" stroke="#ddd"/>')
        parts.append(f'<polyline fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1" '
                     f'points="{_path(times, values, t0, span, top)}"/>')
        parts.append(_label(4, top + 12, name))
    parts.append(_score_panel(times, combined.to_numpy(dtype=float), threshold, t0, span, len(rows) * PANEL))
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        stamp = pd.Timestamp(int(t0 + fraction * span), tz="UTC")
        anchor = "start" if fraction == 0 else "end" if fraction == 1 else "middle"
        parts.append(_label(fraction * WIDTH, height - 3, f"{stamp:%m-%d %H:%M}", anchor))
    parts.append("</svg>")
    return "".join(parts)


def _score_panel(times: np.ndarray, scores: np.ndarray, threshold: float | None, t0: float, span: float,
                 top: float) -> str:
    finite = scores[np.isfinite(scores)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = max(float(finite.max()) if finite.size else 1.0, threshold or 0.0)
    parts = [f'<polyline fill="none" stroke="#d62728" stroke-width="1" '
             f'points="{_path(times, scores, t0, span, top, (lo, hi))}"/>']
    if threshold is not None:
        y = _y(threshold, lo, hi, top)
        parts.append(f'<line class="threshold" x1="0" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}" stroke="#555" '
                     f'stroke-dasharray="4 3"/>')
    parts.append(_label(4, top + 12, "anomaly score (dashed: threshold)"))
    return "".join(parts)


def intervals_table(anomalies: pd.DataFrame) -> str:
    if anomalies.empty:
        return "<p>No anomalies in this period.</p>"
    cols = ["start", "end", "label", "severity", "trigger", "peak_score", "threshold", "contributors"]
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join(  # intervals published before `trigger` existed have none; `label`: an operator's verdict
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>"
        for _, r in anomalies.sort_values("start", ascending=False).iterrows())
    return f'<table class="anomalies"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _fmt(value) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None or value is pd.NA else str(value)


def build_html(title: str, sections: list[GroupSection], file_errors: dict[str, str] | None = None) -> str:
    """The whole report page; everything is inline, nothing is fetched."""
    body = [f"<h1>{html.escape(title)}</h1>", summary_table_html(sections)]
    if file_errors:
        items = "".join(f"<li>{html.escape(msg)}</li>" for msg in file_errors.values())
        body.append(f'<h2>Landing files skipped</h2><ul class="error">{items}</ul>')
    for s in sections:
        body.append(f'<section class="group" id="group-{html.escape(s.group)}"><h2>{html.escape(s.group)}</h2>')
        body += [f'<p class="warning">Warning: {html.escape(w)}</p>' for w in s.warnings]
        if s.error:
            body.append(f'<p class="error">Failed: {html.escape(s.error)}</p>')
        elif s.scores.empty:
            body.append("<p>No scores published for this period.</p>")
        else:
            body.append(plot_svg(s.scores, s.anomalies))
            body.append(intervals_table(s.anomalies))
        body.append("</section>")
    style = ("body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}.error{color:#b00}.warning{color:#a60}"
             "svg{border:1px solid #eee;display:block;max-width:100%;height:auto}")
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")


def summary_rows(sections: list[GroupSection]) -> list[dict]:
    rows = []
    for s in sections:
        high = int((s.anomalies["severity"] == "high").sum()) if not s.anomalies.empty else 0
        last = _fmt(s.scores["timestamp"].max()) if not s.scores.empty else ""
        status = "failed: " + s.error if s.error else "warning: " + "; ".join(s.warnings) if s.warnings else "ok"
        rows.append({"group": s.group, "status": status,
                     "intervals": len(s.anomalies), "high": high, "scored until": last})
    return rows


def summary_table_html(sections: list[GroupSection]) -> str:
    rows = summary_rows(sections)
    head = "".join(f"<th>{k}</th>" for k in ("group", "status", "intervals", "high", "scored until"))
    cells = []
    for r in rows:  # "failed" or "warning" here, linking to the group's section with the whole message
        kind = r["status"].split(":")[0]
        status = f'<a href="#group-{html.escape(r["group"])}">{kind}</a>' if kind != "ok" else "ok"
        values = [html.escape(r["group"]), status] + [html.escape(str(r[k])) for k in ("intervals", "high",
                                                                                      "scored until")]
        cells.append("<tr>" + "".join(f"<td>{v}</td>" for v in values) + "</tr>")
    body = "".join(cells)
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def markdown_summary(title: str, sections: list[GroupSection], file_errors: dict[str, str],
                     report_path: str) -> str:
    """Markdown for the Prefect artifact: one line per group, skipped files, the report's path."""
    lines = [f"# {title}", "", "| group | status | intervals | high | scored until |", "|---|---|---|---|---|"]
    lines += [f"| {r['group']} | {r['status']} | {r['intervals']} | {r['high']} | {r['scored until']} |"
              for r in summary_rows(sections)]
    lines += [f"\nSkipped landing file: {msg}" for msg in file_errors.values()]
    lines += ["", f"Full report: `{report_path}`"]
    return "\n".join(lines)
