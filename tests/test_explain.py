"""Triage filters, the interval holding a time, each metric's share of an interval's error, and the
rule lines, on small hand-made published rows."""
import pandas as pd

from pipeline.explain import contributions, interval_at, rule_lines, triage

T = pd.Timestamp("2026-11-20 00:00", tz="UTC")
M = pd.Timedelta("5min")


def intervals() -> pd.DataFrame:
    return pd.DataFrame({"group": ["a", "b", "a"], "start": [T, T + 10 * M, T + 30 * M],
                         "end": [T + 4 * M, T + 12 * M, T + 40 * M], "severity": ["low", "high", "medium"]})


def test_triage_keeps_intervals_ending_after_since_of_at_least_the_severity_newest_first():
    assert triage(intervals(), None, None)["start"].tolist() == [T + 30 * M, T + 10 * M, T]
    assert triage(intervals(), T + 5 * M, None)["group"].tolist() == ["a", "b"]
    assert triage(intervals(), None, "medium")["severity"].tolist() == ["medium", "high"]
    assert triage(intervals(), T + 20 * M, "high").empty


def test_the_interval_holding_a_time_includes_both_ends():
    assert interval_at(intervals(), T + 12 * M)["group"] == "b"
    assert interval_at(intervals(), T + 30 * M)["severity"] == "medium"
    assert interval_at(intervals(), T + 20 * M) is None
    assert interval_at(pd.DataFrame(), T) is None


def test_contributions_are_shares_of_the_summed_metric_scores_in_the_interval():
    times = [T, T, T + M, T + M, T + 2 * M, T + 2 * M]
    scores = pd.DataFrame({"timestamp": times, "metric": ["cpu", "mem"] * 3,
                           "metric_score": [1.0, 2.0, 5.0, 2.0, 100.0, 100.0],
                           "value": [10.0, 20.0, 50.0, 21.0, 0.0, 0.0], "imputed": [False, False, False, True, False, False]})
    found = contributions(scores, T, T + M)  # the last step is outside
    assert found["metric"].tolist() == ["cpu", "mem"]
    assert found["share"].tolist() == [0.6, 0.4]  # (1 + 5) / 10, (2 + 2) / 10
    assert found["peak_metric_score"].tolist() == [5.0, 2.0]
    assert found["peak_time"].tolist() == [T + M, T] and found["value_at_peak"].tolist() == [50.0, 20.0]
    assert found["imputed_steps"].tolist() == [0, 1]
    assert contributions(scores, T + 5 * M, T + 6 * M).empty


def test_rule_lines_mark_the_rules_that_fired_and_the_score_ratio():
    detection = {"flags": {"score": {"k": 6.0}, "level": {"steps": 144}}, "filters": {"min_peak": {"ratio": 1.1,
                 "applies_to": ["score"]}}}
    states = {"score": {"threshold": 2.0}, "level": {"threshold": 0.5}}
    assert rule_lines("score", detection, states, 5.0) == [
        "score        fired  settings {k: 6}; fitted {threshold: 2}; peak score 5.000 = 2.50 x threshold",
        "level        quiet  settings {steps: 144}; fitted {threshold: 0.5}",
        "min_peak     filter settings {ratio: 1.1, applies_to: [score]}",
    ]
