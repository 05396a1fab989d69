"""Plain-data readers of saved model files (architecture JSON, weight arrays, checksums), so nothing
stored is ever unpickled or built to be inspected."""
from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterable
from io import BytesIO
from pathlib import Path

import h5py
import numpy as np


def file_sha256(path: str | Path) -> str:
    """The file's SHA-256: a version's metadata names its own model file, so another group's file
    of the same shape swapped in is refused rather than scored."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_model_files(path: str) -> tuple[dict, bytes]:
    """A saved Keras model's architecture (`config.json`, read as plain JSON: nothing is built) and
    its weights file (`model.weights.h5`, as bytes for `weight_arrays`), from one open of it."""
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json")), archive.read("model.weights.h5")


def weight_arrays(weights: bytes, names: Iterable[str]) -> dict[str, np.ndarray]:
    """The arrays at `names` (their paths) in a `model.weights.h5`'s bytes, as plain data. Read by
    path, not by walking the file: half the cost of reading them (2.0 -> 1.1 ms for a fleet model)."""
    with h5py.File(BytesIO(weights), "r") as store:
        return {name: store[name][()] for name in names}


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
