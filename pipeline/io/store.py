"""Where outputs live: a local folder (a `pathlib.Path`, written by rename and locked by flock as
always) or any fsspec object store (`s3://bucket/prefix`, `gs://`, `memory://`), as an `ObjectPath`.

Object stores have no rename: an `ObjectPath` is written by one whole-object PUT, which a reader
sees entirely or not at all. Credentials come from the environment (AWS_ACCESS_KEY_ID, ...) or
fsspec's own configuration; `use_storage` adds the non-secret `storage_options` of the config file.
"""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

import fsspec

# Listing caches would hide objects other processes wrote since the last listing (a watermark, a version).
fsspec.config.conf.setdefault("s3", {}).setdefault("use_listings_cache", False)
CONDITIONAL_PROTOCOLS = ("s3", "s3a")  # stores whose PUT takes If-None-Match / If-Match


def is_remote(root: str) -> bool:
    return "://" in str(root) and not str(root).startswith("file://")


def location(root: str | Path) -> Path | ObjectPath:
    """The root as a local Path (a `file://` URL too) or an ObjectPath for an object store URL."""
    root = str(root)
    if root.startswith("file://"):
        return Path(root[len("file://"):])
    return ObjectPath(root) if is_remote(root) else Path(root)


def use_storage(storage) -> None:
    """Apply a StorageConfig's `storage_options` to every fsspec filesystem of its roots' protocols,
    in this process (each Dask worker process calls it again before touching storage)."""
    for root in (storage.data_root, storage.models_root):
        if is_remote(root) and storage.storage_options:
            fsspec.config.conf.setdefault(root.split("://", 1)[0], {}).update(dict(storage.storage_options))


@functools.total_ordering
class ObjectPath:
    """A file or folder of an fsspec store, with the pathlib methods the io modules use."""

    __slots__ = ("url",)

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def __truediv__(self, name: str) -> ObjectPath:
        return ObjectPath(f"{self.url}/{name}")

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"ObjectPath({self.url!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ObjectPath) and self.url == other.url

    def __lt__(self, other: ObjectPath) -> bool:
        return self.url < other.url

    def __hash__(self) -> int:
        return hash(self.url)

    @property
    def protocol(self) -> str:
        return self.url.split("://", 1)[0]

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def parent(self) -> ObjectPath:
        return ObjectPath(self.url.rsplit("/", 1)[0])

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    def fs(self) -> tuple[fsspec.AbstractFileSystem, str]:
        return fsspec.core.url_to_fs(self.url)

    def _child(self, base: str, found: str) -> ObjectPath:
        return ObjectPath(self.url + found.rstrip("/")[len(base):])

    def exists(self) -> bool:
        fs, path = self.fs()
        return fs.exists(path)

    def is_dir(self) -> bool:
        fs, path = self.fs()
        return fs.isdir(path)

    def read_bytes(self) -> bytes:
        fs, path = self.fs()
        return fs.cat_file(path)

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes) -> None:
        """One whole-object PUT: readers see the old object or the new one, never a part."""
        fs, path = self.fs()
        fs.pipe_file(path, data)

    def glob(self, pattern: str) -> list[ObjectPath]:
        fs, path = self.fs()
        return [self._child(path, found) for found in fs.glob(f"{path}/{pattern}")]

    def iterdir(self) -> list[ObjectPath]:
        fs, path = self.fs()
        return [self._child(path, found) for found in fs.ls(path, detail=False)] if fs.exists(path) else []

    def unlink(self, missing_ok: bool = False) -> None:
        fs, path = self.fs()
        try:
            fs.rm_file(path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def remove_tree(self) -> None:
        fs, path = self.fs()
        if fs.exists(path):
            fs.rm(path, recursive=True)

    def etag(self) -> str | None:
        """The object's version tag (None if absent): what a conditional write names."""
        fs, path = self.fs()
        try:
            info = fs.info(path)
        except FileNotFoundError:
            return None
        return str(info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("created") or "")


def local_copy(path: ObjectPath) -> str:
    """A local copy of an object that only a local file will do for (Keras loads files), cached by
    its URL and ETag so a process downloads each model version once."""
    tag = hashlib.sha256(f"{path.url}\n{path.etag()}".encode()).hexdigest()[:24]
    folder = Path(tempfile.gettempdir()) / "nightwatch-objects"
    copy = folder / f"{tag}-{path.name}"
    if not copy.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".tmp-{tag}-{os.getpid()}"
        partial.write_bytes(path.read_bytes())
        os.replace(partial, copy)
    return str(copy)
