"""Bad landed input: every case fails its own group with an error naming file, group and problem,
while the good groups in the same landing still train and score."""
from __future__ import annotations

import io as bytes_io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import io
from pipeline.catalog import discover, groups, load_aligned
from pipeline.config import ConfigError, parse_settings
from pipeline.ingest import InputError
from pipeline.scoring import score_group
from pipeline.train import train_group
from tests.reliability.common import STEPS, T0, land, settings_for, times, wide


@dataclass(frozen=True)
class Case:
    """One bad input: the files it lands, and the text its group's error must hold."""

    group: str
    files: dict[str, object]
    expect: tuple[str, ...]
    file_error: str | None = None  # problem reported for the file at discovery, if any
    declared: list[str] = field(default_factory=list)  # metric patterns; empty: an undeclared group


def long(prefix: str, **changes) -> pd.DataFrame:
    """`wide(prefix)` melted into the long layout (no group column)."""
    frame = wide(prefix).melt(id_vars="timestamp", var_name="metric", value_name="value")
    return frame.assign(**changes)


def with_column(prefix: str, column: str, values) -> pd.DataFrame:
    return wide(prefix).assign(**{column: values})


def stray_time(prefix: str, when: str) -> pd.DataFrame:
    frame = wide(prefix)
    frame.loc[7, "timestamp"] = pd.Timestamp(when, tz="UTC")
    return frame


def truncated_parquet() -> bytes:
    buffer = bytes_io.BytesIO()
    wide("trunc").to_parquet(buffer)
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


def sparse(prefix: str) -> pd.DataFrame:
    """Values on every 5th step only: every gap is longer than max_gap, so no window is complete."""
    return wide(prefix).iloc[::5]


def late_metric(prefix: str) -> pd.DataFrame:
    """Every metric only in the validation tail: nothing to fit on (one such metric among others is
    left out of the version with a warning: tests/test_train.py)."""
    frame = wide(prefix)
    frame.loc[: int(STEPS * 0.9), [f"{prefix}.m0", f"{prefix}.m1"]] = np.nan
    return frame


NOT_READABLE = "not a readable parquet file"
NO_SERIES = "no landed series for metrics"
NO_VALUES = "no numeric values (no rows, or all NaN/inf)"
OUTSIDE = "timestamps outside 1990-01-01 .. 2200-01-01"

