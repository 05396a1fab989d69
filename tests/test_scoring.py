import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import io
from pipeline.catalog import Catalog, discover, groups, load_aligned
from pipeline.publish import SCORES_SCHEMA
from pipeline.scale import Scaler
from pipeline.detect.shift import Shift, mean_shift
from pipeline.scoring import NoCurrentModel, score_group
from tests.helpers import STEPS, land_sample, overlaps, tiny_settings
from tests.scoring_support import (LOOSE_REPEATS, NO_RECENT, RECENT, assert_same_outputs, db_group, published,
                                   scoring_copy, trained_and_scored)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    return trained_and_scored(tmp_path_factory.mktemp("score"))


def test_scores_are_published_with_schema_and_injection_found(scored):
    root, settings, _, db, injected, summary = scored
    assert summary["scored"] == STEPS and summary["anomalies"] >= 1
    scores = io.read_dataset(settings.storage.data_root, "scores", "db-01")
    assert {c: str(t) for c, t in scores.dtypes.items()} == SCORES_SCHEMA
    assert len(scores) == STEPS * 4 and set(scores["run_id"]) == {"score-run"}
    anomalies = io.read_dataset(settings.storage.data_root, "anomalies", "db-01")
    (shift,) = injected
    assert overlaps(anomalies, shift.start, shift.end)
    hit = anomalies[(anomalies["start"] <= shift.end) & (anomalies["end"] >= shift.start)].iloc[0]
    assert hit["top_metric"] == "db-01.replication_lag"
    flagged = scores.drop_duplicates("timestamp")
    assert flagged["is_anomaly"].mean() < 0.10  # quiet outside the incidents
    assert (flagged["anomaly_score"][flagged["is_anomaly"]] > 1).all()  # every flag is past its rule's threshold
    assert flagged["anomaly_score"].notna().mean() > 0.9
    features = io.read_dataset(settings.storage.data_root, "features", "db-01")
    assert len(features) == STEPS - 16 + 1 and len(features["embedding"].iloc[0]) == 4
    assert io.read_watermark(settings.storage.data_root, "db-01") == scores["timestamp"].max()


def test_nothing_new_after_the_watermark(scored):
    _, settings, catalog, db, _, _ = scored
    assert score_group(settings, db, catalog, "again", emit=lambda _: None)["scored"] == 0


def test_backfill_rerun_gives_identical_rows(scored):
    _, settings, catalog, db, _, _ = scored
    root = settings.storage.data_root
    before = io.read_dataset(root, "scores", "db-01").drop(columns="run_id")
    mark = io.read_watermark(root, "db-01")
    start, end = before["timestamp"].min(), before["timestamp"].max()
    score_group(settings, db, catalog, "backfill", str(start), str(end), emit=lambda _: None)
    after = io.read_dataset(root, "scores", "db-01").drop(columns="run_id")
    pd.testing.assert_frame_equal(before, after)
    assert io.read_watermark(root, "db-01") == mark


def test_incremental_scoring_adds_only_new_steps(scored):
    _, settings, catalog, db, _, _ = scored
    root = settings.storage.data_root
    last = io.read_watermark(root, "db-01")
    new_times = pd.date_range(last + pd.Timedelta("5min"), periods=12, freq="5min").tz_localize(None)
    aligned = load_aligned(catalog, db)
    tail = aligned.values.iloc[-12:].to_numpy()
    extra = pd.DataFrame(tail, columns=list(db.metrics)).assign(timestamp=new_times)
    io.write_parquet_atomic(extra, Path(settings.storage.landing) / "exports" / "late.parquet")
    summary = score_group(settings, db, discover(settings.storage.landing), "incr", emit=lambda _: None)
    assert summary["scored"] == 12
    scores = io.read_dataset(root, "scores", "db-01")
    assert not scores.duplicated(["timestamp", "metric"]).any() and len(scores) == (STEPS + 12) * 4


