"""Rows landing or changing behind the watermark: which files changed, and where the published scores go stale."""
import numpy as np
import pandas as pd

from pipeline.late_rows import changed_files, stale_since

T0 = pd.Timestamp("2026-11-20 00:00", tz="UTC")
STEP = pd.Timedelta("5min")
WEEK = ["w.parquet", "2026-11-16T00:00:00+00:00", "2026-11-20T00:00:00+00:00", 1153, '["v1"]']


def test_new_paths_and_other_bounds_rows_or_versions_are_changes():
    moved = [*WEEK[:4], '["v2"]']  # rewritten in place: same bounds and rows
    grown = ["d.parquet", WEEK[1], "2026-11-20T01:00:00+00:00", 1165, '["v3"]']
    late = ["late.parquet", WEEK[1], WEEK[1], 1, '["v4"]']
    assert changed_files([WEEK], [WEEK]) == []
    assert changed_files([WEEK], [moved]) == [moved]
    assert changed_files([WEEK, ["d.parquet", WEEK[1], WEEK[2], 1153, '["v3"]']], [WEEK, grown]) == [grown]
    assert changed_files([WEEK], [WEEK, late]) == [late]
    assert changed_files([WEEK[:4]], [WEEK]) == []  # an older release's entry: no version to compare
    assert changed_files([WEEK, late], [WEEK]) == []  # a file gone: nothing to score again


def frame(values, first=T0 - 5 * STEP):
    return pd.DataFrame({"m": values}, index=pd.date_range(first, periods=len(values), freq=STEP))


def test_the_stale_steps_start_a_score_context_before_the_first_value_that_moved():
    published = frame([1.0, 2.0, 3.0, np.nan, 5.0, 6.0])  # T0 - 25min .. T0; a missing value at T0 - 10min
    late = ["late.parquet", (T0 - 2 * STEP).isoformat(), (T0 - 2 * STEP).isoformat(), 1, '["v"]']  # T0 - 10min
    asked = []

    def recompute(first, last):
        asked.append((first, last))
        return frame([0.0] * 3 + [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], first=T0 - 8 * STEP)  # T0 - 40 .. T0 + 5min

    stale = stale_since([WEEK], [WEEK, late], T0, STEP, recompute, lambda first: published[published.index >= first],
                        fill=2, context=3)
    # compared from the late row's step less the fill (T0 - 20min, as published there) to the watermark, read a
    # fill either side; T0 - 10min now has its value (was NaN): stale from the 3 context steps before it
    assert asked == [(T0 - 6 * STEP, T0 + 2 * STEP)]
    assert stale == T0 - 2 * STEP - 3 * STEP

    earlier = ["early.parquet", (T0 - 8 * STEP).isoformat(), (T0 - 8 * STEP).isoformat(), 1, '["v"]']
    stale = stale_since([WEEK], [WEEK, earlier], T0, STEP, recompute, lambda first: published[published.index >= first],
                        fill=2, context=3)
    assert stale == T0 - 8 * STEP - 3 * STEP  # a value where none was published (T0 - 40min) moved too


def test_nothing_is_stale_where_no_file_changed_or_the_values_stayed():
    published = frame([1.0, 2.0, 3.0, np.nan, 5.0, 6.0])
    same = lambda first, last: published  # noqa: E731 - values as published (an append after them, say)
    grown = [*WEEK[:2], "2026-11-20T01:00:00+00:00", 1165, '["v9"]']
    never = lambda first, last: (_ for _ in ()).throw(AssertionError("read"))  # noqa: E731
    assert stale_since([WEEK], [WEEK], T0, STEP, never, never, fill=2, context=3) is None
    assert stale_since([WEEK], None, T0, STEP, never, never, fill=2, context=3) is None
    assert stale_since([WEEK], [grown], T0, STEP, same, lambda first: published, fill=2, context=3) is None
    after = ["next.parquet", (T0 + 20 * STEP).isoformat(), (T0 + 30 * STEP).isoformat(), 11, '["v"]']
    assert stale_since([WEEK], [WEEK, after], T0, STEP, never, never, fill=2, context=3) is None  # new steps
