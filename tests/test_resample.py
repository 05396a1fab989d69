import numpy as np
import pandas as pd
import pytest

from pipeline.config import AGGREGATIONS
from pipeline.resample import aggregate_to_grid, align, fill_short_gaps, gap_lengths, grid_index, to_grid

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def rows(minutes, series, values):
    return pd.DataFrame({"timestamp": [T0 + pd.Timedelta(minutes=m) for m in minutes],
                         "series": series, "value": values})


def test_duplicates_are_aggregated_and_unsorted_rows_sorted():
    long = rows([10, 0, 0, 5], ["a"] * 4, [4.0, 1.0, 3.0, 2.0])
    grid = to_grid(long, ("a", "b"), pd.Timedelta("5min"), "mean")
    assert grid.index.tolist() == [T0, T0 + pd.Timedelta("5min"), T0 + pd.Timedelta("10min")]
    assert grid["a"].tolist() == [2.0, 2.0, 4.0]
    assert grid["b"].isna().all()


def test_sub_interval_points_are_bucketed_with_the_aggregation():
    long = rows([0, 1, 2, 5], ["a"] * 4, [1.0, 5.0, 3.0, 7.0])
    assert to_grid(long, ("a",), pd.Timedelta("5min"), "max")["a"].tolist() == [5.0, 7.0]


def jittered_rows(rng, n=80, duplicates=False):
    """Rows at jittered times (at most one per bucket and series, unless `duplicates`), some NaN."""
    buckets = rng.choice(200, n, replace=duplicates)
    times = T0 + pd.to_timedelta(buckets * 300 + rng.integers(0, 300, n), unit="s")
    return pd.DataFrame({"timestamp": pd.Series(times).dt.as_unit("us"),
                         "series": np.where(np.arange(n) % 2, "a", "b").astype(object),
                         "value": np.where(rng.random(n) < 0.2, np.nan, rng.random(n))}).astype({"series": "str"})


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_rows_on_their_grid_are_placed_as_the_groupby_would_aggregate_them(aggregation):
    """to_grid skips the groupby for rows already on their grid; both paths give the same frame."""
    rng, step = np.random.default_rng(4), pd.Timedelta("5min")
    for bounds, duplicates in (((None, None), False), ((T0 + 20 * step, T0 + 90 * step), False),
                               ((None, None), True)):
        long = jittered_rows(rng, 300 if duplicates else 80, duplicates)
        index = grid_index(long["timestamp"], step, *bounds)
        pd.testing.assert_frame_equal(to_grid(long, ("a", "b", "c"), step, aggregation, *bounds),
                                      aggregate_to_grid(long, ("a", "b", "c"), index, step, aggregation))


def test_gap_lengths():
    missing = np.array([[0], [1], [1], [0], [1]], dtype=bool)
    assert gap_lengths(missing)[:, 0].tolist() == [0, 2, 2, 0, 1]


def test_short_gaps_filled_and_masked_long_gaps_stay_missing():
    values = [0.0, np.nan, 2.0, np.nan, np.nan, np.nan, 6.0]
    grid = pd.DataFrame({"a": values}, index=pd.date_range(T0, periods=7, freq="5min"))
    aligned = fill_short_gaps(grid, max_gap=2)
    assert aligned.values["a"].tolist()[:3] == [0.0, 1.0, 2.0]
    assert aligned.values["a"].iloc[3:6].isna().all()
    assert aligned.imputed["a"].tolist() == [False, True, False, False, False, False, False]
    assert aligned.missing["a"].tolist() == [False, False, False, True, True, True, False]


def test_edges_use_nearest_value():
    grid = pd.DataFrame({"a": [np.nan, 1.0, 2.0, np.nan]}, index=pd.date_range(T0, periods=4, freq="1h"))
    aligned = fill_short_gaps(grid, 1)
    assert aligned.values["a"].tolist() == [1.0, 1.0, 2.0, 2.0]


def test_align_end_to_end():
    aligned = align(rows([0, 10], ["a", "a"], [1.0, 3.0]), ("a",), pd.Timedelta("5min"), "mean", 1)
    assert aligned.values["a"].tolist() == [1.0, 2.0, 3.0]
    assert aligned.imputed["a"].tolist() == [False, True, False]
