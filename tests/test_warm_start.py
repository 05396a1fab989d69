import json

import numpy as np

import pytest

from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.config import Composite, ConfigError, GroupConfig, ModelConfig, parse_settings
from pipeline.metadata import read_version
from pipeline.scale import Scaler
from pipeline.time_inputs import TimeInputs
from pipeline.train import train_group
from pipeline.warm_start import WarmStart, drift, plan, previous_runs
from tests.helpers import land_sample, tiny_config

GROUP = GroupConfig(name="g", metrics=("a", "b"), window=16, model=ModelConfig(units=8, bottleneck=4))
SCALER = Scaler(("a", "b"), (0.0, 10.0), (2.0, 1.0))


class Previous:
    """What `plan` reads of a current version (a StoredVersion's fields)."""

    def __init__(self, config=GROUP, scaler=SCALER, version="v1", seasonal=None):
        self.config, self.scaler, self.version, self.seasonal = config, scaler, version, seasonal


def test_drift_is_the_largest_mean_shift_in_old_stds_or_relative_change_of_spread():
    assert drift(SCALER, SCALER) == 0.0
    assert drift(SCALER, Scaler(("a", "b"), (3.0, 10.0), (2.0, 1.0))) == pytest.approx(1.5)  # |3 - 0| / 2
    assert drift(SCALER, Scaler(("a", "b"), (0.0, 10.0), (2.0, 1.25))) == pytest.approx(0.25)  # 1.25 / 1 - 1


def test_warm_only_with_the_option_and_a_current_model():
    assert plan(None, GROUP, Previous(), 0, SCALER, None).warm is False
    assert plan(WarmStart(), GROUP, None, 0, SCALER, None).why == "no usable current model"
    warm = plan(WarmStart(), GROUP, Previous(), 3, SCALER, None)
    assert (warm.warm, warm.source, warm.warm_runs) == (True, "v1", 4)
    assert warm.to_dict() == {"from": "v1", "warm_runs": 4, "why": "from v1"}


@pytest.mark.parametrize("before, named", [
    (GroupConfig(name="g", metrics=("a", "b"), window=16, model=ModelConfig(units=16, bottleneck=4)), "model.units"),
    (GroupConfig(name="g", metrics=("a", "b"), window=12, model=GROUP.model), "window"),
    (GroupConfig(name="g", metrics=("a", "c"), window=16, model=GROUP.model), "metrics"),
    (GroupConfig(name="g", metrics=("a", "b"), window=16, model=ModelConfig(units=8, bottleneck=4,
                                                                             encoder="bidirectional")), "encoder"),
    (GroupConfig(name="g", metrics=("a", "b"), window=16, model=ModelConfig(units=8, bottleneck=4,
                                                                             composite=Composite(6))), "composite"),
    (GroupConfig(name="g", metrics=("a", "b"), window=16, model=ModelConfig(units=8, bottleneck=4,
                                                                             time_inputs=TimeInputs())), "time_inputs"),
])
def test_a_model_that_would_not_take_the_same_inputs_means_a_cold_start(before, named):
    decided = plan(WarmStart(), GROUP, Previous(config=before), 0, SCALER, None)
    assert decided.warm is False and named in decided.why and decided.to_dict()["from"] is None


def test_a_seasonal_gate_that_takes_the_baseline_out_of_other_metrics_means_a_cold_start():
    daily = np.array([[0.0, 0.0], [4.0, 0.0]])  # a's baseline taken out, b left as it is
    assert plan(WarmStart(), GROUP, Previous(seasonal=daily), 0, SCALER, daily).warm is True
    assert plan(WarmStart(), GROUP, Previous(seasonal=daily), 0, SCALER, daily * 2).warm is True  # values move
    decided = plan(WarmStart(), GROUP, Previous(), 0, SCALER, daily)
    assert decided.warm is False and decided.why == "seasonal baseline taken out of ['a'], v1's of []"


def test_every_kth_night_is_a_full_retrain():
    nights, runs = [], 0
    for _ in range(6):
        decided = plan(WarmStart(full_every=3), GROUP, Previous(), runs, SCALER, None)
        nights.append(decided.warm)
        runs = decided.warm_runs
    assert nights == [True, True, False, True, True, False]


def test_drift_beyond_max_drift_means_a_cold_start():
    moved = Scaler(("a", "b"), (3.0, 10.0), (2.0, 1.0))  # drift 1.5
    assert plan(WarmStart(max_drift=2.0), GROUP, Previous(), 0, moved, None).warm is True
    decided = plan(WarmStart(max_drift=1.0), GROUP, Previous(), 0, moved, None)
    assert decided.warm is False and "drifted 1.50" in decided.why


def test_previous_runs_reads_the_stored_record_and_refuses_a_broken_one():
    assert previous_runs({}) == 0 and previous_runs({"warm_start": {"warm_runs": 2}}) == 2
    with pytest.raises(ConfigError, match="warm_runs"):
        previous_runs({"warm_start": {"warm_runs": "two"}})


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    root = tmp_path_factory.mktemp("warm")
    land_sample(root, keep=("web-01",))
    return root


def train(root, lookback, warm_start, units=8):
    """Train web-01 on its last `lookback` of data (each lookback is another training range)."""
    raw = tiny_config(root, [{"name": "web-01", "metrics": ["web-01/*"], "lookback": lookback}])
    raw["defaults"]["model"] = {**raw["defaults"]["model"], "units": units, "warm_start": warm_start}
    raw["promotion_margin"] = 10.0  # each version becomes current, so the next one starts from it
    settings = parse_settings(raw, "test-config", root)
    catalog = discover(settings.storage.landing)
    (web,) = groups(settings, catalog)
    summary = train_group(settings, web, catalog, "run", emit=lambda _: None)
    models = settings.storage.models_root
    return json.loads(io.metadata_path(models, "web-01", summary["version"]).read_text()), models


def test_retraining_starts_from_the_current_weights_falls_back_cold_and_keeps_the_cadence(landed):
    first, models = train(landed, "12D", {"full_every": 3, "epochs": 2, "patience": 1})
    assert first["warm_start"] == {"from": None, "warm_runs": 0, "why": "no usable current model"}
    second, _ = train(landed, "11D", {"full_every": 3, "epochs": 2, "patience": 1})
    assert second["warm_start"] == {"from": first["version"], "warm_runs": 1, "why": f"from {first['version']}"}
    assert second["training"]["epochs"] <= 2  # the warm run's own schedule
    third, _ = train(landed, "10D", {"full_every": 3, "epochs": 2, "patience": 1})
    assert third["warm_start"]["warm_runs"] == 2
    fourth, _ = train(landed, "9D", {"full_every": 3})
    assert fourth["warm_start"] == {"from": None, "warm_runs": 0, "why": "full retrain: every 3 nights"}
    assert io.current_version(models, "web-01") == fourth["version"]
    wider, _ = train(landed, "8D", {}, units=12)  # the architecture changed: cold, and it trains
    assert wider["warm_start"]["from"] is None and "model.units 8 -> 12" in wider["warm_start"]["why"]
    assert read_version(models, "web-01", wider["version"]).config.model.units == 12
