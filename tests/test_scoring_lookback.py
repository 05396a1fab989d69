"""Hourly scoring that carries its look-back from run to run: the same rows as reading it again."""
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import io, resume
from pipeline.catalog import discover
from pipeline.metadata import read_version
from pipeline.scoring import score_group
from tests.scoring_support import (LAG, LOOSE_REPEATS, RECENT, db_group, published, scoring_copy,
                                   trained_and_scored)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    return trained_and_scored(tmp_path_factory.mktemp("score"))


def test_hourly_runs_carrying_the_look_back_publish_what_runs_reading_it_again_do(scored, tmp_path, monkeypatch):
    """The last 8 hours landed an hour at a time (low threshold, recent checks on): runs that read the
    look-back the previous run carried publish exactly the rows of runs whose carried file is removed
    (or damaged) first, and read hours, not days, of landing rows. A look-back carried by another model version (a
    promotion since) or over which a file landed late is not used: that run reads the days again. A
    run starting with an anomaly interval open scores it again and resumes the carried steps before it."""
    _, settings, _, _, _, _ = scored
    scores = io.read_dataset(settings.storage.data_root, "scores", "db-01").drop_duplicates("timestamp")
    low = float(np.nanquantile(scores["score"], 0.93))
    copies = {kind: scoring_copy(settings, tmp_path / kind, threshold=low, flags=RECENT, filters=LOOSE_REPEATS)
              for kind in ("carried", "read again")}
    hours = {}
    for kind, copy in copies.items():
        paths = sorted(Path(copy.storage.landing).rglob("*.parquet"))
        cut = max(pd.read_parquet(path)["timestamp"].max() for path in paths) - pd.Timedelta(hours=8)
        for path in paths:
            frame = pd.read_parquet(path)
            io.write_parquet_atomic(frame[frame["timestamp"] <= cut], path)
            later = frame[frame["timestamp"] > cut].copy()
            since = later["timestamp"] - cut
            incident = (since > pd.Timedelta(hours=2)) & (since < pd.Timedelta(hours=6))
            later.loc[incident, LAG] += 10 * frame[LAG].std()  # an interval open across hours
            for hour, rows in later.groupby((later["timestamp"] - cut).dt.ceil("h")):
                name = path.with_name(f"{path.stem}-{hour.seconds // 3600}h.parquet")
                hours.setdefault(kind, {}).setdefault(hour, []).append((name, rows))
    spans, opened = {}, []  # opened: each run's anomaly interval open at its start, if any
    real = io.read_series

    def recording(paths, wanted, start=None, end=None):
        spans.setdefault(kind, []).append((start, end))
        return real(paths, wanted, start, end)

    def run(kind: str) -> None:
        copy = copies[kind]
        if kind == "read again":  # no carried file, or every other run a damaged one: the same
            carried = io.lookback_path(copy.storage.data_root, "db-01")
            carried.parent.mkdir(parents=True, exist_ok=True)
            carried.write_bytes(b"damaged") if len(opened) % 4 == 1 else carried.unlink(missing_ok=True)
        spans.pop(kind, None)
        opened.append(io.read_open_since(copy.storage.data_root, "db-01"))
        score_group(copy, db_group(copy), discover(copy.storage.landing), "run", emit=lambda _: None)

    monkeypatch.setattr(io, "read_series", recording)
    for kind in copies:
        run(kind)
    for hour in sorted(hours["carried"]):
        for kind in copies:
            for path, rows in hours[kind][hour]:
                io.write_parquet_atomic(rows, path)
            run(kind)
        read = {kind: max(end - start for start, end in spans[kind] if start is not None) for kind in copies}
        assert read["carried"] < pd.Timedelta(hours=12) and read["read again"] > pd.Timedelta(days=3)
    assert io.lookback_path(copies["carried"].storage.data_root, "db-01").exists()
    assert any(since is not None for since in opened[2::2])  # a grid moved back by an open interval resumed too
    found = {kind: published(copy) for kind, copy in copies.items()}
    for name in ("scores", "anomalies", "features"):
        pd.testing.assert_frame_equal(found["carried"][name].drop(columns="embedding", errors="ignore"),
                                      found["read again"][name].drop(columns="embedding", errors="ignore"),
                                      check_exact=True)
    assert found["carried"]["scores"]["is_anomaly"].any()

    copy, kind = copies["carried"], "carried"
    path = io.lookback_path(copy.storage.data_root, "db-01")
    table = io.read_lookback(copy.storage.data_root, "db-01")
    meta = json.loads(table.schema.metadata[b"nightwatch.lookback"])
    io.write_lookback(copy.storage.data_root, "db-01", table.replace_schema_metadata({b"nightwatch.lookback": json.dumps(
        {**meta, "version": "20260101T000000Z-other"}).encode()}))
    io.reset_state(copy.storage.data_root, "db-01", io.read_watermark(copy.storage.data_root, "db-01")
                   - pd.Timedelta(hours=1), pd.Timestamp.now(tz="UTC"), "test")
    run(kind)
    assert max(end - start for start, end in spans[kind] if start is not None) > pd.Timedelta(days=3)
    run(kind)  # the run above carried its own look-back again; a file lands late inside its range
    late = pd.read_parquet(next(Path(copy.storage.landing).rglob("*-1h.parquet"))).iloc[:1]
    late["timestamp"] -= pd.Timedelta(hours=20)
    io.write_parquet_atomic(late, Path(copy.storage.landing) / "late.parquet")
    io.reset_state(copy.storage.data_root, "db-01", io.read_watermark(copy.storage.data_root, "db-01")
                   - pd.Timedelta(hours=1), pd.Timestamp.now(tz="UTC"), "test")
    run(kind)
    assert max(end - start for start, end in spans[kind] if start is not None) > pd.Timedelta(days=3)


