"""The model registry: a version is a folder of `model.keras` + `metadata.json`; `CURRENT.json`
names the version scoring uses, `PIN.json` the one it must keep, and `registry.log` records every
registration, promotion, pin and unpin (plain-data readers of the model files: `model_files`)."""
from __future__ import annotations

import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from pipeline.config import ConfigError, check_name
from pipeline.io.files import (LOCK, append_line, locked, remove, safe_child, staged, sweep, write_bytes_atomic,
                                write_json_atomic)
from pipeline.io.model_files import file_sha256
from pipeline.io.store import ObjectPath, local_copy, location

CURRENT = "CURRENT.json"
PIN = "PIN.json"
LOG = "registry.log"


class PinnedError(ValueError):
    """A promotion refused because the group is pinned to another version."""


def save_model_version(models_root: str, group: str, version: str, model, metadata: dict, who: str = "training",
                       why: str = "") -> Path | ObjectPath:
    """Write `model.keras` + `metadata.json` into a temp folder, then rename it to the version. On an
    object store, which has no rename, `model.keras` is put first and `metadata.json` last: only a
    version with metadata is listed or loaded, and objects a killed run left without it are removed
    by the next save."""
    group_dir = safe_child(models_root, group)
    final = group_dir / check_name(version, "model version")
    with locked(group_dir / LOCK):
        if (final / "metadata.json").exists():
            return final
        sweep(group_dir, ".tmp-*")
        remove(final)  # a folder left without metadata by a killed run
        if isinstance(final, ObjectPath):
            _sweep_unreferenced(group_dir)
            _put_version(final, model, metadata)
        else:
            with staged(final) as tmp:
                tmp.mkdir()
                model.save(tmp / "model.keras")
                write_json_atomic(tmp / "metadata.json", {**metadata, "model_sha256": file_sha256(tmp / "model.keras")})
        _log(group_dir, "register", version, who, why)
    return final


def _sweep_unreferenced(group_dir: ObjectPath) -> None:
    """Remove the objects of versions without metadata (runs killed between the two puts), found by
    one listing; call with the group's lease held."""
    objects = group_dir.glob("*/*")
    complete = {p.parent for p in objects if p.name == "metadata.json"}
    for folder in {p.parent for p in objects} - complete:
        remove(folder)


def _put_version(final: ObjectPath, model, metadata: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="nightwatch-version-") as tmp:
        saved = Path(tmp) / "model.keras"
        model.save(saved)
        write_bytes_atomic(final / "model.keras", saved.read_bytes())
        write_json_atomic(final / "metadata.json", {**metadata, "model_sha256": file_sha256(saved)})


def version_dir(models_root: str, group: str, version: str) -> Path | ObjectPath:
    return safe_child(models_root, group) / check_name(version, f"group {group!r}: model version")


def metadata_path(models_root: str, group: str, version: str) -> Path | ObjectPath:
    return version_dir(models_root, group, version) / "metadata.json"


def read_metadata(models_root: str, group: str, version: str) -> dict:
    """The version's metadata as stored (`pipeline.metadata` checks it); a file that is no JSON is a
    ConfigError naming it, not retried as an I/O error would be."""
    path = metadata_path(models_root, group, version)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc


def model_path(models_root: str, group: str, version: str) -> str:
    """The version's model file as a local path (from an object store: a cached local copy)."""
    path = version_dir(models_root, group, version) / "model.keras"
    return local_copy(path) if isinstance(path, ObjectPath) else str(path)


def model_groups(models_root: str) -> list[str]:
    """Groups with a folder in the registry."""
    base = location(models_root)
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")) if base.exists() else []


def current_version(models_root: str, group: str) -> str | None:
    """The version the current pointer names (None before the first promotion); a pointer that is
    unreadable is a ConfigError naming it (training then replaces it, scoring fails the group)."""
    path = safe_child(models_root, group) / CURRENT
    if not path.exists():
        return None
    try:
        version = json.loads(path.read_text())["version"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: unreadable current pointer ({type(exc).__name__}: {exc}); the next training "
                          "replaces it") from None
    return check_name(version, f"{path}: version")


