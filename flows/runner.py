"""The task runner from configuration: local threads, or a Dask cluster when an address is set."""
from __future__ import annotations

import os

from prefect.task_runners import ThreadPoolTaskRunner


def task_runner():
    """`NIGHTWATCH_DASK_ADDRESS=tcp://host:8786` runs tasks on that cluster (needs prefect-dask);
    otherwise groups run in `NIGHTWATCH_WORKERS` local threads (default 2)."""
    address = os.environ.get("NIGHTWATCH_DASK_ADDRESS")
    if address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=address)
    return ThreadPoolTaskRunner(max_workers=int(os.environ.get("NIGHTWATCH_WORKERS", "2")))
