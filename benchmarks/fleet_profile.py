"""Where a fleet run's time goes, and the trainer's throughput against its own compiled step.

`Profile` wraps the functions the flows call (module attributes, restored afterwards) and adds
each call's time to a stage, exclusive of the wrapped calls inside it and per thread, so the
stages of groups trained in parallel add up to thread-seconds. A compiled function's first call
(trace and XLA compile) counts as `compile`.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager

import numpy as np

from benchmarks.training_throughput import autoencoder_train_flops, matmul_gflops
from pipeline.config import ModelConfig
from pipeline.model import StoredModel, _train_steps, build_autoencoder, current_values, train_autoencoder
from pipeline.window import iter_batches


class Profile:
    """Thread-seconds per stage of the wrapped calls."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock, self._local, self._undo, self._seen = threading.Lock(), threading.local(), [], set()

    @contextmanager
    def timed(self, stage: str):
        stack = self._local.__dict__.setdefault("stack", [])
        stack.append(0.0)  # time spent in wrapped calls inside this one
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            inner = stack.pop()
            if stack:
                stack[-1] += elapsed
            with self._lock:
                self.seconds[stage] += elapsed - inner

    def wrap(self, module, name: str, stage: str) -> None:
        """Time every call of `module.name` as `stage`."""
        real = getattr(module, name)

        def timed(*args, **kwargs):
            with self.timed(stage):
                return real(*args, **kwargs)

        self._patch(module, name, real, timed)

    def wrap_compiled(self, module, name: str) -> None:
        """`module.name` returns a compiled function (or a tuple of them): the first call of each
        counts as `compile`, later calls as whatever stage calls them."""
        real = getattr(module, name)

        def first_timed(function):
            def call(*args, **kwargs):
                with self._lock:
                    first = id(function) not in self._seen
                    self._seen.add(id(function))
                if not first:
                    return function(*args, **kwargs)
                with self.timed("compile"):
                    return function(*args, **kwargs)
            return call

        def factory(*args, **kwargs):
            made = real(*args, **kwargs)
            return tuple(map(first_timed, made)) if isinstance(made, tuple) else first_timed(made)

        self._patch(module, name, real, factory)

    def _patch(self, module, name: str, real, replacement) -> None:
        setattr(module, name, replacement)
        self._undo.append((module, name, real))

    def restore(self) -> None:
        for module, name, real in reversed(self._undo):
            setattr(module, name, real)
        self._undo.clear()

    def take(self) -> dict[str, float]:
        """The seconds so far, reset for the next phase (compiled functions stay seen)."""
        with self._lock:
            taken, self.seconds = dict(self.seconds), defaultdict(float)
        return taken


def stage_lines(seconds: dict[str, float], groups: int, wall: float) -> list[str]:
    """Each stage's thread-seconds per group and share of all stages' time."""
    total = sum(seconds.values()) or 1.0
    lines = [f"    {stage:<28}{value / groups:8.3f} s/group {100 * value / total:5.1f}%"
             for stage, value in sorted(seconds.items(), key=lambda item: -item[1])]
    return lines + [f"    {'(all stages, thread-seconds)':<28}{total / groups:8.3f} s/group; wall {wall / groups:.3f} "
                    f"s/group"]


def trainer_throughput(view: np.ndarray, train_starts: np.ndarray, val_starts: np.ndarray, cfg: ModelConfig,
                       initial: StoredModel | None = None) -> dict[str, float]:
    """Training windows per second of the whole trainer (batching, validation, early stopping
    included; its compiled step already traced), of its compiled step called back to back on
    one batch for as many steps, and both as a share of a numpy float32 matmul measured here."""
    train_autoencoder(view, train_starts[:cfg.batch_size], val_starts[:cfg.batch_size],
                      ModelConfig(**{**cfg.__dict__, "epochs": 1}), emit=lambda _: None)  # traced before timing
    lines: list[str] = []
    started = time.perf_counter()
    result = train_autoencoder(view, train_starts, val_starts, cfg, emit=lines.append, initial=initial)
    trainer_seconds = time.perf_counter() - started
    steps = result.epochs * -(-len(train_starts) // cfg.batch_size)
    trainer_rate = result.epochs * len(train_starts) / trainer_seconds

    model = build_autoencoder(view.shape[1], view.shape[2], cfg)
    train_step, _ = _train_steps(model, cfg.batch_size)
    weights, state = current_values(model.trainable_variables), current_values(model.non_trainable_variables)
    adam = (np.float32(0), [np.zeros(w.shape, np.float32) for w in weights], [np.zeros(w.shape, np.float32)
                                                                               for w in weights])
    _, x = next(iter_batches(view, train_starts, cfg.batch_size))
    mask, rate = np.ones(cfg.batch_size, np.float32), np.float32(cfg.learning_rate)
    weights, state, adam, loss = train_step(weights, state, adam, rate, x, mask)
    started = time.perf_counter()
    for _ in range(steps):
        weights, state, adam, loss = train_step(weights, state, adam, rate, x, mask)
    float(loss)
    step_rate = steps * cfg.batch_size / (time.perf_counter() - started)
    flops = autoencoder_train_flops(view.shape[1], view.shape[2], cfg.units, cfg.bottleneck)
    peak = matmul_gflops()
    return {"trainer_windows_per_s": trainer_rate, "step_windows_per_s": step_rate, "epochs": result.epochs,
            "trainer_seconds": trainer_seconds, "share_of_step": trainer_rate / step_rate,
            "trainer_share_of_peak": trainer_rate * flops / 1e9 / peak,
            "step_share_of_peak": step_rate * flops / 1e9 / peak, "peak_gflops": peak}
