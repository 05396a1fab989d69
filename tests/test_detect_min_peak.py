import numpy as np
import pandas as pd
import pytest

from pipeline.detect.base import Flags
from pipeline.detect.min_peak import MinPeak


def test_runs_that_barely_cross_their_threshold_are_dropped():
    ratios = np.array([0, 1.05, 0, 0, 3.0, 1.0, 0, 1.2, 0])
    flags = Flags(ratios > 1.0, ratios)
    rule = MinPeak(ratio=1.1)
    # merge gap 1: three separate runs; the one peaking at 1.05 < 1.1 is dropped
    assert rule.keep(flags, flags.raised, None, 1).tolist() == [0, 0, 0, 0, 1, 0, 0, 1, 0]
    # merge gap 2: one run from 1 to 7 peaking at 3.0, so every flag is kept
    assert rule.keep(flags, flags.raised, None, 2).tolist() == [0, 1, 0, 0, 1, 0, 0, 1, 0]
    assert rule.lookback(pd.Timedelta("5min")) == 0 and rule.measure(flags, pd.Timedelta("5min")) is None


def test_the_ratio_is_checked():
    with pytest.raises(ValueError, match="ratio: must be at least 1"):
        MinPeak(ratio=0.5).check()
