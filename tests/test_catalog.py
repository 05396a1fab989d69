import fnmatch

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.catalog import discover, future_rows, load_aligned, read_group, resolve_groups, time_span
from pipeline.config import GroupConfig, Settings, parse_settings

T0 = pd.Timestamp("2026-03-01", tz="UTC")
STEP = pd.Timedelta("5min")


def test_parts_of_a_range_align_as_the_whole_range_does(tmp_path):
    """A part read on its own grid range, with gaps and duplicates, equals that range of the whole."""
    rng = np.random.default_rng(2)
    times = pd.date_range(T0, periods=600, freq="5min") + pd.to_timedelta(rng.integers(0, 300, 600), unit="s")
    frame = pd.DataFrame({"timestamp": times, "g.a": rng.random(600), "g.b": rng.random(600)})
    frame = frame.drop(index=[*range(100, 102), *range(300, 310)])  # a short gap (filled) and a long one
    io.write_parquet_atomic(frame, tmp_path / "landing" / "w.parquet")
    io.write_parquet_atomic(frame.iloc[260:330:7], tmp_path / "landing" / "again.parquet")  # duplicates there
    catalog = discover(str(tmp_path / "landing"))
    group = GroupConfig(name="g", metrics=("g.a", "g.b"), max_gap=3)
    whole = load_aligned(catalog, group)
    assert time_span(catalog, group) == (frame["timestamp"].min(), frame["timestamp"].max(),
                                         len(frame) + len(frame.iloc[260:330:7]))
    for first, last in ((90, 200), (250, 320), (0, 50)):
        lo, hi = whole.values.index[first], whole.values.index[last]
        part = load_aligned(catalog, group, lo, hi + STEP - pd.Timedelta("1us"), grid=(lo, hi))
        pd.testing.assert_frame_equal(part.values.iloc[4:-4], whole.values.iloc[first + 4:last - 3])
        pd.testing.assert_frame_equal(part.imputed.iloc[4:-4], whole.imputed.iloc[first + 4:last - 3])


def test_a_range_read_skips_the_whole_read_check_of_empty_metrics(tmp_path):
    frame = pd.DataFrame({"timestamp": pd.date_range(T0, periods=10, freq="5min"), "g.a": 1.0, "g.b": np.nan})
    frame.loc[8:, "g.b"] = 2.0
    io.write_parquet_atomic(frame, tmp_path / "w.parquet")
    catalog, group = discover(str(tmp_path)), GroupConfig(name="g", metrics=("g.a", "g.b"))
    assert len(read_group(catalog, group)) == 20
    assert len(read_group(catalog, group, T0, T0 + 3 * STEP)) == 8  # g.b has no value there: not an error


def test_resolve_groups_globs_then_auto_groups():
    settings = parse_settings({"groups": [{"name": "db", "metrics": ["db.*"]}]}, "c")
    series = {"db.cpu": None, "db.iops": None, "web/cpu": "web", "web/mem": "web", "lonely": None}
    groups = {g.name: g.metrics for g in resolve_groups(settings, series)}
    assert groups == {"db": ("db.cpu", "db.iops"), "web": ("web/cpu", "web/mem"), "lonely": ("lonely",)}


def test_no_declaration_means_defaults_everywhere():
    groups = resolve_groups(Settings(), {"a": None})
    assert [(g.name, g.metrics, g.window) for g in groups] == [("a", ("a",), 48)]


