"""Atomic writes, exclusive folder locks, safe group paths, for local folders and object stores.

Locally every write goes to a temporary name in the same folder and is renamed into place, so a
reader never sees a half-written file and a killed run leaves only ignorable `.tmp-*` names
(swept by the next writer of that folder). Writers of one folder take an exclusive `flock`
on its `.lock` file, so concurrent runs queue up. On an object store (an `ObjectPath`) a write is
one whole-object PUT, which is atomic, and the lock is a lease object (`pipeline.io.lease`).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import check_name
from pipeline.io import store
from pipeline.io.lease import leased
from pipeline.io.store import ObjectPath

LOCK = ".lock"
LOCK_TIMEOUT = 600.0  # seconds a writer waits for another run holding the same group
log = logging.getLogger(__name__)


class StorageError(OSError):
    """An output could not be written (disk full, permissions, a file where a folder belongs)."""


def _tmp_name(path: Path, lock_held: bool) -> Path:
    return path.with_name(f".tmp-{path.name}-{'held' if lock_held else uuid.uuid4().hex[:8]}")


@contextmanager
def staged(path: Path, lock_held: bool = False) -> Iterator[Path]:
    """A temp name beside `path`, renamed into place on success and removed on failure.
    `lock_held`: the caller holds the lock every writer of `path` takes, so one temp name serves
    every write and a killed writer's is overwritten by the next one, with no sweep: sweeping lists
    the folder, which for a fleet's per-group state files is a cost per group that grows with the
    groups (~1 ms a group at 1,000 groups)."""
    tmp = _tmp_name(path, lock_held)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc
    finally:
        remove(tmp)


def remove(path: Path | ObjectPath) -> None:
    if isinstance(path, ObjectPath):
        return path.remove_tree()
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


@contextmanager
def locked(path: Path | ObjectPath, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed), waiting up to `timeout` seconds."""
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    if isinstance(path, ObjectPath):
        with leased(path, timeout):
            yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
    except OSError as exc:
        raise StorageError(f"cannot lock {path}: {exc}") from exc
    with handle:
        deadline = time.monotonic() + timeout
        if not _try_lock(handle):
            log.warning("%s is locked by another run; waiting up to %.0fs", path, timeout)
            while not _try_lock(handle):
                if time.monotonic() >= deadline:
                    raise StorageError(f"{path} is locked by another run; gave up after {timeout:.0f}s")
                time.sleep(0.05)
        yield


def _try_lock(handle) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def sweep(folder: Path | ObjectPath, pattern: str) -> None:
    """Remove temp names left by killed runs (call only while holding the folder's lock)."""
    for stale in folder.glob(pattern):
        remove(stale)


def write_bytes_atomic(path: Path | ObjectPath, data: bytes, lock_held: bool = False) -> None:
    """`data` as the file's whole content (`lock_held`: as `staged` takes it)."""
    if isinstance(path, ObjectPath):
        return _put(path, data)
    with staged(path, lock_held) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def append_line(path: Path | ObjectPath, line: str) -> None:
    """Append one line and sync it: an audit log only grows, and a reader sees whole lines (one
    small append is one write; an object is rewritten whole). Call while holding the folder's lock,
    so lines never interleave."""
    if isinstance(path, ObjectPath):
        old = path.read_bytes() if path.exists() else b""
        return _put(path, old + (line + "\n").encode())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise StorageError(f"cannot append to {path}: {exc}") from exc


def write_json_atomic(path: Path | ObjectPath, obj: dict, lock_held: bool = False) -> None:
    write_bytes_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode(), lock_held)


def read_parquet(path: Path | ObjectPath, columns: list[str] | None = None) -> pd.DataFrame:
    """One parquet file; an object is fetched with one GET through fsspec (pandas would otherwise
    open s3:// with pyarrow's own client, which knows nothing of the configured storage options)."""
    source = BytesIO(path.read_bytes()) if isinstance(path, ObjectPath) else path
    return pd.read_parquet(source, columns=columns)


def read_table(path: Path | ObjectPath) -> pa.Table:
    """One parquet file as Arrow (fetched as `read_parquet` fetches it), for rewrites that need no
    pandas. Read as one file on the calling thread: `pq.read_table`'s dataset layer and thread pool
    cost ~0.6 ms more per call than a small published file's whole read (~0.4 ms)."""
    with pq.ParquetFile(BytesIO(path.read_bytes()) if isinstance(path, ObjectPath) else str(path)) as parquet:
        return parquet.read(use_threads=False)


def write_parquet_atomic(frame: pd.DataFrame, path: Path | ObjectPath) -> None:
    write_table_atomic(pa.Table.from_pandas(frame, preserve_index=False, nthreads=1), path)  # no thread pool per file


def write_table_atomic(table: pa.Table, path: Path | ObjectPath) -> None:
    """Dictionary-encode only the string columns and keep statistics only for the time and flag
    columns readers filter on: 1.8x faster than pyarrow's defaults, and smaller files."""
    fields = table.schema
    strings = [f.name for f in fields if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    filtered = [f.name for f in fields if pa.types.is_timestamp(f.type) or pa.types.is_boolean(f.type)]
    _write_stream(path, lambda sink: pq.write_table(table, sink, use_dictionary=strings, write_statistics=filtered))


def write_arrow_atomic(table: pa.Table, path: Path | ObjectPath, lock_held: bool = False) -> None:
    """An Arrow IPC file: for state only Nightwatch reads back, a quarter of parquet's cost to write
    and read (no encoding or compression: ~3 ms an hourly group's look-back). `lock_held`: as
    `staged` takes it."""
    def write(sink: pa.NativeFile) -> None:
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)

    _write_stream(path, write, lock_held)


def _write_stream(path: Path | ObjectPath, write: Callable[[pa.NativeFile], None], lock_held: bool = False) -> None:
    """What `write` puts in an Arrow stream, as the file's whole content: one PUT on an object
    store, else a staged temp file (closed at once even when a write fails) renamed into place."""
    if isinstance(path, ObjectPath):
        sink = pa.BufferOutputStream()
        write(sink)
        return _put(path, sink.getvalue().to_pybytes())
    with staged(path, lock_held) as tmp, pa.OSFile(str(tmp), "wb") as sink:
        write(sink)


def read_arrow(path: Path | ObjectPath) -> pa.Table:
    """An Arrow IPC file `write_arrow_atomic` wrote."""
    if isinstance(path, ObjectPath):
        return pa.ipc.open_file(pa.BufferReader(path.read_bytes())).read_all()
    with pa.OSFile(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def _put(path: ObjectPath, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc


def safe_child(root: str | Path, name: str) -> Path | ObjectPath:
    """`root/name` for a validated group name; never escapes `root`."""
    check_name(name)
    if store.is_remote(str(root)):
        return store.location(root) / name  # a checked name has no '/' to escape with
    root = store.location(root).resolve()
    child = (root / name).resolve()
    if child.parent != root:
        raise ValueError(f"group name {name!r} escapes {root}")
    return child
