"""The model registry: versions, the current pointer."""

import pytest

from pipeline import io
from pipeline.config import ConfigError


class FakeModel:
    def save(self, path):
        path.write_bytes(b"weights")


def test_registry_versions_and_current_pointer(tmp_path):
    root = str(tmp_path)
    assert io.current_version(root, "web") is None
    folder = io.save_model_version(root, "web", "v1", FakeModel(), {"version": "v1"})
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.keras"]
    io.set_current_version(root, "web", "v1")
    assert io.current_version(root, "web") == "v1"
    meta = io.read_metadata(root, "web", "v1")
    assert meta == {"version": "v1", "model_sha256": io.file_sha256(folder / "model.keras")}  # names its own file
    assert [p.name for p in (tmp_path / "web").iterdir() if p.name.startswith(".tmp")] == []


def test_an_unreadable_current_pointer_is_named(tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "CURRENT.json").write_text("{version: v1}")
    with pytest.raises(ConfigError, match=f"{tmp_path / 'web' / 'CURRENT.json'}: unreadable current pointer "
                                          r"\(JSONDecodeError: .*\); the next training replaces it"):
        io.current_version(str(tmp_path), "web")
