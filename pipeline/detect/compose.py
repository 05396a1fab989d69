"""The composition: which rules are on, in which order, and the pure steps that turn a
group's evidence into each rule's flags and the published anomaly mask.

Scoring runs these in two steps so it can stream: `raise_flags` on each part (per-step,
with the look-back of earlier evidence), then `filter_flags` on the steps it publishes
(filters judge whole runs of flags, which may reach across parts)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.detect.base import Evidence, Flags, row_max, sliced
from pipeline.detect.daily_repeat import DailyRepeat
from pipeline.detect.level import Level
from pipeline.detect.min_peak import MinPeak
from pipeline.detect.score import Score
from pipeline.detect.shift import Shift

COMBINE_METHODS = ("max", "mean")
CALIBRATION_RANGES = ("training", "validation")


@dataclass(frozen=True)
class Detection:
    """A group's detection: how its scores are formed (`combine`, `smoothing`, calibrated on the
    whole training range or its validation end), the rules that raise flags (their order is the
    order of an interval's triggers), the filters, and the gap that merges flagged runs."""

    combine: str = "max"  # a timestamp's score: its largest metric score, or the metrics' mean
    smoothing: int = 6  # centred rolling mean of the combined score, in steps
    calibrate_on: str = "training"
    merge_gap: int = 48  # flagged runs this many steps apart or closer form one interval
    flags: tuple = field(default_factory=lambda: (Score(), Level(), Shift()))
    filters: tuple = field(default_factory=lambda: (MinPeak(), DailyRepeat()))

    def check(self) -> None:
        """Raises ValueError naming the key of a setting that cannot work."""
        if self.combine not in COMBINE_METHODS:
            raise ValueError(f"combine: {self.combine!r} is not one of {COMBINE_METHODS}")
        if self.calibrate_on not in CALIBRATION_RANGES:
            raise ValueError(f"calibrate_on: {self.calibrate_on!r} is not one of {CALIBRATION_RANGES}")
        on = [rule.name for rule in self.flags]
        for rule in self.filters:
            for target in rule.applies_to:
                if target not in on:
                    raise ValueError(f"filters.{rule.name}.applies_to: {target!r} is not a flagging rule that "
                                     f"is on (on: {', '.join(on) or 'none'})")

    def lookback(self, interval: pd.Timedelta) -> int:
        """Earlier steps whose evidence a step's flags depend on: the flagging rules' look-back,
        and the filters' look-back over those rules' flags."""
        flags = max((rule.lookback(interval) for rule in self.flags), default=0)
        return flags + max((rule.lookback(interval) for rule in self.filters), default=0)


@dataclass(frozen=True)
class Raised:
    """Per-step results of `raise_flags`: each flagging rule's flags, and what each filter
    measured of each rule it applies to (keyed `filter:rule`), for the runs it will judge."""

    flags: dict[str, Flags]
    measures: dict[str, np.ndarray]

    @property
    def any(self) -> np.ndarray:
        """Steps some rule flags, before filters."""
        return np.logical_or.reduce([f.raised for f in self.flags.values()]) if self.flags else np.zeros(0, bool)

    def quiet_before(self, steps: int) -> Raised:
        """No flag raised at the first `steps` steps: context read without its own look-back, whose
        flags would be wrong and could join (or sway the filters' verdict on) the runs after it."""
        flags = {name: dataclasses.replace(f, raised=f.raised & (np.arange(len(f.raised)) >= steps))
                 for name, f in self.flags.items()}
        return Raised(flags, self.measures)


@dataclass(frozen=True)
class Detected:
    """The flags of each rule, the flags each kept after the filters, and the published mask."""

    raised: Raised
    kept: dict[str, np.ndarray]

    @property
    def published(self) -> np.ndarray:
        return published(self.kept, len(self.raised.any))


def fit(detection: Detection, evidence: Evidence, first: int) -> dict[str, dict]:
    """Each flagging rule's state, fitted on the evidence's steps from `first` on."""
    return {rule.name: rule.fit(evidence, first) for rule in detection.flags}


def raise_flags(detection: Detection, evidence: Evidence, states: dict[str, dict], first: int = 0) -> Raised:
    """The flags of the evidence's steps from `first` on; the steps before are their look-back."""
    flags = {rule.name: rule.flags(evidence, states[rule.name]) for rule in detection.flags}
    measures = {}
    for rule in detection.filters:
        for target in rule.applies_to:
            if target in flags and (measure := rule.measure(flags[target], evidence.interval)) is not None:
                measures[f"{rule.name}:{target}"] = measure[first:]
    return Raised(sliced(flags, slice(first, None)), measures)


def filter_flags(detection: Detection, raised: Raised, stop: int | None = None) -> dict[str, np.ndarray]:
    """Each flagging rule's flags of steps [0, stop) that its filters keep, filters in order."""
    kept = {name: f.raised[:stop].copy() for name, f in raised.flags.items()}
    for rule in detection.filters:
        for target in rule.applies_to:
            if target in kept:
                measure = raised.measures.get(f"{rule.name}:{target}")
                kept[target] = rule.keep(sliced(raised.flags[target], slice(stop)), kept[target],
                                         None if measure is None else measure[:stop], detection.merge_gap)
    return kept


def published(kept: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Steps some rule kept a flag at: what is published as anomalous."""
    return np.logical_or.reduce(list(kept.values())) if kept else np.zeros(n, bool)


def anomaly_scores(flags: dict[str, Flags], n: int) -> np.ndarray:
    """Per step, the largest of the flagging rules' statistics over their thresholds (NaN where no
    rule's is known): one continuous score on one scale whichever rule reads the step, 1 at a
    rule's threshold. A flagged step is above 1; a step above 1 may still be unflagged where a
    rule's recent-context check or a filter spared it."""
    if not flags:
        return np.full(n, np.nan)
    return row_max(np.stack([np.asarray(f.ratio, dtype=np.float64) for f in flags.values()], axis=1))


def detect(detection: Detection, evidence: Evidence, states: dict[str, dict]) -> Detected:
    """Both steps over all of the evidence at once."""
    raised = raise_flags(detection, evidence, states)
    return Detected(raised, filter_flags(detection, raised))
