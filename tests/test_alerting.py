"""Alerting after a scoring run, against real local receivers, on hand-published intervals."""
import json

import pandas as pd
import pytest

from pipeline import io
from pipeline.alerting import alert_group, export_metrics
from pipeline.anomalies import INTERVAL_COLUMNS
from pipeline.config import parse_settings
from pipeline.io.alert_log import alert_log_path
from pipeline.publish import anomalies_table
from tests.receivers import Receiver

GROUP = "db-01"
FIRST = pd.Timestamp("2026-11-20T00:00Z")


def t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def settings_for(root, **alerts):
    raw = {"storage": {"data_root": str(root / "data"), "models_root": str(root / "models")},
           "alerts": {"min_severity": "medium", "timeout_s": 1, "retries": 2, "backoff_s": 0.01,
                      "report_url": "https://ops.example/report.html",
                      "destinations": [{"name": "ops-webhook", "kind": "webhook", "url_env": "TEST_HOOK_URL"},
                                       {"name": "ops-slack", "kind": "slack", "url_env": "TEST_SLACK_URL"}],
                      **alerts},
           "prometheus": {"textfile": "metrics/nightwatch.prom"}}
    return parse_settings(raw, "test-config", root)


def publish(settings, intervals: list[tuple[str, str, str]], watermark: str, open_since: str | None = None):
    """Publish intervals (start, end, severity) of the day as a scoring run would, and move the watermark."""
    rows = [{"start": t(s), "end": t(e), "n_points": 3, "peak_time": t(s), "peak_score": 9.0, "threshold": 2.0,
             "severity": sev, "trigger": "score", "top_metric": "db-01.lag", "contributors": "db-01.lag 100%"}
            for s, e, sev in intervals]
    frame = pd.DataFrame(rows, columns=INTERVAL_COLUMNS)
    for col in ("start", "end", "peak_time"):
        frame[col] = pd.to_datetime(frame[col], utc=True).dt.as_unit("us")
    root = settings.storage.data_root
    io.upsert_partitions(root, "anomalies", GROUP, anomalies_table(frame, "v1", "run"), "start", FIRST, t(watermark))
    io.write_watermark(root, GROUP, t(watermark), None if open_since is None else t(open_since))


@pytest.fixture
def receivers(monkeypatch):
    with Receiver() as hook, Receiver() as slack:
        monkeypatch.setenv("TEST_HOOK_URL", hook.url)
        monkeypatch.setenv("TEST_SLACK_URL", slack.url)
        yield hook, slack


def test_alerts_open_once_updates_do_not_repeat_and_reruns_send_nothing(tmp_path, receivers):
    hook, slack = receivers
    settings = settings_for(tmp_path)
    publish(settings, [("2026-11-20T01:00", "2026-11-20T01:30", "low"),
                       ("2026-11-20T03:00", "2026-11-20T04:00", "high"),
                       ("2026-11-20T09:00", "2026-11-20T10:00", "medium")], "2026-11-20T10:00", "2026-11-20T09:00")
    assert alert_group(settings, GROUP, FIRST) == {"group": GROUP, "opened": 4, "updated": 0, "failures": []}
    assert [(b["event"], b["start"], b["severity"], b["open"]) for b in hook.received] == [
        ("anomaly.opened", "2026-11-20T03:00:00Z", "high", False),
        ("anomaly.opened", "2026-11-20T09:00:00Z", "medium", True)]
    assert [b["text"] for b in slack.received] == [
        "Nightwatch: high anomaly in db-01 from 2026-11-20 03:00 UTC to 2026-11-20 04:00 UTC",
        "Nightwatch: medium anomaly in db-01 from 2026-11-20 09:00 UTC to 2026-11-20 10:00 UTC (still open)"]
    assert alert_group(settings, GROUP, FIRST)["opened"] == 0  # a rerun of the same run
    log_path = alert_log_path(settings.storage.data_root, GROUP)
    first_sent = json.loads(log_path.read_text())["sent"]["2026-11-20T09:00:00Z"]["ops-webhook"]["first_sent_at"]

    # the next hourly run extends the open interval: one update each, marked as such, nothing else
    publish(settings, [("2026-11-20T09:00", "2026-11-20T10:45", "high")], "2026-11-20T11:00")
    assert alert_group(settings, GROUP, t("2026-11-20T09:00")) == {"group": GROUP, "opened": 0, "updated": 2,
                                                                     "failures": []}
    update = hook.received[-1]
    assert (update["event"], update["alert_id"], update["end"], update["previous"]) == (
        "anomaly.updated", "db-01/2026-11-20T09:00:00Z", "2026-11-20T10:45:00Z",
        {"end": "2026-11-20T10:00:00Z", "severity": "medium"})
    assert update["first_sent_at"] == first_sent
    assert slack.received[-1]["text"].startswith("Nightwatch update to the alert sent at ")
    assert len(hook.received) == len(slack.received) == 3
    assert alert_group(settings, GROUP, t("2026-11-20T09:00"))["updated"] == 0  # a rerun sends nothing
    assert len(hook.tries) == len(slack.tries) == 3
    # everything before the watermark is delivered: the log moves on, and keeps what it sent for
    # the intervals a rescoring of late rows may find behind it
    log = json.loads(log_path.read_text())
    assert (log["since"], log["kept_from"], sorted(log["sent"]), log["held"]) == (
        "2026-11-20T11:00:00Z", "2026-11-20T00:00:00Z", ["2026-11-20T03:00:00Z", "2026-11-20T09:00:00Z"], {})


