"""Faults: SIGKILL at every stage then a rerun, concurrent runs, a full or read-only disk, locks."""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.scoring import score_group
from tests.reliability.common import settings_for
from tests.reliability.fault_driver import GROUPS
from tests.reliability.recovery import (NAMES, assert_consistent, assert_same, driver, finish, make_root,
                                        snapshot)

# (pattern in the os.replace target, which occurrence, kill before or after it): one run each,
# every run resuming from what the killed one before it left
KILLS = [("CURRENT.json", 1, "before"), ("scores", 1, "after"),
         ("state", 1, "before"), ("features", 2, "before")]


def test_concurrent_runs_on_the_same_roots_publish_each_row_once(reference):
    root, expected = reference
    for name in NAMES:
        scores = expected["scores", name]
        assert len(scores) == 288 * 2 and not scores.duplicated(["timestamp", "metric"]).any()
        assert expected["model", name][0] is not None
        assert len([p for p in (root / "models" / name).iterdir() if p.is_dir()]) == 1
    assert not list(root.rglob(".tmp-*"))
    assert len(expected["anomalies", "alpha"]) >= 1
    assert expected["report", "html"].count("<svg") == 2  # both runs' reports: complete, both groups


def test_sigkill_at_every_stage_then_rerun_gives_identical_outputs(reference, tmp_path, capsys):
    _, expected = reference
    root = make_root(tmp_path)
    survived, leftovers = 0, 0
    proc = driver(root)  # first crash: killed while a model version is being written
    deadline = time.monotonic() + 120
    while proc.poll() is None and not list((root / "models").glob("alpha/.tmp-*")):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert finish(proc)[0] == -signal.SIGKILL
    leftovers += len(assert_consistent(root))
    survived += 1
    for kill in KILLS:
        code, log = finish(driver(root, *kill))
        assert code == -signal.SIGKILL, f"{kill}: {log}"
        leftovers += len(assert_consistent(root))
        survived += 1
    code, log = finish(driver(root))
    assert code == 0, log
    rows = assert_same(expected, snapshot(root))
    assert not list(root.rglob(".tmp-*"))  # every temp name a crash left was swept
    with capsys.disabled():
        print(f"\n  faults: {survived} SIGKILLs survived ({leftovers} hidden temp names seen mid-crash); "
              f"{rows} published rows identical after recovery")


@pytest.fixture
def scored_copy(reference, tmp_path):
    """A copy of the reference roots to damage."""
    root, expected = reference
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    return copy, expected


def backfill(root: Path, name: str = "alpha") -> dict:
    settings = settings_for(root, GROUPS)
    catalog = discover(settings.storage.landing)
    (group,) = [g for g in groups(settings, catalog) if g.name == name]
    expected = io.read_dataset(settings.storage.data_root, "scores", name)["timestamp"]
    return score_group(settings, group, catalog, "again", str(expected.min()), str(expected.max()),
                       emit=lambda _: None)


def test_a_file_where_a_folder_belongs_is_a_clear_error_and_outputs_stay(scored_copy):
    root, expected = scored_copy
    blocked = root / "data" / "features" / "group=alpha"
    shutil.rmtree(blocked)
    blocked.write_text("not a folder")
    with pytest.raises(io.StorageError, match=r"cannot lock .*features/group=alpha/\.lock"):
        backfill(root)
    now = snapshot(root)
    for key in [("scores", "alpha"), ("anomalies", "alpha"), ("watermark", "alpha"), ("model", "alpha")]:
        assert_same({key: expected[key]}, now)


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (needs mount rights: root in a privileged container; skipped otherwise)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_full_then_read_only_disk_is_a_clear_error_and_outputs_stay(reference, small_disk):
    root, expected = reference
    shutil.copytree(root / "data", small_disk / "data")
    os.symlink(root / "models", small_disk / "models")
    filler = small_disk / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with pytest.raises(io.StorageError, match="No space left on device"):
        backfill(small_disk)
    assert not list(small_disk.rglob(".tmp-*"))  # a failed write removes its temp file
    assert_same({k: v for k, v in expected.items() if k[0] != "model"}, snapshot(small_disk))
    filler.unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(io.StorageError, match="Read-only file system"):
        backfill(small_disk, "beta")
    assert_same({k: v for k, v in expected.items() if k[0] != "model"}, snapshot(small_disk))


def test_a_held_lock_makes_writers_wait_then_refuse_clearly(tmp_path, monkeypatch, caplog):
    t = pd.Timestamp("2026-11-18", tz="UTC")
    frame = pd.DataFrame({"timestamp": [t], "v": [1.0]})
    lock = io.dataset_dir(str(tmp_path), "scores", "g") / io.LOCK
    done = []
    with io.locked(lock):
        writer = threading.Thread(target=lambda: done.append(
            io.upsert_partitions(str(tmp_path), "scores", "g", frame, "timestamp", t, t)))
        writer.start()
        time.sleep(0.3)
        assert not done  # waiting for the lock
        monkeypatch.setattr(io.files, "LOCK_TIMEOUT", 0.2)
        with pytest.raises(io.StorageError, match=r"group=g/\.lock is locked by another run; gave up after 0s"):
            io.upsert_partitions(str(tmp_path), "scores", "g", frame, "timestamp", t, t)
    writer.join(5)
    assert done and len(io.read_dataset(str(tmp_path), "scores", "g")) == 1
    assert "locked by another run; waiting" in caplog.text


def test_a_failed_model_save_leaves_no_version_and_no_temp_folder(tmp_path):
    class Broken:
        def save(self, path: Path) -> None:
            path.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(io.StorageError, match="cannot write .*v1: .*No space left on device"):
        io.save_model_version(str(tmp_path), "g", "v1", Broken(), {"version": "v1"})
    assert [p.name for p in (tmp_path / "g").iterdir()] == [".lock"]
    assert io.current_version(str(tmp_path), "g") is None
