"""The model registry (a version is a folder of `model.keras` + `metadata.json`) and
plain-data readers of saved model files, so nothing stored is ever unpickled."""
from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from io import BytesIO
from pathlib import Path

import h5py
import numpy as np

from pipeline.config import ConfigError, check_name
from pipeline.io.files import LOCK, locked, remove, safe_child, staged, sweep, write_json_atomic

CURRENT = "CURRENT.json"


def save_model_version(models_root: str, group: str, version: str, model, metadata: dict) -> Path:
    """Write `model.keras` + `metadata.json` into a temp folder, then rename it to the version."""
    group_dir = safe_child(models_root, group)
    final = group_dir / check_name(version, "model version")
    with locked(group_dir / LOCK):
        if (final / "metadata.json").exists():
            return final
        sweep(group_dir, ".tmp-*")
        remove(final)  # a folder left without metadata by a killed run
        with staged(final) as tmp:
            tmp.mkdir()
            model.save(tmp / "model.keras")
            write_json_atomic(tmp / "metadata.json", {**metadata, "model_sha256": file_sha256(tmp / "model.keras")})
    return final


def file_sha256(path: str | Path) -> str:
    """The file's SHA-256: a version's metadata names its own model file, so another group's file
    of the same shape swapped in is refused rather than scored."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def version_dir(models_root: str, group: str, version: str) -> Path:
    return safe_child(models_root, group) / check_name(version, f"group {group!r}: model version")


def metadata_path(models_root: str, group: str, version: str) -> Path:
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
    return str(version_dir(models_root, group, version) / "model.keras")


def read_model_config(path: str) -> dict:
    """A saved Keras model's architecture (`config.json`), read as plain JSON: nothing is built."""
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def read_model_weights(path: str) -> dict[str, np.ndarray]:
    """A saved Keras model's weight arrays by their path in its `model.weights.h5`, as plain data."""
    with zipfile.ZipFile(path) as archive:
        return _h5_arrays(BytesIO(archive.read("model.weights.h5")))


def saved_weight_arrays(model) -> dict[str, np.ndarray]:
    """The arrays Keras writes for `model`'s weights, by their path in a weights file."""
    with tempfile.TemporaryDirectory(prefix="nightwatch-weights-") as tmp:
        path = Path(tmp) / "model.weights.h5"
        model.save_weights(path)
        return _h5_arrays(path)


def _h5_arrays(source) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(source, "r") as store:
        store.visititems(lambda name, node: arrays.__setitem__(name, node[()]) if isinstance(node, h5py.Dataset)
                         else None)
    return arrays


def model_groups(models_root: str) -> list[str]:
    """Groups with a folder in the registry."""
    base = Path(models_root)
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


def set_current_version(models_root: str, group: str, version: str) -> None:
    group_dir, pointer = safe_child(models_root, group), {"version": check_name(version, "model version")}
    with locked(group_dir / LOCK):
        sweep(group_dir, ".tmp-*")
        write_json_atomic(group_dir / CURRENT, pointer)
