"""The deployments as ops run them: `prefect server start`, a process work pool, `prefect deploy --all`
with the repository's prefect.yaml, `prefect deployment run` and `prefect worker start --run-once`.

The tests share one deployed project (module fixture) and run in file order: deploy, run the
nightly deployment on a worker, then check the cron schedules and redeploy.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.conftest import BIN, make_project, run

pytestmark = pytest.mark.e2e

POOL = "nightwatch-process"
SCHEDULED = {"nightwatch-train": "0 2 * * *", "nightwatch-score": "15 * * * *", "nightwatch-report": "0 7 * * *"}
# TensorFlow C++ info/warning lines (absl format), but not the oneDNN notice: on CPUs where oneDNN is on it is
# written before TensorFlow reads TF_CPP_MIN_LOG_LEVEL, so no setting hides it
TF_NATIVE_LOG = re.compile(r"^[IW]\d{4} (?!.*\] oneDNN custom operations are on)", re.M)


def deployments(server) -> dict[str, dict]:
    return {d["name"]: d for d in server.api("POST", "/deployments/filter", json={})}


def scheduled_runs(server, deployment_ids: list[str]) -> list[dict]:
    return server.api("POST", "/flow_runs/filter", json={
        "flow_runs": {"deployment_id": {"any_": deployment_ids}, "state": {"type": {"any_": ["SCHEDULED"]}}},
        "limit": 200})


def run_worker(server, cwd: Path, timeout: float = 420, **extra: str) -> str:
    """`prefect worker start --run-once` in the foreground: it takes what is due, runs it and exits."""
    result = run([BIN / "prefect", "worker", "start", "--pool", POOL, "--run-once"], server.env(**extra), cwd,
                 timeout)
    assert result.returncode == 0, f"worker exited {result.returncode}:\n{result.stdout[-6000:]}"
    return result.stdout


def trigger(server, name: str, cwd: Path) -> str:
    out = server.prefect("deployment", "run", name, cwd=cwd)
    match = re.search(r"UUID: ([0-9a-f-]{36})", out)
    assert match, out
    return match.group(1)


def wait_final(server, flow_run_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        flow_run = server.api("GET", f"/flow_runs/{flow_run_id}")
        if flow_run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") \
                or time.monotonic() > deadline:
            return flow_run
        time.sleep(1)


@pytest.fixture(scope="module")
def deployed(prefect_server, tmp_path_factory):
    """The project copied to a temp folder, the work pool created and `prefect deploy --all` run there."""
    project = make_project(tmp_path_factory.mktemp("deploy") / "nightwatch")
    prefect_server.prefect("work-pool", "create", POOL, "--type", "process", cwd=project)
    started = time.monotonic()
    out = prefect_server.prefect("--no-prompt", "deploy", "--all", cwd=project,
                                 NIGHTWATCH_PROJECT_DIR=str(project))
    return {"project": project, "server": prefect_server, "deploy_output": out,
            "deploy_seconds": time.monotonic() - started}


def test_deploy_all_registers_the_four_deployments_on_the_pool(deployed):
    server, project = deployed["server"], deployed["project"]
    found = deployments(server)
    assert set(found) == {"nightwatch-train", "nightwatch-score", "nightwatch-report", "nightwatch-nightly"}
    for name, deployment in found.items():
        assert deployment["work_pool_name"] == POOL
        assert deployment["parameters"]["config"] == "nightwatch.yaml"
        env = deployment["job_variables"]["env"]
        assert env["TF_CPP_MIN_LOG_LEVEL"] == "2" and env["DO_NOT_TRACK"] == "1"
        # NIGHTWATCH_PROJECT_DIR set at deploy time is written into the pull step
        assert deployment["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(project)}}]
        crons = [s["schedule"]["cron"] for s in deployment["schedules"]]
        assert crons == ([SCHEDULED[name]] if name in SCHEDULED else [])


def test_nightly_deployment_completes_on_a_process_worker(deployed, tmp_path):
    """A worker started anywhere (its cwd is elsewhere, no NIGHTWATCH_PROJECT_DIR, no TF_CPP_MIN_LOG_LEVEL)
    runs the nightly deployment in the project folder with the deployment's environment."""
    server, project = deployed["server"], deployed["project"]
    flow_run_id = trigger(server, "nightly/nightwatch-nightly", project)
    started = time.monotonic()
    out = run_worker(server, tmp_path)
    deployed["worker_seconds"] = time.monotonic() - started
    flow_run = wait_final(server, flow_run_id)
    assert flow_run["state"]["type"] == "COMPLETED", f"{flow_run['state']}\n{out[-6000:]}"
    assert "all groups trained and scored" in flow_run["state"]["message"]
    assert not TF_NATIVE_LOG.search(out), "TF_CPP_MIN_LOG_LEVEL from the job variables did not reach the run"

    data = project / "data"
    for group in ("web-01", "db-01"):
        assert (project / "models" / group / "CURRENT.json").exists()
        for dataset in ("scores", "anomalies", "features"):
            assert list((data / dataset / f"group={group}").glob("date=*/part-0.parquet")), (dataset, group)
    assert len(pd.read_parquet(data / "scores")) > 0
    (report,) = (data / "reports").glob("report-*.html")
    page = report.read_text()
    assert page.count("<svg") == 2 and "web-01" in page and "db-01" in page

    subflows = server.api("POST", "/flow_runs/filter", json={
        "flow_runs": {"parent_flow_run_id": {"any_": [flow_run_id]}}})
    assert sorted(f["state"]["type"] for f in subflows) == ["COMPLETED"] * 3
    artifacts = server.api("POST", "/artifacts/filter", json={
        "artifacts": {"flow_run_id": {"any_": [f["id"] for f in subflows]}}})
    by_key = {a["key"]: a for a in artifacts if a["key"]}
    assert {"ops-anomaly-report", "ops-anomaly-report-html", "ops-latest-anomalies", "training-progress",
            "scoring-progress"} <= set(by_key)
    assert by_key["training-progress"]["data"] == by_key["scoring-progress"]["data"] == 100.0
    # and a log line as each group finishes, what a terminal following the run shows
    messages, page_start = [], 0
    while page := server.api("POST", "/logs/filter", json={
            "logs": {"flow_run_id": {"any_": [f["id"] for f in subflows]}}, "offset": page_start, "limit": 200}):
        messages += [log["message"] for log in page]
        page_start += len(page)
    for stage in ("training", "scoring"):
        counts = sorted(m.split(" (")[0] for m in messages if m.startswith(f"{stage}: ") and "groups done" in m)
        assert counts == [f"{stage}: 1/2 groups done", f"{stage}: 2/2 groups done"], messages
    # the table holds the published intervals of the report's last 7 days, newest first
    table = by_key["ops-latest-anomalies"]["data"]
    rows = json.loads(table) if isinstance(table, str) else table
    scores, anomalies = pd.read_parquet(data / "scores"), pd.read_parquet(data / "anomalies")
    recent = anomalies[anomalies["end"] >= scores["timestamp"].max() - pd.Timedelta(days=7)]
    assert len(rows) == min(len(recent), 50)
    assert [r["start"] for r in rows] == sorted((r["start"] for r in rows), reverse=True)
    for row in rows:
        assert set(row) >= {"group", "start", "end", "severity", "peak_score", "contributors", "model_version"}
        assert row["group"] in ("web-01", "db-01") and row["severity"] in ("low", "medium", "high")


