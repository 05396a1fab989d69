"""Flow-level integration of alerting and the metrics file: the score flow sends an alert per new
anomaly interval to a real local receiver, a rerun sends nothing, an incident going on across runs
is announced once and then updated, and a receiver answering 500 is retried and reported while
scoring completes (and shown in the report), and an incident found in rows that landed behind the
watermark is announced."""
import json

import pandas as pd
import pytest
import yaml

from pipeline import io
from pipeline.alerting import alert_group
from pipeline.io.alert_log import alert_log_path
from pipeline.sample_data import landing_files
from tests.helpers import DAYS, tiny_config
from tests.receivers import Receiver

GROUP = {"name": "db-01", "metrics": ["db-01.*"]}
TRAINED_UNTIL = pd.Timestamp("2026-11-16T12:00Z")  # before the level shift (2026-11-16 19:15 to 2026-11-17 01:15)
FIRST_RUN_UNTIL = pd.Timestamp("2026-11-16T22:00Z")  # scored while the shift goes on: its interval is open
HELD_BACK = pd.Timestamp("2026-11-19T22:00Z")  # the rows after it land after the nightly run


def land_until(root, until: pd.Timestamp | None) -> None:
    """The sample db-01 files with the rows up to `until` (all with None), as landed by then."""
    files, _ = landing_files(days=DAYS, end="2026-11-20")
    for rel, frame in files.items():
        if "db-01" in rel:
            times = pd.to_datetime(frame["timestamp"], utc=True)
            io.write_parquet_atomic(frame if until is None else frame[times <= until], root / "data" / "landing" / rel)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, prefect_harness):
    """Train before the incident; score while it goes on (one receiver answers 500); rerun; land the
    rest but the last hours and score again (the incident grew); write the report with the first
    run's warnings; run the nightly flow; mend the receiver, land the last hours and score them;
    rewrite the last file with an incident behind the watermark and score again."""
    from flows.nightly import nightly_flow, report_flow, score_flow, train_flow

    root = tmp_path_factory.mktemp("alert-flows")
    config = {**tiny_config(root, [GROUP]), "prometheus": {"textfile": "metrics/nightwatch.prom"},
              "alerts": {"min_severity": "low", "timeout_s": 2, "retries": 2, "backoff_s": 0.01,
                         "report_url": "https://ops.example/report.html",
                         "destinations": [{"name": "ops-slack", "kind": "slack", "url_env": "FLOW_TEST_SLACK_URL"},
                                          {"name": "ops-webhook", "kind": "webhook",
                                           "url_env": "FLOW_TEST_HOOK_URL"}]}}
    path = str(root / "nightwatch.yaml")
    (root / "nightwatch.yaml").write_text(yaml.safe_dump(config))
    data = str(root / "data")
    out = {"root": root}
    with pytest.MonkeyPatch.context() as env, Receiver() as slack, Receiver(always=500) as broken:
        env.setenv("FLOW_TEST_SLACK_URL", slack.url)
        env.setenv("FLOW_TEST_HOOK_URL", broken.url)
        land_until(root, TRAINED_UNTIL)
        train_flow(path)
        land_until(root, FIRST_RUN_UNTIL)
        out["first"] = score_flow(path, return_state=True)
        out["first_slack"], out["first_tries"] = list(slack.received), len(broken.tries)
        out["anomalies"] = io.read_dataset(data, "anomalies", "db-01")
        out["open_since"] = io.read_open_since(data, "db-01")
        out["second"] = score_flow(path, return_state=True)
        out["second_slack"], out["second_tries"] = list(slack.received), len(broken.tries)
        land_until(root, HELD_BACK)
        out["third"] = score_flow(path, return_state=True)
        out["third_slack"] = list(slack.received)
        warnings = out["first"].result()["scored"]["db-01"]["warnings"]
        out["report"] = report_flow(path, days=30, warnings={"db-01": warnings})
        out["nightly"] = nightly_flow(path, days=30, return_state=True)  # nothing new; the webhook still fails
        with Receiver() as mended:
            env.setenv("FLOW_TEST_HOOK_URL", mended.url)
            land_until(root, None)  # the last hours, scored by the model the nightly run trained
            out["mended"] = score_flow(path, return_state=True)  # what failed is delivered: `since` moves on
            out["since_before_late"] = alert_since(data)
            out["late_incident"] = land_late_incident(root)
            out["late"] = score_flow(path, return_state=True)
            out["late_hook"] = list(mended.received)
    return out


