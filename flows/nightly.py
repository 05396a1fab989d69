"""The flows: train, score, report, and the nightly flow that runs all three."""
from __future__ import annotations

import os
import uuid

from prefect import flow, get_run_logger
from prefect.artifacts import (create_link_artifact, create_markdown_artifact, create_progress_artifact,
                               create_table_artifact, update_progress_artifact)
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from flows.runner import task_runner
from flows.tasks import Unwalked, alert_task, discover_task, metrics_task, report_task, score_task, train_task
from pipeline import io
from pipeline.catalog import Catalog, groups as resolve
from pipeline.config import load_settings


PROGRESS_STEPS = 20  # progress is reported each time another 1/20 of the groups has finished
MAX_SCORE_TASKS = 64  # a scoring run's task runs at most; past that, each scores a batch of groups


def reports_progress(finished: int, total: int, just: int = 1) -> bool:
    """Whether the `just` groups that brought the finished ones to `finished` of `total` complete
    another 1/`PROGRESS_STEPS` of them."""
    return PROGRESS_STEPS * finished // total > PROGRESS_STEPS * (finished - just) // total


def batches(groups: list, most: int = MAX_SCORE_TASKS) -> list[tuple]:
    """The groups in order, in at most `most` batches of equal size give or take one group (one
    group a batch in a fleet of at most `most`). A task run costs Prefect's server and client more
    than an hourly score of a group (benchmarks/RESULTS.md): a thousand groups an hour are scored
    in 63 task runs, not a thousand."""
    count = min(len(groups), most)
    return [tuple(groups[len(groups) * k // count:len(groups) * (k + 1) // count]) for k in range(count)]


def _label(batch: tuple) -> str:
    """A batch's name in its task run's: its group, or its first and last and how many."""
    return batch[0].name if len(batch) == 1 else f"{batch[0].name}..{batch[-1].name}-{len(batch)}-groups"


def _run_id() -> str:
    return str(flow_run.id or uuid.uuid4())


def _by_group(futures: dict[tuple[str, ...], PrefectFuture], stage: str,
              batched: bool = False) -> tuple[dict[str, dict], dict[str, str]]:
    """Wait for every task of the stage, each of one group (its result is the group's) or, `batched`,
    of the groups named by its key (its result: `{"done": {group: result}, "failed": {group:
    message}}`); split the results into successes and failure messages (a task that failed fails
    each of its groups).

    A progress artifact (`<stage>-progress`) shows the share of groups finished, and a log line
    `<stage>: done/total groups` says it (what a terminal shows), each time another 5% of the groups
    has finished: every group in a small run, not a thousand API calls in a fleet's."""
    done, failed = {}, {}
    names = {id(future): batch for batch, future in futures.items()}
    total = sum(len(batch) for batch in futures)
    progress = create_progress_artifact(0.0 if futures else 100.0, key=f"{stage}-progress",
                                        description=f"Nightwatch {stage}: share of {total} groups finished")
    finished = 0
    for future in as_completed(list(futures.values())):
        batch = names[id(future)]
        future.wait()  # already done; this keeps the final state with its data (or exception)
        finished += len(batch)
        if reports_progress(finished, total, len(batch)):
            update_progress_artifact(progress, 100.0 * finished / total)
            get_run_logger().info(f"{stage}: {finished}/{total} groups done ({batch[-1]})")
        state = future.state
        if state.is_completed():
            outcome = state.result()
            done.update(outcome["done"] if batched else {batch[0]: outcome})
            failed.update(outcome["failed"] if batched else {})
            continue
        message = str(state.message or state.name)
        try:
            state.result()
        except Exception as exc:  # noqa: BLE001 - the group's error is reported, others go on
            message = f"{type(exc).__name__}: {exc}"
        failed.update(dict.fromkeys(batch, message))
    for name, message in failed.items():
        get_run_logger().error(f"group {name} failed: {message}")
    for name, result in done.items():
        for line in result.get("warnings", []):
            get_run_logger().warning(line)
    order = [name for batch in futures for name in batch]  # results in group order, whatever order they finished in
    return ({n: done[n] for n in order if n in done}, {n: failed[n] for n in order if n in failed})


def _catalog(settings) -> tuple[Catalog, list]:
    """The landing's catalog (each group's task gets it `Unwalked`) and its groups."""
    catalog = discover_task(settings)
    return catalog, resolve(settings, catalog)


@flow(name="train", task_runner=task_runner())
def train_flow(config: str | None = None) -> dict:
    """Train (and maybe promote) one model per metric group, groups in parallel."""
    settings = load_settings(config)
    catalog, groups = _catalog(settings)
    run_id = _run_id()
    done, failed = _by_group({(g.name,): train_task.submit(Unwalked(settings), g, Unwalked(catalog), run_id)
                              for g in groups}, "training")
    return {"trained": done, "failed": failed, "landing_errors": catalog.errors}


@flow(name="score", task_runner=task_runner())
def score_flow(config: str | None = None, start: str | None = None, end: str | None = None) -> dict:
    """Score data newer than each group's watermark (or [start, end]) and publish it."""
    settings = load_settings(config)
    catalog, groups = _catalog(settings)
    run_id = _run_id()
    futures = {tuple(g.name for g in batch): score_task.submit(Unwalked(settings), Unwalked(batch), Unwalked(catalog),
                                                               run_id, _label(batch), start, end)
               for batch in batches(groups)}
    done, failed = _by_group(futures, "scoring", batched=True)
    result = {"scored": done, "failed": failed, "landing_errors": catalog.errors}
    problems = _after_scoring(settings, result, backfill=start is not None or end is not None)
    if problems:  # scoring completed; the run's message says what was not delivered or written
        return Completed(message="scoring completed; " + "; ".join(problems), data=result)
    return result


def _after_scoring(settings, result: dict, backfill: bool) -> list[str]:
    """Alerts and the Prometheus textfile after a scoring run, when configured. Neither can fail the
    run: a failed delivery becomes a warning of its group (so the report shows it), and lines for
    the run's message are returned. A backfill never starts a group's alerting in the past."""
    problems: list[str] = []
    if settings.alerts is not None:
        sent = alert_task(settings, result["scored"], backfill, return_state=True)
        result["alerts"] = sent.result() if sent.is_completed() else {}
        for name, outcome in result["alerts"].items():
            result["scored"][name]["warnings"] = [*result["scored"][name].get("warnings", []), *outcome["failures"]]
            problems += outcome["failures"]
        if not sent.is_completed():
            problems.append(f"alerts not sent: {sent.message}")
    if settings.prometheus is not None:
        written = metrics_task(settings, return_state=True)
        if written.is_completed():
            result["metrics_file"], skipped = written.result()
            problems += skipped
        else:
            problems.append(f"metrics file not written: {written.message}")
    return problems


@flow(name="report")
def report_flow(config: str | None = None, days: int = 7, failures: dict[str, str] | None = None,
                file_errors: dict[str, str] | None = None, warnings: dict[str, list[str]] | None = None) -> str:
    """Write the HTML ops report and publish its summary as Prefect artifacts (`failures`, `warnings`:
    what the stages before it found, per group)."""
    settings = load_settings(config)
    io.use_storage(settings.storage)
    groups = io.published_groups(settings.storage.data_root, "scores")
    path, markdown, latest = report_task(settings, groups, failures or {}, file_errors or {}, days, _run_id(),
                                         warnings or {})
    create_markdown_artifact(markdown, key="ops-anomaly-report", description="Nightwatch anomaly report")
    create_table_artifact(latest, key="ops-latest-anomalies",
                          description=f"Nightwatch: newest anomaly intervals of the last {days} days, all groups")
    link = path if io.is_remote(path) else f"file://{os.path.abspath(path)}"  # an object store's URL as it is
    create_link_artifact(link, link_text="HTML report", key="ops-anomaly-report-html")
    return path


@flow(name="nightly")
def nightly_flow(config: str | None = None, days: int = 7):
    """Train every group, score new data, write the report; Failed if any group failed."""
    trained = train_flow(config)
    scored = score_flow(config)
    failures: dict[str, str] = {}
    for stage, result in (("training", trained), ("scoring", scored)):
        for name, msg in result["failed"].items():
            failures[name] = "; ".join(filter(None, [failures.get(name), f"{stage}: {msg}"]))
    file_errors = trained["landing_errors"]
    warnings: dict[str, list[str]] = {}
    for result in (*trained["trained"].values(), *scored["scored"].values()):
        if result.get("warnings"):
            warnings.setdefault(result["group"], []).extend(result["warnings"])
    written = report_flow(config, days, failures, file_errors, warnings, return_state=True)  # its failure ends the run below
    report = written.result() if written.is_completed() else None
    if report is not None:
        get_run_logger().info(f"report written to {report}")
    undelivered = "".join(f"\n{line}" for sent in scored.get("alerts", {}).values() for line in sent["failures"])
    if failures or file_errors or report is None:
        why = "".join(f"\n{name}: {msg}" for name, msg in failures.items())  # which group failed, and why
        unwritten = "" if report is not None else f"\nreport not written: {written.message}"
        return Failed(message=f"failed groups: {sorted(failures)}; unreadable files: {sorted(file_errors)}"
                              f"{why}{unwritten}{undelivered}")
    return Completed(message=f"all groups trained and scored; report at {report}{undelivered}")
