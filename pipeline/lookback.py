"""The rules' look-back carried from one incremental run to the next.

An hourly run's new steps are flagged on days of earlier evidence (the rules' `recent` days, the
shift baseline, the daily-repeat filter's days). That evidence does not change once the steps
after it have landed, so a run keeps it (`<data_root>/lookback/`) and the next run reads it back
instead of reading and scoring days of landing rows again: it scores only the new steps with the
context their scores need. It is used only when the same model version computed it from the
landing files that hold those steps now (`landed`), else the run reads the context as before.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.detect.base import Evidence, sliced
from pipeline.parts import Grid

META = b"nightwatch.lookback"
MICROSECOND = pd.Timedelta(1, "us")


@dataclass(frozen=True)
class Carried:
    """Evidence of consecutive steps from `first`, computed by model `version` from the landing
    files `landed` (`pipeline.catalog.landed` of the rows it read)."""

    first: pd.Timestamp
    evidence: Evidence
    version: str
    landed: list

    def reads(self, context: int) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The times of the rows its steps' evidence was computed from: `context` steps either side."""
        interval = self.evidence.interval
        return self.first - context * interval, self.first + (len(self.evidence) - 1 + context) * interval


def to_table(carried: Carried) -> pa.Table:
    """One row per step: its time, score, and each metric's score and scaled value (in their own
    float types, so they read back to the same bits); the version, metrics and files in the
    schema's metadata."""
    found, n = carried.evidence, len(carried.evidence)
    times = pd.date_range(carried.first, periods=n, freq=found.interval).as_unit("us")
    columns = {"timestamp": pa.array(times), "score": pa.array(found.scores, pa.float64())}
    for j, metric in enumerate(found.metrics):
        columns[f"metric_score:{metric}"] = pa.array(found.metric_scores[:, j], pa.float64())
        columns[f"value:{metric}"] = pa.array(found.values[:, j])  # float32, as scaled
    meta = {"version": carried.version, "landed": carried.landed, "metrics": list(found.metrics)}
    return pa.table(columns).replace_schema_metadata({META: json.dumps(meta).encode()})


def from_table(table: pa.Table, metrics: tuple[str, ...], interval: pd.Timedelta) -> Carried | None:
    """The carried look-back of a table `to_table` wrote; None when it is of other metrics or of
    steps not `interval` apart (the group was retrained on another grid), or is not such a table
    (a file written by hand or damaged): the run then reads the days again, as without one."""
    try:
        meta = json.loads((table.schema.metadata or {}).get(META, b"{}"))
    except ValueError:
        return None
    columns = {"timestamp", "score", *(f"{kind}:{m}" for kind in ("metric_score", "value") for m in metrics)}
    if (not isinstance(meta, dict) or meta.get("metrics") != list(metrics) or not {"version", "landed"} <= set(meta)
            or table.num_rows == 0 or not columns <= set(table.column_names)
            or not pa.types.is_timestamp(table.schema.field("timestamp").type)):
        return None
    stamps = table.column("timestamp")
    micros = pc.cast(stamps.cast(pa.timestamp("us", stamps.type.tz)), pa.int64()).to_numpy()
    if not np.array_equal(micros - micros[0], np.arange(len(micros)) * (interval // MICROSECOND)):
        return None
    column = lambda name: table.column(name).to_numpy()  # noqa: E731
    evidence = Evidence(column("score"), np.column_stack([column(f"metric_score:{m}") for m in metrics]),
                        np.column_stack([column(f"value:{m}") for m in metrics]), tuple(metrics), interval)
    return Carried(pd.Timestamp(int(micros[0]), unit="us", tz="UTC"), evidence, meta["version"], meta["landed"])


def resumed(carried: Carried, version: str, landed: list | None, grid: Grid,
            edge: int) -> tuple[int, Evidence, int] | None:
    """`(start, evidence, stop)`: the carried evidence of the grid's steps [start, stop), if model
    `version` computed it from the files that hold its rows now (`landed`); else None. `start` is
    the first carried step, at least `edge` (the grid's first `edge` steps are read with no context
    before them and are only context); the steps [edge, start) are scored again, as an anomaly
    interval open at the last watermark moves the grid back. `stop` is at most the grid's first
    new step: new steps (those of the open interval included) are scored, not carried."""
    offset = carried.first - grid.first
    first = offset // grid.interval
    start, stop = max(first, edge), min(first + len(carried.evidence), grid.new)
    if (carried.version != version or landed is None or carried.landed != landed or offset % grid.interval
            or not start < stop):
        return None
    return start, sliced(carried.evidence, slice(start - first, stop - first)), stop


def settled(history: Evidence, grid: Grid, stop: int, edge: int, version: str) -> Carried | None:
    """What to carry from evidence ending at grid step `stop`, the last landed one: its steps at
    least `edge` + 1 before `stop` (later rows change no window, smoothing or gap filling of
    theirs) and not among the grid's first `edge`; None if there are none."""
    first, last = max(stop - len(history), edge), stop - edge - 1
    if last <= first:
        return None
    rows = slice(first - (stop - len(history)), last - (stop - len(history)))
    return Carried(grid.time(first), sliced(history, rows), version, [])