def test_cron_schedules_create_runs_and_a_redeploy_does_not_duplicate_them(deployed, tmp_path):
    """The server's scheduler creates the cron runs; redeploying (here without NIGHTWATCH_PROJECT_DIR, so
    each worker says where the checkout is) keeps one deployment and one run per scheduled time."""
    server, project = deployed["server"], deployed["project"]
    ids = {name: d["id"] for name, d in deployments(server).items() if name in SCHEDULED}

    def by_deployment(min_runs: int, timeout: float = 90) -> dict[str, list[pd.Timestamp]]:
        deadline = time.monotonic() + timeout
        while True:
            runs = scheduled_runs(server, list(ids.values()))
            times = {name: sorted(pd.Timestamp(r["expected_start_time"]) for r in runs if r["deployment_id"] == i)
                     for name, i in ids.items()}
            if all(len(t) >= min_runs for t in times.values()) or time.monotonic() > deadline:
                return times
            time.sleep(1)

    def check_runs(times: dict[str, list[pd.Timestamp]]) -> None:
        for name, starts in times.items():
            assert len(starts) >= 3, f"the scheduler created too few runs for {name}: {starts}"
            assert len(set(starts)) == len(starts), f"duplicate runs for {name}: {starts}"
            for t in starts:
                assert {"nightwatch-train": (t.hour, t.minute) == (2, 0), "nightwatch-score": t.minute == 15,
                        "nightwatch-report": (t.hour, t.minute) == (7, 0)}[name], (name, t)

    before = by_deployment(min_runs=3)
    check_runs(before)

    out = server.prefect("--no-prompt", "deploy", "--all", cwd=project)
    after_deploy = deployments(server)
    assert {n: after_deploy[n]["id"] for n in ids} == ids, "redeploy created new deployments"
    assert after_deploy["nightwatch-nightly"]["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $NIGHTWATCH_PROJECT_DIR }}"}}], out
    time.sleep(12)  # the scheduler's loop for recently changed deployments runs every 5 s
    after = by_deployment(min_runs=3)
    check_runs(after)
    assert {n: len(t) for n, t in after.items()} == {n: len(t) for n, t in before.items()}

    # with the directory left to the worker, a worker that sets it runs the report deployment
    report_run = trigger(server, "report/nightwatch-report", project)
    out = run_worker(server, tmp_path, NIGHTWATCH_PROJECT_DIR=str(project))
    flow_run = wait_final(server, report_run)
    assert flow_run["state"]["type"] == "COMPLETED", f"{flow_run['state']}\n{out[-6000:]}"
    assert len(list((project / "data" / "reports").glob("report-*.html"))) == 2