def test_a_backfill_drops_the_carried_look_back(scored, tmp_path):
    """A backfill may rescore rows rewritten in place (same times and row count, so the carried
    file's check of the landing files passes): the next incremental run must read the days again."""
    _, settings, _, _, _, _ = scored
    copy = scoring_copy(settings, tmp_path / "copy")
    carried = io.lookback_path(copy.storage.data_root, "db-01")
    score_group(copy, db_group(copy), discover(copy.storage.landing), "run", emit=lambda _: None)
    assert carried.exists()
    newest = io.read_dataset(copy.storage.data_root, "scores", "db-01")["timestamp"].max()
    score_group(copy, db_group(copy), discover(copy.storage.landing), "backfill", start=newest - pd.Timedelta("1D"),
                emit=lambda _: None)
    assert not carried.exists()


def test_rows_landing_behind_the_watermark_are_scored_as_if_they_had_landed_on_time(scored, tmp_path):
    """The last 4 hours land an hour at a time, as three exporters deliver them: all on time; the
    replication lag (with an incident in it) an hour late, in a file of its own, after the hourly
    run has scored the hour without it; every hour first as placeholder rows (the times, no values)
    that the same file's real values replace an hour later. Each later run scores the late rows
    again from where their values moved: all three publish the same values, and flag the incident.
    A run over files that did not change rescores nothing."""
    _, settings, _, _, _, _ = scored
    copies = {kind: scoring_copy(settings, tmp_path / kind) for kind in ("on time", "late metric", "placeholders")}
    landings = {}
    for kind, copy in copies.items():
        path = sorted(Path(copy.storage.landing).rglob("*.parquet"))[-1]  # the newest week's
        frame = pd.read_parquet(path)
        cut = frame["timestamp"].max() - pd.Timedelta(hours=4)
        io.write_parquet_atomic(frame[frame["timestamp"] <= cut], path)
        later = frame[frame["timestamp"] > cut].copy()
        incident = (later["timestamp"] > cut + pd.Timedelta(hours=1)) & (later["timestamp"] <= cut + pd.Timedelta(hours=2))
        later.loc[incident, LAG] += 10 * frame[LAG].std()
        landings[kind] = [(path.with_name(f"{path.stem}-{hour.seconds // 3600}h.parquet"), rows)
                          for hour, rows in later.groupby((later["timestamp"] - cut).dt.ceil("h"))]

    def run(kind: str) -> list[str]:
        copy, lines = copies[kind], []
        score_group(copy, db_group(copy), discover(copy.storage.landing), "run", emit=lines.append)
        return [line for line in lines if "rows landed or changed" in line]

    for kind in copies:
        run(kind)
    rescoring = {kind: [] for kind in copies}
    for hour, (path, rows) in enumerate(landings["on time"]):
        io.write_parquet_atomic(rows, path)
        rescoring["on time"] += run("on time")
        late_path, late_rows = landings["late metric"][hour]
        if hour:  # the hour before's lag lands now, after its hour was scored without it
            before, before_rows = landings["late metric"][hour - 1]
            io.write_parquet_atomic(before_rows[["timestamp", LAG]], before.with_name(before.stem + "-lag.parquet"))
        io.write_parquet_atomic(late_rows.drop(columns=LAG), late_path)
        rescoring["late metric"] += run("late metric")
        place_path, place_rows = landings["placeholders"][hour]
        if hour:  # the hour before's placeholder file now holds its values
            before, before_rows = landings["placeholders"][hour - 1]
            io.write_parquet_atomic(before_rows, before)
        placeholder = place_rows.copy()
        placeholder[[c for c in placeholder.columns if c != "timestamp"]] = np.nan
        io.write_parquet_atomic(placeholder, place_path)
        rescoring["placeholders"] += run("placeholders")
    last, last_rows = landings["late metric"][-1]
    io.write_parquet_atomic(last_rows[["timestamp", LAG]], last.with_name(last.stem + "-lag.parquet"))
    rescoring["late metric"] += run("late metric")
    last, last_rows = landings["placeholders"][-1]
    io.write_parquet_atomic(last_rows, last)
    rescoring["placeholders"] += run("placeholders")

    assert rescoring["on time"] == [] and len(rescoring["late metric"]) == len(rescoring["placeholders"]) == 4
    found = {kind: published(copy) for kind, copy in copies.items()}
    first_hour = landings["on time"][0][1]["timestamp"].min().tz_localize("UTC")
    incident = (first_hour + pd.Timedelta(hours=1), first_hour + pd.Timedelta(hours=2))
    for kind, outputs in found.items():
        scores = outputs["scores"]
        assert not scores.duplicated(["timestamp", "metric"]).any()
        # the values scored are the landed ones, as on time (scores of an hour's last steps differ: rescored,
        # their windows read the next hour's rows too, which had not landed when the on-time run scored them)
        pd.testing.assert_frame_equal(scores[["timestamp", "metric", "value", "imputed"]],
                                      found["on time"]["scores"][["timestamp", "metric", "value", "imputed"]])
        assert scores.loc[scores["timestamp"] >= first_hour, "value"].notna().all()
        flagged = scores.loc[scores["is_anomaly"] & (scores["timestamp"] >= first_hour), "timestamp"]
        assert ((flagged >= incident[0]) & (flagged <= incident[1])).any(), kind
    assert run("late metric") == [] and run("placeholders") == []  # nothing changed since


