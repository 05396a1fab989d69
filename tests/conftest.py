"""Test setup: a throwaway Prefect home (before prefect is imported) and small shared fixtures."""
import os
import tempfile

os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="nightwatch-prefect-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
for var in ("NIGHTWATCH_CONFIG", "NIGHTWATCH_DATA_ROOT", "NIGHTWATCH_MODELS_ROOT", "NIGHTWATCH_DASK_ADDRESS"):
    os.environ.pop(var, None)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server for the whole session (it takes ~15 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
