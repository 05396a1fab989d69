"""Sliding windows `[samples, timesteps, features]` as views, and batches streamed from them."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

LEAST_FITTED_WINDOW = 8  # steps: a shorter window holds too little of a series' shape to learn it


def window_view(values: np.ndarray, window: int) -> np.ndarray:
    """All windows of `values` [time, features] as a read-only view [samples, window, features]."""
    if values.shape[0] < window:
        return np.empty((0, window, values.shape[1]), dtype=values.dtype)
    return sliding_window_view(values, window, axis=0).transpose(0, 2, 1)


def window_starts(n_steps: int, window: int, stride: int, first: int = 0, stop: int | None = None,
                  phase: int = 0) -> np.ndarray:
    """Start indices at the steps `s` with `(s + phase) % stride == 0`, plus a first window at 0 and
    a last one that reaches the final step, so every step is covered.

    With `first`/`stop`, only those of the windows that lie inside steps [first, stop): a part
    of a long series gets exactly the windows the whole series has there. `phase` (a series'
    first step counted from a fixed time) puts the windows at the same times whichever step a
    read starts at, so a backfill or an hourly run averages the windows one pass does.
    """
    last = n_steps - window
    stop = n_steps if stop is None else min(stop, n_steps)
    if last < 0 or stop - window < first:
        return np.empty(0, dtype=np.int64)
    starts = np.arange(first + (-(first + phase)) % stride, stop - window + 1, stride, dtype=np.int64)
    if first == 0 and (starts.size == 0 or starts[0] != 0):
        starts = np.insert(starts, 0, 0)
    if last + window <= stop and last >= first and starts[-1] != last:
        starts = np.append(starts, last)
    return starts


def clean_starts(starts: np.ndarray, missing: np.ndarray, window: int) -> np.ndarray:
    """Keep the starts whose window holds no missing step (`missing` is a [time] bool array)."""
    bad = np.concatenate(([0], np.cumsum(missing.astype(np.int64))))
    return starts[bad[starts + window] - bad[starts] == 0]


def iter_batches(view: np.ndarray, starts: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield `(starts, windows)` batches, each a small contiguous copy of the view."""
    for i in range(0, len(starts), batch_size):
        chunk = starts[i:i + batch_size]
        yield chunk, np.ascontiguousarray(view[chunk])


def fitted_window(window: int, stride: int, split: int, split_windows: int | None) -> tuple[int, int]:
    """The window and scoring stride a training split of `split` steps is windowed with: where the
    split is shorter than `split_windows` window lengths, the longest power of two (at least
    `LEAST_FITTED_WINDOW` steps) that fits it so many times, the stride capped at it, since a model
    of 400 one-second rows in 48-step windows sees 69 windows and learns too little to tell an
    incident from noise (benchmarks/RESULTS.md). Powers of two, so a range that grows by a night
    keeps its window, and its warm start, most nights. As configured where the split is long
    enough, too short even for the least window (training refuses it), or `split_windows` is None."""
    if split_windows is None or split >= split_windows * window or split < split_windows * LEAST_FITTED_WINDOW:
        return window, stride
    shortened = 1 << (split // split_windows).bit_length() - 1
    return shortened, min(stride, shortened)