def test_a_failing_receiver_is_retried_reported_and_sent_again_at_the_next_run(tmp_path, receivers, monkeypatch):
    _, slack = receivers
    settings = settings_for(tmp_path)
    publish(settings, [("2026-11-20T03:00", "2026-11-20T04:00", "high"),
                       ("2026-11-20T06:00", "2026-11-20T07:00", "high")], "2026-11-20T10:00")
    with Receiver(always=500) as broken:
        monkeypatch.setenv("TEST_HOOK_URL", broken.url)
        result = alert_group(settings, GROUP, FIRST)
    assert result["opened"] == 2 and len(slack.received) == 2  # the other destination is not held up
    assert result["failures"] == ["db-01: alert delivery to 'ops-webhook' failed: HTTP 500 after 3 tries; 2 alert(s) "
                                  "not sent, tried again at the next run"]
    assert len(broken.tries) == 3  # retries of the first message; the second is not tried after it failed
    with Receiver() as mended:
        monkeypatch.setenv("TEST_HOOK_URL", mended.url)
        assert alert_group(settings, GROUP, None) == {"group": GROUP, "opened": 2, "updated": 0, "failures": []}
    assert [b["start"] for b in mended.received] == ["2026-11-20T03:00:00Z", "2026-11-20T06:00:00Z"]
    assert len(slack.received) == 2


def test_a_receiver_that_times_out_is_reported(tmp_path, receivers, monkeypatch):
    settings = settings_for(tmp_path, timeout_s=0.3, retries=1)
    publish(settings, [("2026-11-20T03:00", "2026-11-20T04:00", "high")], "2026-11-20T10:00")
    with Receiver(delay_s=1.0) as slow:
        monkeypatch.setenv("TEST_SLACK_URL", slow.url)
        result = alert_group(settings, GROUP, FIRST)
    assert result["failures"] == ["db-01: alert delivery to 'ops-slack' failed: no answer within 0.3s after 2 tries; "
                                  "1 alert(s) not sent, tried again at the next run"]
    assert result["opened"] == 1


def test_a_missing_environment_variable_is_a_failure_naming_it(tmp_path, receivers, monkeypatch):
    monkeypatch.delenv("TEST_SLACK_URL")
    settings = settings_for(tmp_path)
    publish(settings, [("2026-11-20T03:00", "2026-11-20T04:00", "high")], "2026-11-20T10:00")
    result = alert_group(settings, GROUP, FIRST)
    assert result["failures"] == ["db-01: alert delivery to 'ops-slack' failed: environment variable TEST_SLACK_URL "
                                  "is not set; 1 alert(s) not sent, tried again at the next run"]


def test_a_snooze_holds(tmp_path, receivers):
    hook, slack = receivers
    settings = settings_for(tmp_path, snooze=[{"group": GROUP, "until": "2999-01-01"}])
    publish(settings, [("2026-11-20T03:00", "2026-11-20T04:00", "high")], "2026-11-20T10:00")
    assert alert_group(settings, GROUP, FIRST)["opened"] == 0
    assert hook.tries == slack.tries == []


def test_enabling_alerts_does_not_announce_the_past(tmp_path, receivers):
    hook, _ = receivers
    settings = settings_for(tmp_path)
    publish(settings, [("2026-11-20T03:00", "2026-11-20T04:00", "high"),
                       ("2026-11-20T11:00", "2026-11-20T11:30", "high")], "2026-11-20T12:00")
    assert alert_group(settings, GROUP, t("2026-11-20T10:05"))["opened"] == 2  # the later interval, two destinations
    assert [b["start"] for b in hook.received] == ["2026-11-20T11:00:00Z"]


