import dataclasses
import json

import pandas as pd
import pytest

from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.detect.score import Score
from pipeline.ingest import InputError
from pipeline.sample_data import landing_files
from pipeline.scoring import score_group
from pipeline.train import train_group
from pipeline.time_inputs import TimeInputs
from pipeline.training_range import TrainingRange
from tests.helpers import DAYS, STEPS, land_sample, overlaps, tiny_settings


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    land_sample(root, keep=("web-01",))
    settings = tiny_settings(root)
    catalog = discover(settings.storage.landing)
    (web,) = [g for g in groups(settings, catalog) if g.name == "web-01"]
    return root, settings, catalog, web, train_group(settings, web, catalog, "run-1", emit=lambda _: None)


def test_training_registers_a_complete_current_version(trained):
    root, settings, _, web, summary = trained
    assert summary["promoted"] and summary["steps"] == STEPS and summary["metrics"] == 5
    version = io.current_version(settings.storage.models_root, "web-01")
    assert version == summary["version"]
    folder = root / "models" / "web-01" / version
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.keras"]
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["metrics"] == list(web.metrics) and len(meta["scaler"]["center"]) == 5
    assert meta["states"]["score"]["threshold"] > 0 and meta["config"]["detection"]["flags"]["score"]["method"] == "mean_std"
    assert set(meta["states"]) == {"score", "level", "shift"}
    assert meta["training"]["validation_start"] > meta["training"]["start"]
    assert {"tensorflow-cpu", "keras", "pandas"} <= set(meta["libraries"])
    assert len(meta["fingerprint"]) == 64 and meta["run_id"] == "run-1"


def test_retraining_on_identical_data_reuses_the_version(trained):
    root, settings, catalog, web, summary = trained
    again = train_group(settings, web, catalog, "run-2", emit=lambda _: None)
    assert again["version"] == summary["version"] and again["val_error"] == summary["val_error"]
    assert len([p for p in (root / "models" / "web-01").iterdir() if p.is_dir()]) == 1


def test_a_clearly_worse_model_is_not_promoted(trained):
    _, settings, catalog, web, summary = trained
    weak = dataclasses.replace(web, model=dataclasses.replace(web.model, epochs=1, units=2, bottleneck=1))
    strict = dataclasses.replace(settings, promotion_margin=0.0)
    result = train_group(strict, weak, catalog, "run-3", emit=lambda _: None)
    assert result["version"] != summary["version"]
    assert result["promoted"] is False
    assert io.current_version(settings.storage.models_root, "web-01") == summary["version"]


def test_a_pinned_group_keeps_its_version_through_retraining(trained):
    _, settings, catalog, web, summary = trained
    models = settings.storage.models_root
    io.pin_version(models, "web-01", summary["version"], who="ops", why="known good")
    other = dataclasses.replace(web, model=dataclasses.replace(web.model, seed=8))
    lenient = dataclasses.replace(settings, promotion_margin=100.0)  # promoted, but for the pin
    kept = train_group(lenient, other, catalog, "run-4", emit=lambda _: None)
    assert kept["promoted"] is False and io.current_version(models, "web-01") == summary["version"]
    last = {k: v for k, v in io.read_log(models, "web-01")[-1].items() if k != "time"}
    assert last == {"action": "keep", "version": kept["version"], "who": "training",
                    "why": f"not promoted: pinned to {summary['version']}"}
    io.unpin_version(models, "web-01", who="ops")
    again = train_group(lenient, other, catalog, "run-5", emit=lambda _: None)  # the same version, now promoted
    assert (again["version"], again["promoted"]) == (kept["version"], True)
    assert io.current_version(models, "web-01") == kept["version"]
    io.set_current_version(models, "web-01", summary["version"])  # the module's registry as the other tests found it


def test_group_shorter_than_its_windows_is_rejected(trained):
    _, settings, catalog, web, _ = trained
    huge = dataclasses.replace(web, window=2000, split_windows=None)  # the window as configured, however long
    with pytest.raises(InputError, match=f"group 'web-01': {STEPS} aligned steps is too short for window 2000"):
        train_group(settings, huge, catalog, "run-4", emit=lambda _: None)


