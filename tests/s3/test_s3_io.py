"""The io layer on a real S3 API server: the lease object (conditional create, waiting, takeover of
a dead or silent holder, renewal), and a model version whose metadata is written last."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from pipeline import io
from pipeline.io import lease
from pipeline.io.lease import LeaseError


class SmallModel:
    """What `save_model_version` needs of a Keras model: `save(path)` writing one file."""

    def save(self, path):
        path.write_bytes(b"weights")


def holder(pid: int, host: str | None = None, renewed_at: float | None = None) -> bytes:
    return json.dumps({"owner": f"x:{pid}", "host": host or socket.gethostname(), "pid": pid,
                       "renewed_at": time.time() if renewed_at is None else renewed_at}).encode()


def test_a_second_writer_waits_for_the_lease_then_gets_it(bucket):
    path, order = io.location(bucket) / "g" / ".lock", []
    entered = threading.Event()

    def first():
        with io.locked(path, timeout=10):
            entered.set()
            time.sleep(1.0)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    entered.wait(10)
    start = time.monotonic()
    with io.locked(path, timeout=10):
        order.append("second in")
        waited = time.monotonic() - start
    thread.join()
    assert order == ["first done", "second in"] and waited >= 0.5
    assert not path.exists()


def test_a_live_holder_makes_a_writer_give_up_naming_the_lease(bucket):
    path = io.location(bucket) / "g" / ".lock"
    path.write_bytes(holder(os.getpid(), host="elsewhere"))  # renewed just now on another machine
    with pytest.raises(LeaseError, match=f"{path} is leased by x:{os.getpid()}; gave up after 1s"):
        with io.locked(path, timeout=1):
            pass


def test_a_lease_of_a_killed_process_on_this_host_is_taken_over_at_once(bucket):
    dead = subprocess.Popen(["true"])
    dead.wait()
    path = io.location(bucket) / "g" / ".lock"
    path.write_bytes(holder(dead.pid))
    start = time.monotonic()
    with io.locked(path, timeout=30):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert time.monotonic() - start < 5


def test_a_lease_not_renewed_for_a_minute_is_taken_over(bucket):
    path = io.location(bucket) / "g" / ".lock"
    path.write_bytes(holder(1, host="elsewhere", renewed_at=time.time() - lease.LEASE_SECONDS - 1))
    with io.locked(path, timeout=30):
        assert json.loads(path.read_text())["pid"] == os.getpid()


def test_the_holder_renews_its_lease_while_it_works(bucket, monkeypatch):
    monkeypatch.setattr(lease, "RENEW_SECONDS", 0.2)
    path = io.location(bucket) / "g" / ".lock"
    with io.locked(path, timeout=5):
        first = json.loads(path.read_text())["renewed_at"]
        time.sleep(1.0)
        assert json.loads(path.read_text())["renewed_at"] > first


def test_versions_without_metadata_are_not_listed_and_the_next_save_removes_them(bucket):
    models = f"{bucket}/models"
    for version in ("v0", "v1"):  # what runs killed between the two puts leave
        (io.location(models) / "web" / version / "model.keras").write_bytes(b"half a run")
    assert io.versions(models, "web") == []
    folder = io.save_model_version(models, "web", "v1", SmallModel(), {"version": "v1"})
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.keras"]
    assert io.versions(models, "web") == ["v1"]
    assert [p.name for p in (io.location(models) / "web").iterdir()] == ["registry.log", "v1"]
    path = io.model_path(models, "web", "v1")  # a local copy Keras can load
    assert open(path, "rb").read() == b"weights"
    assert io.read_metadata(models, "web", "v1")["model_sha256"] == io.file_sha256(path)
