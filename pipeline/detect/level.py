"""Rule `level`: a sustained rise of the score, too long-lasting to be an outlier of the
training range and so never past the score's threshold."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from pipeline.detect.base import Evidence, Flags, flag, threshold_number, ratio, steps_in
from pipeline.detect.recent import recent_stats, stands_out


@dataclass(frozen=True)
class RecentLevel:
    """A flag's trailing median must also exceed `factor` x the mean score of the last `days` days."""

    days: int = 5
    factor: float = 1.5

    def check(self) -> None:
        if self.days < 1 or self.factor <= 0:
            raise ValueError("days must be at least 1 and factor above 0")


@dataclass(frozen=True)
class Level:
    """Flags a step whose median score over the trailing `steps` steps is above `factor` x the
    training range's mean score (the threshold) and whose own score is above `hold` x that
    threshold: flagged until the scores fall back, through the dips of a noisy level."""

    name: ClassVar[str] = "level"
    steps: int = 144
    factor: float = 2.5
    hold: float = 0.5
    recent: RecentLevel | None = field(default_factory=RecentLevel)

    def check(self) -> None:
        if self.steps < 1 or self.factor <= 0:
            raise ValueError("steps must be at least 1 and factor above 0")
        if not 0 < self.hold <= 1:
            raise ValueError("hold: must be above 0 and at most 1 (a share of the threshold)")

    def lookback(self, interval: pd.Timedelta) -> int:
        return max(self.steps - 1, steps_in(self.recent.days, interval) if self.recent is not None else 0)

    def fit(self, evidence: Evidence, first: int) -> dict:
        return {"threshold": float(self.factor * np.nanmean(evidence.scores[first:]))}

    def check_state(self, state: dict, metrics: tuple[str, ...]) -> None:
        threshold_number(state.get("threshold"), "threshold")

    def scaled(self, state: dict, factor: float) -> dict:
        return {"threshold": state["threshold"] * factor}

    def flags(self, evidence: Evidence, state: dict) -> Flags:
        threshold, medians = state["threshold"], trailing_median(evidence.scores, self.steps)
        raised = flag(medians, threshold) & flag(evidence.scores, self.hold * threshold)
        if self.recent is not None and (days := steps_in(self.recent.days, evidence.interval)):
            mean, _ = recent_stats(evidence.scores, days)
            raised &= stands_out(medians, self.recent.factor * mean)
        return Flags(raised, ratio(medians, threshold))


def trailing_median(scores: np.ndarray, steps: int) -> np.ndarray:
    """Median score over the trailing `steps` steps (NaN ignored), where at least half of them
    and the step itself are observed, else NaN: high through a sustained shift, low through
    isolated spikes."""
    medians = pd.Series(scores).rolling(steps, min_periods=max(steps // 2, 1)).median().to_numpy()
    return np.where(np.isnan(scores), np.nan, medians)
