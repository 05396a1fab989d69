"""The `alerts:` and `prometheus:` sections: where new anomaly intervals are sent, what is held back,
and where the scores are exported for Prometheus. Webhook URLs are secrets, so the file names only
the environment variable or Prefect Secret block that holds each one; a `url:` key is refused."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline.config_build import ConfigError, build, check_scalar

SEVERITIES = ("low", "medium", "high")
KINDS = ("webhook", "slack", "prefect")


@dataclass(frozen=True)
class Destination:
    """One receiver: `kind` says the payload (generic JSON or Slack's incoming webhook), whose URL
    comes from the environment variable `url_env` or the Prefect Secret block `secret_block`; or
    `prefect`: the Prefect notification block `block` (`<block type slug>/<name>`, e.g.
    `slack-webhook/ops`), which holds its own secrets."""

    name: str
    kind: str
    url_env: str | None = None
    secret_block: str | None = None
    block: str | None = None

    def check(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: {self.kind!r} is not one of {KINDS}")
        if self.kind == "prefect":
            if self.block is None or "/" not in self.block or self.url_env or self.secret_block:
                raise ValueError("block: a prefect destination names its notification block as '<type slug>/<name>' "
                                 "(e.g. slack-webhook/ops), and no url_env or secret_block")
        elif (self.url_env is None) == (self.secret_block is None) or self.block is not None:
            raise ValueError("url_env: give exactly one of url_env and secret_block (block is for kind prefect)")


@dataclass(frozen=True)
class Snooze:
    """While the clock is before `until` (ISO 8601, UTC if naive), no alert for `group`'s intervals
    (every group's if left out), or only for those whose top metric is `metric`."""

    until: str
    group: str | None = None
    metric: str | None = None

    def check(self) -> None:
        self.until_time()

    def until_time(self) -> pd.Timestamp:
        try:
            time = pd.Timestamp(self.until)
        except ValueError:
            time = pd.NaT
        if time is pd.NaT:
            raise ValueError(f"until: not a time: {self.until!r} (e.g. 2026-12-24 or 2026-12-24T06:00Z)")
        return time.tz_localize("UTC") if time.tzinfo is None else time.tz_convert("UTC")

    def holds(self, group: str, top_metric: str | None, now: pd.Timestamp) -> bool:
        return (now < self.until_time() and (self.group is None or self.group == group)
                and (self.metric is None or self.metric == top_metric))


@dataclass(frozen=True)
class Alerts:
    """Alerting on new anomaly intervals at or above `min_severity`. Each message is tried
    `retries` more times after a failure, `backoff_s` x 2^attempt apart, each try waiting at most
    `timeout_s`; `report_url` is linked from every message."""

    destinations: tuple[Destination, ...]
    min_severity: str = "medium"
    report_url: str | None = None
    timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 1.0
    snooze: tuple[Snooze, ...] = ()

    def severe_enough(self, severity: str) -> bool:
        return severity in SEVERITIES and SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity)

    def snoozed(self, group: str, top_metric: str | None, now: pd.Timestamp) -> bool:
        return any(s.holds(group, top_metric, now) for s in self.snooze)


@dataclass(frozen=True)
class Prometheus:
    """Where each group's latest score is exported in Prometheus's text format (for node_exporter's
    textfile collector); a relative `textfile` is under the data root."""

    textfile: str = "metrics/nightwatch.prom"

    def check(self) -> None:
        if not self.textfile.endswith(".prom"):
            raise ValueError(f"textfile: {self.textfile!r} must end in .prom (the textfile collector reads only those)")


def parse_alerts(raw: Any, where: str) -> Alerts:
    """The `alerts:` mapping as Alerts; errors name the key (`alerts.destinations[1].url: ...`)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    plain = {k: v for k, v in raw.items() if k not in ("destinations", "snooze")}
    allowed = {"min_severity", "report_url", "timeout_s", "retries", "backoff_s"}
    unknown = sorted(set(plain) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: destinations, snooze, "
                          f"{', '.join(sorted(allowed))})")
    items = raw.get("destinations")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}.destinations: expected a non-empty list of destinations")
    destinations = tuple(_destination(item, f"{where}.destinations[{i}]") for i, item in enumerate(items))
    names = [d.name for d in destinations]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.destinations: names must be unique, got {names}")
    snoozes = raw.get("snooze") or []
    if not isinstance(snoozes, list):
        raise ConfigError(f"{where}.snooze: expected a list")
    for i, item in enumerate(snoozes):
        if not isinstance(item, dict) or "until" not in item:
            raise ConfigError(f"{where}.snooze[{i}]: each snooze needs 'until' (and 'group' and/or 'metric')")
    snooze = tuple(build(Snooze, item, f"{where}.snooze[{i}]") for i, item in enumerate(snoozes))
    alerts = build(Alerts, plain, where, Alerts(destinations=destinations, snooze=snooze))
    if alerts.min_severity not in SEVERITIES:
        raise ConfigError(f"{where}.min_severity: {alerts.min_severity!r} is not one of {SEVERITIES}")
    if alerts.timeout_s <= 0:
        raise ConfigError(f"{where}.timeout_s: must be above 0, got {alerts.timeout_s}")
    return alerts


def _destination(raw: Any, where: str) -> Destination:
    if isinstance(raw, dict) and "url" in raw:
        raise ConfigError(f"{where}.url: webhook URLs are secrets and stay out of the file; name the environment "
                          "variable (url_env) or Prefect Secret block (secret_block) that holds it")
    if not isinstance(raw, dict) or "name" not in raw or "kind" not in raw:
        raise ConfigError(f"{where}: each destination needs 'name' and 'kind'")
    check_scalar(raw["name"], str, f"{where}.name")
    return build(Destination, raw, where)
