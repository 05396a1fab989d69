"""What every detection rule reads and says: the evidence of each step, and a flagging rule's
flags. Rules come in two kinds: rules that raise flags (`score`, `level`, `shift`) and rules
that filter the flags of those they apply to (`min_peak`, `daily_repeat`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Evidence:
    """Per-step quantities the rules read, computed by one path (`pipeline.detect.evidence`) for
    the training range and for scoring alike."""

    scores: np.ndarray  # [time] the combined, smoothed score (1 = a metric's usual error)
    metric_scores: np.ndarray  # [time, metric] each metric's error over its usual error
    values: np.ndarray  # [time, metric] in the training range's scaled units, NaN where missing
    metrics: tuple[str, ...]
    interval: pd.Timedelta

    def __len__(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class Flags:
    """What a flagging rule says of each step: whether it raises a flag there, and its statistic
    over the rule's stored threshold (above 1: past it), for severity and for filters."""

    raised: np.ndarray  # [time] bool
    ratio: np.ndarray  # [time] float; NaN where unknown
    metric_ratios: np.ndarray | None = None  # [time, metric], for a rule that judges each metric


def sliced(item, rows: slice):
    """An evidence, flags, dict or array with only `rows` of its per-step arrays."""
    if isinstance(item, np.ndarray):
        return item[rows]
    if isinstance(item, dict):
        return {key: sliced(value, rows) for key, value in item.items()}
    if dataclasses.is_dataclass(item):
        return dataclasses.replace(item, **{f.name: sliced(getattr(item, f.name), rows)
                                            for f in dataclasses.fields(item)
                                            if isinstance(getattr(item, f.name), (np.ndarray, dict))})
    return item


def joined(first, later):
    """`first` followed by `later` (same kind, as `sliced` takes)."""
    if isinstance(first, np.ndarray):
        return np.concatenate([first, later])
    if isinstance(first, dict):
        return {key: joined(value, later[key]) for key, value in first.items()}
    if dataclasses.is_dataclass(first):
        return dataclasses.replace(first, **{f.name: joined(getattr(first, f.name), getattr(later, f.name))
                                             for f in dataclasses.fields(first)
                                             if isinstance(getattr(first, f.name), (np.ndarray, dict))})
    return first


def threshold_number(value, key: str) -> float:
    """A stored threshold as a float; ValueError "key: problem" unless it is a finite number, at least
    0 (NaN would flag nothing, a negative one every step; 0 is what a flat metric's training gives)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{key}: must be a finite number, at least 0, got {value!r}")
    return float(value)


def steps_in(days: int, interval: pd.Timedelta) -> int:
    """Steps of `interval` in `days` days; 0 when that makes under 2 steps (too coarse to use)."""
    steps = round(days * pd.Timedelta("1D") / interval)
    return steps if steps >= 2 else 0


def flag(values: np.ndarray, threshold) -> np.ndarray:
    """True where the value exceeds the threshold (a number, or one per column/step); NaN never does."""
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(values, nan=-np.inf) > threshold


def ratio(values: np.ndarray, threshold) -> np.ndarray:
    """Values over their threshold (infinite for a positive value over a zero threshold)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(values, dtype=np.float64) / threshold


def row_max(values: np.ndarray) -> np.ndarray:
    """The largest of each row of a [time, metric] array, NaN ignored (NaN where all are)."""
    largest = np.max(np.where(np.isnan(values), -np.inf, values), axis=1, initial=-np.inf)
    return np.where(np.isnan(values).all(axis=1), np.nan, largest)


def runs(flags: np.ndarray, merge_gap: int = 0) -> list[tuple[int, int]]:
    """Inclusive `(first, last)` index pairs of flagged runs; runs separated by at most
    `merge_gap` unflagged steps are merged."""
    idx = np.flatnonzero(flags)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > merge_gap + 1)
    firsts = np.concatenate(([idx[0]], idx[breaks + 1]))
    lasts = np.concatenate((idx[breaks], [idx[-1]]))
    return list(zip(firsts.tolist(), lasts.tolist()))


def peak(values: np.ndarray, first: int, last: int) -> int:
    """The step of the largest value in [first, last] (NaN ignored; the first step if all are NaN)."""
    span = values[first:last + 1]
    return first + int(np.argmax(np.where(np.isnan(span), -np.inf, span)))
