"""What has been usual lately: the statistics the rules' `recent` options compare a step with."""
from __future__ import annotations

import numpy as np
import pandas as pd


def recent_stats(values: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the `steps` values before each step, per column of a
    [time, metric] array (NaN ignored; NaN where fewer than half of them are observed): what
    has been usual lately, to which an alarm is compared as well as to the training range."""
    before = pd.DataFrame(values).shift(1).rolling(steps, min_periods=max(steps // 2, 1))
    shape = np.shape(values)
    return before.mean().to_numpy().reshape(shape), before.std(ddof=0).to_numpy().reshape(shape)


def stands_out(values: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """True where a value exceeds its limit or no limit is known (NaN: too little history)."""
    with np.errstate(invalid="ignore"):
        return np.isnan(limits) | (np.nan_to_num(values, nan=-np.inf) > limits)
