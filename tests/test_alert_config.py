import re

import pandas as pd
import pytest
import yaml

from pipeline.alert_config import Alerts, Destination, Prometheus, Snooze
from pipeline.config import ConfigError, parse_settings

EXAMPLE = """
alerts:
  min_severity: medium
  report_url: https://ops.example/nightwatch/report.html
  timeout_s: 5
  retries: 3
  destinations:
    - {name: ops-webhook, kind: webhook, url_env: NIGHTWATCH_WEBHOOK_URL}
    - {name: ops-slack, kind: slack, url_env: NIGHTWATCH_SLACK_URL}
    - {name: pager, kind: webhook, secret_block: pager-url}
  snooze:
    - {group: db-01, until: 2026-12-24T00:00Z}
    - {group: web-01, metric: "web-01/latency", until: 2026-12-06}
prometheus: {textfile: metrics/nightwatch.prom}
"""


def test_the_documented_example_parses():
    settings = parse_settings(yaml.safe_load(EXAMPLE), "c.yaml")
    assert settings.alerts == Alerts(
        destinations=(Destination("ops-webhook", "webhook", url_env="NIGHTWATCH_WEBHOOK_URL"),
                      Destination("ops-slack", "slack", url_env="NIGHTWATCH_SLACK_URL"),
                      Destination("pager", "webhook", secret_block="pager-url")),
        min_severity="medium", report_url="https://ops.example/nightwatch/report.html", timeout_s=5.0, retries=3,
        snooze=(Snooze("2026-12-24T00:00Z", group="db-01"), Snooze("2026-12-06", group="web-01",
                                                                  metric="web-01/latency")))
    assert settings.prometheus == Prometheus("metrics/nightwatch.prom")
    assert settings.alerts.snooze[1].until_time() == pd.Timestamp("2026-12-06T00:00Z")


def test_a_prefect_notification_block_destination():
    settings = parse_settings({"alerts": {"destinations": [{"name": "p", "kind": "prefect",
                                                             "block": "slack-webhook/ops"}]}}, "c.yaml")
    assert settings.alerts.destinations == (Destination("p", "prefect", block="slack-webhook/ops"),)


def test_left_out_sections_are_off():
    settings = parse_settings({}, "c.yaml")
    assert settings.alerts is None and settings.prometheus is None


def test_severity_order():
    alerts = Alerts(destinations=(), min_severity="medium")
    assert [alerts.severe_enough(s) for s in ("low", "medium", "high", "unknown")] == [False, True, True, False]


HOOK = {"name": "a", "kind": "webhook", "url_env": "A_URL"}


@pytest.mark.parametrize("alerts, message", [
    ({"destinations": [{"name": "a", "kind": "slack", "url": "https://hooks.slack.com/services/T/B/x"}]},
     "alerts.destinations[0].url: webhook URLs are secrets and stay out of the file; name the environment "
     "variable (url_env) or Prefect Secret block (secret_block)"),
    ({"destinations": [{"name": "a", "kind": "sms", "url_env": "X"}]},
     "alerts.destinations[0].kind: 'sms' is not one of ('webhook', 'slack', 'prefect')"),
    ({"destinations": [{"name": "a", "kind": "prefect", "block": "ops"}]},
     "alerts.destinations[0].block: a prefect destination names its notification block as '<type slug>/<name>'"),
    ({"destinations": [{"name": "a", "kind": "prefect", "block": "slack-webhook/ops", "url_env": "X"}]},
     "destinations[0].block: a prefect destination names"),
    ({"destinations": [{**HOOK, "block": "slack-webhook/ops"}]}, "destinations[0].url_env: give exactly one of"),
    ({"destinations": [{"name": "a", "kind": "slack"}]}, "destinations[0].url_env: give exactly one of"),
    ({"destinations": [{**HOOK, "secret_block": "b"}]}, "destinations[0].url_env: give exactly one of"),
    ({"destinations": [{"kind": "slack", "url_env": "X"}]}, "destinations[0]: each destination needs 'name'"),
    ({"destinations": [HOOK, HOOK]}, "alerts.destinations: names must be unique"),
    ({"destinations": []}, "alerts.destinations: expected a non-empty list"),
    ({"destinations": [HOOK], "min_severity": "huge"}, "alerts.min_severity: 'huge' is not one of"),
    ({"destinations": [HOOK], "timeout_s": 0}, "alerts.timeout_s: must be above 0"),
    ({"destinations": [HOOK], "retries": -1}, "alerts.retries: must not be negative"),
    ({"destinations": [HOOK], "retry": 2}, "alerts: unknown key 'retry'"),
    ({"destinations": [HOOK], "snooze": [{"group": "x", "until": "soon"}]}, "alerts.snooze[0].until: not a time"),
    ({"destinations": [HOOK], "snooze": [{"group": "x"}]}, "alerts.snooze[0]: each snooze needs 'until'"),
    ({"destinations": [HOOK], "snooze": [{"until": "2026-12-01", "host": "x"}]}, "snooze[0]: unknown key 'host'"),
    ("yes", "alerts: expected a mapping"),
])
def test_bad_alert_settings_are_refused_naming_the_key(alerts, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as refused:
        parse_settings({"alerts": alerts}, "c.yaml")
    assert str(refused.value).startswith("c.yaml: alerts")


def test_bad_textfile_is_refused():
    with pytest.raises(ConfigError, match=r"prometheus.textfile: 'x.txt' must end in .prom"):
        parse_settings({"prometheus": {"textfile": "x.txt"}}, "c.yaml")
