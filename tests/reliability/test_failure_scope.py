"""Failure scope: a group that fails anywhere fails alone. The report always renders every other
group and shows the failed one; tasks retry I/O errors only."""
from __future__ import annotations

import errno

import pandas as pd
import pytest
import yaml

from pipeline import io
from tests.reliability.common import QUICK, land, wide
from tests.reliability.fault_driver import GROUPS
from tests.reliability.recovery import make_root

BAD_NAME = "web 01/../x"  # a `group` value in the data: no usable folder name


@pytest.fixture
def project(tmp_path, prefect_harness, monkeypatch):
    """alpha and beta (declared) landed under tmp_path, a config file for them, no retry delays."""
    from flows import tasks

    make_root(tmp_path)
    config = tmp_path / "nightwatch.yaml"
    config.write_text(yaml.safe_dump({"storage": {"data_root": "data", "models_root": "models"},
                                      "defaults": QUICK, "groups": GROUPS}))
    for task in (tasks.discover_task, tasks.report_task):
        monkeypatch.setattr(task, "retry_delay_seconds", 0)
    monkeypatch.setattr(tasks, "GROUP_RETRY_DELAY_SECONDS", 0)
    return tmp_path, str(config)


def test_a_discovered_group_with_an_unusable_name_fails_alone_and_the_report_shows_it(project):
    """The other groups are reported as usual (alpha with its scoring's warning: many steps unscored)."""
    from flows.nightly import nightly_flow

    root, config = project
    bad = wide("web", steps=288).melt(id_vars="timestamp", var_name="metric").assign(group=BAD_NAME)
    land(root / "data" / "landing", "web/part.parquet", bad)
    alpha = pd.read_parquet(root / "data" / "landing" / "alpha.parquet")
    alpha.loc[150:179, ["alpha.m0", "alpha.m1"]] = float("nan")  # 30 of 288 steps unobserved: a warning
    land(root / "data" / "landing", "alpha.parquet", alpha)
    state = nightly_flow(config, return_state=True)

    assert state.is_failed()
    assert f"failed groups: [{BAD_NAME!r}]; unreadable files: []" in state.message, state.message
    assert f"\n{BAD_NAME}: training: InputError: " in state.message and "unusable group name" in state.message
    (page,) = (root / "data" / "reports").glob("report-*.html")
    html = page.read_text()
    assert 'id="group-beta"><h2>beta</h2><svg' in html  # as usual: a plot and the intervals table
    for good in ("alpha", "beta"):
        assert len(io.read_dataset(str(root / "data"), "scores", good)) == 288 * 2
    failed = html[html.index(f'<section class="group" id="group-{BAD_NAME}">'):]
    failed = failed[:failed.index("</section>")]
    assert '<p class="error">Failed: training: InputError: ' in failed and "unusable group name" in failed, failed
    assert html.count("<svg") == 2 and "<td>failed</td>" not in html  # the summary links to the failure
    warning = "alpha: 10% of scored steps have no score (missing or imputed values)"
    assert f'id="group-alpha"><h2>alpha</h2><p class="warning">Warning: {warning}</p><svg' in html
    assert '<td><a href="#group-alpha">warning</a></td>' in html
    assert sorted(p.name for p in (root / "data" / "scores").iterdir()) == ["group=alpha", "group=beta"]


def test_a_report_that_cannot_be_written_still_leaves_every_failure_in_the_runs_state(project, monkeypatch):
    """Only the badly named group landed (it and the declared groups, which have no data, fail at once),
    and the report's disk keeps failing: the nightly run ends Failed naming every group's failure and
    the report's."""
    from flows.nightly import nightly_flow

    root, config = project
    bad = wide("web", steps=288).melt(id_vars="timestamp", var_name="metric").assign(group=BAD_NAME)
    for rel in ("alpha.parquet", "beta/part.parquet"):
        (root / "data" / "landing" / rel).unlink()
    land(root / "data" / "landing", "web/part.parquet", bad)
    monkeypatch.setattr(io, "write_report", lambda *a: (_ for _ in ()).throw(
        io.StorageError(f"cannot write report: [Errno {errno.ENOSPC}] No space left on device")))
    state = nightly_flow(config, return_state=True)

    assert state.is_failed()
    assert f"failed groups: ['alpha', 'beta', {BAD_NAME!r}]; unreadable files: []\n" in state.message
    assert f"\n{BAD_NAME}: training: InputError: " in state.message and "\nalpha: training: " in state.message
    assert "\nreport not written: " in state.message and "No space left on device" in state.message, state.message
    assert not (root / "data" / "reports").exists()


def test_report_and_discovery_retry_io_errors_only(project, monkeypatch):
    """An I/O error is retried and the task then succeeds; any other error fails at once."""
    from flows import tasks
    from flows.nightly import report_flow, score_flow

    _, config = project
    calls = {"write_report": [], "discover": []}

    def failing(name, real, errors):
        def call(*args, **kwargs):
            calls[name].append(args)
            if len(calls[name]) <= len(errors):
                raise errors[len(calls[name]) - 1]
            return real(*args, **kwargs)
        return call

    eio = io.StorageError(f"cannot write: [Errno {errno.EIO}] Input/output error")
    monkeypatch.setattr(io, "write_report", failing("write_report", io.write_report, [eio, ValueError("bug")]))
    with pytest.raises(ValueError, match="bug"):
        report_flow(config)
    assert len(calls["write_report"]) == 2  # the I/O error retried, the other error not
    monkeypatch.setattr(tasks, "discover", failing("discover", tasks.discover, [eio, KeyError("bug")]))
    with pytest.raises(KeyError, match="bug"):
        score_flow(config)
    assert len(calls["discover"]) == 2
