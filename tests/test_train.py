import dataclasses
import json

import pytest

from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.ingest import InputError
from pipeline.train import train_group
from tests.helpers import STEPS, land_sample, tiny_settings


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


def test_group_shorter_than_its_windows_is_rejected(trained):
    _, settings, catalog, web, _ = trained
    huge = dataclasses.replace(web, window=2000)
    with pytest.raises(InputError, match=f"group 'web-01': {STEPS} aligned steps is too short for window 2000"):
        train_group(settings, huge, catalog, "run-4", emit=lambda _: None)
