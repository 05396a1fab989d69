import numpy as np
import pandas as pd

from pipeline.config import GroupConfig
from pipeline.detect.compose import Detection
from pipeline.detect.score import Score
from pipeline.ranges import context_start, context_steps, no_evidence, score_context, utc

# window 16, smoothing 6, max_gap 3; only the score rule, with a 1-day recent context (288 steps of 5 min)
GROUP = GroupConfig(name="g", metrics=("a", "b"), window=16, max_gap=3, detection=Detection(
    smoothing=6, flags=(Score(),), filters=()))


def test_a_steps_score_reads_its_windows_smoothing_and_gap_filling_neighbours_before_it():
    assert score_context(GROUP) == 15 + 3 + 4  # 15 earlier steps in its windows, 3 smoothing, 3 + 1 filling


def test_an_incremental_run_reads_the_rules_look_back_before_that():
    assert context_steps(GROUP) == 22 + 5 * 288  # the score rule's 5 recent days
    first_new = pd.Timestamp("2026-11-20 00:00", tz="UTC")
    assert context_start(GROUP, first_new) == first_new - (22 + 1440) * pd.Timedelta("5min")
    assert context_start(GROUP, None) is None  # a first run reads from the first row


def test_bounds_are_utc_and_a_range_starts_without_evidence_before_it():
    assert utc("2026-11-20 06:00") == pd.Timestamp("2026-11-20 06:00", tz="UTC")
    assert utc(pd.Timestamp("2026-11-20 07:00", tz="Europe/Berlin")) == pd.Timestamp("2026-11-20 06:00", tz="UTC")
    empty = no_evidence(GROUP)
    assert len(empty) == 0 and empty.values.shape == (0, 2) and empty.metrics == ("a", "b")
    np.testing.assert_array_equal(empty.metric_scores, np.empty((0, 2)))
