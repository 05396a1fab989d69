"""Security: crafted model files are refused at load, and names never become paths unescaped."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import keras
import pandas as pd
import pytest

from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.config import ConfigError
from pipeline.scoring import score_group
from pipeline.train import train_group
from tests.reliability.common import land, settings_for, wide


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """One trained group whose registry the tests tamper with (restored after each test)."""
    root = tmp_path_factory.mktemp("security")
    land(root / "data" / "landing", "good.parquet", wide("good"))
    settings = settings_for(root, [{"name": "good", "metrics": ["good.*"]}])
    catalog = discover(settings.storage.landing)
    (group,) = groups(settings, catalog)
    version = train_group(settings, group, catalog, "sec", emit=lambda _: None)["version"]
    return root, settings, catalog, group, version


@pytest.fixture
def tampered(registry):
    """Install a crafted version as current; put the genuine pointer back afterwards."""
    root, settings, _, _, version = registry
    group_dir = Path(settings.storage.models_root) / "good"
    yield group_dir, version
    for path in group_dir.iterdir():
        if path.is_dir() and path.name != version:
            shutil.rmtree(path)
    io.set_current_version(settings.storage.models_root, "good", version)
    shutil.rmtree(root / "data" / "scores", ignore_errors=True)


def install(group_dir: Path, genuine: str, name: str, write_model) -> None:
    """The crafted model with metadata naming its hash, as an attacker who can write the registry
    would leave it: what is tested is that loading it runs nothing."""
    folder = group_dir / name
    folder.mkdir()
    write_model(folder / "model.keras")
    meta = json.loads((group_dir / genuine / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**meta, "version": name,
                                                      "model_sha256": io.file_sha256(folder / "model.keras")}))
    (group_dir / "CURRENT.json").write_text(json.dumps({"version": name}))


def lambda_model(marker: Path):
    def write(path: Path) -> None:
        target = str(marker)
        layer = keras.layers.Lambda(lambda x: (open(target, "w").write("code ran"), x)[1], name="payload")
        keras.Sequential([keras.Input((16, 2)), layer]).save(path)
        marker.unlink(missing_ok=True)  # building the model ran it once; loading must not
    return write


def foreign_class(path: Path) -> None:
    config = {"module": "os", "class_name": "system", "config": {"command": "touch pwned"}, "registered_name": "x"}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
        archive.writestr("model.weights.h5", b"")


def garbage(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04 not really a zip")


@pytest.mark.parametrize("kind", ["lambda", "foreign-class", "garbage"])
def test_crafted_model_is_refused_and_nothing_is_published(registry, tampered, tmp_path, kind):
    root, settings, catalog, group, _ = registry
    group_dir, genuine = tampered
    marker = tmp_path / "marker"
    writer = {"lambda": lambda_model(marker), "foreign-class": foreign_class, "garbage": garbage}[kind]
    install(group_dir, genuine, f"20990101T000000Z-{kind}", writer)
    with pytest.raises(Exception) as err:  # noqa: PT011 - Keras raises ValueError or TypeError
        score_group(settings, group, catalog, "crafted", emit=lambda _: None)
    message = str(err.value)
    expected = {"lambda": "Lambda", "foreign-class": "Could not locate class 'system'", "garbage": "zip"}[kind]
    assert expected in message, message
    assert not marker.exists() and not (Path.cwd() / "pwned").exists()
    assert io.read_dataset(settings.storage.data_root, "scores", "good").empty
    assert io.read_watermark(settings.storage.data_root, "good") is None


@pytest.mark.parametrize("pointer", ["../../escape", "..", "/etc/passwd", "v/../../x", ""])
def test_current_pointer_cannot_leave_the_group_folder(registry, tampered, pointer):
    _, settings, catalog, group, _ = registry
    group_dir, _ = tampered
    (group_dir / "CURRENT.json").write_text(json.dumps({"version": pointer}))
    with pytest.raises(ConfigError, match="CURRENT.json: version: name .* must match"):
        score_group(settings, group, catalog, "pointer", emit=lambda _: None)


def test_group_name_in_stored_metadata_cannot_escape(registry, tampered):
    root, settings, catalog, group, _ = registry
    group_dir, genuine = tampered
    meta = json.loads((group_dir / genuine / "metadata.json").read_text())
    name = "20990101T000000Z-renamed"

    def copy_model(path: Path) -> None:
        shutil.copy(group_dir / genuine / "model.keras", path)

    install(group_dir, genuine, name, copy_model)
    crafted = {**meta, "version": name, "config": {**meta["config"], "name": "../../escape"}}
    (group_dir / name / "metadata.json").write_text(json.dumps(crafted))
    with pytest.raises(ConfigError, match="'../../escape' must match"):
        score_group(settings, group, catalog, "meta", emit=lambda _: None)
    assert not [p for p in root.parent.rglob("escape*") if "landing" not in p.parts]


BAD_NAMES = ["../x", "..", ".", "a/b", "/etc/x", ".hidden", "x\x00y", "", "a" * 200, "-rf", "c:\\x", "name\n"]


class Saveable:
    def save(self, path: Path) -> None:
        path.write_bytes(b"weights")


@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n)[:12] for n in BAD_NAMES])
def test_public_io_refuses_names_that_would_be_paths(tmp_path, name):
    root = tmp_path / "root"
    root.mkdir()
    t = pd.Timestamp("2026-11-18", tz="UTC")
    frame = pd.DataFrame({"timestamp": [t], "v": [1.0]})
    calls = [
        lambda: io.upsert_partitions(str(root), "scores", name, frame, "timestamp", t, t),
        lambda: io.read_dataset(str(root), "scores", name),
        lambda: io.write_watermark(str(root), name, t),
        lambda: io.read_watermark(str(root), name),
        lambda: io.save_model_version(str(root), name, "v1", Saveable(), {}),
        lambda: io.save_model_version(str(root), "g", name, Saveable(), {}),
        lambda: io.set_current_version(str(root), name, "v1"),
        lambda: io.set_current_version(str(root), "g", name),
        lambda: io.current_version(str(root), name),
        lambda: io.read_metadata(str(root), "g", name),
        lambda: io.model_path(str(root), "g", name),
        lambda: io.write_report(str(root), name, "<html/>"),
    ]
    for call in calls:
        with pytest.raises(ConfigError):
            call()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    assert list(root.iterdir()) == []
