"""Run training, scoring and the report for every group of a reliability root, optionally SIGKILLing itself.

`python -m tests.reliability.fault_driver ROOT [POINT N WHEN [STAGES]]` kills the process at a
deterministic crash point, chosen by POINT:

- a path fragment: just before (or after) the N-th `os.replace` whose target contains it;
- `call:<module>:<name>`: just before (or after) the N-th call of that function or method, e.g.
  `call:pipeline.io:read_series` (reading landing files) or `call:keras:Model.save`; callers must
  look the name up at call time (`io.read_series(...)`), as the pipeline does;
- `epoch`: at the end of the N-th training epoch of the process, counted from the trainer's
  epoch log lines (WHEN is ignored).

STAGES is a comma-separated subset of `train,score,report` (default: all three, as the nightly
flow runs them; the report is written by `flows.tasks.report_task`'s own code).
Prints one JSON line with the number of replaces and the stage summaries.
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf

from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.scoring import score_group
from pipeline.train import train_group
from tests.reliability.common import settings_for

GROUPS = [{"name": "alpha", "metrics": ["alpha.*"]}, {"name": "beta", "metrics": ["beta/*"]}]
STAGES = "train,score,report"


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(pattern: str, nth: int, when: str) -> dict:
    """Wrap os.replace to count calls and kill this process at the chosen one."""
    real, seen = os.replace, {"all": 0, "hits": 0}

    def replace(src, dst, *args, **kwargs):
        seen["all"] += 1
        hit = bool(pattern) and pattern in str(dst) and (
            seen.__setitem__("hits", seen["hits"] + 1) or seen["hits"] == nth)
        if hit and when == "before":
            die()
        real(src, dst, *args, **kwargs)
        if hit and when == "after":
            die()

    os.replace = replace
    return seen


def arm_call(target: str, nth: int, when: str) -> None:
    """Wrap `<module>:<name>` (a function, or `Class.method`) to kill at its N-th call."""
    module, name = target.split(":")
    owner = importlib.import_module(module)
    *path, attr = name.split(".")
    for part in path:
        owner = getattr(owner, part)
    real, calls = getattr(owner, attr), [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == nth and when == "before":
            die()
        result = real(*args, **kwargs)
        if calls[0] == nth and when == "after":
            die()
        return result

    setattr(owner, attr, wrapper)


def epoch_killer(nth: int) -> Callable[[str], None]:
    """An `emit` for training that kills the process after the N-th epoch's log line."""
    count = [0]

    def emit(line: str) -> None:
        count[0] += line.startswith("epoch ")
        if count[0] == nth:
            die()

    return emit


def report(settings) -> str:
    """Write the HTML report the way the report flow does (its task's function, without Prefect)."""
    from flows.tasks import report_task

    published = io.published_groups(settings.storage.data_root, "scores")
    return report_task.fn(settings, published, {}, {}, 7, "fault")[0]


def main(root: str, point: str = "", nth: str = "0", when: str = "before", stages: str = STAGES) -> None:
    tf.config.experimental.enable_op_determinism()  # a retrained model must equal the first one
    if point.startswith("call:"):
        arm_call(point[5:], int(nth), when)
    emit = epoch_killer(int(nth)) if point == "epoch" else (lambda _: None)
    seen = arm("" if point.startswith("call:") or point == "epoch" else point, int(nth), when)
    settings = settings_for(Path(root), GROUPS)
    catalog = discover(settings.storage.landing)
    resolved = groups(settings, catalog)
    summary: list = []
    if "train" in stages:
        summary += [train_group(settings, g, catalog, "fault", emit=emit) for g in resolved]
    if "score" in stages:
        summary += [score_group(settings, g, catalog, "fault", emit=lambda _: None) for g in resolved]
    if "report" in stages:
        summary.append({"report": report(settings)})
    print(json.dumps({"replaces": seen["all"], "summary": summary}, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:])
