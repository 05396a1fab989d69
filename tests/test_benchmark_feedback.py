"""The feedback benchmark's counting: false intervals after the labelled one, windows found, and
the per-category table."""
import pandas as pd

from benchmarks.feedback import judged, table

T = pd.Timestamp("2014-04-10", tz="UTC")


def span(a: int, b: int) -> tuple:
    return T + pd.Timedelta(hours=a), T + pd.Timedelta(hours=b)


def test_false_intervals_after_the_label_and_windows_found_are_counted():
    windows = [span(10, 12), span(20, 22)]
    intervals = [span(1, 2), span(5, 6), span(11, 11), span(30, 31)]  # false, false, true, false
    assert judged(intervals, windows, span(1, 2)[1]) == {"false_after": 2, "false": 3, "found": 1}
    assert judged(intervals, windows, None) == {"false_after": 0, "false": 3, "found": 1}


def test_the_table_sums_each_variant_per_category():
    row = {"windows": 2, "label": ["a", "b"], "fa quiet": True, "fa+inc quiet": False,
           "before": {"false_after": 3, "false": 4, "found": 2}, "fa": {"false_after": 0, "false": 0, "found": 1},
           "fa+inc": {"false_after": 1, "false": 2, "found": 2}}
    none = {"windows": 1, "label": None, **{v: {"false_after": 0, "false": 0, "found": 1}
                                             for v in ("before", "fa", "fa+inc")}}
    lines = table({"realKnownCause": {"x": row, "y": none}}).splitlines()
    assert lines[2] == "| realKnownCause | 2 | 1 | 1 / 0 | 3 / 0 / 1 | 3 / 2 / 3 of 3 | 4 / 0 / 2 |"
