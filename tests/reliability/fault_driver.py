"""Run training then scoring for every group of a reliability root, optionally SIGKILLing itself.

`python -m tests.reliability.fault_driver ROOT [PATTERN N WHEN]` kills the process just before
(or after) the N-th `os.replace` whose target contains PATTERN: a deterministic crash point.
Prints one JSON line with the number of replaces and the group summaries.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import tensorflow as tf

from pipeline.catalog import discover, groups
from pipeline.scoring import score_group
from pipeline.train import train_group
from tests.reliability.common import settings_for

GROUPS = [{"name": "alpha", "metrics": ["alpha.*"]}, {"name": "beta", "metrics": ["beta/*"]}]


def arm(pattern: str, nth: int, when: str) -> dict:
    """Wrap os.replace to count calls and kill this process at the chosen one."""
    real, seen = os.replace, {"all": 0, "hits": 0}

    def replace(src, dst, *args, **kwargs):
        seen["all"] += 1
        hit = pattern in str(dst) and (seen.__setitem__("hits", seen["hits"] + 1) or seen["hits"] == nth)
        if hit and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst, *args, **kwargs)
        if hit and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace
    return seen


def main(root: str, pattern: str = "", nth: str = "0", when: str = "before") -> None:
    tf.config.experimental.enable_op_determinism()  # a retrained model must equal the first one
    seen = arm(pattern, int(nth), when)
    settings = settings_for(Path(root), GROUPS)
    catalog = discover(settings.storage.landing)
    resolved = groups(settings, catalog)
    summary = [train_group(settings, g, catalog, "fault", emit=lambda _: None) for g in resolved]
    summary += [score_group(settings, g, catalog, "fault", emit=lambda _: None) for g in resolved]
    print(json.dumps({"replaces": seen["all"], "summary": summary}, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:])
