"""After a scoring run: send each group's new anomaly intervals to the configured destinations, and
export every group's latest score as a Prometheus textfile.

Alerting never fails scoring: a delivery that fails after its retries is reported (and sent again
at the next run, as it is not recorded as sent); a destination that failed is not tried again for
the group's other messages in the same run, so a dead receiver costs one round of retries per
group and run, not one per message.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from pipeline import io
from pipeline.alert_config import Destination
from pipeline.alert_config import Alerts
from pipeline.alerts import (Message, advanced, candidates, held, kept_from, notification_text, payload, plan,
                             recorded, reopened)
from pipeline.config import Settings
from pipeline.io.alert_log import alert_log_locked, read_alert_log, write_alert_log
from pipeline.io.exports import latest_score, write_textfile
from pipeline.io.webhooks import DeliveryError, post_json, retried
from pipeline.metrics_export import GroupScore, prometheus_text

log = logging.getLogger(__name__)


class UnresolvedSecret(LookupError):
    """A destination's URL cannot be found (its environment variable is unset, its block missing)."""


def env_url(destination: Destination) -> str:
    """A destination's URL from its environment variable (Prefect Secret blocks are read in `flows/`)."""
    if destination.url_env is None:
        raise UnresolvedSecret(f"Prefect Secret block {destination.secret_block!r} can only be read in a flow")
    url = os.environ.get(destination.url_env)
    if not url:
        raise UnresolvedSecret(f"environment variable {destination.url_env} is not set")
    return url


def alert_group(settings: Settings, group: str, first_scored: pd.Timestamp | None,
                rescored_from: pd.Timestamp | None = None, resolve: Callable[[Destination], str] = env_url,
                notify: Callable[[str, str, str], None] | None = None,
                clock: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC")) -> dict:
    """Send `group`'s new and grown intervals (see `pipeline.alerts`); `first_scored`: the run's
    first scored step (where alerting starts if this is the group's first alerting run); `resolve`
    gives a destination's URL, `notify(block, subject, body)` sends through a Prefect notification
    block (both from `flows/`, where Prefect is); `rescored_from`: where the run scored late rows
    behind the watermark again (its result's `rescored_from`), so intervals found there are sent.

    Returns `{"group", "opened", "updated", "failures"}`, failures as one line per destination."""
    alerts, data_root = settings.alerts, settings.storage.data_root
    opened = updated = 0
    failed: dict[str, tuple[str, int]] = {}  # destination -> (its error, messages left unsent)
    failed_starts: list[str] = []
    with alert_log_locked(data_root, group) as path:
        sent_log = read_alert_log(path)
        if sent_log.get("since") is None:
            sent_log = advanced(sent_log, first_scored, None, None, [])
        watermark, open_since = io.read_watermark(data_root, group), io.read_open_since(data_root, group)
        since = sent_log.get("since")
        if since is not None and rescored_from is not None:  # intervals found in late rows may start before it
            anomalies = io.read_dataset(data_root, "anomalies", group, kept_from(sent_log))
            sent_log = reopened(sent_log, rescored_from, anomalies)
        else:
            anomalies = io.read_dataset(data_root, "anomalies", group, pd.Timestamp(since)) if since else pd.DataFrame()
        now = clock()
        sent_log = held(sent_log, group, candidates(anomalies, sent_log, alerts, open_since), alerts, now)
        for message in plan(group, anomalies, sent_log, alerts, now, open_since):
            name = message.destination.name
            if name not in failed:
                try:
                    _deliver(message, alerts, resolve, notify)
                except (DeliveryError, UnresolvedSecret) as exc:
                    failed[name] = (str(exc), 0)
                else:
                    sent_log = recorded(sent_log, message, clock())
                    write_alert_log(path, sent_log)  # recorded at once: a killed run resends nothing delivered
                    opened, updated = opened + (message.kind == "opened"), updated + (message.kind == "updated")
                    continue
            failed[name] = (failed[name][0], failed[name][1] + 1)
            failed_starts.append(message.key)
        sent_log = advanced(sent_log, first_scored, watermark, open_since, failed_starts)
        if sent_log.get("since") is not None:
            write_alert_log(path, sent_log)
    failures = [f"{group}: alert delivery to {name!r} failed: {error}; {count} alert(s) not sent, tried again at "
                f"the next run" for name, (error, count) in failed.items()]
    return {"group": group, "opened": opened, "updated": updated, "failures": failures}


def _deliver(message: Message, alerts: Alerts, resolve: Callable[[Destination], str],
             notify: Callable[[str, str, str], None] | None) -> None:
    """Send one message, with the configured retries; raises DeliveryError or UnresolvedSecret."""
    destination = message.destination
    if destination.kind != "prefect":
        post_json(resolve(destination), payload(message, alerts.report_url), alerts.timeout_s, alerts.retries,
                  alerts.backoff_s)
    elif notify is None:
        raise UnresolvedSecret(f"Prefect notification block {destination.block!r} can only be used in a flow")
    else:
        subject, body = notification_text(message, alerts.report_url)
        retried(lambda: notify(destination.block, subject, body), alerts.retries, alerts.backoff_s)


def export_metrics(settings: Settings) -> tuple[Path | io.ObjectPath, list[str]]:
    """Write the Prometheus textfile for every group with published scores; returns its path and
    a line per group left out because its scores or state could not be read (the others are written)."""
    data_root = settings.storage.data_root
    rows, problems = [], []
    for group in io.published_groups(data_root, "scores"):
        try:
            latest = latest_score(data_root, group)
            if latest is not None:
                rows.append(GroupScore(group, latest[0], latest[1], latest[2],
                                       io.read_open_since(data_root, group) is not None))
        except (OSError, ValueError) as exc:  # one unreadable group never hides the others' metrics
            problems.append(f"{group}: not in the metrics file: {type(exc).__name__}: {exc}")
    path = io.location(settings.prometheus.textfile)
    path = path if io.is_remote(str(path)) or path.is_absolute() else io.location(data_root) / str(path)
    write_textfile(path, prometheus_text(rows))
    return path, problems
