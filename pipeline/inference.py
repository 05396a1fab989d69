"""One pass of a model over a series: windows streamed in batches, errors averaged per timestamp."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.model import BATCH, reconstruct
from pipeline.scale import Scaler
from pipeline.score import timestamp_means
from pipeline.window import window_starts, window_view


@dataclass(frozen=True)
class ModelOutput:
    """What one pass of a model over a series gives, per timestamp and per window."""

    metric_errors: np.ndarray  # [time, metric] squared error averaged over covering windows
    starts: np.ndarray  # window start indices
    codes: np.ndarray  # [window, bottleneck]


def scaled_input(values: np.ndarray, scaler: Scaler) -> np.ndarray:
    """Scale [time, metric] values; still-missing cells become the metric's mean (0)."""
    return np.nan_to_num(scaler.transform(values), nan=0.0)


def run_model(model, scaled: np.ndarray, window: int, stride: int, batch_size: int = BATCH) -> ModelOutput:
    """Stream windows every `stride` steps through the model; aggregate per timestamp."""
    return run_windows(model, scaled, window, window_starts(len(scaled), window, stride), batch_size)


def run_windows(model, scaled: np.ndarray, window: int, starts: np.ndarray, batch_size: int = BATCH) -> ModelOutput:
    """Stream the windows at `starts` through the model; aggregate per timestamp."""
    codes: list[np.ndarray] = []

    def batches():
        for chunk, x, recon, code in reconstruct(model, window_view(scaled, window), starts, batch_size):
            codes.append(code)
            yield chunk, np.square(recon - x[..., :recon.shape[-1]])  # any time inputs are not reconstructed

    errors = timestamp_means(len(scaled), window, batches())
    code_array = np.concatenate(codes) if codes else np.empty((0, 0), np.float32)
    return ModelOutput(metric_errors=errors, starts=starts, codes=code_array)
