"""Property-based checks of the array stages: windows, scaling, gap filling, interval merging."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from pipeline.anomalies import runs
from pipeline.resample import fill_short_gaps
from pipeline.scale import fit_scaler
from pipeline.window import clean_starts, iter_batches, window_starts, window_view

FEW = settings(max_examples=60, deadline=None)
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@FEW
@given(n=st.integers(0, 120), window=st.integers(1, 40), data=st.data())
def test_window_starts_cover_every_step_in_order(n, window, data):
    stride = data.draw(st.integers(1, window), label="stride")  # the config keeps stride <= window
    starts = window_starts(n, window, stride)
    if n < window:
        assert len(starts) == 0
        return
    assert starts[0] == 0 and starts[-1] == n - window
    assert (np.diff(starts) > 0).all() and (np.diff(starts) <= stride).all()
    assert len(starts) == -(-(n - window) // stride) + 1
    covered = np.zeros(n, bool)
    for s in starts:
        covered[s:s + window] = True
    assert covered.all()


@FEW
@given(values=hnp.arrays(np.float64, st.tuples(st.integers(0, 60), st.integers(1, 4)), elements=finite),
       window=st.integers(1, 20))
def test_window_view_holds_the_right_slices(values, window):
    view = window_view(values, window)
    assert view.shape == (max(0, len(values) - window + 1), window, values.shape[1])
    for i in range(len(view)):
        np.testing.assert_array_equal(view[i], values[i:i + window])
    assert not view.flags.writeable or view.size == 0


@FEW
@given(missing=hnp.arrays(np.bool_, st.integers(1, 80)), window=st.integers(1, 12), stride=st.integers(1, 12),
       batch=st.integers(1, 16))
def test_clean_starts_and_batches(missing, window, stride, batch):
    starts = window_starts(len(missing), window, stride)
    clean = clean_starts(starts, missing, window)
    assert set(clean) <= set(starts)
    for s in starts:
        assert (s in clean) == (not missing[s:s + window].any())
    values = np.arange(len(missing), dtype=float)[:, None]
    view = window_view(values, window)
    got = list(iter_batches(view, clean, batch))
    assert all(len(chunk) <= batch for chunk, _ in got)
    joined = np.concatenate([c for c, _ in got]) if got else np.empty(0, np.int64)
    np.testing.assert_array_equal(joined, clean)
    for chunk, windows in got:
        np.testing.assert_array_equal(windows, view[chunk])


@FEW
@given(values=hnp.arrays(np.float64, st.tuples(st.integers(1, 50), st.integers(1, 4)), elements=finite))
def test_scaling_inverts_and_survives_its_json_form(values):
    metrics = tuple(f"m{i}" for i in range(values.shape[1]))
    scaler = fit_scaler(values, metrics)
    assert all(s > 0 for s in scaler.scale)
    back = scaler.inverse(scaler.transform(values))
    tolerance = 1e-6 * (np.abs(values).max(axis=0) + np.asarray(scaler.scale))
    assert (np.abs(back - values) <= tolerance).all()
    assert type(scaler).from_dict(scaler.to_dict()) == scaler


@FEW
@given(values=hnp.arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 3)),
                         elements=st.one_of(finite, st.just(np.nan))), max_gap=st.integers(0, 5))
def test_gap_filling_keeps_observations_and_fills_only_short_gaps(values, max_gap):
    index = pd.date_range("2026-01-01", periods=len(values), freq="5min", tz="UTC")
    grid = pd.DataFrame(values, index=index)
    aligned = fill_short_gaps(grid, max_gap)
    observed = ~np.isnan(values)
    np.testing.assert_array_equal(aligned.values.to_numpy()[observed], values[observed])
    imputed = aligned.imputed.to_numpy()
    assert not (imputed & observed).any()
    for j in range(values.shape[1]):
        column = np.isnan(values[:, j])
        if column.all():
            continue  # nothing to fill from
        for first, last in runs(column):
            short = last - first + 1 <= max_gap
            assert imputed[first:last + 1, j].all() == short
            assert np.isfinite(aligned.values.to_numpy()[first:last + 1, j]).all() == short


@FEW
@given(flags=hnp.arrays(np.bool_, st.integers(0, 200)), merge_gap=st.integers(0, 6))
def test_runs_are_sorted_disjoint_and_cover_every_flag(flags, merge_gap):
    found = runs(flags, merge_gap)
    assert len(found) == 0 if not flags.any() else len(found) >= 1
    for first, last in found:
        assert first <= last and flags[first] and flags[last]
    for (_, last), (first, _) in zip(found, found[1:]):
        assert first - last - 1 > merge_gap  # runs closer than merge_gap would have merged
    inside = np.zeros(len(flags), bool)
    for first, last in found:
        inside[first:last + 1] = True
    assert (inside | ~flags).all()
    unmerged = runs(flags, 0)
    assert sum(int(flags[a:b + 1].sum()) for a, b in found) == sum(b - a + 1 for a, b in unmerged)