def alert_since(data: str) -> pd.Timestamp:
    return pd.Timestamp(json.loads(alert_log_path(data, "db-01").read_text())["since"])


def land_late_incident(root) -> pd.Timestamp:
    """The last landed file rewritten with an incident in replication lag three hours before its
    end (a corrected export landing after those steps were scored); returns the incident's start."""
    path = next((root / "data" / "landing").rglob("db-01-week47.parquet"))
    frame = pd.read_parquet(path)
    times = pd.to_datetime(frame["timestamp"], utc=True)
    start = times.max() - pd.Timedelta(hours=3)
    incident = (times > start) & (times <= start + pd.Timedelta(hours=1))
    frame.loc[incident, "db-01.replication_lag"] += 20 * frame["db-01.replication_lag"].std()
    io.write_parquet_atomic(frame, path)
    return start


def test_one_alert_per_new_interval_arrives(runs):
    anomalies = runs["anomalies"]
    assert len(anomalies) > 0
    starts = [f"{s:%Y-%m-%d %H:%M} UTC" for s in anomalies["start"].sort_values()]
    texts = [body["text"] for body in runs["first_slack"]]
    assert len(texts) == len(starts) and all(f"in db-01 from {s}" in x for s, x in zip(starts, texts))
    assert all(body["blocks"][0]["type"] == "section" for body in runs["first_slack"])
    assert runs["first"].result()["alerts"]["db-01"]["opened"] == len(starts)


def test_a_rerun_sends_nothing_again(runs):
    sent = runs["second"].result()["alerts"]["db-01"]
    assert (sent["opened"], sent["updated"]) == (0, 0)
    assert runs["second_slack"] == runs["first_slack"]


def test_an_incident_across_runs_is_announced_once_and_then_updated(runs):
    open_since = runs["open_since"]
    assert open_since is not None and open_since <= pd.Timestamp("2026-11-16T22:00Z")
    shown = f"from {open_since:%Y-%m-%d %H:%M} UTC"
    later = runs["third_slack"][len(runs["second_slack"]):]
    assert [b["text"] for b in runs["first_slack"] if shown in b["text"]] == [
        f"Nightwatch: {runs['anomalies'].set_index('start').loc[open_since, 'severity']} anomaly in db-01 {shown} "
        f"to {runs['anomalies'].set_index('start').loc[open_since, 'end']:%Y-%m-%d %H:%M} UTC (still open)"]
    updates = [b["text"] for b in later if b["text"].startswith("Nightwatch update to the alert sent at ")]
    assert len(updates) == 1 and f"in db-01 now {open_since:%Y-%m-%d %H:%M} UTC to " in updates[0]
    assert not any(b["text"].startswith("Nightwatch: ") and shown in b["text"] for b in later)  # not re-sent
    assert runs["third"].result()["alerts"]["db-01"]["updated"] == 1


def test_a_failing_receiver_leaves_scoring_completed_and_is_reported(runs):
    first, second, root = runs["first"], runs["second"], runs["root"]
    assert first.is_completed() and first.result()["scored"]["db-01"]["scored"] > 0
    assert io.read_watermark(str(root / "data"), "db-01") is not None
    line = "db-01: alert delivery to 'ops-webhook' failed: HTTP 500 after 3 tries"
    assert line in first.message and line in first.result()["scored"]["db-01"]["warnings"][-1]
    assert runs["first_tries"] == 3
    assert second.is_completed() and runs["second_tries"] == 6  # not recorded as sent: tried again at the next run
    assert "alert delivery to &#x27;ops-webhook&#x27; failed: HTTP 500 after 3 tries" in open(runs["report"]).read()
    nightly = runs["nightly"]
    assert nightly.is_completed() and nightly.message.startswith("all groups trained and scored; report at ")
    assert f"\n{line}" in nightly.message
    (latest, *_) = sorted((root / "data" / "reports").glob("report-*.html"), key=lambda p: p.stat().st_mtime,
                          reverse=True)
    assert "alert delivery to &#x27;ops-webhook&#x27; failed" in latest.read_text()