def test_rows_after_the_clock_plus_the_tolerance_are_not_read_and_are_named(tmp_path):
    frame = pd.DataFrame({"timestamp": [*pd.date_range(T0, periods=4, freq="h"), pd.Timestamp("2030-01-01")],
                          "g.a": [1.0, 2.0, 3.0, 4.0, 5.0]})  # 00:00 .. 03:00, and one stray row
    io.write_parquet_atomic(frame, tmp_path / "w.parquet")
    group = GroupConfig(name="g", metrics=("g.a",))
    catalog = discover(str(tmp_path), now=T0 + pd.Timedelta("1h30min"), future_tolerance="1h")
    assert catalog.until == T0 + pd.Timedelta("2h30min")
    assert read_group(catalog, group)["value"].tolist() == [1.0, 2.0, 3.0]
    assert time_span(catalog, group) == (T0, T0 + pd.Timedelta("2h"), 3)
    assert time_span(catalog, group, end=pd.Timestamp("2031-01-01", tz="UTC"))[1] == T0 + pd.Timedelta("2h")
    (line,) = future_rows(catalog, group)
    assert line.startswith(f"{tmp_path / 'w.parquet'}: 2 row(s) of group 'g' after 2026-03-01 02:30:00+00:00")
    assert line.endswith("the latest at 2030-01-01 00:00:00+00:00")
    assert future_rows(discover(str(tmp_path), now=pd.Timestamp("2030-01-01", tz="UTC")), group) == []


def test_wide_files_of_two_group_folders_sharing_a_column_are_refused_not_averaged(tmp_path):
    """`group=host1/` and `group=host2/` each land a wide file with a `cpu` column: the folder's group
    does not name wide columns, so both would feed one series `cpu`."""
    index = pd.date_range("2026-11-18", periods=4, freq="5min", tz="UTC")
    for host, level in (("host1", 10.0), ("host2", 60.0)):
        folder = tmp_path / f"group={host}"
        folder.mkdir()
        pd.DataFrame({"timestamp": index, "cpu": level, f"{host}.mem": 1.0}).to_parquet(folder / "part.parquet")
    catalog = discover(str(tmp_path))
    assert catalog.files == {}
    assert catalog.errors[str(tmp_path / "group=host1" / "part.parquet")].endswith(
        "group=host1/part.parquet: wide column 'cpu' also lands under group=host2/: a folder's group does not name "
        "wide columns, so the groups' values would be averaged into one series; name the columns per group (e.g. "
        "'host2.cpu') or land long files (timestamp, metric, value)")
    assert set(catalog.errors) == {str(tmp_path / f"group={h}" / "part.parquet") for h in ("host1", "host2")}


def test_a_range_read_opens_only_the_files_whose_bounds_can_hold_it(tmp_path, monkeypatch):
    """Day files: a read of the last day's hours opens that file alone (and the future-rows check
    none), with the rows and the span a read of every file gives."""
    frame = pd.DataFrame({"timestamp": pd.date_range(T0, periods=3 * 288, freq="5min"), "g.a": np.arange(3 * 288.0)})
    for day, rows in frame.groupby(frame["timestamp"].dt.date):
        io.write_parquet_atomic(rows, tmp_path / f"date={day}" / "g.parquet")
    catalog = discover(str(tmp_path), now=frame["timestamp"].iloc[-1])
    group = GroupConfig(name="g", metrics=("g.a",))
    assert len(catalog.bounds) == 3
    opened = []
    real = io.read_series
    monkeypatch.setattr(io, "read_series", lambda paths, *a: opened.extend(paths) or real(paths, *a))
    start = T0 + pd.Timedelta(days=2, hours=20)
    rows = read_group(catalog, group, start)
    assert [p[len(str(tmp_path)) + 1:] for p in opened] == ["date=2026-03-03/g.parquet"]
    assert rows["value"].tolist() == list(np.arange(2 * 288 + 240, 3 * 288.0))
    assert time_span(catalog, group, start) == (start, frame["timestamp"].iloc[-1], 48)
    assert future_rows(catalog, group) == []
    opened.clear()
    assert read_group(catalog, group, T0 + pd.Timedelta(days=9)).empty and len(opened) == 1  # typed, empty



