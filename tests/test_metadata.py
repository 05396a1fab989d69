import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from pipeline.config import GroupConfig, group_to_dict
from pipeline.metadata import MetadataError, StoredVersion, check_input_shape, parse_metadata
from pipeline.seasonal import Seasonal
from pipeline.time_inputs import TimeInputs

GROUP = GroupConfig(name="g", metrics=("g.a", "g.b"), window=16)
SOURCE = "models/g/v1/metadata.json"


def meta(**changes) -> dict:
    """A version's metadata as training writes it (after a JSON round trip), with `changes`."""
    stored = {"group": "g", "version": "v1", "metrics": ["g.a", "g.b"], "config": group_to_dict(GROUP),
              "scaler": {"metrics": ["g.a", "g.b"], "center": [10.0, -2.5], "scale": [2.0, 0.5]},
              "metric_scales": {"g.a": 1.5, "g.b": 0.25}, "val_error": 0.8, "training": {"start": "2026-11-01 00:00"},
              "states": {"score": {"threshold": 3.0}, "level": {"threshold": 2.5},
                         "shift": {"thresholds": {"g.a": 0.4, "g.b": None}}}}
    return json.loads(json.dumps({**stored, **changes}))


def test_a_version_as_training_writes_it_is_read_whole():
    stored = parse_metadata(meta(), SOURCE, "g", "v1")
    assert isinstance(stored, StoredVersion) and stored.config == GROUP
    assert stored.scaler.center == (10.0, -2.5) and stored.scaler.scale == (2.0, 0.5)
    np.testing.assert_array_equal(stored.metric_scales, [1.5, 0.25])
    assert stored.states["shift"] == {"thresholds": {"g.a": 0.4, "g.b": None}} and stored.val_error == 0.8
    assert stored.windows_from == pd.Timestamp("2026-11-01", tz="UTC")  # naive: UTC


def test_a_flat_metrics_zero_thresholds_are_accepted():
    """A metric constant over the training range reconstructs exactly: its score and level thresholds are 0."""
    flat = meta(states={"score": {"threshold": 0.0}, "level": {"threshold": 0}, "shift": {"thresholds": {
        "g.a": 0.1, "g.b": 0.1}}})
    assert parse_metadata(flat, SOURCE, "g", "v1").states["score"]["threshold"] == 0.0


def test_a_version_from_before_per_metric_scales_scores_raw_errors():
    old = meta()
    del old["metric_scales"]
    np.testing.assert_array_equal(parse_metadata(old, SOURCE, "g", "v1").metric_scales, [1.0, 1.0])


def nested(key: str, value) -> dict:
    """meta() with the `key` path (parts split by '/') set to `value` (or removed, for `...`)."""
    raw = meta()
    *parents, leaf = key.split("/")
    node = raw
    for part in parents:
        node = node[part]
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return raw


@pytest.mark.parametrize("key, value, message", [
    ("scaler/scale", [2.0, 0.0], "scaler.scale: must be 2 finite numbers above 0"),
    ("scaler/scale", [2.0, -1.0], "scaler.scale: must be 2 finite numbers above 0"),
    ("scaler/scale", [2.0], "scaler.scale: must be 2 finite numbers above 0"),
    ("scaler/center", [float("inf"), 1.0], "scaler.center: must be 2 finite numbers within ±1e+30 (as landed values "
     "are), got [inf, 1.0]"),
    ("scaler/center", [1e300, 1.0], "scaler.center: must be 2 finite numbers within ±1e+30"),
    ("scaler/scale", [1e-300, 0.5], "scaler.scale: must be 2 finite numbers above 0 (and above 1e-12 x the centre"),
    ("states", ..., "states: missing"),
    ("scaler/center", ["1", 1.0], "scaler.center: must be 2 finite numbers"),
    ("scaler/metrics", ["g.b", "g.a"], "scaler.metrics: must list the metrics ['g.a', 'g.b']"),
    ("metric_scales/g.b", 0.0, "metric_scales: must be finite numbers above 0"),
    ("states/score/threshold", float("nan"), "states.score: threshold: must be a finite number, at least 0, got nan"),
    ("states/score/threshold", -1.0, "states.score: threshold: must be a finite number, at least 0, got -1.0"),
    ("states/score/threshold", -0.5, "states.score: threshold: must be a finite number, at least 0, got -0.5"),
    ("states/score/threshold", "3", "states.score: threshold: must be a finite number, at least 0, got '3'"),
    ("states/score/threshold", ..., "states.score: threshold: must be a finite number, at least 0, got None"),
    ("states/level/threshold", float("inf"), "states.level: threshold: must be a finite number, at least 0, got inf"),
    ("states/shift/thresholds/g.a", float("nan"), "states.shift: thresholds.g.a: must be a finite number, at least 0"),
    ("states/shift/thresholds/g.b", ..., "states.shift: thresholds: must give each of the metrics"),
    ("states/level", ..., "states.level: missing: the rule is on in config.detection but has no fitted state"),
    ("val_error", float("inf"), "val_error: must be a finite number, at least 0, got inf"),
    ("val_error", ..., "val_error: missing"),
    ("version", "v2", "version: 'v2' is not the folder's version 'v1'"),
    ("training/start", "first thing", "training.start: must be a time, got 'first thing'"),
    ("training", ..., "training: missing"),
    ("config/name", "other", "config.name: 'other' is not the group 'g'"),
    ("config/name", "../../x", "config: name '../../x' must match"),
    ("config/window", 0, "config.window: must be at least"),
    ("config/detection/flags/score/k", "six", "config.detection.flags.score.k: expected float"),
    ("metrics", ["g.a"], "metrics: ['g.a'] differ from config.metrics ['g.a', 'g.b']"),
])
def test_a_broken_value_is_refused_naming_the_file_and_key(key, value, message):
    with pytest.raises(MetadataError) as refused:
        parse_metadata(nested(key, value), SOURCE, "g", "v1")
    assert str(refused.value).startswith(f"{SOURCE}: ") and message in str(refused.value), str(refused.value)