def test_an_incident_in_rows_landed_behind_the_watermark_is_announced_once(runs):
    late = runs["late"].result()["scored"]["db-01"]
    assert pd.Timestamp(late["rescored_from"]) <= runs["late_incident"] < runs["since_before_late"]
    found = [b for b in runs["late_hook"] if b["event"] == "anomaly.opened"
             and pd.Timestamp(b["start"]) <= runs["late_incident"] + pd.Timedelta(hours=1) <= pd.Timestamp(b["end"])]
    assert len(found) == 1 and runs["late"].result()["alerts"]["db-01"]["opened"] == 2  # webhook and Slack
    assert runs["mended"].result()["alerts"]["db-01"]["opened"] > 0  # the deliveries that had failed


def test_the_metrics_file_holds_the_group(runs):
    root = runs["root"]
    text = (root / "data" / "metrics" / "nightwatch.prom").read_text()
    newest = io.read_dataset(str(root / "data"), "scores", "db-01")["timestamp"].max()
    assert f'nightwatch_last_scored_timestamp_seconds{{group="db-01"}} {int(newest.timestamp())}\n' in text
    assert 'nightwatch_anomaly_open{group="db-01"} ' in text and "# TYPE nightwatch_score gauge" in text


def test_secret_and_notification_blocks_deliver_in_the_flow_task(tmp_path, prefect_harness):
    """The flow's resolvers: a URL from a Prefect Secret block, a message through a Prefect
    notification block (a custom webhook to a local receiver), a missing block as a failure."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.blocks.system import Secret

    from flows.tasks import notify_block, secret_url
    from tests.test_alerting import FIRST, publish, settings_for

    with Receiver() as hook, Receiver() as notified:
        Secret(value=hook.url).save("nightwatch-test-hook", overwrite=True)
        CustomWebhookNotificationBlock(name="nightwatch", url=notified.url, allow_private_urls=True,
                                       json_data={"subject": "{{subject}}", "text": "{{body}}"}
                                       ).save("nightwatch-test", overwrite=True)
        settings = settings_for(tmp_path, destinations=[
            {"name": "hook", "kind": "webhook", "secret_block": "nightwatch-test-hook"},
            {"name": "block", "kind": "prefect", "block": "custom-webhook/nightwatch-test"},
            {"name": "gone", "kind": "webhook", "secret_block": "no-such-block"}])
        publish(settings, [("2026-11-20T03:00", "2026-11-20T04:00", "high")], "2026-11-20T10:00")
        result = alert_group(settings, "db-01", FIRST, resolve=secret_url, notify=notify_block)
    assert result["opened"] == 2 and [b["event"] for b in hook.received] == ["anomaly.opened"]
    assert notified.received == [{
        "subject": "Nightwatch: high anomaly in db-01 from 2026-11-20 03:00 UTC to 2026-11-20 04:00 UTC",
        "text": "Group: db-01\nWhen: 2026-11-20 03:00 UTC to 2026-11-20 04:00 UTC\nSeverity: high\nTrigger: score\n"
                "Peak score: 9 at 2026-11-20 03:00 UTC (threshold 2)\nTop metrics: db-01.lag 100%\n"
                "Report: https://ops.example/report.html"}]
    (failure,) = result["failures"]
    assert failure.startswith("db-01: alert delivery to 'gone' failed: Prefect Secret block 'no-such-block': ")
