"""`nightwatch label GROUP START END --as KIND`: appends a row to the group's labels dataset; bad
arguments are refused with exit 2 naming them, before anything is written."""
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from nightwatch_cli import main
from pipeline import io
from tests.reliability.recovery import REPO


def write_config(root) -> str:
    config = root / "nightwatch.yaml"
    config.write_text(yaml.safe_dump({"storage": {"data_root": str(root / "data"), "models_root": str(root / "models")},
                                      "groups": [{"name": "db-01", "metrics": ["db-01.*"]}]}))
    return str(config)


def test_a_label_is_appended_with_who_and_when(tmp_path, capsys):
    config = write_config(tmp_path)
    before = pd.Timestamp.now(tz="UTC")
    assert main(["label", "db-01", "2026-11-10T03:00", "2026-11-10T09:00+01:00", "--as", "incident",
                 "--note", "INC-42", "--by", "ana", "--config", config]) == 0
    assert main(["label", "db-01", "2026-11-12", "2026-11-12T06:00", "--as", "false-alarm", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"labelled in {tmp_path / 'data' / 'labels' / 'db-01.parquet'}; used at db-01's next training" in out
    labels = io.read_labels(str(tmp_path / "data"), "db-01")
    assert labels["label"].tolist() == ["incident", "false-alarm"]
    assert labels["start"].iloc[0] == pd.Timestamp("2026-11-10T03:00Z")
    assert labels["end"].iloc[0] == pd.Timestamp("2026-11-10T08:00Z")  # +01:00 read as UTC
    assert labels["note"].tolist() == ["INC-42", ""] and labels["labelled_by"].iloc[0] == "ana"
    assert labels["labelled_by"].iloc[1] not in ("", "ana")  # the login name
    assert (labels["labelled_at"] >= before).all()


@pytest.mark.parametrize("argv, message", [
    (["label", "db-01", "2026-11-10T09:00", "2026-11-10T03:00", "--as", "incident"],
     "argument END: 2026-11-10T03:00 is before START 2026-11-10T09:00"),
    (["label", "db-01", "2026-11-10", "2026-11-11", "--as", "bug"],
     "argument --as: invalid choice: 'bug' (choose from 'incident', 'false-alarm')"),
    (["label", "db-01", "2026-11-10", "2026-11-11"], "the following arguments are required: --as"),
    (["label", "db-01", "soon", "2026-11-11", "--as", "incident"], "argument START: not an ISO 8601 time: 'soon'"),
    (["label", "db-01", "05/12/2026", "06/12/2026", "--as", "incident"],  # a month, or two days? refused
     "argument START: not an ISO 8601 time: '05/12/2026'"),
    (["label", "db-02", "2026-11-10", "2026-11-11", "--as", "incident"],
     "argument GROUP: no group 'db-02' is configured, trained, scored or has a state (known: db-01)"),
    (["label", "../db-01", "2026-11-10", "2026-11-11", "--as", "incident"], "argument GROUP: group: name '../db-01'"),
    (["label", "db-01", "2026-11-10", "2026-11-11", "--remove", "--note", "x"],
     "argument --remove: --note and --by describe a new label; a removal takes none"),
])
def test_bad_labels_are_refused_and_nothing_is_written(tmp_path, capsys, argv, message):
    config = write_config(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--config", config])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "data" / "labels").exists()


def test_labelling_starts_neither_prefect_nor_tensorflow(tmp_path):
    config = write_config(tmp_path)
    code = ("import sys; from nightwatch_cli import main; "
            f"rc = main(['label', 'db-01', '2026-11-10', '2026-11-11', '--as', 'incident', '--config', {config!r}]); "
            "assert rc == 0; print(sorted(m for m in ('prefect', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_a_wrong_label_is_withdrawn_and_others_stay(tmp_path, capsys):
    config = write_config(tmp_path)
    for first, last, kind in (("2026-11-10T03:00", "2026-11-10T09:00", "false-alarm"),
                              ("2026-11-10T04:00", "2026-11-10T05:00", "incident"),
                              ("2026-11-10T08:00", "2026-11-11T02:00", "false-alarm")):  # reaches past the range
        assert main(["label", "db-01", first, last, "--as", kind, "--config", config]) == 0
    capsys.readouterr()
    argv = ["label", "db-01", "2026-11-10", "2026-11-10T23:59", "--remove", "--as", "false-alarm", "--config", config]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert '"start": "2026-11-10 03:00:00+00:00"' in out[0] and '"label": "false-alarm"' in out[0]
    assert out[1] == (f"removed 1 label(s) from {tmp_path / 'data' / 'labels' / 'db-01.parquet'}; db-01's next "
                      "training goes without them")
    labels = io.read_labels(str(tmp_path / "data"), "db-01")
    assert list(zip(labels["label"], labels["start"].dt.hour)) == [("incident", 4), ("false-alarm", 8)]
    assert main(argv) == 1  # nothing left to withdraw there: said, and nothing written
    assert "no false-alarm label of db-01 lies in 2026-11-10 .. 2026-11-10T23:59; nothing removed" in \
        capsys.readouterr().out
    assert main(["label", "db-01", "2026-11-10", "2026-11-12", "--remove", "--config", config]) == 0  # any kind
    assert io.read_labels(str(tmp_path / "data"), "db-01").empty