def test_an_interval_open_at_the_watermark_is_extended_by_the_next_run(scored, tmp_path):
    """Scoring up to the middle of the injected shift, then the rest, publishes the anomaly
    intervals that scoring it all at once does: one interval across the two runs, not two."""
    _, settings, _, db, injected, _ = scored
    (shift,) = injected
    middle = (shift.start + (shift.end - shift.start) / 2).tz_localize(None)  # landed times are naive UTC
    outputs = {}
    for runs in (1, 2):
        copy = scoring_copy(settings, tmp_path / str(runs))
        landing = Path(copy.storage.landing)
        later = {}
        for path in sorted(landing.rglob("*.parquet")):
            frame = pd.read_parquet(path)
            if runs == 2 and frame["timestamp"].max() > middle:
                later[path.with_name(f"{path.stem}-later.parquet")] = frame[frame["timestamp"] > middle]
                io.write_parquet_atomic(frame[frame["timestamp"] <= middle], path)
        score_group(copy, db, discover(copy.storage.landing), "run", emit=lambda _: None)
        if runs == 2:
            assert io.read_open_since(copy.storage.data_root, "db-01") is not None  # cut inside an interval
            for path, frame in later.items():
                io.write_parquet_atomic(frame, path)
            score_group(copy, db, discover(copy.storage.landing), "run", emit=lambda _: None)
        outputs[runs] = published(copy)
    pd.testing.assert_frame_equal(outputs[1]["anomalies"], outputs[2]["anomalies"], rtol=1e-4)
    assert overlaps(outputs[2]["anomalies"], shift.start, shift.end)
    pd.testing.assert_frame_equal(*(o["features"].drop(columns="embedding") for o in outputs.values()))



def test_metric_scores_are_errors_over_the_usual_errors_stored_with_the_model(scored, tmp_path):
    _, settings, _, db, _, _ = scored
    scales = json.loads(next(Path(settings.storage.models_root).glob("db-01/*/metadata.json")).read_text())[
        "metric_scales"]
    assert list(scales) == list(db.metrics) and all(s > 0 for s in scales.values())
    outputs = {}
    for factor in (1, 2, None):  # usual errors as trained, twice as large, none (a model from before them)
        copy = scoring_copy(settings, tmp_path / str(factor))
        for path in (tmp_path / str(factor) / "models").glob("*/*/metadata.json"):
            meta = json.loads(path.read_text())
            meta["metric_scales"] = {m: factor * s for m, s in meta["metric_scales"].items()} if factor else {}
            path.write_text(json.dumps(meta))
        score_group(copy, db, discover(copy.storage.landing), "run", emit=lambda _: None)
        outputs[factor] = published(copy)["scores"]
    np.testing.assert_allclose(outputs[2]["metric_score"], outputs[1]["metric_score"] / 2, rtol=1e-9)
    np.testing.assert_allclose(outputs[2]["score"], outputs[1]["score"] / 2, rtol=1e-9)
    raw = outputs[1]["metric_score"] * outputs[1]["metric"].map(scales).astype(float)
    np.testing.assert_allclose(outputs[None]["metric_score"], raw, rtol=1e-9)  # raw errors, as before


@pytest.mark.parametrize("check, flags", [("level", {"level": {"steps": 24}, "shift": None}),
                                          ("shift", {"level": None})])
def test_a_sustained_shift_is_flagged_by_either_check_alone(scored, tmp_path, check, flags):
    """With the score's threshold out of reach and the other check off, the trailing median score
    (over 2 hours here) or the values' mean shift alone flags the injected shift, and names the
    metric that moved."""
    _, settings, catalog, db, injected, _ = scored
    copy = scoring_copy(settings, tmp_path, threshold=1e9, flags=flags)
    score_group(copy, db, discover(copy.storage.landing), "run", emit=lambda _: None)
    out = published(copy)
    (shift,) = injected
    assert overlaps(out["anomalies"], shift.start, shift.end)
    assert set(out["anomalies"]["trigger"]) == {check}
    hit = out["anomalies"][(out["anomalies"]["start"] <= shift.end) & (out["anomalies"]["end"] >= shift.start)]
    assert hit["top_metric"].tolist() == ["db-01.replication_lag"]
    assert out["scores"].drop_duplicates("timestamp")["is_anomaly"].mean() < 0.05


