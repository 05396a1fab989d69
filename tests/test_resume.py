"""What an hourly run takes over from the last: the carried look-back kept and read back, and the
late-rows check, which reads nothing unless the look-back's landing files changed."""
import numpy as np
import pandas as pd

from pipeline import io, resume
from pipeline.catalog import discover
from pipeline.config import GroupConfig
from pipeline.detect.base import Evidence
from pipeline.parts import Grid
from pipeline.ranges import score_context

STEP = pd.Timedelta("5min")
T0 = pd.Timestamp("2026-11-01", tz="UTC")
GROUP = GroupConfig(name="g", metrics=("g.a",))


def landed_day(root) -> pd.DataFrame:
    frame = pd.DataFrame({"timestamp": pd.date_range(T0, periods=288, freq=STEP), "g.a": np.arange(288.0)})
    io.write_parquet_atomic(frame, root / "landing" / "day.parquet")
    return frame


def test_the_look_back_kept_for_the_next_run_names_its_files_and_reads_back(tmp_path):
    landed_day(tmp_path)
    catalog = discover(str(tmp_path / "landing"))
    group, edge = GROUP, score_context(GROUP)
    steps = np.arange(288.0)
    history = Evidence(steps, steps[:, None], steps[:, None].astype(np.float32), group.metrics, STEP)
    assert resume.carried(str(tmp_path), group) is None  # none kept yet
    resume.carry(str(tmp_path), catalog, group, Grid(T0, 288, 280, 288, STEP), history, "v1")
    back = resume.carried(str(tmp_path), group)
    assert back.version == "v1" and back.first == T0 + edge * STEP  # the grid's first score-context steps: not kept
    assert len(back.evidence) == 288 - 2 * edge - 1  # nor the last edge + 1, whose windows read rows still to land
    (path, first, last, rows, version), = back.landed
    assert path.endswith("day.parquet") and rows == 288 and version is not None
    assert resume.stale_since(str(tmp_path), catalog, group, back, resume.landed_now(catalog, group, back),
                              T0 + 287 * STEP) is None  # nothing changed
    late = pd.DataFrame({"timestamp": [T0 + 250 * STEP], "g.a": [1e3]})
    io.write_parquet_atomic(late, tmp_path / "landing" / "late.parquet")
    catalog = discover(str(tmp_path / "landing"))
    # nothing published here: every aligned value from the late row's step less the fill (max_gap + 1 = 4) on
    # moved, so the scores are stale from that step less the score context
    stale = resume.stale_since(str(tmp_path), catalog, group, back, resume.landed_now(catalog, group, back),
                               T0 + 287 * STEP)
    assert stale == T0 + (250 - (GROUP.max_gap + 1) - edge) * STEP
