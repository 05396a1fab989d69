"""A model version whose metadata is broken or tampered with is refused before anything is published:
the error names the file and key, published outputs stay byte-identical, the scoring task does not
retry it (it would fail the same way), and training never registers a version it could not score."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.config import ConfigError
from pipeline.scoring import score_group
from pipeline.train import train_group
from tests.reliability.common import QUICK, STEPS, T0, land, settings_for, wide

GOOD = [{"name": "good", "metrics": ["good.*"]}]
CRAFTED = "20990101T000000Z-crafted"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A group trained and scored on two days, then six more hours landed that a good version would score."""
    root = tmp_path_factory.mktemp("tampered")
    land(root / "data" / "landing", "good.parquet", wide("good"))
    settings = settings_for(root, GOOD)
    catalog = discover(settings.storage.landing)
    (group,) = groups(settings, catalog)
    version = train_group(settings, group, catalog, "train", emit=lambda _: None)["version"]
    score_group(settings, group, catalog, "score", emit=lambda _: None)
    land(root / "data" / "landing", "good-late.parquet", wide("good", steps=72, start=T0 + STEPS * pd.Timedelta("5min"),
                                                              seed=1))
    return root, settings, group, version


@pytest.fixture
def crafted(registry):
    """Installs a copy of the genuine version, its metadata changed by the test, as current; the
    genuine version is current again afterwards."""
    root, settings, _, genuine = registry
    group_dir = Path(settings.storage.models_root) / "good"

    def install(change) -> Path:
        folder = group_dir / CRAFTED
        shutil.copytree(group_dir / genuine, folder)
        meta = json.loads((folder / "metadata.json").read_text())
        written = change({**meta, "version": CRAFTED})
        (folder / "metadata.json").write_text(written if isinstance(written, str) else json.dumps(written))
        io.set_current_version(settings.storage.models_root, "good", CRAFTED)
        return folder / "metadata.json"

    yield install
    shutil.rmtree(group_dir / CRAFTED, ignore_errors=True)
    io.set_current_version(settings.storage.models_root, "good", genuine)


def published(root: Path) -> dict[str, bytes]:
    """Every published file and the scoring state, by path."""
    data = root / "data"
    return {str(p.relative_to(data)): p.read_bytes() for p in sorted(data.rglob("*"))
            if p.is_file() and p.relative_to(data).parts[0] in ("scores", "anomalies", "features", "state")}


def changed(path: str, value):
    """A change of the metadata: `path` (parts split by '/') set to `value`."""
    def change(meta: dict) -> dict:
        *parents, leaf = path.split("/")
        node = meta
        for part in parents:
            node = node[part]
        node[leaf] = value
        return meta
    return change