def test_a_short_training_range_is_windowed_shorter_and_its_version_scores_alike(trained, tmp_path):
    """A short range (a sensor benchmark trains on 400 rows): a split of 160 steps holds 20 windows
    of 8 steps, not of the configured 16; the version stores the window, so scoring reads it."""
    _, settings, catalog, web, _ = trained
    copy = dataclasses.replace(settings, storage=dataclasses.replace(
        settings.storage, models_root=str(tmp_path / "models"), data_root=str(tmp_path / "data")))
    short = dataclasses.replace(web, training=TrainingRange(first_steps=200))
    lines: list[str] = []
    result = train_group(copy, short, catalog, "run-short", emit=lines.append)
    stored = io.read_metadata(copy.storage.models_root, "web-01", result["version"])["config"]
    assert (web.window, stored["window"], stored["stride"]) == (16, 8, min(web.stride, 8))
    assert "web-01: a training split of 160 steps is windowed at 8 steps, not 16 (split_windows 20)" in lines
    summary = score_group(copy, short, catalog, "score-short", emit=lambda _: None)
    assert summary["scored"] == STEPS


def test_a_training_range_leaves_out_a_known_incident_and_can_be_cut_to_its_first_steps(trained):
    """Excluded steps count as missing: no training window holds them, and the metadata says how
    many there were; `first_steps` trains on the first N steps alone."""
    root, settings, catalog, web, summary = trained
    (incident,) = [i for i in landing_files(days=DAYS, end="2026-11-20")[1] if i.group == "web-01"]
    full = io.read_metadata(settings.storage.models_root, "web-01", summary["version"])["training"]
    clean = dataclasses.replace(web, training=TrainingRange(exclude=(f"{incident.start}/{incident.end}",)))
    result = train_group(settings, clean, catalog, "run-5", emit=lambda _: None)
    meta = io.read_metadata(settings.storage.models_root, "web-01", result["version"])
    steps = (incident.end - incident.start) // pd.Timedelta("5min") + 1
    assert meta["training"]["excluded_steps"] == steps and full["excluded_steps"] == 0
    windows = meta["training"]["train_windows"] + meta["training"]["val_windows"]
    assert full["train_windows"] + full["val_windows"] - windows >= steps // web.train_stride  # windows over it left out
    assert meta["config"]["training"]["exclude"] == [f"{incident.start}/{incident.end}"]

    first = dataclasses.replace(web, training=TrainingRange(first_steps=1000))
    result = train_group(settings, first, catalog, "run-6", emit=lambda _: None)
    meta = io.read_metadata(settings.storage.models_root, "web-01", result["version"])
    assert meta["training"]["steps"] == 1000 and meta["training"]["start"] == full["start"]
    assert pd.Timestamp(meta["training"]["end"]) == pd.Timestamp(full["start"]) + 999 * pd.Timedelta("5min")
    assert result["version"].startswith(f"{pd.Timestamp(meta['training']['end']):%Y%m%dT%H%M%SZ}-")


def test_a_training_range_that_leaves_nothing_says_which_settings_did(trained):
    _, settings, catalog, web, _ = trained
    everything = dataclasses.replace(web, training=TrainingRange(exclude=("2026-10-01/2026-12-01",)))
    with pytest.raises(InputError, match=r"metrics with no values in the training range: .* \(in the range its "
                                         r"`training` settings leave: \{'exclude': \('2026-10-01/2026-12-01',\)\}\)"):
        train_group(settings, everything, catalog, "run-7", emit=lambda _: None)
    elsewhere = dataclasses.replace(web, training=TrainingRange(start="2025-01-01", end="2025-02-01"))
    with pytest.raises(InputError, match=r"0 aligned steps is too short for window 16: .* \(in the range its "
                                         r"`training` settings leave: \{'start': '2025-01-01', 'end': '2025-02-01'\}"):
        train_group(settings, elsewhere, catalog, "run-8", emit=lambda _: None)


def test_data_landed_less_often_than_the_interval_is_named_as_a_likely_cause(trained):
    _, settings, catalog, web, _ = trained
    fine = dataclasses.replace(web, interval="10s", lookback="2D")
    with pytest.raises(InputError, match=r"no complete windows to train or validate on: \d+% of the 17281 steps .* "
                                         r"does data land less often than every 10s\?"):
        train_group(settings, fine, catalog, "run-9", emit=lambda _: None)


def _with_labels(settings, root):
    """The settings with their own data root, so labels written there stay out of the other tests."""
    return dataclasses.replace(settings, storage=dataclasses.replace(settings.storage, data_root=str(root)))


