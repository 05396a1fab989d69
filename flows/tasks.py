"""Prefect tasks: one per stage and group (scoring: per batch of groups), each a thin call into `pipeline`."""
from __future__ import annotations

import os
import socket
import time

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.runner import give_back_memory
from pipeline import io
from pipeline.alert_config import Destination
from pipeline.alerting import UnresolvedSecret, alert_group, env_url, export_metrics
from pipeline.catalog import Catalog, discover
from pipeline.config import GroupConfig, Settings
from pipeline.report import GroupSection, build_html, markdown_summary
from pipeline.scoring import score_group
from pipeline.train import train_group


GROUP_RETRY_DELAY_SECONDS = 5  # before a scored group's one retry of an I/O error


def io_error(task, task_run, state) -> bool:
    """Retry condition: only I/O failures (a storage hiccup, a lock held too long) are worth a retry.

    Bad landed data or a bad configuration fails the same way again, after a whole new training."""
    return isinstance(state.result(raise_on_failure=False), OSError)


@task(name="discover-landing", retries=2, retry_delay_seconds=5, retry_condition_fn=io_error)
def discover_task(settings: Settings) -> Catalog:
    io.use_storage(settings.storage)
    known = io.read_landing_scans(settings.storage.data_root)  # files unchanged since are not opened again
    catalog = discover(settings.storage.landing, future_tolerance=settings.future_tolerance, known=known)
    if catalog.scans != known:
        try:
            io.write_landing_scans(settings.storage.data_root, catalog.scans)
        except OSError as exc:  # a cache: the next run scans every file again, nothing else is lost
            get_run_logger().warning(f"landing scan not kept for the next run: {type(exc).__name__}: {exc}")
    for path, error in catalog.errors.items():
        get_run_logger().error(f"skipped unreadable landing file: {error}")
    return catalog


class Unwalked:
    """A task parameter Prefect hands over as it is. Prefect walks a dataclass parameter's every
    field for futures, twice per task (and `quote` reaches a Dask worker as nested tuples): the
    landing's catalog, walked, cost 0.2 s a group at 30 groups, growing with the landing; the
    settings, which hold every group's configuration, 78 ms a group at 1,000 groups."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


# The group tasks have effects (models, published rows) and are never skipped for a cached result, so
# no cache key is computed from their inputs either.
@task(name="train-group", task_run_name="train-{group.name}", retries=1, retry_delay_seconds=10,
      retry_condition_fn=io_error, cache_policy=NO_CACHE)
def train_task(settings: Unwalked, group: GroupConfig, catalog: Unwalked, run_id: str) -> dict:
    """Train one group; the summary names the process that trained it (`host:pid`, e.g. a Dask worker)."""
    logger = get_run_logger()
    io.use_storage(settings.value.storage)  # in this process: a Dask worker's too
    try:
        summary = train_group(settings.value, group, catalog.value, run_id, emit=logger.info)
    finally:
        give_back_memory()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    logger.info(f"{group.name}: trained on worker {worker}")
    return {**summary, "worker": worker}


@task(name="score-groups", task_run_name="score-{label}", cache_policy=NO_CACHE)
def score_task(settings: Unwalked, batch: Unwalked, catalog: Unwalked, run_id: str, label: str,
               start: str | None = None, end: str | None = None) -> dict[str, dict]:
    """Score a batch of groups one after another (`flows.nightly.batches`): each group's outcome is
    its own, as with a task of its own. A group's error fails that group alone (`failed`: its
    message) and an I/O error (`OSError`) is retried once, after `GROUP_RETRY_DELAY_SECONDS`."""
    settings, logger = settings.value, get_run_logger()
    io.use_storage(settings.storage)
    times = [pd.Timestamp(t) if t else None for t in (start, end)]
    done, failed = {}, {}
    for group in batch.value:
        for retry in (False, True):
            try:
                done[group.name] = score_group(settings, group, catalog.value, run_id, *times, emit=logger.info)
                break
            except Exception as exc:  # noqa: BLE001 - the group's error is its outcome; the others go on
                if isinstance(exc, OSError) and not retry:
                    logger.warning(f"{group.name}: {type(exc).__name__}: {exc}; retrying in "
                                   f"{GROUP_RETRY_DELAY_SECONDS} s")
                    time.sleep(GROUP_RETRY_DELAY_SECONDS)
                    continue
                failed[group.name] = f"{type(exc).__name__}: {exc}"
                break
    give_back_memory()  # once a batch: a trim costs ~2.5 ms, an hourly group's scoring ~65
    return {"done": done, "failed": failed}


def secret_url(destination: Destination) -> str:
    """A destination's URL from its environment variable or its Prefect Secret block."""
    if destination.secret_block is None:
        return env_url(destination)
    from prefect.blocks.system import Secret

    try:
        return str(Secret.load(destination.secret_block).get())
    except Exception as exc:  # noqa: BLE001 - a missing or unreadable block is this destination's failure
        raise UnresolvedSecret(f"Prefect Secret block {destination.secret_block!r}: {type(exc).__name__}: {exc}")