CASES = [
    # files that cannot be read or whose schema is wrong: reported per file, the group fails too
    Case("empty0", {"empty0.parquet": b""}, (NO_SERIES, "empty0.*"), "Parquet file size is 0 bytes", ["empty0.*"]),
    Case("text", {"text.parquet": b"timestamp,text.m0\n2026-11-18,1\n"}, (NO_SERIES,), NOT_READABLE, ["text.*"]),
    Case("trunc", {"trunc.parquet": truncated_parquet()}, (NO_SERIES,), NOT_READABLE, ["trunc.*"]),
    Case("gzip", {"gzip.parquet": b"\x1f\x8b\x08\x00" + bytes(64)}, (NO_SERIES,), NOT_READABLE, ["gzip.*"]),
    Case("nots", {"nots.parquet": wide("nots").rename(columns={"timestamp": "time"})}, (NO_SERIES,),
         "column 'timestamp': missing column", ["nots.*"]),
    Case("schema", {"schema.parquet": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})}, (NO_SERIES,),
         "column 'timestamp': missing column", ["schema.*"]),
    Case("noval", {"noval.parquet": long("noval").drop(columns="value")}, (NO_SERIES,),
         "column 'value': missing column for the long layout", ["noval.*"]),
    Case("onlyts", {"onlyts.parquet": wide("onlyts")[["timestamp"]]}, (NO_SERIES,),
         "wide layout needs at least one metric column", ["onlyts.*"]),
    Case("nometric", {"nometric.parquet": long("nometric").assign(metric=lambda f: f["metric"].mask(
        f.index % 9 == 0))}, (NO_SERIES,), "column 'metric': ", ["nometric.*"]),
    Case("zerolong", {"zerolong.parquet": long("zerolong").iloc[:0]}, (NO_SERIES, "zerolong.*"), None, ["zerolong.*"]),
    # readable files with bad contents: the group's error names the file, group and column
    Case("strs", {"strs.parquet": with_column("strs", "strs.m0", wide("strs")["strs.m0"].astype(str))},
         ("strs.parquet", "column 'strs.m0'", "non-numeric values (dtype"), declared=["strs.*"]),
    Case("lstrs", {"lstrs.parquet": long("lstrs", value=lambda f: f["value"].astype(str))},
         ("lstrs.parquet", "column 'value'", "non-numeric values"), declared=["lstrs.*"]),
    Case("bools", {"bools.parquet": with_column("bools", "bools.m1", True)},
         ("bools.parquet", "column 'bools.m1'", "non-numeric values (dtype bool"), declared=["bools.*"]),
    Case("cats", {"cats.parquet": with_column("cats", "cats.m0", pd.Categorical(["low", "high"] * (STEPS // 2)))},
         ("cats.parquet", "column 'cats.m0'", "non-numeric values (dtype category"), declared=["cats.*"]),
    Case("blobs", {"blobs.parquet": with_column("blobs", "blobs.m1", [b"\x00\x01"] * STEPS)},
         ("blobs.parquet", "column 'blobs.m1'", "non-numeric values"), declared=["blobs.*"]),
    Case("huge", {"huge.parquet": with_column("huge", "huge.m1", [1e308] * STEPS)},
         ("huge.parquet", "column 'huge.m1'", f"{STEPS} values beyond ±1e+30"), declared=["huge.*"]),
    Case("epochs", {"epochs.parquet": with_column("epochs", "timestamp", np.arange(STEPS) * 300)},
         ("epochs.parquet", "column 'timestamp'", "numeric timestamps are ambiguous"), declared=["epochs.*"]),
    Case("badts", {"badts.parquet": with_column("badts", "timestamp", ["yesterday"] + ["2026-11-18"] * (STEPS - 1))},
         ("badts.parquet", "column 'timestamp'", "1 unparseable timestamps, e.g. 'yesterday'"), declared=["badts.*"]),
    Case("nullts", {"nullts.parquet": wide("nullts").assign(timestamp=lambda f: f["timestamp"].mask(f.index == 3))},
         ("nullts.parquet", "column 'timestamp'", "1 missing timestamps"), declared=["nullts.*"]),
    Case("y1970", {"y1970.parquet": stray_time("y1970", "1970-01-01")}, ("y1970.parquet", OUTSIDE, "1970-01-01"),
         declared=["y1970.*"]),
    Case("y2262", {"y2262.parquet": stray_time("y2262", "2262-04-11")}, ("y2262.parquet", OUTSIDE, "2262-04-11"),
         declared=["y2262.*"]),
    Case("y9999", {"y9999.parquet": with_column("y9999", "timestamp", ["9999-12-31T00:00:00Z"] + [
        str(t) for t in times()[1:]])}, ("y9999.parquet", OUTSIDE), declared=["y9999.*"]),
    Case("allnan", {"allnan.parquet": with_column("allnan", "allnan.m0", np.nan)},
         ("allnan.parquet", "column 'allnan.m0'", NO_VALUES), declared=["allnan.*"]),
    Case("allinf", {"allinf.parquet": with_column("allinf", "allinf.m1", -np.inf)},
         ("allinf.parquet", "column 'allinf.m1'", NO_VALUES), declared=["allinf.*"]),
    Case("zerowide", {"zerowide.parquet": wide("zerowide").iloc[:0]},
         ("zerowide.parquet", "column 'zerowide.m0'", NO_VALUES), declared=["zerowide.*"]),
    Case("short", {"short.parquet": wide("short").iloc[:10]}, ("10 aligned steps is too short for window 16",),
         declared=["short.*"]),
    Case("shortish", {"shortish.parquet": wide("shortish").iloc[:60]},
         ("60 aligned steps is too short for window 16",), declared=["shortish.*"]),
    Case("late", {"late.parquet": late_metric("late")}, ("metrics with no values in the training range", "late.m1"),
         declared=["late.*"]),
    Case("sparse", {"sparse.parquet": sparse("sparse")}, ("no complete windows", "gaps too long"),
         declared=["sparse.*"]),
    # configuration that names metrics nobody landed
    Case("ghost", {}, (NO_SERIES, "['ghost.*']"), declared=["ghost.*"]),
    Case("typo", {"typo.parquet": wide("typo", 1)}, (NO_SERIES, "['typo.m9']"), declared=["typo.m0", "typo.m9"]),
    # names that would become paths: refused for the group, naming the file
    Case("..", {"group=../dots.parquet": long("dots")}, ("dots.parquet", "unusable group name", "'..'")),
    Case("../../etc", {"travg.parquet": long("travg", group="../../etc")},
         ("travg.parquet", "group '../../etc'", "unusable group name")),
    Case("a/b", {"slash.parquet": long("slash", group="a/b")}, ("slash.parquet", "unusable group name")),
    Case("../evil", {"travw.parquet": wide("x", 1).rename(columns={"x.m0": "../evil"})},
         ("travw.parquet", "unusable group name", "'../evil'")),
    Case("cpu usage", {"space.parquet": wide("x", 1).rename(columns={"x.m0": "cpu usage"})},
         ("space.parquet", "unusable group name")),
]
GOOD = ["good", "quirky"]


def quirky_files() -> dict[str, pd.DataFrame]:
    """One group with every tolerated quirk: zones, units, order, duplicates, inf, gaps, late start."""
    base = wide("q", metrics=4, seed=3)
    base["q.m0"] = 42.0  # constant: zero variance
    base.loc[:150, "q.m1"] = np.nan  # appears mid-range (before the validation tail)
    base.loc[300:310, "q.m2"] = np.inf  # inf is missing; a gap longer than max_gap stays missing
    base.loc[320, "q.m2"] = -np.inf  # a short gap, filled
    base = base.drop(index=range(200, 280))  # a six-hour hole in every metric
    kolkata = base.iloc[:250].assign(timestamp=lambda f: f["timestamp"].dt.tz_convert("Asia/Kolkata"))
    naive_ms = base.iloc[250:].assign(timestamp=lambda f: f["timestamp"].dt.tz_localize(None).astype(
        "datetime64[ms]")).sample(frac=1.0, random_state=1)  # out of order, ms unit, naive (UTC)
    dup = base.loc[400:409, ["timestamp", "q.m3"]].melt(id_vars="timestamp", var_name="metric")
    dup["value"] += 2.0  # conflicting duplicates: aggregated (mean) with the wide file's values
    offsets = [t.tz_convert("Etc/GMT-5").isoformat() if i % 2 else t.isoformat() for i, t in enumerate(dup["timestamp"])]
    dup["timestamp"] = offsets  # ISO strings in two different zones in one column
    escape = base[["timestamp"]].assign(group="qlong", metric="../../escape", value=base["q.m3"].to_numpy())
    return {"quirky/kolkata.parquet": kolkata, "quirky/naive-ms.parquet": naive_ms, "quirky/dup.parquet": dup,
            "quirky/escape.parquet": escape}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Land every case next to two good groups; train every resolved group once."""
    root = tmp_path_factory.mktemp("bad-input")
    outside_before = sorted(p.name for p in root.parent.iterdir())
    landing = root / "data" / "landing"
    land(landing, "good/good.parquet", wide("good"))
    for rel, frame in quirky_files().items():
        land(landing, rel, frame)
    for case in CASES:
        for rel, content in case.files.items():
            land(landing, rel, content)
    declared = [{"name": "good", "metrics": ["good.*"]}, {"name": "quirky", "metrics": ["q.*", "qlong/*"]}]
    declared += [{"name": c.group, "metrics": c.declared} for c in CASES if c.declared]
    settings = settings_for(root, declared)
    catalog = discover(settings.storage.landing)
    results: dict[str, object] = {}
    for group in groups(settings, catalog):
        try:
            results[group.name] = train_group(settings, group, catalog, "bad-input", emit=lambda _: None)
        except Exception as exc:  # noqa: BLE001 - each group's failure is the outcome under test
            results[group.name] = exc
    return root, settings, catalog, results, outside_before


@pytest.mark.parametrize("case", CASES, ids=[c.group for c in CASES])
def test_bad_input_fails_its_group_with_a_clear_error(outcome, case):
    root, _, catalog, results, _ = outcome
    error = results[case.group]
    assert isinstance(error, InputError), f"{case.group}: expected an InputError, got {error!r}"
    message = str(error)
    assert f"group {case.group!r}" in message
    for text in case.expect + (("unreadable landing files",) if case.file_error else ()):
        assert text in message, f"{text!r} not in {message!r}"
    for rel in case.files:
        path = str(root / "data" / "landing" / rel)
        if case.file_error:
            assert catalog.errors[path].startswith(path) and case.file_error in catalog.errors[path]
        else:
            assert path not in catalog.errors


def test_every_group_is_accounted_for_and_good_groups_finish(outcome):
    _, settings, _, results, _ = outcome
    assert set(results) == {c.group for c in CASES} | set(GOOD)
    for name in GOOD:
        assert isinstance(results[name], dict), f"{name} failed: {results[name]}"
        assert io.current_version(settings.storage.models_root, name) == results[name]["version"]
    assert sorted(p.name for p in Path(settings.storage.models_root).iterdir()) == sorted(GOOD)


def test_names_never_became_paths(outcome):
    root, _, _, _, outside_before = outcome
    assert sorted(p.name for p in root.parent.iterdir()) == outside_before
    written = [p for p in root.rglob("*") if "landing" not in p.parts]
    assert not [p for p in written if "escape" in p.name or "evil" in p.name or p.name in ("etc", "b")]


def test_tolerated_quirks_align_as_documented(outcome):
    _, settings, catalog, results, _ = outcome
    (quirky,) = [g for g in groups(settings, catalog) if g.name == "quirky"]
    assert quirky.metrics == ("q.m0", "q.m1", "q.m2", "q.m3", "qlong/../../escape")
    aligned = load_aligned(catalog, quirky)
    values, index = aligned.values, aligned.values.index
    assert index.is_monotonic_increasing and index.is_unique and str(index.dtype) == "datetime64[us, UTC]"
    assert index[0] == T0 and index[-1] == T0 + pd.Timedelta("5min") * (STEPS - 1)
    expected = wide("q", metrics=4, seed=3)
    step = {t: i for i, t in enumerate(expected["timestamp"])}
    for t in expected["timestamp"].iloc[400:410]:  # wide value and value + 2 averaged
        assert values.loc[t, "q.m3"] == pytest.approx(expected["q.m3"].iloc[step[t]] + 1.0)
    assert values["q.m0"].dropna().eq(42.0).all()
    assert values["q.m1"].iloc[:151].isna().all() and values["q.m1"].iloc[151:200].notna().all()
    assert values.iloc[200:280].isna().all().all()  # the hole is longer than max_gap: still missing
    assert values["q.m2"].iloc[300:311].isna().all()
    assert aligned.imputed["q.m2"].iloc[320] and np.isfinite(values["q.m2"].iloc[320])
    assert isinstance(results["quirky"], dict) and results["quirky"]["metrics"] == 5


def test_a_bad_late_file_fails_scoring_and_keeps_published_rows(outcome):
    root, settings, catalog, _, _ = outcome
    (good,) = [g for g in groups(settings, catalog) if g.name == "good"]
    first = score_group(settings, good, catalog, "score-1", emit=lambda _: None)
    data = settings.storage.data_root
    published = io.read_dataset(data, "scores", "good")
    mark = io.read_watermark(data, "good")
    assert first["scored"] == STEPS and len(published) == 2 * STEPS
    late = wide("good", steps=12, start=mark + pd.Timedelta("5min"))
    late["good.m1"] = "n/a"
    path = land(root / "data" / "landing", "good/late.parquet", late)
    try:
        with pytest.raises(InputError) as err:
            score_group(settings, good, discover(settings.storage.landing), "score-2", emit=lambda _: None)
    finally:
        path.unlink()
    assert str(err.value).startswith(f"{path}: group 'good': column 'good.m1': non-numeric values")
    pd.testing.assert_frame_equal(published, io.read_dataset(data, "scores", "good"))
    assert io.read_watermark(data, "good") == mark


CONFIG_CASES = [
    ({"defaults": {"window": 1}}, "defaults.window: must be at least 2"),
    ({"defaults": {"max_gap": -1}}, "defaults.max_gap: must not be negative"),
    ({"defaults": {"detection": {"flags": {"score": {"quantile": 1.5}}}}},
     "detection.flags.score.quantile: must be between 0 and 1"),
    ({"defaults": {"model": {"validation_fraction": 0}}}, "validation_fraction: must be between 0 and 1"),
    ({"defaults": {"model": {"epochs": "many"}}}, "defaults.model.epochs: expected int"),
    ({"defaults": {"interval": "-5min"}}, "interval/lookback must be durations"),
    ({"defaults": {"lookback": "forever"}}, "interval/lookback must be durations"),
    ({"defaults": {"stride": True}}, "defaults.stride: expected int"),
    ({"groups": [{"name": "a", "metrics": []}]}, "groups[0].metrics: expected a non-empty list"),
    ({"groups": [{"name": "a", "metrics": {"x": 1}}]}, "groups[0].metrics: expected a non-empty list"),
    ({"groups": [{"name": "a/../../b", "metrics": ["x"]}]}, "name 'a/../../b' must match"),
    ({"groups": [{"name": "", "metrics": ["x"]}]}, "name '' must match"),
    ({"groups": {"name": "a"}}, "groups must be a list"),
    ({"storage": {"data_root": "d", "bucket": "s3"}}, "storage: unknown key 'bucket'"),
    ({"promotion_margin": "ten"}, "promotion_margin: expected float"),
    ([1, 2], "top level must be a mapping"),
]


@pytest.mark.parametrize("raw, message", CONFIG_CASES, ids=[m.split(":")[0][:40] for _, m in CONFIG_CASES])
def test_invalid_config_is_refused_naming_the_key(raw, message):
    with pytest.raises(ConfigError) as err:
        parse_settings(raw, "nightwatch.yaml")
    assert str(err.value).startswith("nightwatch.yaml") and message in str(err.value)
