"""Rule `score`: a step whose score passes the threshold calibrated on the training range."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from pipeline.detect.base import Evidence, Flags, flag, threshold_number, ratio, steps_in
from pipeline.detect.recent import recent_stats, stands_out

METHODS = ("mean_std", "quantile")


@dataclass(frozen=True)
class RecentScores:
    """A flag must also stand out against the group's scores of the last `days` days: above
    their mean + `k` std. What has been usual for days raises no new alarm."""

    days: int = 5
    k: float = 6.0

    def check(self) -> None:
        if self.days < 1 or self.k <= 0:
            raise ValueError("days must be at least 1 and k above 0")


@dataclass(frozen=True)
class Score:
    """The threshold: mean + `k` std of the training range's scores (`mean_std`), or their
    `quantile` x `factor`."""

    name: ClassVar[str] = "score"
    method: str = "mean_std"
    k: float = 6.0
    quantile: float = 0.995
    factor: float = 1.0
    recent: RecentScores | None = field(default_factory=RecentScores)

    def check(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method: {self.method!r} is not one of {METHODS}")
        if not 0 < self.quantile < 1:
            raise ValueError("quantile: must be between 0 and 1")

    def lookback(self, interval: pd.Timedelta) -> int:
        return steps_in(self.recent.days, interval) if self.recent is not None else 0

    def fit(self, evidence: Evidence, first: int) -> dict:
        return {"threshold": calibrate(evidence.scores[first:], self)}

    def check_state(self, state: dict, metrics: tuple[str, ...]) -> None:
        threshold_number(state.get("threshold"), "threshold")

    def scaled(self, state: dict, factor: float) -> dict:
        return {"threshold": state["threshold"] * factor}

    def flags(self, evidence: Evidence, state: dict) -> Flags:
        threshold = state["threshold"]
        raised = flag(evidence.scores, threshold)
        if steps := self.lookback(evidence.interval):
            mean, std = recent_stats(evidence.scores, steps)
            raised &= stands_out(evidence.scores, mean + self.recent.k * std)
        return Flags(raised, ratio(evidence.scores, threshold))


def calibrate(scores: np.ndarray, rule: Score) -> float:
    """The threshold from the calibration range's scores (NaN ignored)."""
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        raise ValueError("no finite scores in the calibration range to calibrate a threshold on")
    if rule.method == "quantile":
        return float(np.quantile(finite, rule.quantile) * rule.factor)
    return float(finite.mean() + rule.k * finite.std())
