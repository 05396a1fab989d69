"""Which anomaly intervals to alert on, and the messages for each destination.

An incident is identified by its group and start: an interval still open at the end of an hourly
run is published again, longer, by the next one. The sent log (`pipeline.io.alert_log`) records per
interval start and destination what was sent (end, severity) and when it was first sent, so an
interval is announced once when it opens, an interval that grew (a later end, another severity)
gets one message marked as an update of that first one, and a rerun sends nothing. A delivery
that failed is not recorded, so the next run sends it again.

`since` in the log bounds what a run looks at: only intervals starting at or after it are
candidates. It starts at the first step of the first alerting run (so enabling alerts does not
announce the past) and moves up to the watermark once everything before it was delivered, except
for an interval still open, or one whose delivery failed. Rows that land behind the watermark are
scored again by the next hourly run (`pipeline.late_rows`), which may find an interval before
`since`: that run moves `since` back to where it rescored from, never before `kept_from`, from
which the log holds every record (kept `KEPT` behind `since`), so a late-found interval is sent
once and one already announced is not sent again. A snoozed interval is recorded as `held`: once
the snooze ends it is sent only if it is still open.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipeline.alert_config import Alerts, Destination

TIME = "%Y-%m-%dT%H:%M:%SZ"
KEPT = pd.Timedelta("30D")  # records kept behind `since`: past the days any late-rows rescoring reads again
SHOWN = "%Y-%m-%d %H:%M UTC"


@dataclass(frozen=True)
class Message:
    """One alert for one destination: `kind` is `opened` or `updated`; an update carries when the
    opening alert was sent and the end and severity it announced."""

    group: str
    destination: Destination
    kind: str
    interval: dict
    first_sent_at: str | None = None
    previous: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.interval["start"]


def interval_fields(row: pd.Series, open_since: pd.Timestamp | None) -> dict:
    """An anomalies row (pipeline.anomalies.INTERVAL_COLUMNS) as the JSON fields of a message."""
    def text(value):
        return None if value is None or pd.isna(value) else str(value)

    return {"start": f"{row['start']:{TIME}}", "end": f"{row['end']:{TIME}}",
            "open": open_since is not None and row["start"] == open_since,
            "severity": str(row["severity"]), "trigger": str(row["trigger"]),
            "peak_time": f"{row['peak_time']:{TIME}}", "peak_score": round(float(row["peak_score"]), 4),
            "threshold": round(float(row["threshold"]), 4), "top_metric": text(row.get("top_metric")),
            "top_metrics": text(row.get("contributors")) or "", "model_version": text(row.get("model_version"))}


def plan(group: str, anomalies: pd.DataFrame, log: dict, alerts: Alerts, now: pd.Timestamp,
         open_since: pd.Timestamp | None = None) -> list[Message]:
    """The messages a run sends for `group`: per candidate interval (`candidates`) not snoozed at
    `now` nor closed while it was held by a snooze, and destination, an `opened` message if none
    was sent, an `updated` one if its end or severity changed since, else none."""
    sent, held_starts = log.get("sent", {}), log.get("held", {})
    messages = []
    for fields in candidates(anomalies, log, alerts, open_since):
        if alerts.snoozed(group, fields["top_metric"], now) or fields["start"] in held_starts and not fields["open"]:
            continue
        for destination in alerts.destinations:
            before = sent.get(fields["start"], {}).get(destination.name)
            if before is None:
                messages.append(Message(group, destination, "opened", fields))
            elif (before["end"], before["severity"]) != (fields["end"], fields["severity"]):
                messages.append(Message(group, destination, "updated", fields, before["first_sent_at"],
                                        {"end": before["end"], "severity": before["severity"]}))
    return messages


def candidates(anomalies: pd.DataFrame, log: dict, alerts: Alerts, open_since: pd.Timestamp | None = None) -> list[dict]:
    """The message fields of the intervals a run looks at: start at or after the log's `since`,
    severity at least `min_severity`, oldest first."""
    since = _time(log.get("since"))
    if anomalies.empty or since is None:
        return []
    rows = anomalies[anomalies["start"] >= since].sort_values("start")
    return [interval_fields(row, open_since) for _, row in rows.iterrows()
            if alerts.severe_enough(str(row["severity"]))]


def held(log: dict, group: str, fields: list[dict], alerts: Alerts, now: pd.Timestamp) -> dict:
    """The log with the intervals a snooze holds at `now` recorded as `held` (see `plan`)."""
    starts = [f["start"] for f in fields if alerts.snoozed(group, f["top_metric"], now)]
    return {**log, "held": {**log.get("held", {}), **dict.fromkeys(starts, True)}} if starts else log


def reopened(log: dict, rescored_from: pd.Timestamp, anomalies: pd.DataFrame) -> dict:
    """The log with `since` moved back to where a run scored late rows again, or to the start of
    an interval reaching there, not before `kept_from` (before it, what was sent is not known): the
    intervals found or grown there are candidates."""
    since = _time(log.get("since"))
    if since is None:
        return log
    reaching = anomalies.loc[anomalies["end"] >= rescored_from, "start"] if len(anomalies) else []
    back = min(since, rescored_from, *reaching)
    return {**log, "since": f"{max(back, kept_from(log)):{TIME}}"} if back < since else log


def recorded(log: dict, message: Message, sent_at: pd.Timestamp) -> dict:
    """The log with `message` recorded as delivered at `sent_at` (an update keeps the first time)."""
    sent = {start: dict(by_destination) for start, by_destination in log.get("sent", {}).items()}
    first = message.first_sent_at or f"{sent_at:{TIME}}"
    sent.setdefault(message.key, {})[message.destination.name] = {
        "end": message.interval["end"], "severity": message.interval["severity"], "first_sent_at": first,
        "last_sent_at": f"{sent_at:{TIME}}"}
    return {**log, "sent": sent}


def advanced(log: dict, first_scored: pd.Timestamp | None, watermark: pd.Timestamp | None,
             open_since: pd.Timestamp | None, failed_starts: list[str]) -> dict:
    """The log's `since` after a run: set on the first run to its first scored step, then moved up
    to the earliest of the watermark, the open interval's start and the starts of failed
    deliveries (a reset watermark never moves it back: what was sent is not sent again). Records
    are kept `KEPT` behind it, from `kept_from` on, for a rescoring that finds intervals there."""
    since = _time(log.get("since"))
    if since is None:
        since = first_scored if first_scored is not None else watermark
        if since is None:
            return log
        log = {**log, "kept_from": f"{since:{TIME}}"}
    held_back = [t for t in (watermark, open_since, *map(_time, failed_starts)) if t is not None]
    if held_back:
        since = max(since, min(held_back))
    first_kept = max(kept_from(log), since - KEPT)
    records = {key: {start: record for start, record in log.get(key, {}).items() if _time(start) >= first_kept}
               for key in ("sent", "held")}
    return {"since": f"{since:{TIME}}", "kept_from": f"{first_kept:{TIME}}", **records}


def kept_from(log: dict) -> pd.Timestamp:
    """Where the log's records start (a log written before it kept them: its `since`)."""
    return _time(log.get("kept_from") or log["since"])


