"""The process the tasks run in: the task runner from configuration (local threads, or a Dask
cluster when an address is set), and the memory each group's work leaves behind given back."""
from __future__ import annotations

import ctypes
import ctypes.util
import os

import pyarrow as pa
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


def _malloc_trim():
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def give_back_memory() -> None:
    """Return to the system the memory glibc's malloc still holds after a group's work. glibc
    keeps what is freed in each thread's pool at that pool's high point, so a process that trains
    or scores group after group (a flow's, a Dask worker's) grew with the fleet without holding
    more (benchmarks/RESULTS.md, "Fleet memory: what grows"). A no-op without glibc."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def arrow_on_malloc() -> None:
    """Arrow's buffers (every landing read and published partition) from the C library's malloc,
    whose freed pages `give_back_memory` returns, rather than Arrow's bundled allocator (mimalloc
    in the Linux wheels): with it a scoring flow run held 100 MiB more at 400 groups, in the same time
    (benchmarks/RESULTS.md, "Scoring's memory against the fleet's size: Arrow's allocator"). Only
    with glibc; a pool named in ARROW_DEFAULT_MEMORY_POOL is left as it is."""
    if _MALLOC_TRIM is not None and "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        pa.set_memory_pool(pa.system_memory_pool())


arrow_on_malloc()  # on import: in the flow's process and in each Dask worker that runs its tasks
