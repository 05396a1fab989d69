import pandas as pd

from pipeline.metrics_export import GroupScore, prometheus_text


def test_exposition_text_of_a_hand_case():
    groups = [GroupScore("web-01", pd.Timestamp("2026-11-20T10:05Z"), 0.75, 3.5, False),
              GroupScore('db "a"\\b\nc', pd.Timestamp("2026-11-20T10:00Z"), float("nan"), 2.0, True)]
    assert prometheus_text(groups) == (
        "# HELP nightwatch_score Latest combined anomaly score of the group (1 = the usual reconstruction error).\n"
        "# TYPE nightwatch_score gauge\n"
        'nightwatch_score{group="db \\"a\\"\\\\b\\nc"} NaN\n'
        'nightwatch_score{group="web-01"} 0.75\n'
        "# HELP nightwatch_threshold Score threshold of the group's current model version.\n"
        "# TYPE nightwatch_threshold gauge\n"
        'nightwatch_threshold{group="db \\"a\\"\\\\b\\nc"} 2\n'
        'nightwatch_threshold{group="web-01"} 3.5\n'
        "# HELP nightwatch_anomaly_open 1 if an anomaly interval is still open at the group's watermark, else 0.\n"
        "# TYPE nightwatch_anomaly_open gauge\n"
        'nightwatch_anomaly_open{group="db \\"a\\"\\\\b\\nc"} 1\n'
        'nightwatch_anomaly_open{group="web-01"} 0\n'
        "# HELP nightwatch_last_scored_timestamp_seconds Unix time of the group's newest scored step.\n"
        "# TYPE nightwatch_last_scored_timestamp_seconds gauge\n"
        'nightwatch_last_scored_timestamp_seconds{group="db \\"a\\"\\\\b\\nc"} 1795168800\n'
        'nightwatch_last_scored_timestamp_seconds{group="web-01"} 1795169100\n')


def test_infinities_and_no_groups():
    text = prometheus_text([GroupScore("a", pd.Timestamp("2026-11-20T00:00Z"), float("inf"), float("-inf"), False)])
    assert 'nightwatch_score{group="a"} +Inf\n' in text and 'nightwatch_threshold{group="a"} -Inf\n' in text
    assert prometheus_text([]).count("\n") == 8 and "{" not in prometheus_text([])
