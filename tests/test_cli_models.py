"""`nightwatch models list|show|promote|pin|unpin` on a registry with two trained versions: each
change is logged with who and why, a pinned group refuses promotions, and a version that is not
registered or that scoring would refuse is refused before anything changes."""
import dataclasses
import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from nightwatch_cli import main
from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.config import load_settings
from pipeline.train import train_group
from tests.reliability.common import QUICK, T0, land, wide
from tests.reliability.recovery import REPO


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Group alpha with two versions, the second (seed 8) registered but kept out of promotion."""
    root = tmp_path_factory.mktemp("models-command")
    land(root / "data" / "landing", "alpha.parquet", wide("alpha"))
    config = root / "nightwatch.yaml"
    config.write_text(yaml.safe_dump({"storage": {"data_root": "data", "models_root": "models"}, "defaults": QUICK,
                                      "groups": [{"name": "alpha", "metrics": ["alpha.*"]}]}))
    settings = load_settings(str(config))
    catalog = discover(settings.storage.landing, now=T0 + pd.Timedelta("2D"))
    (alpha,) = groups(settings, catalog)
    first = train_group(settings, alpha, catalog, "run-1", emit=lambda _: None)["version"]
    other = dataclasses.replace(alpha, model=dataclasses.replace(alpha.model, seed=8))
    strict = dataclasses.replace(settings, promotion_margin=-1.0)  # never promoted
    second = train_group(strict, other, catalog, "run-2", emit=lambda _: None)["version"]
    return root, str(config), settings.storage.models_root, first, second


@pytest.fixture
def fresh(registry, tmp_path):
    """A copy of the registry each test may change."""
    root, _, _, first, second = registry
    shutil.copytree(root, tmp_path / "r")
    config = tmp_path / "r" / "nightwatch.yaml"
    return str(config), str(tmp_path / "r" / "models"), first, second


def models(capsys, config: str, *argv: str) -> str:
    assert main(["models", *argv, "--config", config]) == 0
    return capsys.readouterr().out


def refused(capsys, config: str, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(["models", *argv, "--config", config])
    assert exit_.value.code == 2
    return capsys.readouterr().err


def test_list_shows_each_version_with_its_status_and_the_log(fresh, capsys):
    config, root, first, second = fresh
    out = models(capsys, config, "list")
    meta = io.read_metadata(root, "alpha", first)
    assert f"group alpha: current {first}\n" in out
    row = next(line for line in out.splitlines() if line.strip().startswith(first))
    assert f"{meta['val_error']:.4f}" in row and f"{meta['states']['score']['threshold']:.4f}" in row
    assert row.endswith("current") and "2026-11-18 00:00 .. 2026-11-19 23:55" in row
    assert next(line for line in out.splitlines() if line.strip().startswith(second)).endswith("never promoted")
    assert "registry log (4 entries):" in out
    assert f"promote {first} (was -) by training: run run-1: val_error" in out
    assert f"keep {second} by training: not promoted: current {first} does better on the same data" in out


def test_promote_rolls_forward_and_back_and_each_change_is_logged(fresh, capsys):
    config, root, first, second = fresh
    assert models(capsys, config, "promote", "alpha", second, "--why", "seed 8 reads better", "--by", "ana") == \
        f"alpha: current version is now {second}\n"
    models(capsys, config, "promote", "alpha", first, "--why", "rollback", "--by", "bo")
    assert io.current_version(root, "alpha") == first
    assert models(capsys, config, "promote", "alpha", first) == f"alpha: {first} is already current\n"
    log = [(e["action"], e["version"], e.get("previous"), e["who"], e["why"]) for e in io.read_log(root, "alpha")][-2:]
    assert log == [("promote", second, first, "ana", "seed 8 reads better"), ("promote", first, second, "bo", "rollback")]
    out = models(capsys, config, "list", "alpha")
    assert next(line for line in out.splitlines() if line.strip().startswith(second)).endswith("promoted before")


def test_a_pinned_group_refuses_promotion_until_unpinned(fresh, capsys):
    config, root, first, second = fresh
    models(capsys, config, "pin", "alpha", second, "--why", "known good", "--by", "ana")
    assert (io.current_version(root, "alpha"), io.pinned_version(root, "alpha")) == (second, second)
    assert f"group 'alpha' is pinned to {second}: `nightwatch models unpin alpha` first" in \
        refused(capsys, config, "promote", "alpha", first)
    assert io.current_version(root, "alpha") == second
    assert f"group alpha: current {second}, pinned to {second}" in models(capsys, config, "list")
    assert models(capsys, config, "unpin", "alpha", "--by", "ana") == \
        f"alpha: unpinned (was {second}); the next training may promote a new version\n"
    assert "group 'alpha' is not pinned" in refused(capsys, config, "unpin", "alpha")
    models(capsys, config, "promote", "alpha", first)
    assert io.current_version(root, "alpha") == first


def test_show_prints_the_metadata_and_the_versions_log_lines(fresh, capsys):
    config, root, first, second = fresh
    out = models(capsys, config, "show", "alpha", second)
    meta = io.read_metadata(root, "alpha", second)
    assert out.startswith(f"group alpha, version {second}: {root}/alpha/{second}\n  current: no; pinned: no\n")
    assert f"  states: {json.dumps(meta['states'], sort_keys=True)}\n" in out
    assert f"  model_sha256: \"{meta['model_sha256']}\"" in out
    assert "registry log (2 entries):" in out and f"register {second} by training: run run-2" in out


@pytest.mark.parametrize("argv, message", [
    (["promote", "alpha", "20261119T235500Z-0000000000"], "argument VERSION: group 'alpha' has no version "
     "'20261119T235500Z-0000000000' (versions: "),
    (["pin", "alpha", "../alpha"], "argument VERSION: group 'alpha' has no version '../alpha'"),
    (["show", "beta", "x"], "argument GROUP: group 'beta' has no models in "),
    (["list", "../alpha"], "argument GROUP: group: name '../alpha' must match"),
    (["promote", "alpha"], "the following arguments are required: VERSION"),
])
def test_bad_names_are_refused_and_nothing_changes(fresh, capsys, argv, message):
    config, root, first, _ = fresh
    before = sorted(p.name for p in (io.safe_child(root, "alpha")).iterdir())
    assert message in refused(capsys, config, *argv)
    assert io.current_version(root, "alpha") == first
    assert sorted(p.name for p in (io.safe_child(root, "alpha")).iterdir()) == before


def test_a_version_scoring_would_refuse_is_not_promoted(fresh, capsys):
    config, root, first, second = fresh
    path = io.metadata_path(root, "alpha", second)
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, "states": {**meta["states"], "score": {"threshold": -1.0}}}))
    assert "cannot be scored with" in refused(capsys, config, "promote", "alpha", second)
    assert io.current_version(root, "alpha") == first
    row = next(line for line in models(capsys, config, "list").splitlines() if line.strip().startswith(second))
    assert "unusable: " in row


def test_registry_commands_start_neither_prefect_nor_tensorflow(fresh):
    config, _, _, _ = fresh
    code = ("import sys; from nightwatch_cli import main; main(sys.argv[1:]); "
            "print(sorted(m for m in ('prefect', 'tensorflow', 'keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, "models", "list", "--config", config], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
