import json
import re

import pytest
import yaml

from pipeline.config import ConfigError, check_name, group_from_dict, group_to_dict, load_settings, parse_settings
from pipeline.detect.compose import Detection
from pipeline.detect.score import Score
from pipeline.detect.shift import Shift
from pipeline.time_inputs import TimeInputs
from pipeline.training_range import TrainingRange
from pipeline.warm_start import WarmStart


def test_defaults_apply_to_declared_groups(tmp_path):
    settings = parse_settings({"defaults": {"window": 24, "model": {"units": 16}},
                               "groups": [{"name": "web", "metrics": ["web.*"], "stride": 4}]}, "c.yaml", tmp_path)
    (group,) = settings.groups
    assert (group.window, group.stride, group.model.units, group.model.bottleneck) == (24, 4, 16, 8)
    assert settings.storage.data_root == str(tmp_path / "data")


@pytest.mark.parametrize("raw, message", [
    ({"groups": [{"name": "a", "metrics": ["x"], "windw": 3}]}, "groups[0]: unknown key 'windw'"),
    ({"defaults": {"aggregation": "avg"}}, "defaults.aggregation: 'avg' is not one of"),
    ({"defaults": {"window": "long"}}, "defaults.window: expected int"),
    ({"defaults": {"model": {"encoder": "gru"}}}, "defaults.model.encoder: 'gru' is not one of ('lstm', 'bidirectional')"),
    ({"groups": [{"name": "a", "metrics": ["x"], "model": {"encoder": None}}]}, "groups[0].model.encoder: expected str"),
    ({"defaults": {"model": {"composite": {"horizon": 0}}}}, "defaults.model.composite.horizon: must be at least 1"),
    ({"defaults": {"model": {"time_inputs": {"periods": ["daily"]}}}},
     "defaults.model.time_inputs.periods: must be durations like '1D' or '7D', above 0, got 'daily'"),
    ({"defaults": {"model": {"time_inputs": {"periods": []}}}},
     "defaults.model.time_inputs.periods: expected a non-empty list of names"),
    ({"groups": [{"name": "a", "metrics": ["x"], "model": {"time_inputs": {"period": "1D"}}}]},
     "groups[0].model.time_inputs: unknown key 'period' (allowed: periods)"),
    ({"groups": [{"name": "a", "metrics": ["x"], "model": {"time_inputs": {}, "composite": {}}}]},
     "groups[0].model.time_inputs: not combined with model.composite"),
    ({"defaults": {"interval": "soon"}}, "interval/lookback must be durations"),
    ({"defaults": {"split_windows": 0}}, "defaults.split_windows: must be at least 1 (null: the window as configured)"),
    ({"defaults": {"model": {"min_epoch_windows": 0}}},
     "defaults.model.min_epoch_windows: must be at least 1 (null: each window once), got 0"),
    ({"defaults": {"detection": {"flags": {"score": {"method": "magic"}}}}}, "detection.flags.score.method: 'magic'"),
    ({"defaults": {"detection": {"flags": {"spike": {}}}}}, "detection.flags: unknown rule 'spike' (known: score"),
    ({"defaults": {"detection": {"flags": {"score": {"kk": 1}}}}}, "detection.flags.score: unknown key 'kk'"),
    ({"defaults": {"detection": {"flags": {"score": {"recent": {"days": 0}}}}}}, "score.recent.days must be at least 1"),
    ({"defaults": {"detection": {"flags": {"level": None}}}}, "filters.min_peak.applies_to: 'score' is not a flagging"),
    ({"defaults": {"detection": {"flags": []}}}, "detection.flags: expected a mapping of rule names"),
    ({"defaults": {"threshold": {"k": 5}}}, "threshold: replaced by the 'detection' section"),
    ({"groups": [{"name": "../etc", "metrics": ["x"]}]}, "name '../etc' must match"),
    ({"future_tolerance": "-1h"}, "future_tolerance: must be a duration of 0 or more like '1h', got '-1h'"),
    ({"future_tolerance": "later"}, "future_tolerance: must be a duration"),
    ({"groups": [{"name": "a/b", "metrics": ["x"]}]}, "name 'a/b' must match"),
    ({"groups": [{"name": "a"}]}, "each group needs 'name' and 'metrics'"),
    ({"groups": [{"name": "a", "metrics": ["x"]}, {"name": "a", "metrics": ["y"]}]}, "must be unique"),
    ({"defaults": {"stride": 100, "window": 10}}, "stride: must not exceed window"),
    ({"defaults": {"detection": {"flags": {"level": {"factor": 0}}}}}, "flags.level.steps must be at least 1 and factor"),
    ({"defaults": {"detection": {"flags": {"level": {"hold": 0}}}}}, "detection.flags.level.hold: must be above 0 and"),
    ({"defaults": {"detection": {"filters": {"daily_repeat": {"tolerance": "soon"}}}}},
     "filters.daily_repeat.tolerance: must be a duration"),
    ({"defaults": {"detection": {"flags": {"shift": {"baseline": 0}}}}}, "flags.shift.steps and baseline must be"),
    ({"defaults": {"detection": {"flags": {"shift": {"recent": {"floor": 1.5}}}}}}, "floor above 0 and at most 1"),
    ({"defaults": {"detection": {"filters": {"min_peak": {"ratio": 0.5}}}}}, "filters.min_peak.ratio: must be at least 1"),
    ({"defaults": {"detection": {"combine": "sum"}}}, "defaults.detection.combine: 'sum' is not one of"),
    ({"groups": [{"name": "a", "metrics": ["x"], "training": {"exclude": ["2026-11-10"]}}]},
     "groups[0].training.exclude[0]: '2026-11-10' is not an interval 'start/end'"),
    ({"defaults": {"training": {"first_steps": 0}}}, "defaults.training.first_steps: must be at least 1"),
    ({"defaults": {"training": {"first_steps": None, "start": 5}}}, "defaults.training.start: not a time: '5'"),
    ({"defaults": {"training": {"exclude": "x/y"}}}, "defaults.training.exclude[0]: not a time: 'x'"),
    ({"defaults": {"training": {"until": "2026-11-10"}}}, "defaults.training: unknown key 'until'"),
    ({"defaults": {"lookback": "-5D"}}, "interval/lookback must be durations like '5min' or '28D', above 0"),
    ({"defaults": {"lookback": "0s"}}, "interval/lookback must be durations like '5min' or '28D', above 0"),
    ({"defaults": {"model": {"epochs": 0}}}, "defaults.model.epochs: must be at least 1"),
    ({"defaults": {"model": {"learning_rate": float("nan")}}}, "defaults.model.learning_rate: must be a finite number"),
    ({"defaults": {"model": {"learning_rate": 0}}}, "defaults.model.learning_rate: must be above 0"),
    ({"promotion_margin": float("nan")}, "promotion_margin: must be a finite number, got nan"),
    ({"defaults": {"detection": {"flags": {"score": {"k": float("inf")}}}}}, "flags.score.k: must be a finite number"),
])
def test_invalid_config_names_file_key_and_problem(raw, message):
    with pytest.raises(ConfigError) as err:
        parse_settings(raw, "nightwatch.yaml")
    assert message in str(err.value) and "nightwatch.yaml" in str(err.value)