def test_a_labelled_incident_is_left_out_of_training_and_calibration_as_a_configured_exclusion_is(trained, tmp_path):
    _, settings, catalog, web, _ = trained
    (incident,) = [i for i in landing_files(days=DAYS, end="2026-11-20")[1] if i.group == "web-01"]
    labelled = _with_labels(settings, tmp_path)
    io.add_label(labelled.storage.data_root, "web-01", incident.start, incident.end, "incident", "INC-7", "ana")
    result = train_group(labelled, web, catalog, "run-10", emit=lambda _: None)
    meta = io.read_metadata(settings.storage.models_root, "web-01", result["version"])
    clean = dataclasses.replace(web, training=TrainingRange(exclude=(f"{incident.start}/{incident.end}",)))
    configured = io.read_metadata(settings.storage.models_root, "web-01",
                                  train_group(settings, clean, catalog, "run-11", emit=lambda _: None)["version"])
    assert meta["config"]["training"]["exclude"] == [f"{incident.start.isoformat()}/{incident.end.isoformat()}"]
    for key in ("excluded_steps", "train_windows", "val_windows"):  # no training window holds the incident
        assert meta["training"][key] == configured["training"][key]
    assert meta["training"]["excluded_steps"] == (incident.end - incident.start) // pd.Timedelta("5min") + 1
    assert meta["states"]["score"]["threshold"] == pytest.approx(configured["states"]["score"]["threshold"])
    assert meta["states"]["level"]["threshold"] == pytest.approx(configured["states"]["level"]["threshold"])
    assert [(u["label"], u["start"]) for u in meta["labels"]["used"]] == [("incident", incident.start.isoformat())]
    assert result["version"] != configured["version"]  # the label is part of the version's fingerprint


def test_a_labelled_false_alarm_raises_the_threshold_and_a_labelled_incident_stays_flagged(trained, tmp_path):
    """A touchy score rule (the training range's 99th percentile) flags some normal steps in the first
    five days; labelled a false alarm, they raise its threshold past their peak, and the labelled
    incident (a latency spike) is still published."""
    _, settings, catalog, web, _ = trained
    (incident,) = [i for i in landing_files(days=DAYS, end="2026-11-20")[1] if i.group == "web-01"]
    touchy = dataclasses.replace(web, detection=dataclasses.replace(
        web.detection, flags=(Score(method="quantile", quantile=0.99, recent=None),), filters=()))
    plain = train_group(settings, touchy, catalog, "run-12", emit=lambda _: None)
    first_day = pd.Timestamp(io.read_metadata(settings.storage.models_root, "web-01", plain["version"])
                             ["training"]["start"])
    fed_back = dataclasses.replace(_with_labels(settings, tmp_path), promotion_margin=100.0)  # always promoted
    data_root = fed_back.storage.data_root
    io.add_label(data_root, "web-01", first_day, first_day + pd.Timedelta("5D"), "false-alarm", by="ana")
    io.add_label(data_root, "web-01", incident.start, incident.end, "incident", by="ana")
    result = train_group(fed_back, touchy, catalog, "run-13", emit=lambda _: None)
    meta = io.read_metadata(settings.storage.models_root, "web-01", result["version"])
    assert meta["labels"]["quieted"]["score"]["quiet"] and meta["labels"]["quieted"]["score"]["kept_incidents"] == 1
    assert result["threshold"] > plain["threshold"]
    score_group(fed_back, touchy, catalog, "run-14", emit=lambda _: None)
    anomalies = io.read_dataset(data_root, "anomalies", "web-01")
    assert overlaps(anomalies, incident.start, incident.end)
    assert not overlaps(anomalies, first_day, first_day + pd.Timedelta("5D"))


def test_a_version_with_other_time_inputs_is_not_compared_with_the_current_one(tmp_path):
    """Errors of models that read other inputs are not comparable: a clearly worse model that
    reads the time of day replaces a current one that does not (promotion compares none)."""
    land_sample(tmp_path, keep=("web-01",))
    settings = dataclasses.replace(tiny_settings(tmp_path), promotion_margin=0.0)
    catalog = discover(settings.storage.landing)
    (web,) = [g for g in groups(settings, catalog) if g.name == "web-01"]
    first = train_group(settings, web, catalog, "run-1", emit=lambda _: None)
    weak = dataclasses.replace(web, model=dataclasses.replace(web.model, epochs=1, units=2, bottleneck=1,
                                                              time_inputs=TimeInputs()))
    lines = []
    second = train_group(settings, weak, catalog, "run-2", emit=lines.append)
    assert second["version"] != first["version"] and second["promoted"] is True
    assert io.current_version(settings.storage.models_root, "web-01") == second["version"]
    assert not any("does better" in line for line in lines)


