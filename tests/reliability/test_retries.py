"""Prefect retries: an I/O error injected once is retried by its task and the group succeeds; one that
keeps failing fails only its group, and the run's final state and the report say which and why."""
from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline import io
from tests.reliability.common import QUICK, land
from tests.reliability.fault_driver import GROUPS
from tests.reliability.recovery import make_root

BAD = {"name": "bad", "metrics": ["bad.*"]}


@pytest.fixture
def project(tmp_path, prefect_harness, monkeypatch):
    """The reliability groups landed under tmp_path, a config file for them, and no retry delays."""
    from flows import tasks

    make_root(tmp_path)
    config = write_config(tmp_path, GROUPS)
    for task in (tasks.train_task, tasks.report_task):
        assert task.retries >= 1, task.name
        monkeypatch.setattr(task, "retry_delay_seconds", 0)
    monkeypatch.setattr(tasks, "GROUP_RETRY_DELAY_SECONDS", 0)  # scoring retries each group in its batch
    attempts: list[str] = []
    real = tasks.train_group
    monkeypatch.setattr(tasks, "train_group", lambda settings, group, *a, **k: (
        attempts.append(group.name), real(settings, group, *a, **k))[1])
    return tmp_path, str(config), attempts


def write_config(root: Path, groups: list[dict]) -> Path:
    config = root / "nightwatch.yaml"
    config.write_text(yaml.safe_dump({"storage": {"data_root": "data", "models_root": "models"},
                                      "defaults": QUICK, "groups": groups}))
    return config


def inject(monkeypatch, name: str, matches: Callable[[tuple], bool], times: int | None) -> list[tuple]:
    """`pipeline.io.<name>` fails with EIO on its first `times` matching calls (None: on every one),
    as a write on a flaky disk or network share does; returns the matching calls."""
    real, calls = getattr(io, name), []

    def flaky(*args, **kwargs):
        if matches(args):
            calls.append(args)
            if times is None or len(calls) <= times:
                raise io.StorageError(f"cannot write {args[1]}: [Errno {errno.EIO}] Input/output error")
        return real(*args, **kwargs)

    monkeypatch.setattr(io, name, flaky)
    return calls


def scored(root: Path, name: str) -> int:
    return len(io.read_dataset(str(root / "data"), "scores", name))


def report_page(root: Path) -> str:
    (page,) = (root / "data" / "reports").glob("report-*.html")
    return page.read_text()


def test_io_errors_are_retried_and_one_that_persists_fails_only_its_group(project, monkeypatch):
    """One nightly run: alpha's model save, alpha's scores write and the report write each fail once (a
    flaky disk) and succeed on the task's retry; beta's model save keeps failing, so beta alone fails,
    after one retry; bad data fails its group at once (a retry would fail the same way)."""
    from flows.nightly import nightly_flow

    root, config, attempts = project
    write_config(root, GROUPS + [BAD])
    land(root / "data" / "landing", "bad.parquet", pd.DataFrame(
        {"timestamp": pd.date_range("2026-11-18", periods=288, freq="5min"), "bad.x": ["oops"] * 288}))
    alpha_saves = inject(monkeypatch, "save_model_version", lambda a: a[1] == "alpha", 1)
    beta_saves = inject(monkeypatch, "save_model_version", lambda a: a[1] == "beta", None)
    writes = inject(monkeypatch, "upsert_partitions", lambda a: a[1:3] == ("scores", "alpha"), 1)
    reports = inject(monkeypatch, "write_report", lambda a: True, 1)
    state = nightly_flow(config, return_state=True)

    assert (len(alpha_saves), len(writes), len(reports)) == (2, 2, 2)  # each failed once, then succeeded
    assert len(beta_saves) == 2  # failed, retried once, failed again
    assert sorted(attempts) == ["alpha", "alpha", "bad", "beta", "beta"]  # bad data: no retry
    assert io.current_version(str(root / "models"), "alpha") and scored(root, "alpha") == 288 * 2
    assert io.read_watermark(str(root / "data"), "alpha") == pd.Timestamp("2026-11-18 23:55", tz="UTC")
    assert io.current_version(str(root / "models"), "beta") is None and scored(root, "beta") == 0

    assert state.is_failed()
    assert "failed groups: ['bad', 'beta']; unreadable files: []" in state.message, state.message
    assert "\nbeta: training: StorageError: cannot write beta: [Errno 5] Input/output error" in state.message
    assert "\nbad: training: InputError: " in state.message and "non-numeric values" in state.message
    page = report_page(root)
    beta = page[page.index('<section class="group" id="group-beta">'):]
    assert beta.startswith('<section class="group" id="group-beta"><h2>beta</h2><p class="error">Failed: '
                           "training: StorageError: cannot write beta: [Errno 5] Input/output error"), beta[:300]
    assert page.count("<svg") == 1 and 'id="group-alpha"><h2>alpha</h2><svg' in page  # alpha as usual
    assert "non-numeric values" in page[page.index('id="group-bad"'):page.index('id="group-beta"')]
    assert not list(root.rglob(".tmp-*"))