def test_load_settings_reports_bad_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("groups: [unclosed")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_settings(path)


def test_a_key_given_twice_is_refused_naming_it_and_its_line(tmp_path):
    path = tmp_path / "twice.yaml"  # a second `groups:` would replace the first's groups without a word
    path.write_text("groups:\n  - {name: a, metrics: ['a.*']}\ndetection: {merge_gap: 3}\n"
                    "groups:\n  - {name: b, metrics: ['b.*']}\n")
    with pytest.raises(ConfigError, match=r"twice.yaml: not valid YAML: key 'groups' is given twice") as err:
        load_settings(path)
    assert "line 4" in str(err.value)
    nested = tmp_path / "nested.yaml"
    nested.write_text("model:\n  epochs: 3\n  window: 24\n  epochs: 30\n")
    with pytest.raises(ConfigError, match="key 'epochs' is given twice"):
        load_settings(nested)
    alike = tmp_path / "alike.yaml"  # the same key in two mappings is fine
    alike.write_text("groups:\n  - {name: a, metrics: ['a.*']}\n  - {name: b, metrics: ['b.*']}\n")
    assert [g.name for g in load_settings(alike).groups] == ["a", "b"]


def test_env_overrides_storage_roots(tmp_path, monkeypatch):
    monkeypatch.setenv("NIGHTWATCH_DATA_ROOT", str(tmp_path / "elsewhere"))
    assert parse_settings({}, "c", tmp_path).storage.data_root == str(tmp_path / "elsewhere")