def versions(models_root: str, group: str) -> list[str]:
    """The group's registered versions, oldest first (names start with their data's end time)."""
    group_dir = safe_child(models_root, group)
    found = [p.name for p in group_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
             and (p / "metadata.json").exists()] if group_dir.exists() else []
    return sorted(found)


def pinned_version(models_root: str, group: str) -> str | None:
    """The version the group is pinned to (training then registers new versions without promoting
    them), or None; an unreadable pin is a ConfigError naming it (`models unpin` removes it)."""
    path = safe_child(models_root, group) / PIN
    if not path.exists():
        return None
    try:
        version = json.loads(path.read_text())["version"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: unreadable pin ({type(exc).__name__}: {exc}); `nightwatch models unpin "
                          f"{group}` removes it") from None
    return check_name(version, f"{path}: version")


def read_log(models_root: str, group: str) -> list[dict]:
    """The group's registry log, oldest first (a line that is no JSON is kept as its text)."""
    path = safe_child(models_root, group) / LOG
    lines = path.read_text().splitlines() if path.exists() else []
    return [_entry(line) for line in lines if line.strip()]


def _entry(line: str) -> dict:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return {"action": "unreadable", "line": line}
    return entry if isinstance(entry, dict) else {"action": "unreadable", "line": line}


def set_current_version(models_root: str, group: str, version: str, who: str = "training", why: str = "") -> None:
    """Make `version` current (a promotion, or a rollback to an older one) and log it; refused with
    PinnedError while the group is pinned to another version."""
    group_dir, pointer = safe_child(models_root, group), {"version": check_name(version, "model version")}
    with locked(group_dir / LOCK):
        pinned = pinned_version(models_root, group)
        if pinned is not None and pinned != version:
            raise PinnedError(f"group {group!r} is pinned to {pinned}: `nightwatch models unpin {group}` first")
        previous = _pointer(models_root, group)
        sweep(group_dir, ".tmp-*")
        write_json_atomic(group_dir / CURRENT, pointer)
        _log(group_dir, "promote", version, who, why, previous)


def pin_version(models_root: str, group: str, version: str, who: str, why: str = "") -> None:
    """Make `version` current and keep it so through later trainings, until `unpin_version`."""
    group_dir = safe_child(models_root, group)
    with locked(group_dir / LOCK):
        previous = _pointer(models_root, group)
        sweep(group_dir, ".tmp-*")
        write_json_atomic(group_dir / PIN, {"version": check_name(version, "model version")})
        write_json_atomic(group_dir / CURRENT, {"version": version})
        _log(group_dir, "pin", version, who, why, previous)


def unpin_version(models_root: str, group: str, who: str, why: str = "") -> str:
    """Remove the group's pin (its current version stays until a training promotes another) and
    return the version it held; ValueError when the group is not pinned."""
    group_dir = safe_child(models_root, group)
    with locked(group_dir / LOCK):
        if not (group_dir / PIN).exists():
            raise ValueError(f"group {group!r} is not pinned")
        try:
            version = pinned_version(models_root, group)
        except ConfigError:  # unpinning is how an unreadable pin is mended
            version = None
        remove(group_dir / PIN)
        _log(group_dir, "unpin", version, who, why)
    return version


def log_decision(models_root: str, group: str, action: str, version: str, who: str, why: str) -> None:
    """Record a registry decision that changes no file (e.g. training keeping the current version)."""
    group_dir = safe_child(models_root, group)
    with locked(group_dir / LOCK):
        _log(group_dir, action, version, who, why)


def _pointer(models_root: str, group: str) -> str | None:
    try:
        return current_version(models_root, group)
    except ConfigError:  # a broken pointer is being replaced
        return None


def _log(group_dir: Path, action: str, version: str | None, who: str, why: str, previous: str | None = None) -> None:
    """One JSON line (call with the group's lock held, so lines never interleave)."""
    entry = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "action": action, "version": version,
             "who": who, "why": why}
    if action in ("promote", "pin"):
        entry["previous"] = previous
    append_line(group_dir / LOG, json.dumps(entry))