def test_a_metric_with_no_values_in_the_training_split_is_left_out_with_a_warning_not_a_failed_group(tmp_path):
    """A metric that appeared two days ago (all its values in the validation end) and one that stopped
    before the training range: the group trains on the others, says which it left out and why, and
    scoring names them as metrics the version does not score."""
    land_sample(tmp_path, keep=("web-01",))
    landing = tmp_path / "data" / "landing"
    end = max(pd.read_parquet(p)["timestamp"].max() for p in landing.rglob("*.parquet"))
    for metric, first in (("disk", end - pd.Timedelta(days=2)), ("fans", end - pd.Timedelta(days=60))):
        times = pd.date_range(first, periods=288, freq="5min")
        io.write_parquet_atomic(pd.DataFrame({"timestamp": times, "group": "web-01", "metric": metric,
                                              "value": range(len(times))}), landing / "extra" / f"{metric}.parquet")
    settings = tiny_settings(tmp_path)
    catalog = discover(settings.storage.landing)
    (web,) = [g for g in groups(settings, catalog) if g.name == "web-01"]
    assert {"web-01/disk", "web-01/fans"} <= set(web.metrics)
    lines = []
    summary = train_group(settings, web, catalog, "run", emit=lines.append)
    line = ("web-01: metrics ['web-01/disk', 'web-01/fans'] have no values in the training split (new, renamed or "
            "stopped upstream?): this version leaves them out; a later one takes them in once its training split "
            "holds their values")
    assert summary["warnings"] == [line] and f"warning: {line}" in lines
    meta = io.read_metadata(settings.storage.models_root, "web-01", summary["version"])
    assert meta["metrics"] == [m for m in web.metrics if m not in ("web-01/disk", "web-01/fans")]
    result = score_group(settings, web, catalog, "run", emit=lambda _: None)
    assert any("['web-01/disk', 'web-01/fans'] are not in model version" in w for w in result["warnings"])


def test_placeholder_rows_after_the_newest_value_do_not_move_the_training_range(tmp_path):
    """An exporter lands the rest of its day as times without values: training ends at the newest
    value as it would without them (the same version), instead of validating on empty steps."""
    land_sample(tmp_path, keep=("web-01",))
    settings = tiny_settings(tmp_path)
    catalog = discover(settings.storage.landing)
    (web,) = [g for g in groups(settings, catalog) if g.name == "web-01"]
    plain = train_group(settings, web, catalog, "run", emit=lambda _: None)
    landing = tmp_path / "data" / "landing"
    end = max(pd.read_parquet(p)["timestamp"].max() for p in landing.rglob("*.parquet"))
    times = pd.date_range(end + pd.Timedelta("5min"), periods=2 * 288, freq="5min")
    metrics = [m.split("/", 1)[1] for m in web.metrics]
    placeholders = pd.DataFrame({"timestamp": times.repeat(len(metrics)), "group": "web-01",
                                 "metric": metrics * len(times), "value": float("nan")})
    io.write_parquet_atomic(placeholders, landing / "placeholders.parquet")
    catalog = discover(settings.storage.landing)
    (web,) = [g for g in groups(settings, catalog) if g.name == "web-01"]
    again = train_group(settings, web, catalog, "run", emit=lambda _: None)
    assert again["version"] == plain["version"] and again["steps"] == plain["steps"]


def test_a_re_delivered_file_is_named_in_the_warnings_of_training_and_scoring(tmp_path):
    """A day's file landed again under another name: its rows meet the original's in every step of
    the day and the aggregation combines them; both runs say so, naming both files."""
    land_sample(tmp_path, keep=("web-01",))
    landing = tmp_path / "data" / "landing"
    day = sorted(landing.rglob("date=*/web-01.parquet"))[-2]  # the last whole day
    again = landing / "redelivered" / "web-01-again.parquet"
    again.parent.mkdir()
    again.write_bytes(day.read_bytes())
    settings = tiny_settings(tmp_path)
    catalog = discover(settings.storage.landing)
    (web,) = [g for g in groups(settings, catalog) if g.name == "web-01"]
    summary = train_group(settings, web, catalog, "run", emit=lambda _: None)
    named = [w for w in summary["warnings"] if "both hold rows of" in w]
    assert len(named) == 1 and str(day) in named[0] and str(again) in named[0] and "(mean) combines" in named[0]
    scored = score_group(settings, web, catalog, "run", emit=lambda _: None)
    assert named[0].split(" from ")[0] in " ".join(scored["warnings"])
