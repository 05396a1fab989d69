"""`nightwatch anomalies` and `nightwatch explain` on a group trained and scored for real: the
sample's latency spike is listed, filtered, and explained by the metric that drove it."""
import shutil
from pathlib import Path

import pandas as pd
import pytest

from nightwatch_cli import main
from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.config import load_settings
from pipeline.scoring import score_group
from pipeline.train import train_group
from tests.helpers import land_sample, write_config

WEB = [{"name": "web-01", "metrics": ["web-01/*"]}]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("anomalies-command")
    injected = land_sample(root, keep=("web-01",))
    config = str(write_config(root, WEB))
    settings = load_settings(config)
    catalog = discover(settings.storage.landing, now=pd.Timestamp("2026-11-21", tz="UTC"))
    (web,) = groups(settings, catalog)
    train_group(settings, web, catalog, "train", emit=lambda _: None)
    score_group(settings, web, catalog, "score", emit=lambda _: None)
    anomalies = io.read_dataset(settings.storage.data_root, "anomalies", "web-01")
    assert not anomalies.empty
    return config, settings, injected, anomalies


def run(capsys, *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_anomalies_lists_every_interval_as_a_table(scored, capsys):
    config, _, _, anomalies = scored
    out = run(capsys, "anomalies", "--config", config).splitlines()
    assert out[0].split() == ["GROUP", "START", "END", "SEVERITY", "TRIGGER", "PEAK_SCORE", "THRESHOLD", "CONTRIBUTORS"]
    assert len(out) == len(anomalies) + 2 and out[-1] == f"{len(anomalies)} intervals in 1 groups"
    newest = anomalies.sort_values("start").iloc[-1]
    assert out[1].startswith(f"web-01  {newest['start']:%Y-%m-%d %H:%M}  {newest['end']:%Y-%m-%d %H:%M}  "
                             f"{newest['severity']}")
    assert f"{newest['peak_score']:.3f}" in out[1] and str(newest["contributors"]) in out[1]


def test_anomalies_filters_by_time_and_severity(scored, capsys):
    config, _, _, anomalies = scored
    after = anomalies["end"].max() + pd.Timedelta("5min")
    assert run(capsys, "anomalies", "--since", f"{after:%Y-%m-%dT%H:%M}", "--config", config) == \
        "no anomaly intervals matching the filters\n"
    out = run(capsys, "anomalies", "--group", "web-01", "--severity", "high", "--config", config)
    high = (anomalies["severity"] == "high").sum()
    assert out.endswith(f"{high} intervals in 1 groups\n") if high else out == "no anomaly intervals matching the filters\n"


def test_explain_names_the_rules_and_the_metric_that_drove_the_spike(scored, capsys):
    config, settings, injected, anomalies = scored
    (spike,) = [i for i in injected if i.kind == "spike"]
    inside = anomalies[(anomalies["start"] <= spike.end) & (anomalies["end"] >= spike.start)].iloc[0]
    out = run(capsys, "explain", "web-01", f"{inside['peak_time']:%Y-%m-%dT%H:%M}", "--config", config)
    lines = out.splitlines()
    assert lines[0].startswith(f"web-01: {inside['severity']} anomaly {inside['start']:%Y-%m-%d %H:%M} .. ")
    assert f"trigger {inside['trigger']}, model {inside['model_version']}" in lines[0]
    states = io.read_metadata(settings.storage.models_root, "web-01", inside["model_version"])["states"]
    score_line = next(line for line in lines if line.strip().startswith("score "))
    assert "fired" in score_line and "x threshold" in score_line and f"{states['score']['threshold']:.4g}" in score_line
    metrics = lines[lines.index("  metrics (share of the interval's error; peak metric score, 1 = its usual error in "
                                "training):") + 1:]
    assert len(metrics) == 5 and metrics[0].split()[0] == f"web-01/{spike.metrics[0]}"


def test_explain_at_a_quiet_time_gives_the_score_and_the_nearest_interval(scored, capsys):
    config, settings, _, anomalies = scored
    quiet = pd.Timestamp("2026-11-06 00:00", tz="UTC")
    assert not ((anomalies["start"] <= quiet) & (anomalies["end"] >= quiet)).any()
    scores = io.read_dataset(settings.storage.data_root, "scores", "web-01")
    at = scores[scores["timestamp"] == quiet].iloc[0]
    out = run(capsys, "explain", "web-01", "2026-11-06", "--config", config)
    assert out.startswith(f"web-01: no anomaly interval holds 2026-11-06 00:00 UTC: score {at['score']:.3f}, "
                          f"threshold {at['threshold']:.3f}\n  nearby: ")


def test_a_label_shows_in_the_table_and_the_explanation(scored, capsys, tmp_path):
    """Labelled after it was published (on a copy of the roots), the interval shows its verdict."""
    copy = tmp_path / "roots"
    shutil.copytree(Path(scored[0]).parent, copy)
    config, anomalies = str(write_config(copy, WEB)), scored[3]
    first = anomalies.sort_values("start").iloc[0]
    run(capsys, "label", "web-01", f"{first['start']:%Y-%m-%dT%H:%M}", f"{first['start']:%Y-%m-%dT%H:%M}",
        "--as", "false-alarm", "--config", config)
    out = run(capsys, "anomalies", "--config", config).splitlines()
    assert out[0].split()[-1] == "LABEL"
    labelled = [line for line in out[1:-1] if line.endswith("false-alarm")]
    assert len(labelled) == 1 and labelled[0].startswith(f"web-01  {first['start']:%Y-%m-%d %H:%M}")
    out = run(capsys, "explain", "web-01", f"{first['start']:%Y-%m-%dT%H:%M}", "--config", config)
    assert out.splitlines()[1] == "  labelled: false-alarm"


@pytest.mark.parametrize("argv, message", [
    (["anomalies", "--group", "db-01"], "argument --group: no published anomalies for db-01 (groups with anomalies: "
     "web-01)"),
    (["anomalies", "--severity", "urgent"], "argument --severity: invalid choice: 'urgent'"),
    (["explain", "db-01", "2026-11-10"], "argument GROUP: group 'db-01' has no published scores"),
    (["explain", "web-01", "noon"], "argument TIME: not an ISO 8601 time: 'noon'"),
])
def test_bad_arguments_are_refused(scored, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--config", scored[0]])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
