"""Per-metric standard scaling, fitted on training data only and stored as JSON."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

SCALED_LIMIT = 1e6  # training standard deviations; squares stay far below float32's 3.4e38


@dataclass(frozen=True)
class Scaler:
    """Per-metric centre and scale; a zero-variance metric gets scale 1."""

    metrics: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Standardised float32 values, clipped to ±`SCALED_LIMIT` training stds: a value that far out
        is an anomaly whatever its size, and the squares of larger ones overflow float32 (a 2^64
        sentinel gave infinite scores and a day-long interval naming no metric)."""
        scaled = (values - np.asarray(self.center)) / np.asarray(self.scale)
        return np.clip(scaled, -SCALED_LIMIT, SCALED_LIMIT).astype(np.float32)

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * np.asarray(self.scale) + np.asarray(self.center)

    def to_dict(self) -> dict:
        return {"metrics": list(self.metrics), "center": list(self.center), "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, raw: dict) -> "Scaler":
        return cls(tuple(raw["metrics"]), tuple(map(float, raw["center"])), tuple(map(float, raw["scale"])))


def fit_scaler(values: np.ndarray, metrics: tuple[str, ...]) -> Scaler:
    """Fit on `values` [time, metric], ignoring NaN; every metric needs at least one value."""
    with warnings.catch_warnings():  # an all-NaN metric is reported below, not warned about
        warnings.simplefilter("ignore", RuntimeWarning)
        center = np.nanmean(values, axis=0)
        scale = np.nanstd(values, axis=0)
    if np.isnan(center).any():
        empty = [m for m, c in zip(metrics, center) if np.isnan(c)]
        raise ValueError(f"metrics with no values in the training range: {empty}")
    scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(center)), scale, 1.0)
    return Scaler(tuple(metrics), tuple(map(float, center)), tuple(map(float, scale)))