def test_a_shift_under_its_stored_threshold_is_flagged_where_the_metric_had_been_steady(scored, tmp_path):
    """With the replication lag's stored shift threshold raised above the injected shift's largest
    distance, the stored check alone misses it; the recent-context check, for which the lag had
    been steady the days before, finds it (from half the stored threshold on)."""
    _, settings, catalog, db, injected, _ = scored
    meta = json.loads(next(Path(settings.storage.models_root).glob("db-01/*/metadata.json")).read_text())
    aligned = load_aligned(catalog, db).values
    rule = Shift()
    distances = mean_shift(Scaler.from_dict(meta["scaler"]).transform(aligned.to_numpy()), rule.steps, rule.baseline)
    (incident,) = injected
    during = (aligned.index >= incident.start) & (aligned.index <= incident.end)
    lag = "db-01.replication_lag"
    largest = float(np.nanmax(distances[during, db.metrics.index(lag)]))
    found = {}
    for recent_days in (0, 5):
        recent = {} if recent_days else {"score": {"recent": None}, "shift": {"recent": None}}
        copy = scoring_copy(settings, tmp_path / str(recent_days), threshold=1e9, flags={"level": None, **recent})
        for path in (tmp_path / str(recent_days) / "models").glob("*/*/metadata.json"):
            stored = json.loads(path.read_text())
            stored["states"]["shift"]["thresholds"][lag] = largest / 0.8
            path.write_text(json.dumps(stored))
        score_group(copy, db, discover(copy.storage.landing), "run", emit=lambda _: None)
        found[recent_days] = published(copy)["anomalies"]
    assert found[0].empty or not overlaps(found[0], incident.start, incident.end)
    assert overlaps(found[5], incident.start, incident.end) and set(found[5]["trigger"]) == {"shift"}
    hit = found[5][(found[5]["start"] <= incident.end) & (found[5]["end"] >= incident.start)]
    assert hit["top_metric"].tolist() == [lag]


def test_mean_shift_thresholds_are_stored_per_metric_and_nothing_flags_with_both_checks_off(scored, tmp_path):
    _, settings, catalog, db, _, _ = scored
    meta = json.loads(next(Path(settings.storage.models_root).glob("db-01/*/metadata.json")).read_text())
    assert list(meta["states"]["shift"]["thresholds"]) == list(db.metrics)
    assert all(v >= 0.1 for v in meta["states"]["shift"]["thresholds"].values())
    off = scoring_copy(settings, tmp_path, threshold=1e9, flags={"level": None, "shift": None})
    score_group(off, db, discover(off.storage.landing), "run", emit=lambda _: None)
    assert published(off)["anomalies"].empty


# a level over 2 hours, and recent-context checks that bite on the sample (over 3 days)


def test_scoring_in_small_parts_publishes_what_scoring_at_once_does(scored, tmp_path):
    """Parts of 40 steps (window 16, stride 3, level over 24 steps, repeats from 2 days back, mean
    shifts over 24 against 288 steps, flags compared with the 3 days before) with a threshold low
    enough for many anomaly runs, some of them across part boundaries: the same scores, intervals
    (none split) and features."""
    _, settings, catalog, db, _, _ = scored
    scores = io.read_dataset(settings.storage.data_root, "scores", "db-01").drop_duplicates("timestamp")
    low = float(np.nanquantile(scores["score"], 0.93))
    outputs = {}
    for chunk in (10**9, 40):
        copy = scoring_copy(settings, tmp_path / str(chunk), stride=3, threshold=low, flags=RECENT,
                            filters=LOOSE_REPEATS)
        score_group(copy, db_group(copy), discover(copy.storage.landing), "run", emit=lambda _: None, chunk=chunk)
        outputs[chunk] = published(copy)
        assert io.read_watermark(copy.storage.data_root, "db-01") == outputs[chunk]["scores"]["timestamp"].max()
    assert_same_outputs(outputs[10**9], outputs[40])
    intervals = outputs[40]["anomalies"]
    first = outputs[40]["scores"]["timestamp"].min()
    part = (intervals[["start", "end"]] - first) // pd.Timedelta("5min") // 40
    assert len(intervals) >= 5 and (part["start"] != part["end"]).any()
    assert intervals["trigger"].str.contains("level").any() and intervals["trigger"].str.contains("shift").any()
    no_repeats = scoring_copy(settings, tmp_path / "no-repeats", stride=3, threshold=low, flags=RECENT,
                              filters={"min_peak": {}})
    score_group(no_repeats, db_group(no_repeats), discover(no_repeats.storage.landing), "run", emit=lambda _: None)
    assert len(published(no_repeats)["anomalies"]) > len(intervals)  # the daily-repeat check dropped some
    # the score's and level's recent checks spare what was usual in the days before (the shift's, on in
    # both, lowers a steady metric's threshold instead, so it is not what this compares)
    no_recent = scoring_copy(settings, tmp_path / "no-recent", stride=3, threshold=low,
                             flags={**NO_RECENT, "shift": RECENT["shift"]}, filters=LOOSE_REPEATS)
    score_group(no_recent, db_group(no_recent), discover(no_recent.storage.landing), "run", emit=lambda _: None)
    flagged = {name: out["scores"].drop_duplicates("timestamp")["is_anomaly"].sum()
               for name, out in (("recent", outputs[40]), ("no recent", published(no_recent)))}
    assert flagged["no recent"] > flagged["recent"] > 0  # what was usual in the days before was not flagged again