def test_a_groups_files_are_looked_up_by_series_in_the_catalogs_order():
    """What a fleet's reads rely on: the files of a group's series, found through `holders`, in the
    order the catalog lists them (that of a scan of every file), whatever the series' order."""
    from pipeline.catalog import Catalog, _sources

    files = {"l/1.parquet": {"b.x": None}, "l/2.parquet": {"a.y": None, "a.x": None}, "l/3.parquet": {"c.x": None},
             "l/4.parquet": {"a.x": None}}
    catalog = Catalog(files=files)
    assert catalog.holders == {"b.x": ["l/1.parquet"], "a.y": ["l/2.parquet"], "a.x": ["l/2.parquet", "l/4.parquet"],
                               "c.x": ["l/3.parquet"]}
    assert _sources(catalog, GroupConfig(name="a", metrics=("a.x", "a.y"))) == ["l/2.parquet", "l/4.parquet"]
    assert _sources(catalog, GroupConfig(name="m", metrics=("c.x", "b.x"))) == ["l/1.parquet", "l/3.parquet"]


def test_a_glob_matches_the_names_it_matches_over_every_name_whatever_its_literal_start():
    from pipeline.catalog import _matching

    names = sorted(["web-01.cpu", "web-01.mem", "web-02.cpu", "web-1", "db-01.cpu", "[x].a", "web-01"])
    assert _matching(names, "web-01.*") == ["web-01.cpu", "web-01.mem"]
    assert _matching(names, "web-0?.cpu") == ["web-01.cpu", "web-02.cpu"]
    assert _matching(names, "*.cpu") == ["db-01.cpu", "web-01.cpu", "web-02.cpu"]
    assert _matching(names, "web-[12]*") == ["web-1"]
    assert _matching(names, "web-[01]*") == ["web-01", "web-01.cpu", "web-01.mem", "web-02.cpu", "web-1"]
    assert _matching(names, "[[]x].a") == ["[x].a"] and _matching(names, "web-01") == ["web-01"]
    assert _matching(names, "nope.*") == []
    for pattern in ("web*", "w?b-01*", "*", "db-0[!2].cpu", "[dw]*.cpu", "web-01.c*u"):
        assert _matching(names, pattern) == [n for n in names if fnmatch.fnmatchcase(n, pattern)], pattern


def test_a_scan_kept_from_the_last_run_skips_the_files_that_did_not_change(tmp_path, monkeypatch):
    """The hourly flow's landing scan: files listed at the version the last scan saw are not
    opened; the catalog is the one a full scan gives (series, bounds, a file without rows, one
    whose bounds are unknown); a rewritten file is scanned again and a removed one forgotten."""
    landing = tmp_path / "landing"
    times = pd.date_range(T0, periods=6, freq="5min")
    io.write_parquet_atomic(pd.DataFrame({"timestamp": times, "a.x": np.arange(6.0)}), landing / "a.parquet")
    io.write_parquet_atomic(pd.DataFrame({"timestamp": times[:0], "a.x": np.arange(0.0)}), landing / "empty.parquet")
    io.write_parquet_atomic(pd.DataFrame({"timestamp": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "metric": "b.y",
                                          "value": 1.0}), landing / "iso.parquet")
    first = discover(str(landing), now=times[-1])
    assert set(first.scans) == {str(landing / n) for n in ("a.parquet", "empty.parquet", "iso.parquet")}
    io.write_landing_scans(str(tmp_path), first.scans)
    known = io.read_landing_scans(str(tmp_path))
    opened = []
    real = io.scan_landed
    monkeypatch.setattr(io, "scan_landed", lambda path: opened.append(path) or real(path))
    again = discover(str(landing), now=times[-1], known=known)
    assert opened == [] and again.scans == known
    assert again.files == first.files and again.bounds == first.bounds and again.errors == first.errors
    assert [b.isoformat() for b in again.bounds[str(landing / "a.parquet")][:2]] == [t.isoformat() for t in
                                                                                    (times[0], times[-1])]
    io.write_parquet_atomic(pd.DataFrame({"timestamp": times, "a.x": np.arange(6.0), "a.z": 1.0}), landing / "a.parquet")
    (landing / "empty.parquet").unlink()
    changed = discover(str(landing), now=times[-1], known=known)
    assert opened == [str(landing / "a.parquet")] and set(changed.files[str(landing / "a.parquet")]) == {"a.x", "a.z"}
    assert str(landing / "empty.parquet") not in changed.scans
    assert io.read_landing_scans(str(tmp_path / "elsewhere")) == {}