def test_metrics_file_has_each_group_latest_score(tmp_path):
    settings = settings_for(tmp_path)
    root = settings.storage.data_root
    for group, score, open_since in (("db-01", 7.5, "2026-11-20T09:00"), ("web-01", 0.5, None)):
        times = pd.date_range("2026-11-20T09:50", periods=3, freq="5min", tz="UTC").as_unit("us")
        frame = pd.DataFrame({"timestamp": times, "metric": "m", "score": [1.0, 2.0, score], "threshold": 3.0})
        io.upsert_partitions(root, "scores", group, frame, "timestamp", times[0], times[-1])
        io.write_watermark(root, group, times[-1], None if open_since is None else t(open_since))
    path, problems = export_metrics(settings)
    assert path == tmp_path / "data" / "metrics" / "nightwatch.prom" and problems == []
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert lines == ['nightwatch_score{group="db-01"} 7.5', 'nightwatch_score{group="web-01"} 0.5',
                     'nightwatch_threshold{group="db-01"} 3', 'nightwatch_threshold{group="web-01"} 3',
                     'nightwatch_anomaly_open{group="db-01"} 1', 'nightwatch_anomaly_open{group="web-01"} 0',
                     'nightwatch_last_scored_timestamp_seconds{group="db-01"} 1795168800',
                     'nightwatch_last_scored_timestamp_seconds{group="web-01"} 1795168800']
    assert [p.name for p in path.parent.iterdir()] == ["nightwatch.prom"]  # no temp name left


def test_a_notification_block_outside_a_flow_is_a_failure_not_a_crash(tmp_path):
    settings = settings_for(tmp_path, destinations=[{"name": "p", "kind": "prefect", "block": "slack-webhook/ops"}])
    publish(settings, [("2026-11-20T03:00", "2026-11-20T04:00", "high")], "2026-11-20T10:00")
    assert alert_group(settings, GROUP, FIRST)["failures"] == [
        "db-01: alert delivery to 'p' failed: Prefect notification block 'slack-webhook/ops' can only be used in a "
        "flow; 1 alert(s) not sent, tried again at the next run"]


def test_a_first_run_without_new_steps_starts_at_the_watermark(tmp_path, receivers):
    hook, _ = receivers  # e.g. a backfill, which never starts alerting in the past
    settings = settings_for(tmp_path)
    publish(settings, [("2026-11-20T03:00", "2026-11-20T04:00", "high")], "2026-11-20T10:00")
    assert alert_group(settings, GROUP, None)["opened"] == 0 and hook.tries == []
    log = json.loads(alert_log_path(settings.storage.data_root, GROUP).read_text())
    assert log == {"since": "2026-11-20T10:00:00Z", "kept_from": "2026-11-20T10:00:00Z", "sent": {}, "held": {}}


def test_an_interval_found_in_late_rows_behind_since_is_sent_once(tmp_path, receivers):
    hook, slack = receivers
    settings = settings_for(tmp_path)
    publish(settings, [("2026-11-20T03:00", "2026-11-20T04:00", "high")], "2026-11-20T10:00")
    assert alert_group(settings, GROUP, FIRST)["opened"] == 2  # `since` moves to the watermark
    # the next run scores late rows from 07:00 again and finds an incident there; an hourly run
    # that rescored nothing does not look behind `since`
    publish(settings, [("2026-11-20T03:00", "2026-11-20T04:00", "high"),
                       ("2026-11-20T07:30", "2026-11-20T08:00", "high")], "2026-11-20T11:00")
    assert alert_group(settings, GROUP, t("2026-11-20T10:05"))["opened"] == 0
    assert alert_group(settings, GROUP, t("2026-11-20T10:05"), t("2026-11-20T07:00"))["opened"] == 2
    assert [b["start"] for b in hook.received] == ["2026-11-20T03:00:00Z", "2026-11-20T07:30:00Z"]
    assert alert_group(settings, GROUP, t("2026-11-20T10:05"), t("2026-11-20T07:00"))["opened"] == 0  # a rerun
    assert alert_group(settings, GROUP, t("2026-11-20T10:05"), t("2026-11-20T02:00"))["opened"] == 0  # sent before
    log = json.loads(alert_log_path(settings.storage.data_root, GROUP).read_text())
    assert log["since"] == "2026-11-20T11:00:00Z" and len(slack.received) == 2