def test_parts_longer_than_a_day_stop_at_midnight_so_each_date_is_written_once(scored, tmp_path, monkeypatch):
    _, settings, _, db, _, _ = scored
    real, ranges = io.upsert_partitions, []

    def recording(data_root, dataset, group, frame, column, start, end):
        if dataset == "scores":
            ranges.append((start, end))
        return real(data_root, dataset, group, frame, column, start, end)

    reference = scoring_copy(settings, tmp_path / "reference")
    score_group(reference, db, discover(reference.storage.landing), "run", emit=lambda _: None)
    copy = scoring_copy(settings, tmp_path / "days")
    monkeypatch.setattr(io, "upsert_partitions", recording)
    score_group(copy, db, discover(copy.storage.landing), "run", emit=lambda _: None, chunk=400)  # 1.4 days
    monkeypatch.setattr(io, "upsert_partitions", real)
    assert len(ranges) > 3
    carried = set(published(copy)["anomalies"]["start"])  # an anomaly run open at a part's end moves on whole
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        assert start == end + pd.Timedelta(1, "us")
        assert start == start.floor("D") or start in carried
    assert sum(start != start.floor("D") for start, _ in ranges[1:]) <= len(carried) < len(ranges) - 1
    assert_same_outputs(published(reference), published(copy))