CASES = {
    "scale 0": (changed("scaler/scale", [0.0, 1.0]), "scaler.scale: must be 2 finite numbers above 0"),
    "threshold NaN": (changed("states/score/threshold", math.nan), "states.score: threshold: must be a finite"),
    "threshold negative": (changed("states/score/threshold", -2.0), "states.score: threshold: must be a finite"),
    "level threshold null": (changed("states/level/threshold", None), "states.level: threshold: must be a finite"),
    "shift threshold text": (changed("states/shift/thresholds/good.m0", "big"), "thresholds.good.m0: must be a"),
    "metric scale inf": (changed("metric_scales/good.m1", math.inf), "metric_scales: must be finite numbers above"),
    "center NaN": (changed("scaler/center", [math.nan, 1.0]), "scaler.center: must be 2 finite numbers"),
    "no states": (lambda meta: {k: v for k, v in meta.items() if k != "states"}, "states: missing"),
    "window": (lambda meta: changed("config/window", meta["config"]["window"] + 4)(meta),
               "config.window, config.metrics: the model takes windows of shape (16, 2), the metadata says (20, 2)"),
    "other group": (changed("config/name", "bad"), "config.name: 'bad' is not the group 'good'"),
    "not JSON": (lambda meta: json.dumps(meta)[:-40], "not valid JSON"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_tampered_version_is_refused_and_published_outputs_stay_byte_identical(registry, crafted, case):
    root, settings, group, _ = registry
    change, message = CASES[case]
    path = crafted(change)
    before = published(root)
    with pytest.raises(ConfigError) as refused:
        score_group(settings, group, discover(settings.storage.landing), "tampered", emit=lambda _: None)
    where = path.with_name("model.keras") if case == "window" else path
    assert str(refused.value).startswith(f"{where}: ") and message in str(refused.value), str(refused.value)
    assert published(root) == before


def test_the_refusal_is_not_retried_and_the_genuine_version_scores_the_new_rows(registry, crafted, prefect_harness,
                                                                                   monkeypatch, tmp_path):
    from flows import tasks
    from flows.nightly import score_flow

    root, settings, _, _ = registry
    path = crafted(changed("states/score/threshold", -1.0))
    config = tmp_path / "nightwatch.yaml"
    config.write_text(yaml.safe_dump({"storage": {"data_root": str(root / "data"), "models_root": str(root / "models")},
                                      "defaults": QUICK, "groups": GOOD}))
    calls = []
    monkeypatch.setattr(tasks, "score_group", lambda *a, **k: (calls.append(1), score_group(*a, **k))[1])
    monkeypatch.setattr(tasks, "GROUP_RETRY_DELAY_SECONDS", 0)
    result = score_flow(str(config))
    assert len(calls) == 1  # refused once, not retried
    assert f"{path}: states.score: threshold: must be a finite number, at least 0, got -1.0" in result["failed"]["good"]

    shutil.rmtree(path.parent)
    io.set_current_version(settings.storage.models_root, "good", registry[3])
    assert score_flow(str(config))["scored"]["good"]["scored"] == 72  # the rows the refusal left unscored


def test_training_never_registers_a_version_it_could_not_score(registry, monkeypatch):
    """A fitted state that is not finite (here injected into the rules' fit) refuses the new version:
    nothing is registered and the current version stays."""
    import pipeline.train

    root, settings, group, genuine = registry
    real = pipeline.train.fit
    monkeypatch.setattr(pipeline.train, "fit", lambda *a: {**real(*a), "score": {"threshold": math.inf}})
    versions = sorted(p.name for p in (root / "models" / "good").iterdir())
    with pytest.raises(ConfigError, match=r"group 'good': version \S+ \(refused, not registered\): states.score: "
                                          r"threshold: must be a finite number, at least 0, got inf"):
        train_group(settings, group, discover(settings.storage.landing), "train-again", emit=lambda _: None)
    assert sorted(p.name for p in (root / "models" / "good").iterdir()) == versions
    assert io.current_version(settings.storage.models_root, "good") == genuine


def test_training_replaces_a_current_version_that_is_refused(registry, crafted):
    """A broken current version does not block the next training: the new version is promoted."""
    root, settings, group, _ = registry
    path = crafted(changed("scaler/scale", [0.0, 1.0]))
    lines = []
    summary = train_group(settings, group, discover(settings.storage.landing), "train-again", emit=lines.append)
    assert summary["promoted"] and io.current_version(settings.storage.models_root, "good") == summary["version"]
    assert f"good: current version {CRAFTED} is unusable, replacing it ({path}: scaler.scale: must be 2 finite " \
           "numbers above 0" in "\n".join(lines)


def test_a_current_pointer_to_a_missing_version_is_refused_naming_it(registry, crafted):
    root, settings, group, _ = registry
    path = crafted(lambda meta: meta)
    shutil.rmtree(path.parent)
    before = published(root)
    with pytest.raises(ConfigError, match=f"{path}: missing: version '{CRAFTED}' of group 'good' is not in the "
                                          "registry"):
        score_group(settings, group, discover(settings.storage.landing), "missing", T0, T0 + STEPS * pd.Timedelta("5min"),
                    emit=lambda _: None)
    assert published(root) == before


def test_an_unreadable_current_pointer_fails_scoring_naming_it_and_training_replaces_it(registry, crafted):
    root, settings, group, _ = registry
    crafted(lambda meta: meta)
    pointer = Path(settings.storage.models_root) / "good" / "CURRENT.json"
    pointer.write_text('{"version": ')
    before = published(root)
    with pytest.raises(ConfigError, match=f"{pointer}: unreadable current pointer"):
        score_group(settings, group, discover(settings.storage.landing), "pointer", emit=lambda _: None)
    assert published(root) == before
    summary = train_group(settings, group, discover(settings.storage.landing), "train-again", emit=lambda _: None)
    assert summary["promoted"] and io.current_version(settings.storage.models_root, "good") == summary["version"]


def test_another_model_file_of_the_same_shape_or_none_is_refused(registry, crafted, tmp_path):
    """The version's metadata records its model file's SHA-256: a file swapped in from another group
    (same architecture, other weights) is refused, and so is a version folder without its file."""
    import keras

    from pipeline.model import build_autoencoder

    root, settings, group, genuine = registry
    path = crafted(lambda meta: meta)
    model_file = path.with_name("model.keras")
    assert len(json.loads(path.read_text())["model_sha256"]) == 64
    build_autoencoder(group.window, len(group.metrics), group.model).save(model_file)
    keras.backend.clear_session()
    before = published(root)
    with pytest.raises(ConfigError, match=f"{model_file}: its SHA-256 .* is not the model_sha256 .* its metadata.json "
                                          "recorded: not the file this version saved"):
        score_group(settings, group, discover(settings.storage.landing), "swapped", T0, T0 + STEPS * pd.Timedelta("5min"),
                    emit=lambda _: None)  # a backfill: there is always something to score
    model_file.unlink()
    with pytest.raises(ConfigError, match=f"{model_file}: missing: version {CRAFTED} has no model file"):
        score_group(settings, group, discover(settings.storage.landing), "missing", T0, T0 + STEPS * pd.Timedelta("5min"),
                    emit=lambda _: None)
    assert published(root) == before
