"""Time of day (and week) as model inputs that are not reconstructed (`model.time_inputs`).

A 48-step window never sees a whole day, so a day that lost its daily peak reads as a quiet
stretch. Given each step's phase of the day as its sine and cosine beside the metrics, the
encoder can learn what a metric usually does at that time, and a missing peak becomes a
reconstruction error. The decoder reconstructs the metrics only, so errors and scores stay per
metric; training, calibration, promotion and scoring all build the input with `model_input`.

Phases are counted from the Unix epoch, so a step gets the same inputs whichever step a
training range or a scoring read starts at.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

EPOCH = pd.Timestamp(0, tz="UTC")


@dataclass(frozen=True)
class TimeInputs:
    """`periods`: the cycles the encoder is told the phase of, each as a sine and a cosine
    (`1D` the time of day, `7D` the time of week)."""

    periods: tuple[str, ...] = ("1D",)

    def check(self) -> None:
        seen = []
        for period in self.periods:
            try:
                value = pd.Timedelta(period)
            except ValueError:
                value = None
            if value is None or value is pd.NaT or value <= pd.Timedelta(0):
                raise ValueError(f"periods: must be durations like '1D' or '7D', above 0, got {period!r}")
            if value in seen:
                raise ValueError(f"periods: {period!r} is listed twice")
            seen.append(value)


def width(time_inputs: TimeInputs | None) -> int:
    """Input columns the option adds after the metrics (0 when off)."""
    return 0 if time_inputs is None else 2 * len(time_inputs.periods)


def time_features(index: pd.DatetimeIndex, time_inputs: TimeInputs) -> np.ndarray:
    """[time, 2 x period] sin and cos of each timestamp's phase of each period, from the epoch
    (integer nanoseconds, so the phase of a step is exact whatever the read's first step)."""
    since = np.asarray((pd.DatetimeIndex(index).tz_convert("UTC") - EPOCH) // pd.Timedelta(1, "ns"), np.int64)
    columns = []
    for period in time_inputs.periods:
        length = pd.Timedelta(period).value
        angle = 2 * np.pi * (since % length) / length
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1)


def model_input(scaled: np.ndarray, index: pd.DatetimeIndex, time_inputs: TimeInputs | None) -> np.ndarray:
    """What the model reads: the scaled metrics [time, metric], then (with the option) the time
    features; the scaled metrics themselves when it is off."""
    if time_inputs is None:
        return scaled
    return np.concatenate([scaled, time_features(index, time_inputs).astype(scaled.dtype)], axis=1)