SEASONAL = GroupConfig(name="g", metrics=("g.a", "g.b"), window=16, interval="6h",
                       model=dataclasses.replace(GROUP.model, seasonal=Seasonal(period="1D", min_share=None)))


def seasonal_meta(profile) -> dict:
    """meta() of a version trained with a daily baseline at 6 h (4 slots)."""
    return meta(config=group_to_dict(SEASONAL), seasonal=profile)


def test_a_seasonal_profile_is_read_back_as_slots_by_metrics():
    stored = parse_metadata(seasonal_meta({"g.b": [5, 6, 7, 8], "g.a": [1.0, 2.0, 3.0, -4.5]}), SOURCE, "g", "v1")
    assert stored.config.model.seasonal == Seasonal(period="1D", min_share=None)
    np.testing.assert_array_equal(stored.seasonal, [[1.0, 5], [2, 6], [3, 7], [-4.5, 8]])
    assert GROUP.model.seasonal == Seasonal()  # the default's gate took nothing out: no profile stored
    assert parse_metadata(meta(), SOURCE, "g", "v1").seasonal is None


@pytest.mark.parametrize("profile, message", [
    (None, "seasonal: must give each of the metrics ['g.a', 'g.b'] a profile (config.model.seasonal is on)"),
    ({"g.a": [1.0, 2.0, 3.0, 4.0]}, "seasonal: must give each of the metrics"),
    ({"g.a": [1.0, 2.0, 3.0], "g.b": [1.0, 2.0, 3.0, 4.0]}, "seasonal.g.a: must be 4 finite numbers within ±1e+30 "
     "(one per 6h of the 1D period)"),
    ({"g.a": [1.0, 2.0, 3.0, 4.0], "g.b": [1.0, float("nan"), 3.0, 4.0]}, "seasonal.g.b: must be 4 finite numbers"),
    ({"g.a": [1.0, 2.0, 3.0, 4.0], "g.b": [1.0, "2", 3.0, 4.0]}, "seasonal.g.b: must be 4 finite numbers"),
])
def test_a_broken_seasonal_profile_is_refused_naming_the_key(profile, message):
    with pytest.raises(MetadataError) as refused:
        parse_metadata(seasonal_meta(profile), SOURCE, "g", "v1")
    assert str(refused.value).startswith(f"{SOURCE}: ") and message in str(refused.value), str(refused.value)


def test_a_profile_in_a_version_trained_without_one_is_refused():
    off = dataclasses.replace(GROUP, model=dataclasses.replace(GROUP.model, seasonal=None))
    with pytest.raises(MetadataError, match=f"{SOURCE}: seasonal: present, but config.model.seasonal is off"):
        parse_metadata(meta(config=group_to_dict(off), seasonal={"g.a": [1.0], "g.b": [2.0]}), SOURCE, "g", "v1")


def test_a_rule_that_is_off_needs_no_state():
    raw = nested("states/level", ...)
    raw["config"]["detection"]["flags"].pop("level")
    assert "level" not in parse_metadata(raw, SOURCE, "g", "v1").config.detection.flags


def test_metadata_that_is_no_mapping_is_refused():
    with pytest.raises(MetadataError, match=f"{SOURCE}: \\(top level\\): expected a mapping, got list"):
        parse_metadata([], SOURCE, "g", "v1")


def test_the_models_input_shape_must_agree_with_window_and_metrics():
    stored = parse_metadata(meta(), SOURCE, "g", "v1")
    check_input_shape((None, 16, 2), stored, "m.keras")
    with pytest.raises(MetadataError, match=r"m.keras: config.window, config.metrics: the model takes windows of "
                                            r"shape \(16, 3\), the metadata says \(16, 2\)"):
        check_input_shape((None, 16, 3), stored, "m.keras")


def test_with_time_inputs_the_model_takes_two_more_columns_per_period():
    timed = dataclasses.replace(GROUP, model=dataclasses.replace(GROUP.model, time_inputs=TimeInputs(("1D", "7D"))))
    stored = parse_metadata(meta(config=group_to_dict(timed)), SOURCE, "g", "v1")
    assert stored.config.model.time_inputs == TimeInputs(("1D", "7D"))
    check_input_shape((None, 16, 6), stored, "m.keras")
    with pytest.raises(MetadataError, match=r"m.keras: config.window, config.metrics, config.model.time_inputs: the "
                                            r"model takes windows of shape \(16, 2\), the metadata says \(16, 6\)"):
        check_input_shape((None, 16, 2), stored, "m.keras")