def _time(text: str | None) -> pd.Timestamp | None:
    if text is None:
        return None
    time = pd.Timestamp(text)
    return time.tz_localize("UTC") if time.tzinfo is None else time.tz_convert("UTC")


def payload(message: Message, report_url: str | None) -> dict:
    """The JSON body for the message's destination kind."""
    return slack_payload(message, report_url) if message.destination.kind == "slack" else \
        webhook_payload(message, report_url)


def webhook_payload(message: Message, report_url: str | None) -> dict:
    """The generic webhook's body: the interval's fields, what happened (`event`), a stable
    `alert_id` (group/start) and, for an update, the first alert's time and what it announced."""
    body = {"event": f"anomaly.{message.kind}", "alert_id": f"{message.group}/{message.key}",
            "group": message.group, **message.interval, "report_url": report_url}
    if message.kind == "updated":
        body.update(first_sent_at=message.first_sent_at, previous=message.previous)
    return body


def slack_payload(message: Message, report_url: str | None) -> dict:
    """Slack's incoming-webhook body: `text` (the notification's plain fallback) and one `section`
    block of mrkdwn; text from the data is escaped (`&`, `<`, `>`), as Slack asks."""
    i, group = message.interval, _escape(message.group)
    span = f"{_shown(i['start'])} to {_shown(i['end'])}" + (" (still open)" if i["open"] else "")
    if message.kind == "opened":
        fallback = f"Nightwatch: {i['severity']} anomaly in {group} from {span}"
        head = f":rotating_light: *Nightwatch: {i['severity']} anomaly in {group}*"
    else:
        was = ", ".join(f"{k} was {_shown(v) if k == 'end' else v}" for k, v in message.previous.items()
                        if v != i[k])
        fallback = (f"Nightwatch update to the alert sent at {_shown(message.first_sent_at)}: "
                    f"{i['severity']} anomaly in {group} now {span} ({was})")
        head = (f":arrows_counterclockwise: *Update* to the alert sent at {_shown(message.first_sent_at)}: "
                f"*{i['severity']} anomaly in {group}* ({was})")
    lines = [head, f"*When:* {span}", f"*Severity:* {i['severity']}   *Trigger:* {_escape(i['trigger'])}",
             f"*Peak score:* {i['peak_score']:g} at {_shown(i['peak_time'])} (threshold {i['threshold']:g})",
             f"*Top metrics:* {_escape(i['top_metrics']) or 'none'}"]
    if report_url:
        lines.append(f"<{_escape(report_url)}|Open the Nightwatch report>")
    return {"text": fallback, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]}


def notification_text(message: Message, report_url: str | None) -> tuple[str, str]:
    """Subject and plain-text body for a Prefect notification block (it formats them for its service)."""
    i = message.interval
    subject = slack_payload(message, None)["text"]
    body = [f"Group: {message.group}", f"When: {_shown(i['start'])} to {_shown(i['end'])}"
            + (" (still open)" if i["open"] else ""), f"Severity: {i['severity']}", f"Trigger: {i['trigger']}",
            f"Peak score: {i['peak_score']:g} at {_shown(i['peak_time'])} (threshold {i['threshold']:g})",
            f"Top metrics: {i['top_metrics'] or 'none'}"]
    return subject, "\n".join(body + ([f"Report: {report_url}"] if report_url else []))


def _shown(text: str) -> str:
    return f"{pd.Timestamp(text):{SHOWN}}"


def _escape(text: str) -> str:
    """Slack's control characters as the entities its formatting guide asks for."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
