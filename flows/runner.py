"""The task runner from configuration: local threads, or a Dask cluster when an address is set."""
from __future__ import annotations

import os

from prefect.task_runners import ThreadPoolTaskRunner


def task_runner():
    """`NIGHTWATCH_DASK_ADDRESS=tcp://host:8786` runs tasks on that cluster (needs prefect-dask and a
    Prefect server the Dask workers can reach); otherwise groups run in `NIGHTWATCH_WORKERS` local
    threads (default 2)."""
    address = os.environ.get("NIGHTWATCH_DASK_ADDRESS")
    if address:
        from prefect.settings import get_current_settings

        if not get_current_settings().api.url:
            # Prefect's ephemeral local server lives in the flow's process: every Dask worker would
            # start one of its own, in its own PREFECT_HOME, and the task runs would be lost there.
            raise RuntimeError(f"NIGHTWATCH_DASK_ADDRESS={address} needs a Prefect server that the Dask "
                               "workers can reach: set PREFECT_API_URL (e.g. http://prefect-host:4200/api)")
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=address)
    return ThreadPoolTaskRunner(max_workers=int(os.environ.get("NIGHTWATCH_WORKERS", "2")))
