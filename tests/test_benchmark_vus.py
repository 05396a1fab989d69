"""VUS-PR on hand cases, and against TSB-AD's own implementation where it is importable."""
import numpy as np
import pandas as pd
import pytest

from benchmarks.vus import buffered_labels, labels_at, merged_ranges, runs_of_ones, vus_pr


def labels_with(n: int, *runs: tuple[int, int]) -> np.ndarray:
    labels = np.zeros(n, dtype=np.int64)
    for first, last in runs:
        labels[first:last + 1] = 1
    return labels


def test_a_score_that_is_the_labels_gives_one():
    labels = labels_with(300, (40, 59), (200, 204))
    assert vus_pr(labels.astype(float), labels) == pytest.approx(1.0)


def test_a_constant_score_gives_the_label_share_plus_the_buffers_credit():
    labels = labels_with(1000, (100, 149), (600, 649))
    constant = np.zeros(1000)
    assert vus_pr(constant, labels, max_buffer=0) == pytest.approx(0.1)  # precision with everything flagged
    assert 0.1 < vus_pr(constant, labels) < 0.1 + 2 * 24 / 1000  # the buffers' decaying labels add a little


def test_a_shifted_score_lies_between_the_constant_and_the_labels():
    labels = labels_with(1000, (100, 149), (600, 649))
    shifted = np.roll(labels, 30).astype(float)  # rises 30 steps late, runs 30 steps past the window
    assert vus_pr(np.zeros(1000), labels) < vus_pr(shifted, labels) < vus_pr(labels.astype(float), labels) - 0.1


def test_a_case_worked_by_hand():
    """Label at step 3; scores 1.0 at step 7 (a false alarm), 0.8 at step 2 (beside the label),
    0.5 at step 3. Buffers 0 and 1 (half-width 0): AP = 1/3, the label found third. Buffer 2
    weights steps 2 and 4 by sqrt(1/2) = w: at 0.8 recall w / (1 + w/2) = 0.5224 with precision
    w / 2, at 0.5 recall 1 with precision (1 + w) / 3, AP = 0.18470 + 0.27177 = 0.45647."""
    labels = labels_with(8, (3, 3))
    scores = np.array([0, 0, 0.8, 0.5, 0, 0, 0, 1.0])
    w = np.sqrt(0.5)
    recall = w / (1 + w / 2)
    buffer_two = recall * w / 2 + (1 - recall) * (1 + w) / 3
    assert vus_pr(scores, labels, max_buffer=0) == pytest.approx(1 / 3)
    assert vus_pr(scores, labels, max_buffer=2) == pytest.approx((1 / 3 + 1 / 3 + buffer_two) / 3)
    assert vus_pr(scores, labels, max_buffer=2) == pytest.approx(0.374378, abs=1e-6)  # TSB-AD 1.5 gives this


def test_buffers_decay_and_merge_where_they_meet():
    labels = labels_with(12, (2, 3), (7, 7))
    runs = runs_of_ones(labels)
    assert runs == [(2, 3), (7, 7)]
    weights = buffered_labels(labels, runs, 4)  # half-width 2: sqrt(1 - 1/4), sqrt(1 - 2/4)
    assert weights[[0, 1, 4, 5, 6, 8, 9, 10]] == pytest.approx(
        [np.sqrt(.5), np.sqrt(.75), np.sqrt(.75), min(1, np.sqrt(.5) + np.sqrt(.5)), np.sqrt(.75),
         np.sqrt(.75), np.sqrt(.5), 0])
    assert merged_ranges(runs, 4, 12) == [(0, 9)] and merged_ranges(runs, 2, 12) == [(1, 4), (6, 8)]


def test_nan_scores_count_as_the_lowest_and_no_label_is_undefined():
    labels = labels_with(50, (10, 14))
    scores = np.where(labels == 1, 2.0, 1.0)
    with_gaps = scores.copy()
    with_gaps[:5] = np.nan
    assert vus_pr(with_gaps, labels) == pytest.approx(vus_pr(scores, labels))
    assert np.isnan(vus_pr(scores, np.zeros(50)))


def test_labels_at_marks_closed_windows():
    times = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC")
    labels = labels_at(times, [(times[1], times[2]), (times[5], times[5] + pd.Timedelta("1D"))])
    assert labels.tolist() == [0, 1, 1, 0, 0, 1]


def test_agrees_with_tsb_ad_on_random_cases():
    """TSB-AD is not a dependency (it pulls torch and an older numpy); run with its wheel's folder
    on PYTHONPATH to check this implementation against `generate_curve`."""
    basic_metrics = pytest.importorskip("TSB_AD.evaluation.basic_metrics")
    rng = np.random.default_rng(0)
    for case in range(30):
        n = int(rng.integers(20, 400))
        labels = labels_with(n, *[(a, a + int(rng.integers(0, 30))) for a in rng.integers(1, n - 1, 3)])[:n]
        scores = rng.random(n) if case % 2 else np.round(rng.random(n) * 3) + labels  # ties, and some skill
        buffer = int(rng.integers(0, 50))
        expected = basic_metrics.generate_curve(labels, scores, buffer)[-1]
        assert vus_pr(scores, labels, max_buffer=buffer) == pytest.approx(expected, abs=1e-12)