def test_a_run_killed_between_parts_resumes_after_the_last_published_one(scored, tmp_path, monkeypatch):
    """The watermark moves only after a part's three datasets are written, so the rerun scores
    every step once: nothing skipped, nothing twice."""
    _, settings, _, db, _, _ = scored
    reference = scoring_copy(settings, tmp_path / "reference")
    score_group(reference, db, discover(reference.storage.landing), "run", emit=lambda _: None, chunk=1000)
    copy = scoring_copy(settings, tmp_path / "killed")
    real, calls = io.upsert_partitions, []

    def dies_in_the_second_part(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 5:  # part 1: scores, anomalies, features; part 2: scores, then this
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(io, "upsert_partitions", dies_in_the_second_part)
    with pytest.raises(KeyboardInterrupt):
        score_group(copy, db, discover(copy.storage.landing), "run", emit=lambda _: None, chunk=1000)
    monkeypatch.setattr(io, "upsert_partitions", real)
    mark = io.read_watermark(copy.storage.data_root, "db-01")
    before = published(copy)["scores"]
    assert mark is not None and before["timestamp"].max() > mark  # part 2's scores written, no watermark
    summary = score_group(copy, db, discover(copy.storage.landing), "run", emit=lambda _: None, chunk=1000)
    after, expected = published(copy), published(reference)
    assert summary["start"] == str(mark + pd.Timedelta("5min"))
    assert len(after["scores"]) == len(expected["scores"])
    assert not after["scores"].duplicated(["timestamp", "metric"]).any()
    assert io.read_watermark(copy.storage.data_root, "db-01") == after["scores"]["timestamp"].max()
    done = expected["scores"]["timestamp"] <= mark  # the first part is not scored again
    pd.testing.assert_frame_equal(after["scores"][done], expected["scores"][done], rtol=1e-4, atol=1e-7)


LEGACY = Path(__file__).parent / "fixtures" / "legacy-db-01"


def test_a_model_version_stored_before_detection_rules_scores_as_it_did(tmp_path):
    """A version saved by the code before detection rules (its `threshold` section: a low score
    threshold, a level over 24 steps, recent context over 3 days), with what that code published
    for the sample: scored now with the default settings, the same scores and intervals."""
    land_sample(tmp_path, keep=("db-01",))
    shutil.copytree(LEGACY / "models", tmp_path / "models")
    settings = tiny_settings(tmp_path)
    catalog = discover(settings.storage.landing)
    (db,) = [g for g in groups(settings, catalog) if g.name == "db-01"]
    score_group(settings, db, catalog, "run", emit=lambda _: None)
    scores = io.read_dataset(settings.storage.data_root, "scores", "db-01").drop_duplicates("timestamp")
    then = pd.read_parquet(LEGACY / "scores.parquet")
    np.testing.assert_allclose(scores["score"], then["score"], rtol=1e-4)
    assert scores["is_anomaly"].tolist() == then["is_anomaly"].tolist() and then["is_anomaly"].sum() > 100
    columns = ["start", "end", "n_points", "peak_time", "severity", "trigger", "top_metric", "contributors"]
    anomalies = io.read_dataset(settings.storage.data_root, "anomalies", "db-01")[columns]
    expected = pd.DataFrame(json.loads((LEGACY / "anomalies.json").read_text()))
    for column in ("start", "end", "peak_time"):
        expected[column] = pd.to_datetime(expected[column], utc=True).dt.as_unit("us")
    pd.testing.assert_frame_equal(anomalies.reset_index(drop=True), expected[columns], check_dtype=False)
    assert {"score+shift", "score+level+shift"} <= set(anomalies["trigger"])


@pytest.mark.parametrize("blank", [0.03, 0.12])
def test_a_range_with_many_steps_without_a_score_is_warned_about(scored, tmp_path, blank):
    """Every metric missing over a stretch of the range: its steps have no score; more than 5% of the
    scored steps is a warning in the result (the flow logs it, the report shows it)."""
    _, settings, _, db, _, summary = scored
    assert summary["warnings"] == []  # the sample is observed throughout
    copy = scoring_copy(settings, tmp_path)
    for path in Path(copy.storage.landing).rglob("*.parquet"):
        frame = pd.read_parquet(path)
        if set(db.metrics) <= set(frame.columns):
            start = len(frame) // 2
            frame.loc[start:start + int(blank * len(frame)), list(db.metrics)] = np.nan
            io.write_parquet_atomic(frame, path)
    result = score_group(copy, db, discover(copy.storage.landing), "gaps", emit=lambda _: None)
    steps = io.read_dataset(copy.storage.data_root, "scores", "db-01").groupby("timestamp")["score"].first()
    share = steps.isna().mean()
    assert result["scored"] == len(steps) and abs(share - blank) < 0.01  # the blank stretch, and no more
    expected = [f"db-01: {share:.0%} of scored steps have no score (missing or imputed values)"]
    assert result["warnings"] == (expected if blank > 0.05 else [])


def test_a_group_without_a_current_model_is_refused_naming_it(tmp_path):
    settings = tiny_settings(tmp_path, [{"name": "db-01", "metrics": ["db-01.*"]}])
    with pytest.raises(NoCurrentModel, match=f"{settings.storage.models_root}: group 'db-01': no current model; "
                                             "run training first"):
        score_group(settings, settings.groups[0], Catalog(files={}, errors={}), "run", emit=lambda _: None)
    assert not Path(settings.storage.data_root, "scores").exists()


def test_a_metric_renamed_upstream_and_a_new_metric_are_warned_about(scored, tmp_path):
    """From the last week's export on, `db-01.cpu` is renamed `db-01.cpu_pct` (the model no longer sees
    it there: an incident would go unseen) and `db-01.disk` is added (not in the model until it retrains)."""
    _, settings, _, db, _, _ = scored
    copy = scoring_copy(settings, tmp_path)
    last = max(Path(copy.storage.landing).rglob("db-01-week*.parquet"))  # the newest weekly export
    frame = pd.read_parquet(last)
    io.write_parquet_atomic(frame.rename(columns={"db-01.cpu": "db-01.cpu_pct"}).assign(**{"db-01.disk": 1.0}), last)
    catalog = discover(copy.storage.landing)
    (now,) = [g for g in groups(copy, catalog) if g.name == "db-01"]
    result = score_group(copy, now, catalog, "renamed", emit=lambda _: None)
    version = io.current_version(copy.storage.models_root, "db-01")
    cpu = io.read_dataset(copy.storage.data_root, "scores", "db-01").query("metric == 'db-01.cpu'")
    share = (cpu["value"].isna() | cpu["imputed"]).mean()
    assert 0.05 < share < 0.5  # the last week of the range
    assert result["warnings"] == [
        f"db-01: metric 'db-01.cpu' has no value at {share:.0%} of scored steps (renamed or stopped upstream?)",
        f"db-01: metrics ['db-01.cpu_pct', 'db-01.disk'] are not in model version {version} and are not scored; "
        "a training takes them in once its training split holds their values"]
