import pandas as pd

from pipeline.alert_config import Alerts, Destination, Snooze
from pipeline.alerts import Message, advanced, interval_fields, notification_text, payload, plan, recorded

HOOK = Destination("ops-webhook", "webhook", url_env="HOOK_URL")
SLACK = Destination("ops-slack", "slack", url_env="SLACK_URL")
ALERTS = Alerts(destinations=(HOOK, SLACK), min_severity="medium")
NOW = pd.Timestamp("2026-11-20T12:00Z")


def t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def interval(start: str, end: str, severity: str = "high", top: str | None = "db-01.lag") -> dict:
    return {"start": t(start), "end": t(end), "n_points": 4, "peak_time": t(start), "peak_score": 12.3456789,
            "threshold": 2.5, "severity": severity, "trigger": "score+level", "top_metric": top,
            "contributors": "db-01.lag 90%, db-01.cpu 10%" if top else None, "model_version": "v1", "run_id": "r1"}


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


LOG = {"since": "2026-11-20T00:00:00Z", "sent": {}}


def test_each_new_interval_at_or_above_the_severity_goes_to_each_destination_once():
    anomalies = frame(interval("2026-11-20T03:00", "2026-11-20T04:00", "medium"),
                      interval("2026-11-20T01:00", "2026-11-20T02:00", "low"),
                      interval("2026-11-19T23:00", "2026-11-20T00:30", "high"))  # before `since`: history
    messages = plan("db-01", anomalies, LOG, ALERTS, NOW)
    assert [(m.key, m.destination.name, m.kind) for m in messages] == [
        ("2026-11-20T03:00:00Z", "ops-webhook", "opened"), ("2026-11-20T03:00:00Z", "ops-slack", "opened")]


def test_a_sent_interval_sends_nothing_again_and_one_that_grew_sends_an_update():
    sent = {"end": "2026-11-20T04:00:00Z", "severity": "medium", "first_sent_at": "2026-11-20T04:20:00Z",
            "last_sent_at": "2026-11-20T04:20:00Z"}
    log = {**LOG, "sent": {"2026-11-20T03:00:00Z": {"ops-webhook": sent, "ops-slack": sent}}}
    same = frame(interval("2026-11-20T03:00", "2026-11-20T04:00", "medium"))
    assert plan("db-01", same, log, ALERTS, NOW) == []
    grown = frame(interval("2026-11-20T03:00", "2026-11-20T05:00", "high"))
    (hook, slack) = plan("db-01", grown, log, ALERTS, NOW)
    assert (hook.kind, hook.first_sent_at, hook.previous) == (
        "updated", "2026-11-20T04:20:00Z", {"end": "2026-11-20T04:00:00Z", "severity": "medium"})
    assert slack.kind == "updated" and slack.interval["end"] == "2026-11-20T05:00:00Z"


def test_a_destination_added_later_gets_the_opening_alert():
    sent = {"end": "2026-11-20T04:00:00Z", "severity": "high", "first_sent_at": "x", "last_sent_at": "x"}
    log = {**LOG, "sent": {"2026-11-20T03:00:00Z": {"ops-webhook": sent}}}
    messages = plan("db-01", frame(interval("2026-11-20T03:00", "2026-11-20T04:00")), log, ALERTS, NOW)
    assert [(m.destination.name, m.kind) for m in messages] == [("ops-slack", "opened")]


def test_a_snooze_holds_until_its_time_for_its_group_or_metric():
    anomalies = frame(interval("2026-11-20T03:00", "2026-11-20T04:00"))
    until = "2026-11-20T13:00Z"
    for snooze, held in [(Snooze(until, group="db-01"), True), (Snooze(until, group="web-01"), False),
                         (Snooze(until, group="db-01", metric="db-01.lag"), True),
                         (Snooze(until, group="db-01", metric="db-01.cpu"), False),
                         (Snooze(until, metric="db-01.lag"), True),
                         (Snooze("2026-11-20T11:59Z", group="db-01"), False)]:  # expired
        alerts = Alerts(destinations=(HOOK,), snooze=(snooze,))
        assert (plan("db-01", anomalies, LOG, alerts, NOW) == []) == held, snooze


def test_no_log_start_means_nothing_is_planned():
    assert plan("db-01", frame(interval("2026-11-20T03:00", "2026-11-20T04:00")), {"sent": {}}, ALERTS, NOW) == []


def test_recording_keeps_the_first_sending_time_of_an_update():
    fields = interval_fields(pd.Series(interval("2026-11-20T03:00", "2026-11-20T04:00")), None)
    log = recorded(LOG, Message("db-01", HOOK, "opened", fields), t("2026-11-20T04:20"))
    assert log["sent"] == {"2026-11-20T03:00:00Z": {"ops-webhook": {
        "end": "2026-11-20T04:00:00Z", "severity": "high", "first_sent_at": "2026-11-20T04:20:00Z",
        "last_sent_at": "2026-11-20T04:20:00Z"}}}
    grown = {**fields, "end": "2026-11-20T05:00:00Z"}
    log = recorded(log, Message("db-01", HOOK, "updated", grown, "2026-11-20T04:20:00Z"), t("2026-11-20T05:20"))
    assert log["sent"]["2026-11-20T03:00:00Z"]["ops-webhook"] == {
        "end": "2026-11-20T05:00:00Z", "severity": "high", "first_sent_at": "2026-11-20T04:20:00Z",
        "last_sent_at": "2026-11-20T05:20:00Z"}
    assert LOG["sent"] == {}  # the log given is not changed


