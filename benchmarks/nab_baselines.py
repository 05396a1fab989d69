"""The NAB benchmark's baselines and table: each baseline of `benchmarks.baselines` run on a
signal and judged like the pipeline (overlap counts, point counts, VUS-PR of its score), and
the category table with the pipeline's row, the baselines' rows under it and Orion's columns.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from benchmarks.baselines import baseline_scores, to_intervals
from benchmarks.vus import labels_at, vus_pr
from pipeline.evaluate import Interval, overlap_counts, point_counts, summarise


def evaluate_baseline(frame: pd.DataFrame, labelled: list[Interval], method: str, train_rows: int) -> dict:
    """One signal's tp/fp/fn, flagged points, VUS-PR and seconds (scoring and intervals) for a
    baseline trained on the first `train_rows` rows (points counted after them, unless that is
    every row); a failure counts every window as missed."""
    times = pd.DatetimeIndex(frame.index)
    judged = slice(train_rows if train_rows < len(frame) else 0, None)
    started = time.perf_counter()
    try:
        interval = times.to_series().diff().median()
        found = to_intervals(baseline_scores(method, frame.to_numpy(), train_rows, interval), train_rows)
        seconds = time.perf_counter() - started
        detected = [(times[first], times[last]) for first, last in found.intervals]
        return {**overlap_counts(detected, labelled), **point_counts(times[judged], found.flags[judged], labelled),
                "vus_pr": signal_vus_pr(times, found.scores, labelled), "error": None, "seconds": seconds,
                "detected": [[str(a), str(b)] for a, b in detected]}
    except Exception as exc:  # noqa: BLE001 - a failed signal is scored as all windows missed
        return {**failed_counts(times[judged], labelled), "error": f"{type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - started, "detected": []}


def failed_counts(times: pd.DatetimeIndex, labelled: list[Interval]) -> dict:
    """The counts of a signal whose detection failed at `times`: every window missed, nothing
    flagged, and VUS-PR 0 where there was something to find."""
    return {"tp": 0, "fp": 0, "fn": len(labelled), **point_counts(times, np.zeros(len(times), bool), labelled),
            "vus_pr": 0.0 if labelled else math.nan}


def signal_vus_pr(times: pd.DatetimeIndex, scores: np.ndarray, labelled: list[Interval]) -> float:
    """VUS-PR of a per-step score on `times` against the labelled windows (NaN without any)."""
    return vus_pr(np.asarray(scores, dtype=np.float64), labels_at(times, labelled))


def category_summary(rows: list[dict]) -> dict:
    """`pipeline.evaluate.summarise` plus the mean VUS-PR of the signals with labelled windows."""
    summary = summarise(rows)
    labelled = [r["vus_pr"] for r in rows if not math.isnan(r["vus_pr"])]
    summary["vus_pr"] = float(np.mean(labelled)) if labelled else math.nan
    return summary


def category_summaries(results: dict[str, dict[str, dict]], baselines: tuple[str, ...]) -> dict[str, dict]:
    """Each category's summary of its signals' rows, with each baseline's under `baselines`."""
    summary = {}
    for category, rows in results.items():
        summary[category] = category_summary(list(rows.values()))
        if baselines:
            summary[category]["baselines"] = {method: category_summary([row["baselines"][method]
                                                                        for row in rows.values()])
                                              for method in baselines}
    return summary


def _number(value, width: int = 6) -> str:
    return f"{value:{width}.3f}" if isinstance(value, float) and not math.isnan(value) else f"{'-':>{width}}"


def _measures(label: str, s: dict) -> str:
    return (f"{label:<24}{s['f1']:6.3f}{s['precision']:6.3f}{s['recall']:6.3f}{100 * s['flagged_fraction']:6.1f}%"
            f"{s['point_precision']:7.3f}{s['seconds_per_signal']:7.1f}{_number(s['vus_pr'], 7)}")


def print_table(summary: dict[str, dict], orion: dict[str, dict]) -> None:
    """One row per category for the pipeline, beside Orion's published category F1, and under it
    one indented row per baseline run (`summary[category]['baselines']`)."""
    head = (f"{'category':<24}{'F1':>6}{'prec':>6}{'rec':>6}{'flag%':>7}{'ptprec':>7}{'s/sig':>7}{'vusPR':>7}"
            f"{'| orion lstm_ae':>16}{'aer':>6}{'best':>6}  best pipeline")
    print(head)
    print("-" * len(head))
    for category, s in summary.items():
        o = orion.get(category, {})
        print(f"{_measures(category, s)}{'|':>3}{_number(o.get('lstm_autoencoder')):>13}"
              f"{_number(o.get('aer'))}{_number(o.get('best'))}  {o.get('best_pipeline', '')}")
        for method, b in s.get("baselines", {}).items():
            print(_measures(f"  {method}", b))


def print_point_table(summary: dict[str, dict], after: int) -> None:
    """Point-wise figures over the points after each signal's first `after` rows, pooled over a
    category's signals (how sensor benchmarks score a detector trained on a clean start)."""
    head = f"{f'point-wise, after row {after}':<28}{'F1':>6}{'prec':>6}{'rec':>6}{'FA%':>7}"
    print(head)
    print("-" * len(head))
    for category, s in summary.items():
        for label, row in [(category, s), *((f"  {m}", b) for m, b in s.get("baselines", {}).items())]:
            print(f"{label:<28}{row['point_f1']:6.3f}{row['point_precision']:6.3f}{row['point_recall']:6.3f}"
                  f"{100 * row['false_alarm_rate']:6.1f}%")
