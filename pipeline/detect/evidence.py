"""The one evidence step: what training calibrates the rules on and scoring flags with."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.detect.base import Evidence
from pipeline.detect.compose import Detection
from pipeline.score import combine


def evidence(metric_errors: np.ndarray, excluded: np.ndarray, scales: np.ndarray, scaled_values: np.ndarray,
             detection: Detection, metrics: tuple[str, ...], interval: pd.Timedelta) -> Evidence:
    """Per-step evidence from the model's errors ([time, metric]), the imputed or missing cells
    (`excluded`), each metric's usual error (`scales`) and the scaled values (NaN kept)."""
    metric_scores = metric_errors / scales
    scores = combine(metric_scores, excluded, detection.smoothing, detection.combine)
    return Evidence(scores, metric_scores, scaled_values, tuple(metrics), interval)
