"""Filter `min_peak`: a run of flags that only grazes its rule's threshold is dropped."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from pipeline.detect.base import Flags, runs


@dataclass(frozen=True)
class MinPeak:
    """Keeps the runs of flags (merged over the merge gap) whose rule's ratio peaks at `ratio`
    (e.g. 1.1: 10% past the threshold) or more."""

    name: ClassVar[str] = "min_peak"
    ratio: float = 1.1
    applies_to: tuple[str, ...] = ("score",)

    def check(self) -> None:
        if self.ratio < 1:
            raise ValueError("ratio: must be at least 1 (a ratio to the rule's threshold)")

    def lookback(self, interval: pd.Timedelta) -> int:
        return 0

    def measure(self, flags: Flags, interval: pd.Timedelta) -> None:
        return None

    def keep(self, flags: Flags, mask: np.ndarray, measure: None, merge_gap: int) -> np.ndarray:
        kept = np.zeros_like(mask)
        for first, last in runs(mask, merge_gap):
            if np.nanmax(flags.ratio[first:last + 1]) >= self.ratio:
                kept[first:last + 1] = mask[first:last + 1]
        return kept
