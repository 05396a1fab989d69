import numpy as np
import pandas as pd

from pipeline.detect.base import Evidence, Flags
from pipeline.detect.compose import Raised
from pipeline.parts import Grid, Part, closed_until, part_stop, run_start, run_stop

GRID = Grid(pd.Timestamp("2026-01-01 20:00", tz="UTC"), n=100, new=0, stop=100, interval=pd.Timedelta("1h"))


def test_a_part_stops_at_the_midnight_it_spans_or_at_the_end():
    assert part_stop(GRID, 0, 10) == 4  # 20:00 + 10 h passes midnight: stop at step 4 (00:00)
    assert part_stop(GRID, 4, 10) == 14  # 00:00 .. 09:00 spans no midnight
    assert part_stop(GRID, 4, 30) == 28  # back to the next midnight
    assert part_stop(GRID, 95, 10) == 100


def test_steps_are_closed_until_the_last_run_that_could_still_grow():
    flags = np.array([1, 0, 0, 0, 0, 1, 0], dtype=bool)
    assert closed_until(flags, merge_gap=1) == 5  # the run at 5 is one step from the end
    assert closed_until(flags[:5], merge_gap=1) == 5  # 4 quiet steps after the run at 0
    assert closed_until(np.zeros(3, bool), merge_gap=1) == 3


def test_a_parts_tail_joined_to_the_next_part_is_one_part():
    def part(start, n):
        steps = np.arange(start, start + n, dtype=float)
        evidence = Evidence(steps, 2 * steps[:, None], -steps[:, None], ("x",), GRID.interval)
        raised = Raised({"score": Flags(steps > 5, steps / 5)}, {"daily_repeat:score": 3 * steps})
        return Part(start, GRID.first + pd.to_timedelta(steps, "h"), steps[:, None], np.zeros((n, 1), bool),
                    evidence, raised, np.arange(start, start + n), steps[:, None])

    joined = part(0, 6).tail(4).join(part(6, 3))
    assert joined.start == 4 and joined.evidence.scores.tolist() == [4, 5, 6, 7, 8]
    assert joined.evidence.metric_scores[:, 0].tolist() == [8, 10, 12, 14, 16] and joined.values[0, 0] == 4
    assert joined.evidence.values[:, 0].tolist() == [-4, -5, -6, -7, -8] and joined.evidence.metrics == ("x",)
    assert joined.raised.flags["score"].raised.tolist() == [False, False, True, True, True]
    assert joined.raised.measures["daily_repeat:score"].tolist() == [12, 15, 18, 21, 24]
    assert joined.window_ends.tolist() == [4, 5, 6, 7, 8] and joined.codes[:, 0].tolist() == [4, 5, 6, 7, 8]
    assert joined.index[0] == GRID.time(4) and len(joined.index) == 5


def test_the_runs_reaching_a_range_are_found_whole_by_looking_further_each_time():
    flags = np.zeros(100, bool)
    flags[[10, 12, 30, 33, 70, 72, 74]] = True  # with merge gap 2: runs 10..12, 30..33, 70..74
    asked = []

    def flags_of(lo, hi):
        asked.append((lo, hi))
        return flags[lo:hi]

    assert run_start(flags_of, 32, 2, 0) == 30 and asked == [(29, 32), (26, 32)]  # until 3 quiet steps before 30 are seen
    assert run_start(flags_of, 35, 2, 0) == 30  # a run ending within the gap before 35 joins it
    assert run_start(flags_of, 37, 2, 0) == 37  # 30..33 ends 3 steps before 37: closed
    assert run_start(flags_of, 11, 2, 10) == 10  # no further back than the floor
    assert run_stop(flags_of, 72, 2, 100) == 75 and run_stop(flags_of, 68, 2, 100) == 75
    assert run_stop(flags_of, 67, 2, 100) == 67 and run_stop(flags_of, 71, 2, 73) == 73  # data ends at 73
    asked.clear()
    flags[36:60:2] = True  # one run 30..58: found by spans of 3, 6, 12, 24, 48 steps before step 60
    assert run_start(flags_of, 60, 2, 0) == 30 and [hi - lo for lo, hi in asked] == [3, 6, 12, 24, 48]


def test_the_windows_phase_counts_from_the_versions_first_training_step():
    origin = pd.Timestamp("2026-11-01 00:00", tz="UTC")
    at = lambda first: Grid(pd.Timestamp(first, tz="UTC"), 100, 0, 100, pd.Timedelta("5min"))  # noqa: E731
    assert at("2026-11-01 00:00").phase(8, origin) == 0  # one pass over the training range: as trained
    assert at("2026-11-01 00:15").phase(8, origin) == 3
    assert at("2026-10-31 23:55").phase(8, origin) == 7  # a backfill before the training range
