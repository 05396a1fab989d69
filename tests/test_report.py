import re

import pandas as pd

from pipeline.report import GroupSection, build_html, markdown_summary

T = pd.date_range("2026-01-01", periods=4, freq="5min", tz="UTC").as_unit("us")  # as published


def section():
    scores = pd.DataFrame({"timestamp": T.repeat(2), "metric": ["cpu", "mem"] * 4,
                           "value": [1, 2, 3, 4, 5, 6, 7, 8.0], "score": [0.1, 0.1, 5, 5, 0.1, 0.1, 0.2, 0.2]})
    anomalies = pd.DataFrame({"start": [T[1]], "end": [T[1]], "severity": ["high"], "peak_score": [5.0],
                              "threshold": [1.0], "contributors": ["cpu 80%, mem 20%"]})
    return GroupSection("web-01", scores, anomalies)


def test_html_has_plot_shading_table_and_no_network_references():
    page = build_html("Report", [section(), GroupSection("db-01", error="InputError: bad file")],
                      {"f.parquet": "f.parquet: not parquet"})
    assert page.count("<svg") == 1 and page.count('class="anomaly"') == 1
    assert page.count("<polyline") == 3  # cpu, mem, combined score
    assert "cpu 80%, mem 20%" in page and "2026-01-01 00:05 UTC" in page
    assert "Failed: InputError: bad file" in page and "f.parquet: not parquet" in page
    assert not re.search(r"(src|href)=\"https?:", page)


def test_markdown_summary_lists_groups():
    md = markdown_summary("Report", [section(), GroupSection("db-01", error="boom")], {}, "/r.html")
    assert "| web-01 | ok | 1 | 1 |" in md and "| db-01 | failed: boom | 0 | 0 |" in md and "/r.html" in md


def test_anomaly_shading_is_placed_on_the_time_axis():
    page = build_html("Report", [section()])
    x = float(re.search(r'class="anomaly" x="([0-9.]+)"', page).group(1))
    assert x == 960 / 3  # the anomaly starts at the second of four equally spaced timestamps


def test_plot_has_threshold_line_time_axis_and_failed_link():
    scores = section().scores.assign(threshold=2.0)
    page = build_html("Report", [GroupSection("web-01", scores, section().anomalies),
                                 GroupSection("db-01", error="InputError: long message")])
    assert page.count('class="threshold"') == 1
    assert "01-01 00:00" in page and "01-01 00:15" in page  # first and last tick of the time axis
    assert '<a href="#group-db-01">failed</a>' in page and "Failed: InputError: long message" in page


def test_a_groups_warnings_are_shown_in_its_section_and_the_summaries():
    warned = GroupSection("web-01", section().scores, section().anomalies,
                          warnings=("web-01: 12% of scored steps have no score (missing or imputed values)",))
    page = build_html("Report", [warned, GroupSection("db-01", error="boom", warnings=("late",))])
    assert ('<h2>web-01</h2><p class="warning">Warning: web-01: 12% of scored steps have no score (missing or '
            'imputed values)</p><svg') in page  # the plot and table as usual
    assert '<td><a href="#group-web-01">warning</a></td>' in page and '<a href="#group-db-01">failed</a>' in page
    assert '<h2>db-01</h2><p class="warning">Warning: late</p><p class="error">Failed: boom</p>' in page
    md = markdown_summary("Report", [warned], {}, "/r.html")
    assert "| web-01 | warning: web-01: 12% of scored steps have no score (missing or imputed values) | 1 | 1 |" in md


def test_an_intervals_label_is_shown_in_its_row():
    labelled = section()
    anomalies = pd.concat([labelled.anomalies.assign(label="false-alarm"),
                           labelled.anomalies.assign(start=T[3], end=T[3], label=pd.NA)], ignore_index=True)
    page = build_html("Report", [GroupSection("web-01", labelled.scores, anomalies)])
    assert "<th>label</th>" in page
    assert "<td>2026-01-01 00:05 UTC</td><td>2026-01-01 00:05 UTC</td><td>false-alarm</td>" in page
    assert "<td>2026-01-01 00:15 UTC</td><td>2026-01-01 00:15 UTC</td><td></td>" in page  # no label: empty
