"""`nightwatch state show|reset GROUP`: a watermark moved past real data (a stray 2030 row once
did) can be seen and moved back, the reset is atomic and logged, and the next incremental run
scores again from the new watermark (or from an open interval's start kept before it)."""
import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from nightwatch_cli import main
from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.config import load_settings
from pipeline.scoring import score_group
from pipeline.train import train_group
from tests.reliability.common import QUICK, STEPS, T0, land, wide
from tests.reliability.recovery import REPO

NOW = T0 + pd.Timedelta("2D")  # the runs' clock: just after the two landed days
LAST = T0 + (STEPS - 1) * pd.Timedelta("5min")  # the last landed step, 2026-11-19 23:55
NOON = pd.Timestamp("2026-11-19 12:00", tz="UTC")


def write_config(root) -> str:
    config = root / "nightwatch.yaml"
    config.write_text(yaml.safe_dump({"storage": {"data_root": str(root / "data"), "models_root": str(root / "models")},
                                      "defaults": QUICK, "groups": [{"name": "alpha", "metrics": ["alpha.*"]}]}))
    return str(config)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A group with a current model; each test sets the state it starts from."""
    root = tmp_path_factory.mktemp("state-command")
    land(root / "data" / "landing", "alpha.parquet", wide("alpha"))
    config = write_config(root)
    settings = load_settings(config)
    catalog = discover(settings.storage.landing, now=NOW)
    (alpha,) = groups(settings, catalog)
    train_group(settings, alpha, catalog, "train", emit=lambda _: None)
    return config, settings, alpha


def score(settings, alpha, run_id: str) -> dict:
    return score_group(settings, alpha, discover(settings.storage.landing, now=NOW), run_id, emit=lambda _: None)


def state(capsys, config: str, *argv: str) -> str:
    assert main(["state", *argv, "--config", config]) == 0
    return capsys.readouterr().out


def test_show_without_state_names_the_file_and_what_the_next_run_scores(tmp_path, capsys):
    out = state(capsys, write_config(tmp_path), "show", "alpha")
    assert f"state of group 'alpha': {tmp_path / 'data' / 'state' / 'alpha.json'} (none: the next incremental " \
           "run scores everything)" in out
    assert "watermark    -" in out and "newest score -" in out
    assert f"resets: {tmp_path / 'data' / 'state' / 'alpha.log'} (none)" in out


def test_a_stray_2030_watermark_is_reset_and_the_next_run_scores_the_real_rows_after_it(trained, capsys):
    config, settings, alpha = trained
    data = settings.storage.data_root
    io.reset_state(data, "alpha", None, NOW, who="test")  # from the start, whatever ran before
    assert score(settings, alpha, "first")["scored"] == STEPS
    io.write_watermark(data, "alpha", pd.Timestamp("2030-01-01", tz="UTC"))  # as the stray row once left it
    assert score(settings, alpha, "stuck")["scored"] == 0
    shown = state(capsys, config, "show", "alpha")
    assert "watermark    2030-01-01 00:00:00+00:00" in shown and f"newest score {LAST}" in shown
    assert "warning: the watermark is after now" in shown and "nightwatch state reset alpha --to TIME" in shown

    printed = json.loads(state(capsys, config, "reset", "alpha", "--to", "2026-11-19T12:00"))
    assert (printed["old_watermark"], printed["new_watermark"], printed["who"]) == \
        ("2030-01-01T00:00:00+00:00", NOON.isoformat(), "cli")
    assert json.loads(io.read_audit(data, "alpha", 1)[0]) == printed
    assert not list(io.state_path(data, "alpha").parent.glob(".tmp-*"))  # written under a temp name, renamed

    again = score(settings, alpha, "after-reset")
    assert (again["scored"], again["start"], again["end"]) == (143, str(NOON + pd.Timedelta("5min")), str(LAST))
    runs = io.read_dataset(data, "scores", "alpha").groupby("run_id")["timestamp"].agg(["min", "max"])
    assert runs.loc["after-reset"].tolist() == [NOON + pd.Timedelta("5min"), LAST]
    assert runs.loc["first"].tolist() == [T0, NOON]  # the steps up to the new watermark stay as they were
    assert io.read_watermark(data, "alpha") == LAST
    assert "watermark    2026-11-19 23:55:00+00:00" in state(capsys, config, "show", "alpha")


def test_an_open_interval_started_before_the_new_watermark_is_scored_again_from_its_start(trained, capsys):
    config, settings, alpha = trained
    data, opened = settings.storage.data_root, NOON - pd.Timedelta("6h")
    io.write_watermark(data, "alpha", LAST, opened)
    printed = json.loads(state(capsys, config, "reset", "alpha", "--to", "2026-11-19 12:00"))
    assert (printed["old_open_since"], printed["new_open_since"]) == (opened.isoformat(), opened.isoformat())
    again = score(settings, alpha, "from-open")
    assert (again["scored"], again["start"]) == (216, str(opened))


def test_reset_to_a_future_time_is_refused_naming_the_option_and_the_group(trained, capsys):
    config, settings, _ = trained
    data = settings.storage.data_root
    io.write_watermark(data, "alpha", LAST)
    before = io.read_audit(data, "alpha", 100)
    with pytest.raises(SystemExit) as exit_:
        main(["--config", config, "state", "reset", "alpha", "--to", "2999-01-01"])
    assert exit_.value.code == 2
    assert "argument --to: 2999-01-01 is after now" in capsys.readouterr().err
    assert io.read_watermark(data, "alpha") == LAST and io.read_audit(data, "alpha", 100) == before


def test_reset_clear_removes_the_state_and_the_next_run_scores_everything(trained, capsys):
    config, settings, alpha = trained
    data = settings.storage.data_root
    io.write_watermark(data, "alpha", LAST)
    printed = json.loads(state(capsys, config, "reset", "alpha", "--clear"))
    assert (printed["old_watermark"], printed["new_watermark"]) == (LAST.isoformat(), None)
    assert not io.state_path(data, "alpha").exists()
    assert "(none: the next incremental run scores everything)" in state(capsys, config, "show", "alpha")
    assert score(settings, alpha, "cleared")["scored"] == STEPS
    assert not list(io.state_path(data, "alpha").parent.glob(".tmp-*"))


def test_the_state_command_starts_neither_prefect_nor_tensorflow(tmp_path):
    code = ("import sys, nightwatch_cli; code = nightwatch_cli.main(sys.argv[1:]); "
            "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'tensorflow', 'keras'}))")
    config = write_config(tmp_path)
    for argv in (["state", "reset", "alpha", "--to", "2026-11-19"], ["state", "show", "alpha"]):
        done = subprocess.run([sys.executable, "-c", code, *argv, "--config", config], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == "0 []"


def test_a_group_nobody_knows_is_refused_and_nothing_is_written(tmp_path, capsys):
    """A typo (`alpha1` for `alpha`) must not create a state file that no run reads."""
    config = write_config(tmp_path)
    for action in (["show", "alpha1"], ["reset", "alpha1", "--to", "2026-11-19T12:00"]):
        with pytest.raises(SystemExit) as exit_:
            main(["--config", config, "state", *action])
        assert exit_.value.code == 2
        assert "argument GROUP: no group 'alpha1' is configured, trained, scored or has a state (known: alpha)" in \
            capsys.readouterr().err
    assert not (tmp_path / "data" / "state").exists()


def test_reset_to_now_is_not_after_now(trained, capsys):
    config, settings, _ = trained
    out = state(capsys, config, "reset", "alpha", "--to", "now")
    assert json.loads(out)["new_watermark"] <= pd.Timestamp.now(tz="UTC").isoformat()
    io.write_watermark(settings.storage.data_root, "alpha", LAST)
