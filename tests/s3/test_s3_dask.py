"""Scale-out with object storage and no shared disk: `nightwatch run` on a two-process Dask
LocalCluster, every root in the bucket; the project folder on the Prefect worker gets no data."""
from __future__ import annotations

import os
import re
import time

import pandas as pd
import pytest
import s3fs
import yaml

from pipeline import io
from tests.e2e.conftest import BIN, check, make_project, prefect_server, run  # noqa: F401 - a fixture
from tests.helpers import GROUPS, TINY

pytestmark = pytest.mark.e2e
TRAINED_ON = re.compile(r"^(\S+): trained on worker (\S+):(\d+)$")


@pytest.fixture(scope="module")
def cluster(s3_server):
    """Two Dask worker processes; started after the S3 server, so they inherit its environment."""
    distributed = pytest.importorskip("distributed", reason="needs the dev (or dask) extra: prefect-dask")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as local, distributed.Client(local) as client:
        yield local, client


def test_nightly_flow_on_dask_workers_with_only_s3_roots(cluster, prefect_server, bucket, tmp_path):  # noqa: F811
    local, client = cluster
    project = make_project(tmp_path / "nightwatch")
    s3fs.S3FileSystem().put(f"{project}/data/landing/", f"{bucket[5:]}/data/landing/", recursive=True)
    for stale in sorted(project.joinpath("data").rglob("*"), reverse=True):  # no shared disk: nothing local
        stale.rmdir() if stale.is_dir() else stale.unlink()
    (project / "nightwatch.yaml").write_text(yaml.safe_dump({
        "storage": {"data_root": f"{bucket}/data", "models_root": f"{bucket}/models"}, "defaults": TINY,
        "groups": GROUPS}))
    since = pd.Timestamp.now(tz="UTC").isoformat()
    env = prefect_server.env(NIGHTWATCH_DASK_ADDRESS=local.scheduler_address, TF_CPP_MIN_LOG_LEVEL="2")
    out = check(run([BIN / "nightwatch", "run"], env, project, timeout=420))
    assert "nightly flow: Completed" in out

    train_flow_id = prefect_server.api("GET", "/flows/name/train")["id"]
    (train,) = [f for f in prefect_server.api("POST", "/flow_runs/filter", json={
        "flow_runs": {"start_time": {"after_": since}}}) if f["flow_id"] == train_flow_id]
    worker_pids, trained = set(client.run(os.getpid).values()), {}
    deadline = time.monotonic() + 30  # task logs are sent from the Dask workers in batches
    while len(trained) < 2 and time.monotonic() < deadline:
        for log in prefect_server.api("POST", "/logs/filter", json={
                "logs": {"flow_run_id": {"any_": [train["id"]]}}, "limit": 200}):
            match = TRAINED_ON.match(log["message"])
            if match:
                trained[match.group(1)] = int(match.group(3))
        time.sleep(1)
    assert set(trained) == {"web-01", "db-01"} and set(trained.values()) <= worker_pids, (trained, worker_pids)

    for group in ("web-01", "db-01"):
        assert io.current_version(f"{bucket}/models", group) is not None
        assert len(io.read_dataset(f"{bucket}/data", "scores", group)) > 0
    assert len((io.location(f"{bucket}/data") / "reports").glob("report-*.html")) == 1
    assert not list(project.joinpath("data").rglob("*")) and not project.joinpath("models").exists()