def registered_again(settings, version: str, aggregation: str | None = None) -> str:
    """The current version copied under another name (what a nightly retraining registers: the
    same metrics and alignment, or with `aggregation` another) and made current."""
    root = Path(settings.storage.models_root) / "db-01"
    current = io.current_version(settings.storage.models_root, "db-01")
    shutil.copytree(root / current, root / version)
    meta = json.loads((root / version / "metadata.json").read_text())
    meta["version"] = version
    meta["config"]["aggregation"] = aggregation or meta["config"]["aggregation"]
    (root / version / "metadata.json").write_text(json.dumps(meta))
    io.set_current_version(settings.storage.models_root, "db-01", version)
    return version


def test_rows_landing_late_before_a_retraining_are_still_scored_again(scored, tmp_path):
    """The nightly retraining registers a new version between two hourly runs: rows that landed
    behind the watermark meanwhile (a corrected export of the last two hours' replication lag) are
    still found and scored again with the new version; not where a version aligns the steps
    otherwise (another aggregation), whose published values are not comparable."""
    _, settings, _, _, _, _ = scored
    found = {}
    for kind, aggregation in (("aligned alike", None), ("aligned otherwise", "max")):
        copy = scoring_copy(settings, tmp_path / kind)
        path = sorted(Path(copy.storage.landing).rglob("*.parquet"))[-1]
        frame = pd.read_parquet(path)
        lines: list[str] = []
        score_group(copy, db_group(copy), discover(copy.storage.landing), "run", emit=lines.append)
        late = frame[frame["timestamp"] > frame["timestamp"].max() - pd.Timedelta(hours=2)][["timestamp", LAG]]
        late[LAG] += 10 * frame[LAG].std()
        io.write_parquet_atomic(late, path.with_name(path.stem + "-lag-correction.parquet"))
        scored_with = io.current_version(copy.storage.models_root, "db-01")
        retrained = registered_again(copy, "20991231T000000Z-retrained", aggregation)
        trained = read_version(copy.storage.models_root, "db-01", retrained).config
        alike = resume.aligned_alike(copy.storage.models_root, trained, scored_with, retrained)
        lines.clear()
        summary = score_group(copy, db_group(copy), discover(copy.storage.landing), "run", emit=lines.append)
        found[kind] = (alike, [line for line in lines if "rows landed or changed" in line], summary)
    alike, rescoring, summary = found["aligned alike"]
    assert alike and len(rescoring) == 1 and summary["rescored"] > 0 and "rescored_from" in summary
    alike, rescoring, summary = found["aligned otherwise"]
    assert not alike and rescoring == [] and "rescored" not in summary
