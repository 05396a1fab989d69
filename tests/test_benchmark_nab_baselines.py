"""The benchmark's baseline rows and table, without the pipeline (no TensorFlow)."""
import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.nab_baselines import category_summaries, evaluate_baseline, print_table


def frame_with_anomaly(n: int = 2400) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC", name="timestamp")
    steps = np.arange(n)
    values = 10 + np.sin(2 * np.pi * steps / 288) + 0.05 * np.random.default_rng(5).standard_normal(n)
    values[1800:1812] += 4
    return pd.DataFrame({"value": values}, index=index)


def test_a_baseline_row_counts_its_intervals_points_and_vus_pr_against_the_windows():
    frame = frame_with_anomaly()
    window = (frame.index[1780], frame.index[1830])
    row = evaluate_baseline(frame, [window], "robust_z", len(frame))
    assert row["error"] is None and (row["tp"], row["fn"]) == (1, 0) and row["fp"] == len(row["detected"]) - 1
    assert row["points"] == len(frame) and 0 < row["flagged_in_window"] <= row["flagged"]
    assert 0.2 < row["vus_pr"] <= 1.0 and row["seconds"] > 0  # the labels cover 2% of the steps
    quiet = evaluate_baseline(frame, [], "pca", len(frame))
    assert quiet["tp"] == quiet["fn"] == 0 and math.isnan(quiet["vus_pr"])


def test_a_failed_baseline_misses_every_window():
    frame = frame_with_anomaly(20)  # shorter than a window
    row = evaluate_baseline(frame, [(frame.index[3], frame.index[5])], "pca", len(frame))
    assert row["error"] and (row["tp"], row["fp"], row["fn"], row["flagged"]) == (0, 0, 1, 0)
    assert row["vus_pr"] == 0.0 and row["detected"] == []


def rows(vus: list[float]) -> dict[str, dict]:
    return {f"s{i}": {"tp": 1, "fp": 0, "fn": 1, "points": 100, "anomalous": 5, "flagged": 4, "flagged_in_window": 3,
                      "seconds": 2.0, "vus_pr": v} for i, v in enumerate(vus)}


def test_category_vus_pr_is_the_mean_over_signals_with_windows_and_baselines_sit_under_it(capsys):
    results = {"cat": {name: {**row, "baselines": {"pca": {**row, "vus_pr": row["vus_pr"] / 2}}}
                       for name, row in rows([0.6, math.nan, 0.2]).items()}}
    summary = category_summaries(results, ("pca",))
    assert summary["cat"]["vus_pr"] == pytest.approx(0.4) and summary["cat"]["f1"] == pytest.approx(2 / 3)
    assert summary["cat"]["baselines"]["pca"]["vus_pr"] == pytest.approx(0.2)
    print_table(summary, {"cat": {"lstm_autoencoder": 0.5, "aer": None, "best": 0.7, "best_pipeline": "aer"}})
    head, rule, category, pca = capsys.readouterr().out.splitlines()
    assert head.split()[:9] == ["category", "F1", "prec", "rec", "flag%", "ptprec", "s/sig", "vusPR", "|"]
    assert category.split() == ["cat", "0.667", "1.000", "0.500", "4.0%", "0.750", "2.0", "0.400", "|", "0.500", "-",
                                "0.700", "aer"]
    assert pca.startswith("  pca ") and pca.split()[-1] == "0.200"


def test_no_labelled_window_shows_no_vus_pr(capsys):
    summary = category_summaries({"quiet": rows([math.nan])}, ())
    assert math.isnan(summary["quiet"]["vus_pr"]) and "baselines" not in summary["quiet"]
    print_table(summary, {})
    assert capsys.readouterr().out.splitlines()[2].split()[7] == "-"
