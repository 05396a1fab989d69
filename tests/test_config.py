import dataclasses

import pytest

from pipeline.config import ConfigError, check_name, group_from_dict, load_settings, parse_settings


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
    ({"defaults": {"interval": "soon"}}, "interval/lookback must be durations"),
    ({"defaults": {"threshold": {"method": "magic"}}}, "threshold.method: 'magic'"),
    ({"groups": [{"name": "../etc", "metrics": ["x"]}]}, "name '../etc' must match"),
    ({"groups": [{"name": "a/b", "metrics": ["x"]}]}, "name 'a/b' must match"),
    ({"groups": [{"name": "a"}]}, "each group needs 'name' and 'metrics'"),
    ({"groups": [{"name": "a", "metrics": ["x"]}, {"name": "a", "metrics": ["y"]}]}, "must be unique"),
    ({"defaults": {"stride": 100, "window": 10}}, "stride: must not exceed window"),
    ({"defaults": {"threshold": {"level_factor": 0}}}, "threshold.level_factor: must be above 0"),
    ({"defaults": {"threshold": {"repeat_tolerance": "soon"}}}, "threshold.repeat_tolerance: must be a duration"),
    ({"defaults": {"threshold": {"shift_baseline": 0}}}, "shift_baseline must be at least 1"),
    ({"defaults": {"threshold": {"recent_k": 0}}}, "recent_k and recent_factor above 0"),
    ({"defaults": {"threshold": {"recent_shift_floor": 1.5}}}, "recent_shift_floor: must be above 0 and at most 1"),
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


def test_env_overrides_storage_roots(tmp_path, monkeypatch):
    monkeypatch.setenv("NIGHTWATCH_DATA_ROOT", str(tmp_path / "elsewhere"))
    assert parse_settings({}, "c", tmp_path).storage.data_root == str(tmp_path / "elsewhere")


def test_check_name_accepts_safe_names():
    assert check_name("web-01.prod_eu") == "web-01.prod_eu"
    with pytest.raises(ConfigError):
        check_name("..")


def test_group_round_trips_through_its_stored_dict():
    group = parse_settings({"groups": [{"name": "a", "metrics": ["x", "y"], "window": 12}]}, "c").groups[0]
    assert group_from_dict(dataclasses.asdict(group)) == group
    stored = dataclasses.asdict(group)
    del stored["threshold"]["combine"]  # a model stored before the key existed averaged its metrics
    del stored["threshold"]["level_steps"]  # nor had it a sustained-level check
    del stored["threshold"]["repeat_days"]  # or a daily-repeat check
    del stored["threshold"]["shift_steps"]  # or a mean-shift check
    del stored["threshold"]["recent_days"]  # or a recent-context check
    old = group_from_dict(stored).threshold
    assert old.combine == "mean" and old.level_steps == 0 == old.repeat_days == old.shift_steps == old.recent_days
    with pytest.raises(ConfigError, match=r"threshold.combine: 'sum' is not one of"):
        parse_settings({"defaults": {"threshold": {"combine": "sum"}}}, "c")
