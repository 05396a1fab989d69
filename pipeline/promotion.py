"""Promotion of a newly registered version: made current unless a pin holds or the current
version does clearly better on the same data; a kept version is logged with why."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.config import ConfigError, GroupConfig, Settings
from pipeline.inference import run_model, scaled_input
from pipeline.metadata import StoredVersion, read_version
from pipeline.saved import load_autoencoder
from pipeline.scale import Scaler
from pipeline.seasonal import deseasonalised
from pipeline.time_inputs import TimeInputs, model_input


def errors_from(model, scaler: Scaler, values: np.ndarray, start: int, window: int, stride: int,
                reference: Scaler, index: pd.DatetimeIndex, time_inputs: TimeInputs | None) -> np.ndarray:
    """Per-timestamp errors of the steps from `start` on, in `reference`'s scaled units; `index`:
    the values' timestamps, whose time features the model reads with `time_inputs`.

    Only the part of the series those steps' windows need is run through the model.
    """
    first = max(start - window + 1, 0)
    tail = values[first:]
    scaled = model_input(scaled_input(tail, scaler), index[first:], time_inputs)
    errors = run_model(model, scaled, window, stride).metric_errors
    comparable = errors * (np.asarray(scaler.scale) / np.asarray(reference.scale)) ** 2
    return comparable[len(tail) - (len(values) - start):]


def mean_error(errors: np.ndarray, excluded: np.ndarray) -> float:
    return float(np.nanmean(np.where(excluded, np.nan, errors)))



def promote(settings: Settings, group: GroupConfig, meta: dict, frame: pd.DataFrame, excluded: np.ndarray,
             split: int, current: str | None, emit: Callable[[str], None]) -> bool:
    """Make the new version current unless the group is pinned to another version or the current
    one does clearly better on the same data (each read through its own seasonal profile, if any);
    a kept version is logged in the registry with why."""
    root, version = settings.storage.models_root, meta["version"]
    if current == version:
        return True
    if (pin := _pin_holds(root, group.name, version)) is not None:
        return _keep(root, group.name, version, pin, emit)
    running = _usable(root, group.name, current, emit) if current is not None else None
    if running is not None:
        comparable = (list(running.config.metrics) == meta["metrics"]
                      and running.config.window == meta["config"]["window"]
                      and not group.model.input_change(running.config.model))
        if comparable:
            residual = deseasonalised(frame.to_numpy(), frame.index, running.seasonal, group.interval_td)
            cur_errors = errors_from(
                load_autoencoder(io.model_path(root, group.name, current)), running.scaler,
                residual, split, group.span, group.stride, Scaler.from_dict(meta["scaler"]), frame.index,
                group.model.time_inputs)
            cur_error = mean_error(cur_errors, excluded[split:])
            if meta["val_error"] > cur_error * (1 + settings.promotion_margin):
                return _keep(root, group.name, version, f"current {current} does better on the same data: val_error "
                             f"{cur_error:.4f} against {meta['val_error']:.4f}", emit)
    try:
        io.set_current_version(root, group.name, version, why=f"run {meta['run_id']}: val_error "
                               f"{meta['val_error']:.4f}")
    except io.PinnedError as exc:  # pinned while this group trained
        return _keep(root, group.name, version, str(exc), emit)
    emit(f"{group.name}: current version is now {version}")
    return True


def _pin_holds(models_root: str, group: str, version: str) -> str | None:
    """Why a pin keeps `version` from being promoted, or None; an unreadable pin holds too (a pin
    is a user's explicit choice; `models unpin` mends it)."""
    try:
        pinned = io.pinned_version(models_root, group)
    except ConfigError as exc:
        return str(exc)
    return None if pinned is None or pinned == version else f"pinned to {pinned}"


def _keep(models_root: str, group: str, version: str, why: str, emit: Callable[[str], None]) -> bool:
    io.log_decision(models_root, group, "keep", version, "training", f"not promoted: {why}")
    emit(f"{group}: registered {version}, not promoted: {why}")
    return False


def _usable(models_root: str, group: str, version: str, emit: Callable[[str], None]) -> StoredVersion | None:
    """The current version's metadata, or None when it is refused: a broken current version is
    replaced by the new one rather than blocking every later training."""
    try:
        return read_version(models_root, group, version)
    except ConfigError as exc:
        emit(f"{group}: current version {version} is unusable, replacing it ({exc})")
        return None
