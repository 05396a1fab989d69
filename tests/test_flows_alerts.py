"""Flow-level integration of alerting and the metrics file: the score flow sends an alert per new
anomaly interval to a real local receiver, a rerun sends nothing, and a receiver answering 500 is
retried and reported while scoring completes (and shown in the report)."""
import pandas as pd
import pytest
import yaml

from pipeline import io
from tests.helpers import land_sample, tiny_config
from tests.receivers import Receiver

GROUP = {"name": "db-01", "metrics": ["db-01.*"]}


@pytest.fixture(scope="module")
def scored_twice(tmp_path_factory, prefect_harness):
    from flows.nightly import report_flow, score_flow, train_flow

    root = tmp_path_factory.mktemp("alert-flows")
    land_sample(root, keep=("db-01",))
    config = {**tiny_config(root, [GROUP]), "prometheus": {"textfile": "metrics/nightwatch.prom"},
              "alerts": {"min_severity": "low", "timeout_s": 2, "retries": 2, "backoff_s": 0.01,
                         "report_url": "https://ops.example/report.html",
                         "destinations": [{"name": "ops-slack", "kind": "slack", "url_env": "FLOW_TEST_SLACK_URL"},
                                          {"name": "ops-webhook", "kind": "webhook",
                                           "url_env": "FLOW_TEST_HOOK_URL"}]}}
    path = root / "nightwatch.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.MonkeyPatch.context() as env, Receiver() as slack, Receiver(always=500) as broken:
        env.setenv("FLOW_TEST_SLACK_URL", slack.url)
        env.setenv("FLOW_TEST_HOOK_URL", broken.url)
        train_flow(str(path))
        first = score_flow(str(path), return_state=True)
        tries_after_first = len(broken.tries)
        second = score_flow(str(path), return_state=True)
        report = report_flow(str(path), days=30, warnings={"db-01": first.result()["scored"]["db-01"]["warnings"]})
    return root, first, second, slack, broken, tries_after_first, report


def test_one_alert_per_new_interval_arrives(scored_twice):
    root, first, _, slack, _, _, _ = scored_twice
    anomalies = io.read_dataset(str(root / "data"), "anomalies", "db-01")
    assert len(anomalies) > 0
    starts = [f"{s:%Y-%m-%d %H:%M} UTC" for s in anomalies["start"].sort_values()]
    texts = [body["text"] for body in slack.received[:len(starts)]]
    assert len(texts) == len(starts) and all(f"in db-01 from {s}" in x for s, x in zip(starts, texts))
    assert all(body["blocks"][0]["type"] == "section" for body in slack.received)
    assert first.result()["alerts"]["db-01"]["opened"] == len(starts)


def test_a_rerun_sends_nothing_again(scored_twice):
    _, first, second, slack, _, _, _ = scored_twice
    assert second.result()["alerts"]["db-01"]["opened"] == 0 and second.result()["alerts"]["db-01"]["updated"] == 0
    assert len(slack.received) == len(slack.tries) == first.result()["alerts"]["db-01"]["opened"]


def test_a_failing_receiver_leaves_scoring_completed_and_is_reported(scored_twice):
    root, first, second, _, broken, tries_after_first, report = scored_twice
    assert first.is_completed() and first.result()["scored"]["db-01"]["scored"] > 0
    assert io.read_watermark(str(root / "data"), "db-01") is not None
    line = "db-01: alert delivery to 'ops-webhook' failed: HTTP 500 after 3 tries"
    assert line in first.message and line in first.result()["scored"]["db-01"]["warnings"][-1]
    assert broken.received == [] and tries_after_first == 3
    assert second.is_completed() and len(broken.tries) == 6  # not recorded as sent: tried again at the next run
    assert "alert delivery to &#x27;ops-webhook&#x27; failed: HTTP 500 after 3 tries" in open(report).read()


def test_the_metrics_file_holds_the_group(scored_twice):
    root, *_ = scored_twice
    text = (root / "data" / "metrics" / "nightwatch.prom").read_text()
    newest = io.read_dataset(str(root / "data"), "scores", "db-01")["timestamp"].max()
    assert f'nightwatch_last_scored_timestamp_seconds{{group="db-01"}} {int(newest.timestamp())}\n' in text
    assert 'nightwatch_anomaly_open{group="db-01"} ' in text and "# TYPE nightwatch_score gauge" in text
    assert pd.notna(newest)
