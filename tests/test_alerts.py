import pandas as pd

from pipeline.alert_config import Alerts, Destination, Snooze
from pipeline.alerts import (Message, advanced, candidates, held, interval_fields, notification_text, payload,
                             plan, recorded, reopened)

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
    assert first == {"since": "2026-11-20T00:05:00Z", "kept_from": "2026-11-20T00:05:00Z", "sent": {}, "held": {}}
    sent = {"2026-11-20T03:00:00Z": {"a": {}}, "2026-11-20T08:00:00Z": {"a": {}}}
    log = {"since": "2026-11-20T00:05:00Z", "kept_from": "2026-11-20T00:05:00Z", "sent": sent}
    watermark = t("2026-11-20T10:00")
    assert advanced(log, None, watermark, None, [])["since"] == "2026-11-20T10:00:00Z"
    assert advanced(log, None, watermark, t("2026-11-20T08:00"), [])["since"] == "2026-11-20T08:00:00Z"
    assert advanced(log, None, watermark, None, ["2026-11-20T03:00:00Z"])["since"] == "2026-11-20T03:00:00Z"
    # a watermark reset back before `since` never moves it back (what was sent is not sent again)
    assert advanced(log, None, t("2026-11-19T00:00"), None, [])["since"] == "2026-11-20T00:05:00Z"


def test_records_are_kept_thirty_days_behind_since_and_kept_from_never_moves_back():
    sent = {"2026-11-20T03:00:00Z": {"a": {}}, "2026-12-10T08:00:00Z": {"a": {}}}
    log = {"since": "2026-11-20T00:05:00Z", "kept_from": "2026-11-20T00:05:00Z", "sent": sent,
           "held": {"2026-11-20T04:00:00Z": True}}
    assert advanced(log, None, t("2026-12-15T00:00"), None, []) == {**log, "since": "2026-12-15T00:00:00Z"}
    later = advanced(log, None, t("2026-12-25T00:00"), None, [])  # 30 days: from 2026-11-25 on
    assert later == {"since": "2026-12-25T00:00:00Z", "kept_from": "2026-11-25T00:00:00Z",
                     "sent": {"2026-12-10T08:00:00Z": {"a": {}}}, "held": {}}
    assert advanced({**log, "since": "2026-12-25T00:00:00Z"}, None, t("2026-12-25T00:00"), None, [])[
        "kept_from"] == "2026-11-25T00:00:00Z"
    old = {"since": "2026-11-20T00:05:00Z", "sent": {}}  # a log written before records were kept
    assert advanced(old, None, t("2026-11-21T00:00"), None, [])["kept_from"] == "2026-11-20T00:05:00Z"


def test_a_rescoring_moves_since_back_to_the_late_interval_but_not_before_kept_from():
    log = {"since": "2026-11-20T10:00:00Z", "kept_from": "2026-11-20T00:05:00Z", "sent": {}}
    none = frame(interval("2026-11-20T09:00", "2026-11-20T09:30")).iloc[:0]
    assert reopened(log, t("2026-11-20T08:00"), none)["since"] == "2026-11-20T08:00:00Z"
    # an interval reaching the rescored steps is a candidate from its start (it may have grown)
    grown = frame(interval("2026-11-20T06:00", "2026-11-20T08:30"), interval("2026-11-20T05:00", "2026-11-20T05:30"))
    assert reopened(log, t("2026-11-20T08:00"), grown)["since"] == "2026-11-20T06:00:00Z"
    assert reopened(log, t("2026-11-19T20:00"), none)["since"] == "2026-11-20T00:05:00Z"  # before it: not known
    assert reopened(log, t("2026-11-20T10:30"), none) == log  # after `since`: nothing to move


def test_an_interval_found_behind_since_is_sent_once_and_one_already_sent_is_not_sent_again():
    record = {"end": "2026-11-20T04:00:00Z", "severity": "high", "first_sent_at": "x", "last_sent_at": "x"}
    log = {"since": "2026-11-20T02:00:00Z", "kept_from": "2026-11-20T00:00:00Z",
           "sent": {"2026-11-20T03:00:00Z": {"ops-webhook": record, "ops-slack": record}}}
    anomalies = frame(interval("2026-11-20T02:00", "2026-11-20T02:30"), interval("2026-11-20T03:00", "2026-11-20T04:00"))
    assert [(m.key, m.kind) for m in plan("db-01", anomalies, log, ALERTS, NOW)] == [
        ("2026-11-20T02:00:00Z", "opened"), ("2026-11-20T02:00:00Z", "opened")]


def test_an_interval_held_by_a_snooze_is_sent_after_it_only_if_still_open():
    alerts = Alerts(destinations=(HOOK,), snooze=(Snooze("2026-11-20T11:00Z", group="db-01"),))
    anomalies = frame(interval("2026-11-20T03:00", "2026-11-20T04:00"), interval("2026-11-20T09:00", "2026-11-20T10:00"))
    fields = candidates(anomalies, LOG, alerts)
    log = held(LOG, "db-01", fields, alerts, t("2026-11-20T10:00"))
    assert log["held"] == {"2026-11-20T03:00:00Z": True, "2026-11-20T09:00:00Z": True}
    assert held(LOG, "db-01", fields, alerts, NOW) == LOG  # the snooze is over: nothing held
    assert plan("db-01", anomalies, log, alerts, t("2026-11-20T10:00")) == []
    after = plan("db-01", anomalies, log, alerts, NOW, open_since=t("2026-11-20T09:00"))
    assert [(m.key, m.kind) for m in after] == [("2026-11-20T09:00:00Z", "opened")]
