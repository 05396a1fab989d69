"""Where the rules are listed, and what a rule is: a new rule is one module (a frozen dataclass
of its settings with the methods below) and one entry here. The order here is the order the
rules run in and the order an interval's `trigger` names them."""
from __future__ import annotations

from typing import ClassVar, Protocol

import numpy as np
import pandas as pd

from pipeline.detect.base import Evidence, Flags
from pipeline.detect.daily_repeat import DailyRepeat
from pipeline.detect.level import Level
from pipeline.detect.min_peak import MinPeak
from pipeline.detect.score import Score
from pipeline.detect.shift import Shift


class FlagRule(Protocol):
    """A rule that raises flags: fitted on the training range, its state stored with the model."""

    name: ClassVar[str]  # its key in `detection.flags`, and its name in `trigger`

    def check(self) -> None: ...  # ValueError "key: problem" for settings that cannot work

    def lookback(self, interval: pd.Timedelta) -> int: ...  # earlier steps its flags read

    def fit(self, evidence: Evidence, first: int) -> dict: ...  # JSON state from steps [first:]

    def check_state(self, state: dict, metrics: tuple[str, ...]) -> None: ...  # ValueError "key: problem"

    def scaled(self, state: dict, factor: float) -> dict: ...  # thresholds x factor: flags only where
    # they would be under `state`, fewer as the factor grows (how a labelled false alarm quiets a rule)

    def flags(self, evidence: Evidence, state: dict) -> Flags: ...


class Filter(Protocol):
    """A rule that drops flags of the flagging rules it `applies_to`; it needs no fitting, so its
    settings take effect at the next scoring run."""

    name: ClassVar[str]  # its key in `detection.filters`
    applies_to: tuple[str, ...]

    def check(self) -> None: ...

    def lookback(self, interval: pd.Timedelta) -> int: ...  # earlier steps' flags it reads

    def measure(self, flags: Flags, interval: pd.Timedelta) -> np.ndarray | None: ...  # per step, with look-back

    def keep(self, flags: Flags, mask: np.ndarray, measure: np.ndarray | None,
             merge_gap: int) -> np.ndarray: ...  # the flags of `mask` it keeps, judged run by run


FLAG_RULES: dict[str, type[FlagRule]] = {rule.name: rule for rule in (Score, Level, Shift)}
FILTERS: dict[str, type[Filter]] = {rule.name: rule for rule in (MinPeak, DailyRepeat)}
