"""Each baseline finds an injected spike; the shared post-processing on a hand case."""
import numpy as np
import pandas as pd
import pytest

from benchmarks.baselines import BASELINES, baseline_scores, robust_z_scores, to_intervals
from pipeline.detect.compose import Detection

FIVE_MINUTES = pd.Timedelta("5min")


def daily_signal(n: int = 2400, seed: int = 3) -> np.ndarray:
    """A noisy daily cycle at 5-minute steps (288 a day)."""
    steps = np.arange(n)
    return 10 + np.sin(2 * np.pi * steps / 288) + 0.05 * np.random.default_rng(seed).standard_normal(n)


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("train_rows", [2400, 1200])  # the whole signal (as the benchmark trains), or its start
def test_each_baseline_scores_an_injected_anomaly_highest(name, train_rows):
    """An hour (12 steps) lifted by 4 (about 6 standard deviations). Isolation Forest on 48-step windows
    hardly sees a 3-step spike: a window whose spike lies beyond every split follows the most extreme
    normal windows, in 3 of its 48 features."""
    values = daily_signal()
    values[1800:1812] += 4
    scores = baseline_scores(name, values, train_rows, FIVE_MINUTES)
    assert scores.shape == values.shape
    found = to_intervals(scores, train_rows)
    assert 1800 <= int(np.nanargmax(found.scores)) <= 1811 + 6  # the smoothing spreads it a few steps
    assert found.flags.mean() < 0.05
    if train_rows == len(values):
        assert any(first <= 1811 and 1800 <= last for first, last in found.intervals)


def test_the_robust_z_score_is_the_largest_over_metrics_and_unscored_before_a_day():
    values = np.column_stack([daily_signal(seed=1), daily_signal(seed=2)])
    values[1000, 1] += 3
    z = robust_z_scores(values, len(values), 288)
    assert np.isnan(z[:288]).all() and not np.isnan(z[288:]).any()
    assert int(np.argmax(z[288:])) + 288 == 1000
    assert z[1000] == pytest.approx(robust_z_scores(values[:, 1], len(values), 288)[1000])


def test_intervals_threshold_on_the_training_rows_and_merge_across_the_gap():
    """Training scores alternate 0 and 1: mean 0.5, std 0.5, threshold 0.5 + 6 x 0.5 = 3.5. Flags at
    101 and 104 are 2 unflagged steps apart (merged with gap 2); 109 is 4 away (its own interval)."""
    later = [0, 5, 0, 0, 5, 0, 0, 0, 0, 5, 3.4]
    scores = np.array([0.0, 1.0] * 50 + later)
    found = to_intervals(scores, 100, Detection(smoothing=1, merge_gap=2))
    assert found.threshold == pytest.approx(3.5)
    assert np.flatnonzero(found.flags).tolist() == [101, 104, 109]
    assert found.intervals == [(101, 104), (109, 109)]


def test_intervals_smooth_like_the_pipeline_and_never_flag_unscored_steps():
    scores = np.concatenate([np.full(10, np.nan), np.tile([0.0, 1.0], 500)])
    scores[150] = 40.0  # the mean over steps 147..152 (numpy's "same" convolution) holds it at 148..153
    found = to_intervals(scores, len(scores))  # default: 6-step centred mean, k = 6, merge gap 48
    assert np.isnan(found.scores[:10]).all() and not found.flags[:10].any()
    assert found.scores[150] == pytest.approx((40 + 1 + 0 + 1 + 0 + 1) / 6)
    assert found.intervals == [(148, 153)]
