"""The HTML ops report in a real browser: headless Debian chromium renders it, dumps its DOM and
takes a screenshot, and its network log shows the page fetched nothing.

`make test` installs Debian `chromium` when it is missing and it runs as root; this test
installs nothing. Without root it is skipped (with the reason); as root a missing browser fails.
"""
from __future__ import annotations

import json
import os
import struct
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.conftest import REPO, check, run
from tests.helpers import BAD_GROUP, GROUPS, land_sample_with_bad_inputs, tiny_settings

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         # the browser's own background calls go nowhere; the page's requests still show in the net log
         "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
INSTALL_LOG = REPO / ".venv" / "chromium-install.log"


def chromium() -> str:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return str(CHROMIUM)
    if os.geteuid() != 0:
        pytest.skip(f"{CHROMIUM} is not installed and this is not root, so `make test` could not install it: "
                    "run `apt-get install chromium` as root to enable the browser test")
    detail = INSTALL_LOG.read_text()[-3000:] if INSTALL_LOG.exists() else \
        "no install log: run the suite with `make test`, which installs it (apt-get install -y chromium)"
    pytest.fail(f"{CHROMIUM} is missing although this runs as root: `make test` installs Debian chromium "
                f"when it is missing, so that install failed or was skipped ({INSTALL_LOG}):\n{detail}")


def browse(page: Path, workdir: Path, *action: str) -> tuple[str, set[str]]:
    """Open `page` headless with `action` (--dump-dom, --screenshot=...); return stdout and the URLs
    the page itself requested (from chromium's net log: requests made for the file:// page)."""
    workdir.mkdir(parents=True, exist_ok=True)
    netlog = workdir / "netlog.json"
    out = check(run([chromium(), *FLAGS, f"--user-data-dir={workdir / 'profile'}", f"--log-net-log={netlog}",
                     *action, page.as_uri()], dict(os.environ), workdir, timeout=120))
    log = json.loads(netlog.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    requested = set()
    for event in log["events"]:
        params = event.get("params") or {}
        if names.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in params and (
                "file://" in params.get("network_isolation_key", "") or params.get("initiator") == "null"):
            requested.add(params["url"])
    return out, {u for u in requested if not u.startswith(("file:", "data:"))}


class Dom(HTMLParser):
    """What the rendered page holds: group sections, plots with their lines and shading, tables, errors."""

    def __init__(self, text: str):
        super().__init__()
        self.sections: list[str] = []
        self.plots: list[dict] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.errors: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._error = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "section" and "group" in classes:
            self.sections.append(a["id"].removeprefix("group-"))
        elif tag == "svg" and "plot" in classes:
            self.plots.append({"group": self.sections[-1], "viewbox": a["viewbox"], "lines": [], "rects": []})
        elif tag == "polyline":
            self.plots[-1]["lines"].append(a.get("points", ""))
        elif tag == "rect" and "anomaly" in classes:
            self.plots[-1]["rects"].append((float(a["x"]), float(a["width"])))
        elif tag == "table":
            self._table = f"{classes[0]}:{self.sections[-1] if self.sections else ''}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif "error" in classes:
            self._error, self._cell = True, []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif self._error and tag in ("p", "ul"):
            self.errors.append("".join(self._cell or []).strip())
            self._error, self._cell = False, None


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A real report: two sample groups trained and scored, a group with bad data, an unreadable file."""
    from flows.tasks import report_task
    from pipeline.catalog import discover, groups as resolve
    from pipeline.scoring import score_group
    from pipeline.train import train_group

    root = tmp_path_factory.mktemp("browser")
    injected = land_sample_with_bad_inputs(root)
    settings = tiny_settings(root, GROUPS + [BAD_GROUP])
    catalog = discover(settings.storage.landing)
    failures = {}
    for group in resolve(settings, catalog):
        try:
            train_group(settings, group, catalog, "browser-test", emit=lambda _: None)
            score_group(settings, group, catalog, "browser-test", emit=lambda _: None)
        except Exception as exc:  # noqa: BLE001 - the bad group is meant to fail; the report shows it
            failures[group.name] = f"training: {type(exc).__name__}: {exc}"
    assert set(failures) == {"bad"}
    days = (pd.Timestamp("2026-11-20", tz="UTC") - min(i.start for i in injected)).days + 1  # all injections
    path, _, _ = report_task.fn(settings, ["db-01", "web-01"], failures, catalog.errors, days, "browser-test-run")
    return Path(path), failures


def test_the_network_check_sees_what_a_page_fetches(tmp_path):
    """Control: a page that does fetch is caught, so the report's empty list below means something."""
    page = tmp_path / "fetching.html"
    page.write_text('<!doctype html><html><body><img src="http://nightwatch-probe.invalid/x.png">'
                    '<link rel="stylesheet" href="https://nightwatch-probe.invalid/s.css"></body></html>')
    _, requested = browse(page, tmp_path / "chromium", "--dump-dom")
    assert requested == {"http://nightwatch-probe.invalid/x.png", "https://nightwatch-probe.invalid/s.css"}


def test_report_renders_groups_plots_and_tables_and_fetches_nothing(report, tmp_path):
    path, failures = report
    out, requested = browse(path, tmp_path / "dom", "--dump-dom")
    assert requested == set(), f"the report fetched {requested}"
    dom = Dom(out)
    assert dom.sections == ["bad", "db-01", "web-01"]
    assert [p["group"] for p in dom.plots] == ["db-01", "web-01"]
    for plot in dom.plots:
        # one line per metric plus the combined score, every one with points
        assert len(plot["lines"]) >= 3 and all(len(line.split()) > 100 for line in plot["lines"]), plot["group"]
    summary = dom.tables["summary:"]
    assert summary[0] == ["group", "status", "intervals", "high", "scored until"]
    assert {row[0]: row[1].split(":")[0] for row in summary[1:]} == {"bad": "failed", "db-01": "ok", "web-01": "ok"}
    intervals = {row[0]: int(row[2]) for row in summary[1:]}
    assert intervals["web-01"] + intervals["db-01"] > 0, "no anomaly at all: the anomaly tables were not tested"
    for plot in dom.plots:  # every interval is a table row and a shaded band in the plot
        group = plot["group"]
        if intervals[group]:
            rows = dom.tables[f"anomalies:{group}"]
            assert rows[0][:4] == ["start", "end", "label", "severity"] and len(rows) == intervals[group] + 1
            assert all(row[3] in ("low", "medium", "high") and "UTC" in row[0] for row in rows[1:])
            assert all(row[2] == "" for row in rows[1:]), "no interval was labelled"
        assert len(plot["rects"]) == intervals[group], group
    assert any("broken.parquet: not a readable parquet file" in e for e in dom.errors)
    assert any("Failed: training: InputError" in e and "bad.parquet" in e for e in dom.errors)


def test_anomaly_shading_lies_inside_the_plot(report, tmp_path):
    out, _ = browse(report[0], tmp_path / "dom", "--dump-dom")
    plots = Dom(out).plots
    assert any(plot["rects"] for plot in plots)
    for plot in plots:
        width = float(plot["viewbox"].split()[2])
        for x, w in plot["rects"]:
            assert 0 <= x <= width and x + w <= width + 1, (plot["group"], x, w)


def test_report_screenshot(report, tmp_path):
    shot = tmp_path / "report.png"
    browse(report[0], tmp_path / "shot", f"--screenshot={shot}", "--window-size=1280,1800",
           "--hide-scrollbars")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 1800)
    assert len(data) > 50_000, "the screenshot is nearly blank"
    print(f"report screenshot: {shot}")