def test_since_starts_at_the_first_scored_step_and_moves_up_to_what_is_still_pending():
    first = advanced({"since": None, "sent": {}}, t("2026-11-20T00:05"), None, None, [])
    assert first == {"since": "2026-11-20T00:05:00Z", "sent": {}}
    sent = {"2026-11-20T03:00:00Z": {"a": {}}, "2026-11-20T08:00:00Z": {"a": {}}}
    log = {"since": "2026-11-20T00:05:00Z", "sent": sent}
    watermark = t("2026-11-20T10:00")
    assert advanced(log, None, watermark, None, []) == {"since": "2026-11-20T10:00:00Z", "sent": {}}
    assert advanced(log, None, watermark, t("2026-11-20T08:00"), []) == {
        "since": "2026-11-20T08:00:00Z", "sent": {"2026-11-20T08:00:00Z": {"a": {}}}}  # the open one is kept
    assert advanced(log, None, watermark, None, ["2026-11-20T03:00:00Z"])["since"] == "2026-11-20T03:00:00Z"
    # a watermark reset back before `since` never moves it back (what was sent is not sent again)
    assert advanced(log, None, t("2026-11-19T00:00"), None, [])["since"] == "2026-11-20T00:05:00Z"


def opened_message(kind: str = "slack") -> Message:
    row = interval("2026-11-20T03:00", "2026-11-20T04:00")
    row["contributors"] = "db<01>.lag & co 90%"
    destination = SLACK if kind == "slack" else HOOK
    return Message("db-01", destination, "opened", interval_fields(pd.Series(row), t("2026-11-20T03:00")))


def test_webhook_payload_holds_the_interval_and_a_stable_id():
    assert payload(opened_message("webhook"), "https://ops.example/report.html") == {
        "event": "anomaly.opened", "alert_id": "db-01/2026-11-20T03:00:00Z", "group": "db-01",
        "start": "2026-11-20T03:00:00Z", "end": "2026-11-20T04:00:00Z", "open": True, "severity": "high",
        "trigger": "score+level", "peak_time": "2026-11-20T03:00:00Z", "peak_score": 12.3457, "threshold": 2.5,
        "top_metric": "db-01.lag", "top_metrics": "db<01>.lag & co 90%", "model_version": "v1",
        "report_url": "https://ops.example/report.html"}
    update = Message("db-01", HOOK, "updated", opened_message().interval, "2026-11-20T03:20:00Z",
                     {"end": "2026-11-20T03:30:00Z", "severity": "medium"})
    body = payload(update, None)
    assert (body["event"], body["first_sent_at"], body["previous"], body["report_url"]) == (
        "anomaly.updated", "2026-11-20T03:20:00Z", {"end": "2026-11-20T03:30:00Z", "severity": "medium"}, None)


def test_slack_payload_is_text_with_one_mrkdwn_section_and_escapes_the_data():
    assert payload(opened_message(), "https://ops.example/report.html?a=1&b=2") == {
        "text": "Nightwatch: high anomaly in db-01 from 2026-11-20 03:00 UTC to 2026-11-20 04:00 UTC (still open)",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join([
            ":rotating_light: *Nightwatch: high anomaly in db-01*",
            "*When:* 2026-11-20 03:00 UTC to 2026-11-20 04:00 UTC (still open)",
            "*Severity:* high   *Trigger:* score+level",
            "*Peak score:* 12.3457 at 2026-11-20 03:00 UTC (threshold 2.5)",
            "*Top metrics:* db&lt;01&gt;.lag &amp; co 90%",
            "<https://ops.example/report.html?a=1&amp;b=2|Open the Nightwatch report>"])}}]}


def test_slack_update_says_which_alert_it_updates_and_what_changed():
    update = Message("db-01", SLACK, "updated", {**opened_message().interval, "open": False},
                     "2026-11-20T03:20:00Z", {"end": "2026-11-20T03:30:00Z", "severity": "high"})
    body = payload(update, None)
    assert body["text"] == ("Nightwatch update to the alert sent at 2026-11-20 03:20 UTC: high anomaly in db-01 now "
                            "2026-11-20 03:00 UTC to 2026-11-20 04:00 UTC (end was 2026-11-20 03:30 UTC)")
    section = body["blocks"][0]["text"]["text"]
    assert section.startswith(":arrows_counterclockwise: *Update* to the alert sent at 2026-11-20 03:20 UTC: "
                              "*high anomaly in db-01* (end was 2026-11-20 03:30 UTC)\n")
    assert "Open the Nightwatch report" not in section and len(section) <= 3000


def test_notification_block_text_is_plain():
    assert notification_text(opened_message(), "https://ops.example/r.html") == (
        "Nightwatch: high anomaly in db-01 from 2026-11-20 03:00 UTC to 2026-11-20 04:00 UTC (still open)",
        "Group: db-01\nWhen: 2026-11-20 03:00 UTC to 2026-11-20 04:00 UTC (still open)\nSeverity: high\n"
        "Trigger: score+level\nPeak score: 12.3457 at 2026-11-20 03:00 UTC (threshold 2.5)\n"
        "Top metrics: db<01>.lag & co 90%\nReport: https://ops.example/r.html")
