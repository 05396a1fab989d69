"""The model registry: versions, the current pointer."""

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import io
from pipeline.config import ConfigError


ROOT = Path(__file__).resolve().parents[1]


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


def _registered(root: str, *names: str) -> None:
    for name in names:
        io.save_model_version(root, "web", name, FakeModel(), {"version": name}, why=f"test {name}")


def test_promote_pin_and_unpin_are_logged_and_a_pin_holds(tmp_path):
    root = str(tmp_path)
    _registered(root, "v1", "v2")
    io.set_current_version(root, "web", "v1", why="first")
    io.pin_version(root, "web", "v2", who="ana", why="known good")
    assert (io.current_version(root, "web"), io.pinned_version(root, "web")) == ("v2", "v2")
    with pytest.raises(io.PinnedError, match="group 'web' is pinned to v2: `nightwatch models unpin web` first"):
        io.set_current_version(root, "web", "v1", who="bo")
    io.set_current_version(root, "web", "v2", who="training")  # the pinned version itself may be promoted
    assert io.unpin_version(root, "web", who="ana", why="fixed") == "v2"
    with pytest.raises(ValueError, match="group 'web' is not pinned"):
        io.unpin_version(root, "web", who="ana")
    io.set_current_version(root, "web", "v1", who="bo", why="rollback")
    log = [{k: v for k, v in entry.items() if k != "time"} for entry in io.read_log(root, "web")]
    assert log == [
        {"action": "register", "version": "v1", "who": "training", "why": "test v1"},
        {"action": "register", "version": "v2", "who": "training", "why": "test v2"},
        {"action": "promote", "version": "v1", "who": "training", "why": "first", "previous": None},
        {"action": "pin", "version": "v2", "who": "ana", "why": "known good", "previous": "v1"},
        {"action": "promote", "version": "v2", "who": "training", "why": "", "previous": "v2"},
        {"action": "unpin", "version": "v2", "who": "ana", "why": "fixed"},
        {"action": "promote", "version": "v1", "who": "bo", "why": "rollback", "previous": "v2"},
    ]
    assert io.current_version(root, "web") == "v1" and io.pinned_version(root, "web") is None


def test_versions_are_the_folders_with_metadata_oldest_first(tmp_path):
    root = str(tmp_path)
    assert io.versions(root, "web") == []
    _registered(root, "20261121T000000Z-b", "20261120T000000Z-a")
    (tmp_path / "web" / "20261122T000000Z-c").mkdir()  # a killed save: no metadata
    assert io.versions(root, "web") == ["20261120T000000Z-a", "20261121T000000Z-b"]


def test_an_unreadable_pin_is_named_and_unpin_mends_it(tmp_path):
    root = str(tmp_path)
    _registered(root, "v1")
    (tmp_path / "web" / "PIN.json").write_text("[")
    with pytest.raises(ConfigError, match=r"PIN.json: unreadable pin \(JSONDecodeError: .*\); `nightwatch models "
                                          "unpin web` removes it"):
        io.pinned_version(root, "web")
    assert io.unpin_version(root, "web", who="ana") is None
    assert io.pinned_version(root, "web") is None and io.read_log(root, "web")[-1]["action"] == "unpin"


def test_a_log_line_that_is_no_json_is_kept_as_text(tmp_path):
    root = str(tmp_path)
    _registered(root, "v1")
    with open(tmp_path / "web" / "registry.log", "a") as handle:
        handle.write("half a li\n")
    assert io.read_log(root, "web")[-1] == {"action": "unreadable", "line": "half a li"}


def test_concurrent_commands_queue_on_the_group_lock(tmp_path):
    """Two processes promoting and pinning at once: every change is one whole log line, in the
    order the pointer saw them, and the pointer names a registered version."""
    root = str(tmp_path)
    _registered(root, "v1", "v2")
    code = ("import sys; from pipeline import io\n"
            "for i in range(25):\n"
            "    io.set_current_version(sys.argv[1], 'web', sys.argv[2], who=sys.argv[2], why=str(i))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, root, name], cwd=ROOT) for name in ("v1", "v2")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    log = io.read_log(root, "web")[2:]
    assert len(log) == 50 and all(entry["action"] == "promote" for entry in log)
    assert [e["previous"] for e in log[1:]] == [e["version"] for e in log[:-1]]  # each saw the one before it
    assert io.current_version(root, "web") == log[-1]["version"]
