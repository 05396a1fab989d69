"""The carried look-back: written and read back to the same bits, used only where it is still true."""
import numpy as np
import pandas as pd

from pipeline.detect.base import Evidence
from pipeline.lookback import Carried, from_table, resumed, settled, to_table
from pipeline.parts import Grid

STEP = pd.Timedelta("5min")
T0 = pd.Timestamp("2026-11-01", tz="UTC")
METRICS = ("a", "b")
FILES = [["landing/a.parquet", "2026-11-01T00:00:00+00:00", "2026-11-01T23:55:00+00:00", 288]]


def evidence(n: int, start: float = 0.0) -> Evidence:
    steps = np.arange(start, start + n)
    return Evidence(steps / 3, np.column_stack([steps / 7, steps * 1.1]),
                    np.column_stack([steps / 9, -steps]).astype(np.float32), METRICS, STEP)


def test_a_carried_look_back_reads_back_to_the_same_bits_and_only_for_its_metrics_and_interval():
    carried = Carried(T0, evidence(5), "v1", FILES)
    carried.evidence.scores[2] = np.nan
    back = from_table(to_table(carried), METRICS, STEP)
    assert back.first == T0 and back.version == "v1" and back.landed == FILES
    for name in ("scores", "metric_scores", "values"):
        np.testing.assert_array_equal(getattr(back.evidence, name), getattr(carried.evidence, name), strict=True)
    assert from_table(to_table(carried), ("a", "c"), STEP) is None
    assert from_table(to_table(carried), METRICS, pd.Timedelta("10min")) is None
    assert carried.reads(2) == (T0 - 2 * STEP, T0 + 6 * STEP)


def test_only_settled_steps_are_carried_and_never_the_grids_first_ones():
    grid = Grid(T0, n=100, new=90, stop=100, interval=STEP)
    history = evidence(40, start=60)  # steps 60..99
    kept = settled(history, grid, 100, edge=5, version="v1")
    assert kept.first == T0 + 60 * STEP and len(kept.evidence) == 34  # steps 60..93: 6 or more before the end
    np.testing.assert_array_equal(kept.evidence.scores, np.arange(60, 94) / 3)
    near_start = settled(evidence(12), Grid(T0, 12, 10, 12, STEP), 12, edge=5, version="v1")
    assert near_start.first == T0 + 5 * STEP and len(near_start.evidence) == 1  # step 5 alone: 6 before the end
    assert settled(evidence(11), Grid(T0, 11, 10, 11, STEP), 11, edge=5, version="v1") is None


def test_the_carried_steps_are_resumed_only_for_the_same_version_files_and_grid():
    carried = Carried(T0 + 2 * STEP, evidence(50, start=2), "v1", FILES)  # steps 2..51
    grid = Grid(T0, n=80, new=60, stop=80, interval=STEP)
    start, found, stop = resumed(carried, "v1", FILES, grid, edge=5)
    assert (start, stop) == (5, 52) and len(found) == 47  # steps 5..51: the first 5 are context only
    np.testing.assert_array_equal(found.scores, np.arange(5, 52) / 3)
    start, reopened, stop = resumed(carried, "v1", FILES, Grid(T0, 80, 40, 80, STEP), edge=5)
    assert (start, stop) == (5, 40) and len(reopened) == 35  # steps from 40 on are scored again
    assert resumed(carried, "v2", FILES, grid, edge=5) is None  # another version (promoted since)
    assert resumed(carried, "v1", [*FILES, ["landing/late.parquet", "x", "y", 1]], grid, edge=5) is None
    assert resumed(carried, "v1", None, grid, edge=5) is None  # a file of unknown bounds
    start, later, stop = resumed(carried, "v1", FILES, grid, edge=1)
    assert (start, stop) == (2, 52) and later.scores[0] == 2 / 3  # step 1 is not carried: scored again
    start, earlier, _ = resumed(carried, "v1", FILES, Grid(T0 + 3 * STEP, 80, 60, 80, STEP), edge=0)
    assert start == 0 and earlier.scores[0] == 3 / 3  # carried from before the grid's first step
    assert resumed(carried, "v1", FILES, Grid(T0 + 60 * STEP, 80, 10, 80, STEP), edge=5) is None  # all before it
    assert resumed(carried, "v1", FILES, Grid(T0 + pd.Timedelta("1min"), 80, 60, 80, STEP), edge=5) is None


def test_a_grid_moved_back_by_an_open_interval_resumes_after_steps_scored_again():
    """An anomaly interval open at the last watermark moves the next grid back (its steps are new
    again): the carried steps start later in that grid, and those before them are scored again."""
    carried = Carried(T0 + 30 * STEP, evidence(40, start=30), "v1", FILES)  # steps 30..69
    start, found, stop = resumed(carried, "v1", FILES, Grid(T0, n=100, new=50, stop=100, interval=STEP), edge=5)
    assert (start, stop) == (30, 50)  # 5..29 scored again, 30..49 carried, 50 on new
    np.testing.assert_array_equal(found.scores, np.arange(30, 50) / 3)
    assert resumed(carried, "v1", FILES, Grid(T0, n=100, new=30, stop=100, interval=STEP), edge=5) is None


def test_a_table_that_is_not_a_carried_look_back_is_not_used():
    """A file written by hand or damaged is ignored (the run reads the days again), never an error."""
    import json

    import pyarrow as pa

    from pipeline.lookback import META

    table = to_table(Carried(T0, evidence(5), "v1", FILES))
    meta = json.loads(table.schema.metadata[META])
    assert from_table(table.drop_columns(["value:b"]), METRICS, STEP) is None
    assert from_table(table.replace_schema_metadata({META: b"{not json"}), METRICS, STEP) is None
    assert from_table(table.replace_schema_metadata({META: b"[1, 2]"}), METRICS, STEP) is None
    no_version = {key: value for key, value in meta.items() if key != "version"}
    assert from_table(table.replace_schema_metadata({META: json.dumps(no_version).encode()}), METRICS, STEP) is None
    as_numbers = table.set_column(0, "timestamp", pa.array(range(5)))
    assert from_table(as_numbers, METRICS, STEP) is None
    assert from_table(table, METRICS, STEP) is not None
