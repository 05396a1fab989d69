"""End-to-end fixtures: a real Prefect server in its own process group, a throwaway project copy.

Everything here runs the project the way an ops team does: `prefect` CLI commands in
subprocesses against a server on a free port, with a temporary PREFECT_HOME, so nothing
touches the developer's Prefect profile and nothing is left running afterwards.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers import GROUPS, TINY, land_sample

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROJECT_FILES = ("flows", "pipeline", "prefect.yaml", "nightwatch_cli", "pyproject.toml")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any Prefect or Nightwatch settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NIGHTWATCH_"))}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", PREFECT_CLI_PROMPT="false",
               COLUMNS="200", PYTHONUNBUFFERED="1")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # deployments must bring their own (job variables)
    env.update(extra)
    return env


def stop_group(proc: subprocess.Popen, grace: float = 20) -> None:
    """Stop a process started with start_new_session=True and everything it started."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    try:  # children that outlived their parent are still in the group
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run a command in its own process group; on timeout kill the whole group and fail."""
    proc = subprocess.Popen([str(a) for a in args], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc, grace=5)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(map(str, args))} did not finish in {timeout:.0f} s:\n{out[-6000:]}")
    finally:
        stop_group(proc, grace=5)
    return subprocess.CompletedProcess(args, proc.returncode, out, "")


def check(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"{' '.join(map(str, result.args))} exited {result.returncode}:\n" \
                                   f"{result.stdout[-6000:]}"
    return result.stdout


@dataclass
class Server:
    """A running `prefect server start` and how to talk to it."""

    url: str
    home: Path
    log: Path

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(PREFECT_HOME=str(self.home), PREFECT_API_URL=self.url, **extra)

    def prefect(self, *args: str, cwd: Path, timeout: float = 300, **extra: str) -> str:
        return check(run([BIN / "prefect", *args], self.env(**extra), cwd, timeout))

    def api(self, method: str, path: str, **kwargs):
        response = httpx.request(method, f"{self.url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """`prefect server start` on a free port with its own PREFECT_HOME; its process group is killed after."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    server = Server(f"http://127.0.0.1:{port}/api", home, home / "server.log")
    with open(server.log, "w") as log:
        proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                                 "--port", str(port)], env=server.env(), cwd=home, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"prefect server exited {proc.returncode}:\n{server.log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server not healthy after 180 s:\n{server.log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield server
    finally:
        stop_group(proc)


def make_project(root: Path, groups: list[dict] | None = None, defaults: dict | None = None) -> Path:
    """A copy of the project's code and prefect.yaml under `root` with a tiny nightwatch.yaml (relative
    storage roots, as in the repository) and the sample groups landed under root/data/landing."""
    root.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, root / name)
    config = {"storage": {"data_root": "data", "models_root": "models"}, "defaults": defaults or TINY,
              "groups": GROUPS if groups is None else groups}
    (root / "nightwatch.yaml").write_text(yaml.safe_dump(config))
    land_sample(root)
    return root