def notify_block(block: str, subject: str, body: str) -> None:
    """Send through the Prefect notification block `block` (`<type slug>/<name>`), raising on failure."""
    from prefect.blocks.abstract import NotificationBlock
    from prefect.blocks.core import Block

    loaded = Block.load(block)
    if not isinstance(loaded, NotificationBlock):
        raise TypeError(f"block {block!r} is a {type(loaded).__name__}, not a notification block")
    with loaded.raise_on_failure():
        loaded.notify(body=body, subject=subject)


@task(name="send-alerts")
def alert_task(settings: Settings, scored: dict[str, dict], backfill: bool = False) -> dict[str, dict]:
    """Send each scored group's new anomaly intervals (pipeline.alerting); a group whose sent log or
    anomalies cannot be read gets a failure line, the others are sent. Not retried as a task: each
    message has its own retries, and what failed is sent again at the next run. A group's first
    alerting run starts at its first newly scored step, or at its watermark after a `backfill`; the
    intervals found in late rows a run scored again (`rescored_from`) are sent too."""
    logger, results = get_run_logger(), {}
    io.use_storage(settings.storage)
    for name, summary in scored.items():
        first = pd.Timestamp(summary["start"]) if summary.get("start") and not backfill else None
        rescored_from = pd.Timestamp(summary["rescored_from"]) if summary.get("rescored_from") else None
        try:
            result = alert_group(settings, name, first, rescored_from, resolve=secret_url, notify=notify_block)
        except (OSError, ValueError) as exc:
            result = {"group": name, "opened": 0, "updated": 0,
                      "failures": [f"{name}: alerts not sent: {type(exc).__name__}: {exc}"]}
        logger.info(f"{name}: {result['opened']} alert(s) sent, {result['updated']} update(s)")
        for line in result["failures"]:
            logger.warning(line)
        results[name] = result
    return results


@task(name="export-metrics", retries=1, retry_delay_seconds=5, retry_condition_fn=io_error)
def metrics_task(settings: Settings) -> tuple[str, list[str]]:
    """Write the Prometheus textfile of every group's latest score."""
    io.use_storage(settings.storage)
    path, problems = export_metrics(settings)
    for line in problems:
        get_run_logger().warning(line)
    return str(path), problems


ANOMALY_COLUMNS = ("start", "end", "label", "severity", "trigger", "peak_score", "threshold", "top_metric", "contributors",
                   "model_version")


def latest_anomaly_rows(sections: list[GroupSection], limit: int = 50) -> list[dict]:
    """The newest anomaly intervals of the report (at most `limit`), as JSON-ready rows for a table artifact."""
    frames = [s.anomalies.assign(group=s.group) for s in sections if not s.anomalies.empty]
    if not frames:
        return []
    latest = pd.concat(frames, ignore_index=True).sort_values(["start", "group"], ascending=[False, True])
    return [{"group": str(row["group"]), **{c: _cell(row.get(c)) for c in ANOMALY_COLUMNS}}
            for _, row in latest.head(limit).iterrows()]


def _cell(value):
    """One table cell as JSON: times as UTC text, floats rounded, missing as null."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, float):
        return round(value, 4)
    return value.item() if hasattr(value, "item") else str(value)


@task(name="write-report", retries=2, retry_delay_seconds=5, retry_condition_fn=io_error)
def report_task(settings: Settings, groups: list[str], failures: dict[str, str], file_errors: dict[str, str],
                days: int, run_id: str, warnings: dict[str, list[str]] | None = None) -> tuple[str, str, list[dict]]:
    """Write the HTML report on each group's last `days` of published data, with each group's failure
    and warnings (e.g. scoring's: too many steps without a score).

    Returns the report's path, its markdown summary and the newest anomaly intervals as table rows."""
    root, warnings = settings.storage.data_root, warnings or {}
    io.use_storage(settings.storage)
    sections = [_section(root, group, failures.get(group), days, tuple(warnings.get(group, ())))
                for group in sorted(set(groups) | set(failures))]
    title = f"Nightwatch anomaly report {pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M} UTC"
    path = io.write_report(root, f"report-{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S}-{run_id[:8]}.html",
                           build_html(title, sections, file_errors))
    return str(path), markdown_summary(title, sections, file_errors, str(path)), latest_anomaly_rows(sections)


def _section(root: str, group: str, failure: str | None, days: int, warnings: tuple[str, ...]) -> GroupSection:
    """One group's part of the report: its last `days` of published data, and its failure if any.

    A group whose data cannot be read (a name from the data that is no usable folder name, a broken
    file) is shown failed with the reason, and every other group is still reported."""
    try:
        scores, anomalies = io.read_dataset(root, "scores", group), io.read_anomalies(root, group)
    except Exception as exc:  # noqa: BLE001 - this group's section shows the error, the others render
        error = f"report: {type(exc).__name__}: {exc}"
        get_run_logger().error(f"group {group} failed: {error}")
        return GroupSection(group, error="; ".join(filter(None, [failure, error])), warnings=warnings)
    if not scores.empty:
        since = scores["timestamp"].max() - pd.Timedelta(days=days)
        scores = scores[scores["timestamp"] >= since]
        anomalies = anomalies[anomalies["end"] >= since] if not anomalies.empty else anomalies
    return GroupSection(group, scores, anomalies, failure, warnings)
