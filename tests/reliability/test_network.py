"""Network exposure: the Prefect servers the project starts listen on loopback only unless configured."""
from __future__ import annotations

import re
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[2]


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket of a process and its children."""
    proc = psutil.Process(pid)
    return {(c.laddr.ip, c.laddr.port) for p in (proc, *proc.children(recursive=True))
            for c in p.net_connections("tcp") if c.status == psutil.CONN_LISTEN}


def test_the_local_server_of_a_run_without_a_server_listens_on_loopback_only(prefect_harness):
    """`nightwatch run` / `make run` set no PREFECT_API_URL: Prefect starts this local server (the
    session's test server is that same instance: flow runs of the tests use it)."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    server = SubprocessASGIServer()
    assert server.running and server.server_process.poll() is None
    assert PREFECT_API_URL.value() == f"http://127.0.0.1:{server.port}/api"
    sockets = listening(server.server_process.pid)
    assert (("127.0.0.1", server.port)) in sockets
    assert {ip for ip, _ in sockets} == {"127.0.0.1"}, sockets  # not 0.0.0.0 or ::, no other address


def project_env() -> dict[str, str]:
    """The environment the project gives Prefect: the Makefile's exports and the deployments' job env."""
    env = dict(re.findall(r"^export (PREFECT_\w+|DO_NOT_TRACK) := (\S+)$", (REPO / "Makefile").read_text(), re.M))
    deployments = yaml.safe_load((REPO / "prefect.yaml").read_text())
    env.update(deployments["definitions"]["work_pool"]["job_variables"]["env"])
    return env


def test_prefect_server_start_and_serve_default_to_loopback_and_a_setting_opens_them(monkeypatch):
    """`prefect server start` binds PREFECT_SERVER_API_HOST; `nightwatch serve`'s runner webserver (off
    unless enabled) binds PREFECT_RUNNER_SERVER_HOST. The project sets neither, so both stay on loopback;
    an operator opens them with the setting (or `--host`)."""
    from prefect.settings import Settings

    env = project_env()
    assert "PREFECT_SERVER_ANALYTICS_ENABLED" in env and "NIGHTWATCH_CONFIG" in env  # both sources were read
    for name in ("PREFECT_SERVER_API_HOST", "PREFECT_RUNNER_SERVER_HOST", "PREFECT_RUNNER_SERVER_ENABLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    settings = Settings()
    assert settings.server.api.host == "127.0.0.1"
    assert settings.runner.server.host == "localhost" and not settings.runner.server.enable
    monkeypatch.setenv("PREFECT_SERVER_API_HOST", "0.0.0.0")
    assert Settings().server.api.host == "0.0.0.0"


def test_the_documented_server_command_binds_loopback():
    """Where the README tells ops to start a server, it passes `--host 127.0.0.1`."""
    commands = [line for line in (REPO / "README.md").read_text().splitlines()
                if line.startswith("prefect server start")]
    assert commands
    for line in commands:
        assert re.match(r"prefect server start --host 127\.0\.0\.1(\s|$)", line), line
