import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nightwatch_cli import main
from pipeline.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_generate_writes_both_layouts(tmp_path, capsys):
    assert main(["generate", "--days", "2", "--landing", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "injected spike" in out and "wrote" in out
    wide = pd.read_parquet(next((tmp_path / "exports").glob("*.parquet")))
    assert "db-01.cpu" in wide.columns
    assert (tmp_path / "prometheus" / "group=queue-01" / "metrics.parquet").exists()


def test_bad_config_is_a_clear_error(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("defaults: {window: 0}\n")
    with pytest.raises(ConfigError, match="c.yaml: defaults.window: must be at least"):
        main(["--config", str(config), "generate", "--days", "1"])


@pytest.fixture
def no_start(monkeypatch):
    """Any command that gets past argument checking fails the test: refusals start nothing."""
    import nightwatch_cli

    for name in ("_generate", "_run_flow", "_serve"):
        monkeypatch.setattr(nightwatch_cli, name, lambda args, name=name: pytest.fail(f"{name} started"))
    for name, module in nightwatch_cli.ADMIN.items():
        monkeypatch.setattr(module, "run", lambda args, command, name=name: pytest.fail(f"{name} started"))


@pytest.mark.parametrize("argv, message", [
    (["--config", "{missing}", "train"], "argument --config: no such file: {missing}"),
    (["train", "--config", "{missing}"], "argument --config: no such file: {missing}"),
    (["report", "--config", "{missing}", "--days", "3"], "argument --config: no such file: {missing}"),
    (["score", "--start", "2026-11-19", "--end", "2026-11-18T23:00"], "argument --start: 2026-11-19 is after --end"),
    (["score", "--start", "2026-11-18T01:00+01:00", "--end", "2026-11-17T23:30Z"], "argument --start: "),
    (["score", "--start", "yesterday-ish"], "argument --start: not an ISO 8601 time: 'yesterday-ish'"),
    (["score", "--end", "2026-13-45"], "argument --end: not an ISO 8601 time: '2026-13-45'"),
    (["score", "--start", ""], "argument --start: not an ISO 8601 time: ''"),
    (["score", "--start", "05/12/2026"], "argument --start: not an ISO 8601 time: '05/12/2026'"),  # May or Dec?
    (["report", "--days", "0"], "argument --days: must be a whole number of days, at least 1, got '0'"),
    (["report", "--days", "-2"], "argument --days: must be a whole number of days, at least 1, got '-2'"),
    (["run", "--days", "1.5"], "argument --days: must be a whole number of days, at least 1, got '1.5'"),
    (["generate", "--days", "0"], "argument --days: "),
    (["state", "reset", "db-01", "--to", "2999-01-01"], "argument --to: 2999-01-01 is after now ("),
    (["state", "reset", "db-01", "--to", "soon"], "argument --to: not an ISO 8601 time: 'soon'"),
    (["state", "reset", "db-01"], "one of the arguments --to --clear is required"),
    (["state", "reset", "db-01", "--to", "2026-11-18", "--clear"], "argument --clear: not allowed with argument --to"),
    (["state", "show", "../db-01"], "argument GROUP: group: name '../db-01' must match"),
    (["state", "show"], "the following arguments are required: GROUP"),
    (["state", "show", "db-01", "--config", "{missing}"], "argument --config: no such file: {missing}"),
])
def test_wrong_arguments_are_refused_before_anything_starts(tmp_path, capsys, no_start, argv, message):
    missing = str(tmp_path / "nightwatch.yml")  # a typo of the file's name
    with pytest.raises(SystemExit) as exit_:
        main([a.format(missing=missing) for a in argv])
    assert exit_.value.code == 2
    assert message.format(missing=missing) in capsys.readouterr().err


@pytest.mark.parametrize("command", [["train"], ["score"], ["report"], ["run"], ["serve"]])
def test_a_flow_command_with_a_bad_setting_is_refused_in_one_line_before_anything_starts(tmp_path, capsys, no_start,
                                                                                        command):
    config = tmp_path / "nightwatch.yaml"
    config.write_text("defaults:\n  windw: 24\n")
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--config", str(config)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"{config}: defaults: unknown key 'windw'" in err and "Traceback" not in err


def test_a_missing_config_from_the_environment_is_refused(tmp_path, capsys, monkeypatch, no_start):
    monkeypatch.setenv("NIGHTWATCH_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(SystemExit) as exit_:
        main(["train"])
    assert exit_.value.code == 2
    assert f"argument --config (from $NIGHTWATCH_CONFIG): no such file: {tmp_path / 'gone.yaml'}" in \
        capsys.readouterr().err


def test_config_is_taken_before_or_after_the_command(tmp_path, monkeypatch):
    import nightwatch_cli

    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    for path in (first, second):
        path.write_text("storage: {data_root: data}\n")
    seen = []
    monkeypatch.setattr(nightwatch_cli, "_run_flow", lambda args: seen.append(args) or 0)
    assert main(["score", "--config", str(first), "--start", "2026-11-18", "--end", "2026-11-18"]) == 0
    assert main(["--config", str(first), "report", "--days", "3"]) == 0
    assert main(["--config", str(first), "run", "--config", str(second)]) == 0  # the later one wins
    assert [(a.command, a.config) for a in seen] == [("score", str(first)), ("report", str(first)),
                                                     ("run", str(second))]
    assert (seen[0].start, seen[0].end, seen[1].days) == ("2026-11-18", "2026-11-18", 3)


def _cli_env(tmp_path, **extra) -> dict:
    """The environment of a user running `.venv/bin/nightwatch`: none of the test suite's Prefect
    settings, a home of its own, and this checkout's code."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK", "PREFECT_API_URL")}
    return {**env, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONPATH": str(ROOT), **extra}


def test_environment_defaults_leave_a_users_settings_alone(tmp_path):
    code = ("import os, nightwatch_cli; print(*(os.environ[k] for k in "
            "('PREFECT_SERVER_ANALYTICS_ENABLED', 'DO_NOT_TRACK', 'TF_CPP_MIN_LOG_LEVEL')))")
    mine = subprocess.run([sys.executable, "-c", code], env=_cli_env(tmp_path), capture_output=True, text=True)
    theirs = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=_cli_env(tmp_path, PREFECT_SERVER_ANALYTICS_ENABLED="true", DO_NOT_TRACK="0",
                                         TF_CPP_MIN_LOG_LEVEL="0"))
    assert (mine.stdout.split(), theirs.stdout.split()) == (["false", "1", "2"], ["true", "0", "0"])


def test_a_cli_run_logs_no_telemetry_errors(tmp_path):
    """A real `nightwatch report` on Prefect's local server, as a user starts it (no telemetry settings in
    the environment, no network): it writes the report, and stderr has neither telemetry nor ERROR."""
    (tmp_path / "nightwatch.yaml").write_text("storage: {data_root: data, models_root: models}\n")
    done = subprocess.run([sys.executable, "-m", "nightwatch_cli", "report", "--config", "nightwatch.yaml"],
                          cwd=tmp_path, env=_cli_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "data" / "reports").glob("report-*.html"))
    assert "Finished in state Completed" in done.stderr, done.stderr  # Prefect's log did reach stderr
    assert "telemetry" not in done.stderr.lower() and "ERROR" not in done.stderr, done.stderr
