"""Warm-started retraining (`model.warm_start`): whether a night's training starts from the
current model's weights, and why.

Last night's model of a group is almost right for tonight's data (one more day in a 28-day
range), so fine-tuning it for a few epochs reaches the same validation error as training from
random weights, in a fraction of the time. It starts cold (as without the option) when there is
no usable current model, when the model would not take the same inputs (its architecture, window,
metrics, seasonal baseline or time inputs differ), every `full_every`-th night, and when the new
training data has drifted from what the model was scaled for by more than `max_drift`. A rule
left out is off.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config_build import ConfigError
from pipeline.seasonal import removed_from

SHAPE_KEYS = ("encoder", "units", "bottleneck")  # model settings the weights' shapes depend on


@dataclass(frozen=True)
class WarmStart:
    """`full_every`: every K-th consecutive night is a full (cold) retrain; `max_drift`: retrain
    cold when a metric's mean moved by more than this many of the model's training standard
    deviations, or its standard deviation changed by more than this fraction; `epochs`, `patience`:
    the warm run's schedule (the model's own when left out)."""

    full_every: int | None = None
    max_drift: float | None = None
    epochs: int | None = None
    patience: int | None = None

    def check(self) -> None:
        for key in ("full_every", "epochs"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ValueError(f"{key}: must be at least 1")


@dataclass(frozen=True)
class Plan:
    """Whether to start from `source`'s weights; `warm_runs`: consecutive warm runs this one makes."""

    warm: bool
    why: str
    warm_runs: int
    source: str | None

    def to_dict(self) -> dict:
        return {"from": self.source if self.warm else None, "warm_runs": self.warm_runs, "why": self.why}


def plan(cfg: WarmStart | None, group, previous, previous_runs: int, scaler, profile: np.ndarray | None) -> Plan:
    """Warm or cold for `group` (a GroupConfig) trained on data scaled by `scaler` after taking out
    `profile` (its seasonal baseline, if any), given the current version `previous` (a StoredVersion,
    or None) that made `previous_runs` consecutive warm runs."""
    if cfg is None:
        return Plan(False, "warm_start off", 0, None)
    if previous is None:
        return Plan(False, "no usable current model", 0, None)
    cold = lambda why: Plan(False, why, 0, None)  # noqa: E731
    mismatch = _mismatch(group, previous.config)
    if mismatch:
        return cold(f"{previous.version} differs: {mismatch}")
    if tuple(previous.scaler.metrics) != tuple(group.metrics):
        return cold(f"{previous.version}'s scaler is for metrics {list(previous.scaler.metrics)}")
    before, now = removed_from(previous.seasonal, group.metrics), removed_from(profile, group.metrics)
    if before != now:  # the same setting's gate chose other metrics: the model reads other arrays
        return cold(f"seasonal baseline taken out of {list(now)}, {previous.version}'s of {list(before)}")
    if cfg.full_every is not None and previous_runs + 1 >= cfg.full_every:
        return cold(f"full retrain: every {cfg.full_every} nights")
    if cfg.max_drift is not None:
        moved = drift(previous.scaler, scaler)
        if moved > cfg.max_drift:
            return cold(f"data drifted {moved:.2f} from {previous.version}'s scaling (max_drift {cfg.max_drift})")
    return Plan(True, f"from {previous.version}", previous_runs + 1, previous.version)


def _mismatch(group, before) -> str:
    """What keeps `before`'s (a GroupConfig) weights from fitting `group`'s model, or ''."""
    for key in SHAPE_KEYS:
        if getattr(group.model, key) != getattr(before.model, key):
            return f"model.{key} {getattr(before.model, key)!r} -> {getattr(group.model, key)!r}"
    if group.window != before.window:
        return f"window {before.window} -> {group.window}"
    if tuple(group.metrics) != tuple(before.metrics):
        return f"metrics {list(before.metrics)} -> {list(group.metrics)}"
    return group.model.input_change(before.model)


def drift(before, after) -> float:
    """How far `after`'s scaling (a Scaler of the new data) moved from `before`'s: the largest of
    each metric's mean shift in `before`'s standard deviations and its relative change of spread."""
    scale = np.asarray(before.scale)
    shift = np.abs(np.asarray(after.center) - np.asarray(before.center)) / scale
    spread = np.abs(np.asarray(after.scale) / scale - 1.0)
    return float(np.max(np.maximum(shift, spread)))


def previous_runs(meta: dict) -> int:
    """Consecutive warm runs the stored metadata `meta` records (0 for versions from before the
    option, or trained cold)."""
    record = meta.get("warm_start")
    runs = record.get("warm_runs", 0) if isinstance(record, dict) else 0
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 0:
        raise ConfigError(f"warm_start.warm_runs: must be a whole number, at least 0, got {runs!r}")
    return runs
