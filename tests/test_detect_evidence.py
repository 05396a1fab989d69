import numpy as np
import pandas as pd

from pipeline.detect.compose import Detection
from pipeline.detect.evidence import evidence


def test_scores_are_the_largest_observed_metric_score_and_rows_without_errors_have_none():
    errors = np.array([[np.nan, np.nan], [2.0, 1.0], [4.0, 6.0]])  # no errors computed for step 0
    excluded = np.array([[False, False], [False, False], [False, True]])  # step 2's second metric is imputed
    values = np.arange(6.0).reshape(3, 2)
    found = evidence(errors, excluded, np.array([2.0, 1.0]), values, Detection(smoothing=1), ("a", "b"),
                     pd.Timedelta("5min"))
    np.testing.assert_array_equal(found.metric_scores[1:], [[1.0, 1.0], [2.0, 6.0]])  # errors over usual errors
    np.testing.assert_array_equal(found.scores, [np.nan, 1.0, 2.0])  # the imputed 6 does not count
    assert found.values is values and found.metrics == ("a", "b")
    smoothed = evidence(errors, excluded, np.ones(2), values, Detection(smoothing=3), ("a", "b"), pd.Timedelta("5min"))
    np.testing.assert_array_equal(smoothed.scores, [np.nan, 3.0, 3.0])  # (2, 4) centred, step 0 stays NaN
