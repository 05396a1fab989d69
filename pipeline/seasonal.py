"""A seasonal baseline removed before the autoencoder (`model.seasonal`).

A 48-step window cannot tell a day that lost its daily peak from a quiet stretch: it never sees
a whole day. The baseline gives that phase without an LSTM over 288+ steps: per metric, the
median value at each time of the period (each of the 288 five-minute slots of a day, say) over
the training range, fitted with the scaler and stored beside it in the version's metadata.
Training and scoring subtract it from the values by the same function (`deseasonalised`)
before scaling, so the model and its errors see what is left of a metric once its usual daily
(or weekly) shape is taken out; the rules' scaled values are that residual too, or with
`rules_read: values` the values as scaled by the same scaler (`rules_input`).

Slots are counted from the Unix epoch in steps of the group's interval, so a time of day is the
same slot whichever step a training range or a scoring read starts at.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_PERIODS = 3  # periods of values a slot's median needs; fewer: the metric's overall median
MAX_GATED_SLOTS = 2016  # a week at 5 minutes: with `min_share`, no longer profile is fitted
EPOCH = pd.Timestamp(0, tz="UTC")
RULES_READ = ("residual", "values")


@dataclass(frozen=True)
class Seasonal:
    """`period`: the season's length (`1D` daily, `7D` weekly); `tolerance`: a slot's median also
    reads the values this close to its time of the period (steadier than one value a day);
    `rules_read`: the scaled values the detection rules read, the `residual` the model sees or
    the `values` with the baseline left in (scaled alike), as without a baseline; `min_share`
    (null: every metric's baseline is removed): a metric's baseline is removed only where it
    explains at least this share of the metric's variance over the training split, so a metric
    without a steady season is modelled as it is, and with it a range of fewer than
    `MIN_PERIODS` periods, a period that is not a whole number of intervals or one of more than
    `MAX_GATED_SLOTS` slots removes nothing."""

    period: str = "1D"
    tolerance: str = "15min"
    rules_read: str = "values"
    min_share: float | None = 0.7

    def check(self) -> None:
        if self.rules_read not in RULES_READ:
            raise ValueError(f"rules_read: {self.rules_read!r} is not one of {RULES_READ}")
        if self.min_share is not None and not 0 < self.min_share < 1:
            raise ValueError(f"min_share: must be above 0 and below 1, got {self.min_share!r}")
        for key in ("period", "tolerance"):
            try:
                value = pd.Timedelta(getattr(self, key))
            except ValueError:
                value = None
            if value is None or value is pd.NaT or value < pd.Timedelta(0) or key == "period" and not value:
                raise ValueError(f"{key}: must be a duration like '1D' or '15min'"
                                 f"{', above 0' if key == 'period' else ''}, got {getattr(self, key)!r}")


def on_grid(seasonal: Seasonal, interval: pd.Timedelta) -> bool:
    """Whether the period is a whole number of intervals (else a slot drifts through the day)."""
    return not pd.Timedelta(seasonal.period) % interval


def slot_count(seasonal: Seasonal, interval: pd.Timedelta) -> int:
    """Slots in one period; whole only `on_grid` (the config refuses an ungated baseline off the grid)."""
    return int(pd.Timedelta(seasonal.period) // interval)


def slots(index: pd.DatetimeIndex, interval: pd.Timedelta, count: int) -> np.ndarray:
    """Each timestamp's slot of the period: steps since the epoch, modulo the slots in a period."""
    steps = (pd.DatetimeIndex(index).tz_convert("UTC") - EPOCH) // interval
    return np.asarray(steps, dtype=np.int64) % count


def fit_profile(values: np.ndarray, index: pd.DatetimeIndex, seasonal: Seasonal,
                interval: pd.Timedelta) -> np.ndarray | None:
    """[slot, metric] medians of `values` [time, metric] (NaN ignored) at each slot, reading the
    slots within `tolerance` of it too; a slot with fewer than `MIN_PERIODS` periods' worth of
    values gets the metric's overall median (a range shorter than the season removes a constant).
    With `min_share`, zeros for each metric the profile explains too little of, and None (nothing
    to remove) where that is every metric or the gate fits no profile (see `Seasonal`)."""
    count = slot_count(seasonal, interval)
    if seasonal.min_share is not None and (not on_grid(seasonal, interval) or not 2 <= count <= MAX_GATED_SLOTS
                                           or len(values) < MIN_PERIODS * count):
        return None
    reach = min(int(pd.Timedelta(seasonal.tolerance) // interval), (count - 1) // 2)
    own = slots(index, interval, count)
    keys = np.concatenate([(own + shift) % count for shift in range(-reach, reach + 1)])
    frame = pd.DataFrame(np.tile(values, (2 * reach + 1, 1))).groupby(keys)
    medians = frame.median().reindex(range(count)).to_numpy()
    counts = frame.count().reindex(range(count)).fillna(0).to_numpy()
    with warnings.catch_warnings():  # a metric with no value at all is refused by the scaler's fit
        warnings.simplefilter("ignore", RuntimeWarning)
        overall = np.nanmedian(values, axis=0)
    few = counts < MIN_PERIODS * (2 * reach + 1)
    profile = np.where(few, overall[None, :], medians)
    if seasonal.min_share is not None:  # zeros: the values stay as they are, to the bit
        profile[:, ~(explained_share(values, profile[own]) >= seasonal.min_share)] = 0.0
        return profile if profile.any() else None
    return profile


def explained_share(values: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Per metric, the share of the variance of `values` [time, metric] that `baseline` (the same
    shape) explains: 1 - var(values - baseline) / var(values), NaN ignored; NaN for a flat metric."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return 1.0 - np.nanvar(values - baseline, axis=0) / np.nanvar(values, axis=0)


def removed_from(profile: np.ndarray | None, metrics: tuple[str, ...]) -> tuple[str, ...]:
    """The metrics a profile takes a baseline out of (a gated metric's column is zeros)."""
    return () if profile is None else tuple(m for m, column in zip(metrics, profile.T) if column.any())


def deseasonalised(values: np.ndarray, index: pd.DatetimeIndex, profile: np.ndarray | None,
                   interval: pd.Timedelta) -> np.ndarray:
    """`values` [time, metric] less the profile's value at each step's slot (as they are without
    a profile): what training fits the scaler and the model on and scoring scores."""
    if profile is None:
        return values
    return values - profile[slots(index, interval, len(profile))]


def rules_input(values: np.ndarray, residual: np.ndarray, seasonal: Seasonal | None) -> np.ndarray:
    """What the rules' scaled values are made of (training and scoring alike): the residual, or
    with `rules_read: values` the values themselves."""
    return values if seasonal is not None and seasonal.rules_read == "values" else residual
