"""Mutual exclusion of one group's writers on an object store, which has no flock: a lease object.

A writer creates the lease object with a conditional PUT (If-None-Match: *, so of two writers
exactly one succeeds), renews it every RENEW_SECONDS with If-Match on its own ETag, and deletes it
when done. A waiter takes over a lease not renewed for LEASE_SECONDS (its holder died), or at once
when the holder was a process of this host that no longer exists (a killed run), again by If-Match
so two waiters never both win. Stores without conditional writes (gs://, memory://, ...) cannot
make this safe: there a held lease is refused at once rather than waited for, and two writers
starting within the same instant are not excluded (run one writer per group there).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.io.store import CONDITIONAL_PROTOCOLS, ObjectPath

LEASE_SECONDS = 60.0  # a lease not renewed for this long is taken over
RENEW_SECONDS = 20.0
log = logging.getLogger(__name__)


class LeaseError(OSError):
    """A lease that could not be taken (held too long by another run, or a store without conditional writes)."""


def _precondition_failed(exc: OSError) -> bool:
    """A 412 from S3 (s3fs raises FileExistsError for If-None-Match, OSError for If-Match)."""
    cause = getattr(exc.__cause__, "response", None) or {}
    return isinstance(exc, FileExistsError) or cause.get("Error", {}).get("Code") == "PreconditionFailed"


def _put(path: ObjectPath, body: bytes, **condition: str) -> str | None:
    """PUT with an S3 condition (IfNoneMatch / IfMatch); the new ETag, or None when it did not hold."""
    fs, key = path.fs()
    bucket, name = key.split("/", 1)
    try:
        return fs.call_s3("put_object", Bucket=bucket, Key=name, Body=body, **condition)["ETag"]
    except OSError as exc:
        if _precondition_failed(exc):
            return None
        raise


def _body(owner: dict) -> bytes:
    return json.dumps({**owner, "renewed_at": time.time()}).encode()


def _stale(holder: dict) -> bool:
    if time.time() - float(holder.get("renewed_at", 0)) > LEASE_SECONDS:
        return True
    if holder.get("host") == socket.gethostname() and holder.get("pid") != os.getpid():
        try:
            os.kill(int(holder["pid"]), 0)
        except ProcessLookupError:
            return True  # its holder was killed on this machine
        except (PermissionError, ValueError, KeyError):
            return False
    return False


def _read(path: ObjectPath) -> tuple[dict, str] | None:
    """The lease's holder and ETag, or None if there is no lease. The ETag is read first: a body
    newer than it only makes a takeover's If-Match fail, never succeed wrongly."""
    etag = path.etag()
    try:
        holder = json.loads(path.read_bytes()) if etag else None
    except FileNotFoundError:
        return None
    except ValueError:
        holder = {}  # an unreadable lease is stale: it has no renewed_at
    return None if holder is None else (holder if isinstance(holder, dict) else {}, etag)


def _acquire(path: ObjectPath, owner: dict, timeout: float) -> str:
    deadline, warned = time.monotonic() + timeout, False
    while True:
        etag = _put(path, _body(owner), IfNoneMatch="*")
        if etag:
            return etag
        found = _read(path)
        if found is not None and _stale(found[0]):
            etag = _put(path, _body(owner), IfMatch=found[1])
            if etag:
                log.warning("%s: took over the lease of %s (not renewed)", path, found[0].get("owner"))
                return etag
        if time.monotonic() >= deadline:
            holder = found[0].get("owner") if found else "another run"
            raise LeaseError(f"{path} is leased by {holder}; gave up after {timeout:.0f}s")
        if not warned:
            log.warning("%s is leased by another run; waiting up to %.0fs", path, timeout)
            warned = True
        time.sleep(0.2)


def _renew(path: ObjectPath, owner: dict, etag: list[str], stop: threading.Event) -> None:
    while not stop.wait(RENEW_SECONDS):
        try:
            renewed = _put(path, _body(owner), IfMatch=etag[0])
        except OSError as exc:  # a network hiccup: the lease holds for LEASE_SECONDS, try again next time
            log.warning("%s: lease not renewed (%s); retrying in %.0fs", path, exc, RENEW_SECONDS)
            continue
        if renewed is None:
            log.error("%s: lease lost to another run (not renewed within %.0fs)", path, LEASE_SECONDS)
            return
        etag[0] = renewed


@contextmanager
def leased(path: ObjectPath, timeout: float) -> Iterator[None]:
    """Hold the lease object `path` (waiting up to `timeout` seconds for another holder)."""
    if path.protocol not in CONDITIONAL_PROTOCOLS:
        with _unconditional(path):
            yield
        return
    owner = {"owner": f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}", "host": socket.gethostname(),
             "pid": os.getpid()}
    etag = [_acquire(path, owner, timeout)]
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(path, owner, etag, stop), daemon=True, name=f"lease {path.name}")
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        found = _read(path)
        if found is not None and found[1] == etag[0]:  # still ours
            path.unlink(missing_ok=True)


@contextmanager
def _unconditional(path: ObjectPath) -> Iterator[None]:
    """A store without conditional writes: refuse a fresh lease held by another run at once."""
    if path.exists():
        try:
            holder = json.loads(path.read_text())
        except ValueError:
            holder = {}
        if not _stale(holder if isinstance(holder, dict) else {}):
            raise LeaseError(f"{path} is held by {holder.get('owner', 'another run')}, and {path.protocol}:// has no "
                             "conditional writes to wait for it safely: run one writer per group on this store")
    owner = {"owner": f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}", "host": socket.gethostname(),
             "pid": os.getpid()}
    path.write_bytes(_body(owner))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
