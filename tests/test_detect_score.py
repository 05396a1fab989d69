import numpy as np
import pandas as pd
import pytest

from pipeline.detect.base import Evidence
from pipeline.detect.score import RecentScores, Score, calibrate

DAY = pd.Timedelta("6h")  # four steps a day: recent context over 1 day is 4 steps


def evidence(scores) -> Evidence:
    scores = np.asarray(scores, dtype=float)
    return Evidence(scores, scores[:, None], scores[:, None], ("x",), DAY)


def test_the_threshold_is_a_quantile_times_factor_or_mean_plus_k_std_ignoring_nan():
    assert calibrate(np.arange(101, dtype=float), Score(method="quantile", quantile=0.9, factor=2.0)) == 180.0
    assert calibrate(np.array([1.0, 3.0, np.nan]), Score(method="mean_std", k=3)) == 5.0  # mean 2, std 1
    with pytest.raises(ValueError, match="no finite scores"):
        calibrate(np.full(3, np.nan), Score())


def test_fit_uses_the_steps_from_first_on():
    assert Score(k=1, recent=None).fit(evidence([100, 1, 3]), first=1) == {"threshold": 3.0}


def test_alone_it_flags_scores_past_the_threshold_with_their_ratio():
    flags = Score(recent=None).flags(evidence([1, 5, np.nan, 2]), {"threshold": 2.0})
    assert flags.raised.tolist() == [False, True, False, False]
    np.testing.assert_array_equal(flags.ratio, [0.5, 2.5, np.nan, 1.0])
    assert Score(recent=None).lookback(DAY) == 0


def test_with_recent_context_a_score_usual_over_the_last_day_is_not_flagged():
    scores = [1, 1, 5, 1, 5, 5, 5, 5, 9]  # a new level of 5 for a day, then 9
    rule = Score(recent=RecentScores(days=1, k=1.0))
    flags = rule.flags(evidence(scores), {"threshold": 2.0})
    # step 2: the first 5 stands out of (1, 1); step 4 is past mean 2 + 1 std 1.73 of (1, 1, 5, 1); steps 5-7
    # (5 was usual the day before) are not; 9 stands out of (5, 5, 5, 5)
    assert flags.raised.tolist() == [False, False, True, False, True, False, False, False, True]
    assert rule.lookback(DAY) == 4
    assert Score(recent=RecentScores(days=1)).lookback(pd.Timedelta("1D")) == 0  # under 2 steps: off
