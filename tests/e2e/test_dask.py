"""Scale-out: the nightly flow with its group tasks on a Dask cluster of two worker processes.

`flows/runner.py` picks the task runner when `flows.nightly` is imported, so the flow runs in a
subprocess (`nightwatch run`) with NIGHTWATCH_DASK_ADDRESS set, against the e2e Prefect server.
"""
from __future__ import annotations

import os
import re
import sys
import time

import pandas as pd
import pytest

from tests.e2e.conftest import BIN, REPO, check, clean_env, make_project, run

pytestmark = pytest.mark.e2e
TRAINED_ON = re.compile(r"^(\S+): trained on worker (\S+):(\d+)$")


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed", reason="needs the dev (or dask) extra: prefect-dask")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as local, distributed.Client(local) as client:
        yield local, client


def test_nightly_flow_trains_groups_on_both_dask_workers(cluster, prefect_server, tmp_path):
    local, client = cluster
    project = make_project(tmp_path / "nightwatch")
    since = pd.Timestamp.now(tz="UTC").isoformat()
    env = prefect_server.env(NIGHTWATCH_DASK_ADDRESS=local.scheduler_address, TF_CPP_MIN_LOG_LEVEL="2")
    out = check(run([BIN / "nightwatch", "run"], env, project, timeout=420))
    assert "nightly flow: Completed" in out

    (nightly,) = prefect_server.api("POST", "/flow_runs/filter", json={
        "flows": {"name": {"any_": ["nightly"]}},
        "flow_runs": {"start_time": {"after_": since}, "deployment_id": {"is_null_": True}}})
    assert nightly["state"]["type"] == "COMPLETED"
    train_flow_id = prefect_server.api("GET", "/flows/name/train")["id"]
    train = [f for f in prefect_server.api("POST", "/flow_runs/filter", json={
        "flow_runs": {"parent_flow_run_id": {"any_": [nightly["id"]]}}}) if f["flow_id"] == train_flow_id]
    assert len(train) == 1 and train[0]["state"]["type"] == "COMPLETED"

    worker_pids = set(client.run(os.getpid).values())
    trained: dict[str, int] = {}
    deadline = time.monotonic() + 30  # task logs are sent from the Dask workers in batches
    while len(trained) < 2 and time.monotonic() < deadline:
        logs = prefect_server.api("POST", "/logs/filter", json={
            "logs": {"flow_run_id": {"any_": [train[0]["id"]]}}, "limit": 200})
        for log in logs:
            match = TRAINED_ON.match(log["message"])
            if match:
                trained[match.group(1)] = int(match.group(3))
        time.sleep(1)
    assert set(trained) == {"web-01", "db-01"}, trained
    assert set(trained.values()) == worker_pids, f"groups trained on {trained}, Dask workers are {worker_pids}"
    assert os.getpid() not in trained.values()

    for group in ("web-01", "db-01"):
        assert list((project / "data" / "scores" / f"group={group}").glob("date=*/part-0.parquet"))
    assert len(list((project / "data" / "reports").glob("report-*.html"))) == 1


def test_dask_without_a_prefect_server_is_a_clear_error(tmp_path):
    """With Prefect's ephemeral server every Dask worker would start its own: refused at import."""
    env = clean_env(NIGHTWATCH_DASK_ADDRESS="tcp://127.0.0.1:9", PREFECT_HOME=str(tmp_path),
                    TF_CPP_MIN_LOG_LEVEL="2")
    result = run([sys.executable, "-c", "import flows.nightly"], env, REPO, timeout=120)
    assert result.returncode != 0 and "needs a Prefect server that the Dask workers can reach" in result.stdout