def test_object_store_roots_are_kept_with_their_storage_options(tmp_path):
    settings = parse_settings({"storage": {"data_root": "s3://lake/nightwatch", "models_root": "s3://lake/models",
                                           "storage_options": {"endpoint_url": "http://127.0.0.1:9000",
                                                               "anon": False}}}, "cfg", tmp_path)
    assert (settings.storage.data_root, settings.storage.models_root) == ("s3://lake/nightwatch", "s3://lake/models")
    assert settings.storage.storage_options == (("anon", False), ("endpoint_url", "http://127.0.0.1:9000"))
    assert settings.storage.landing == "s3://lake/nightwatch/landing"


@pytest.mark.parametrize("options, message", [
    ({"secret": "x"}, "cfg: storage.storage_options.secret: credentials do not belong in the configuration file"),
    ({"aws_access_key_id": "x"}, "storage_options.aws_access_key_id: credentials do not belong"),
    ({"client_kwargs": {"region_name": "eu"}}, "storage_options.client_kwargs: expected a string, number or boolean"),
    (["endpoint_url"], r"cfg: storage.storage_options: expected a mapping"),
])
def test_storage_options_refuse_secrets_and_nested_values(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings({"storage": {"storage_options": options}}, "cfg", tmp_path)


def test_check_name_accepts_safe_names():
    assert check_name("web-01.prod_eu") == "web-01.prod_eu"
    with pytest.raises(ConfigError):
        check_name("..")


def test_group_round_trips_through_its_stored_dict():
    group = parse_settings({"groups": [{"name": "a", "metrics": ["x", "y"], "window": 12}]}, "c").groups[0]
    assert group_from_dict(json.loads(json.dumps(group_to_dict(group), sort_keys=True))) == group


def test_the_encoder_defaults_to_lstm_and_is_stored_with_the_group():
    settings = parse_settings({"defaults": {"model": {"encoder": "bidirectional"}},
                               "groups": [{"name": "a", "metrics": ["x"], "model": {"units": 16}}]}, "c")
    (group,) = settings.groups
    assert (group.model.encoder, group.model.units) == ("bidirectional", 16)
    assert group_from_dict(json.loads(json.dumps(group_to_dict(group)))) == group
    stored = group_to_dict(parse_settings({"groups": [{"name": "a", "metrics": ["x"]}]}, "c").groups[0])
    del stored["model"]["encoder"]  # a model version stored before the option
    assert group_from_dict(stored).model.encoder == "lstm"


def test_a_training_range_is_read_from_yaml_and_stored_with_the_group():
    raw = yaml.safe_load("""
defaults: {training: {start: 2026-11-01, exclude: ["2026-11-10T03:00/2026-11-10T09:00"]}}
groups: [{name: a, metrics: [x], training: {first_steps: 400, exclude: []}}]
""")
    settings = parse_settings(raw, "c")
    assert settings.defaults.training == TrainingRange(start="2026-11-01",
                                                       exclude=("2026-11-10T03:00/2026-11-10T09:00",))
    (group,) = settings.groups
    assert group.training == TrainingRange(start="2026-11-01", first_steps=400)  # each key from the defaults or its own
    assert group_from_dict(json.loads(json.dumps(group_to_dict(group)))) == group
    stored = group_to_dict(group)
    del stored["training"]  # a model version stored before training ranges
    assert group_from_dict(stored).training == TrainingRange()


def test_listed_rules_are_on_in_the_registrys_order_with_their_defaults_and_the_rest_off():
    raw = {"defaults": {"detection": {"flags": {"shift": {"k": 4.0}, "score": None}, "filters": {}}},
           "groups": [{"name": "a", "metrics": ["x"], "detection": {"flags": {"shift": {"steps": 12}}}}]}
    settings = parse_settings(raw, "c")
    assert settings.defaults.detection.flags == (Score(), Shift(k=4.0)) and settings.defaults.detection.filters == ()
    (group,) = settings.groups
    assert group.detection.flags == (Shift(steps=12, k=4.0),)  # a group's list replaces, its rules inherit
    off = parse_settings({"defaults": {"detection": {"flags": {"score": {"recent": None}}}}}, "c").defaults
    assert off.detection.flags == (Score(recent=None),)
    assert parse_settings({}, "c").defaults.detection == Detection()


def test_warm_start_is_off_unless_set_and_each_rule_off_unless_listed():
    plain = parse_settings({"groups": [{"name": "a", "metrics": ["x"]}]}, "c").groups[0]
    assert plain.model.warm_start is None
    settings = parse_settings({"defaults": {"model": {"warm_start": {"full_every": 7}}},
                               "groups": [{"name": "a", "metrics": ["x"], "model": {"warm_start": {"epochs": 3}}}]}, "c")
    (group,) = settings.groups
    assert group.model.warm_start == WarmStart(full_every=7, epochs=3)  # the group's keys over the defaults'
    assert group_from_dict(json.loads(json.dumps(group_to_dict(group)))) == group
    stored = group_to_dict(plain)
    del stored["model"]["warm_start"]  # a model version stored before the option
    assert group_from_dict(stored).model.warm_start is None


@pytest.mark.parametrize("warm_start, message", [
    ({"full_every": 0}, "defaults.model.warm_start.full_every: must be at least 1"),
    ({"max_drift": -1.0}, "defaults.model.warm_start.max_drift: must not be negative"),
    ({"every": 3}, "defaults.model.warm_start: unknown key 'every'"),
])
def test_invalid_warm_start_names_its_key(warm_start, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_settings({"defaults": {"model": {"warm_start": warm_start}}}, "c")


def test_a_composite_model_reads_its_window_then_the_steps_it_predicts():
    settings = parse_settings({"groups": [{"name": "a", "metrics": ["x"], "window": 24,
                                           "model": {"composite": {"horizon": 6}}},
                                          {"name": "b", "metrics": ["y"], "window": 24}]}, "c.yaml")
    composite, plain = settings.groups
    assert (composite.span, plain.span) == (30, 24) and plain.model.composite is None
    assert group_from_dict(json.loads(json.dumps(group_to_dict(composite)))) == composite


def test_time_inputs_are_off_unless_set_and_round_trip_through_the_stored_config():
    settings = parse_settings({"groups": [{"name": "a", "metrics": ["x"], "model": {"time_inputs": {}}},
                                          {"name": "b", "metrics": ["y"],
                                           "model": {"time_inputs": {"periods": ["1D", "7D"]}}},
                                          {"name": "c", "metrics": ["z"]}]}, "c.yaml")
    daily, weekly, plain = settings.groups
    assert daily.model.time_inputs == TimeInputs(periods=("1D",)) and plain.model.time_inputs is None
    assert weekly.model.time_inputs.periods == ("1D", "7D")
    for group in settings.groups:
        assert group_from_dict(json.loads(json.dumps(group_to_dict(group)))) == group


def test_a_model_option_that_changes_its_inputs_or_outputs_is_named_and_others_are_not():
    from pipeline.config import Composite, ModelConfig
    from pipeline.seasonal import Seasonal

    plain = ModelConfig(seasonal=None)
    assert plain.input_change(ModelConfig(epochs=3, units=64, seed=8, seasonal=None)) == ""  # same arrays in and out
    daily = ModelConfig(seasonal=Seasonal(period="1D"))
    assert daily.input_change(plain) == f"model.seasonal None -> {Seasonal(period='1D')!r}"
    assert ModelConfig(composite=Composite(horizon=4), seasonal=None).input_change(plain).startswith(
        "model.composite None -> ")
    timed = ModelConfig(time_inputs=TimeInputs(periods=("1D",)), seasonal=None)
    assert timed.input_change(plain).startswith("model.time_inputs None -> ")
    assert plain.input_change(timed) == "model.time_inputs TimeInputs(periods=('1D',)) -> None"
