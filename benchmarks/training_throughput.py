"""Training throughput: the project's trainer vs the seed tutorial's pattern, same data and epochs.

    python -m benchmarks.training_throughput [--steps 20000] [--features 8] [--window 48] [--epochs 3]

Both train on the same scaled 8-metric series. Ours: functional LSTM autoencoder
(pipeline.model, default size), windows streamed from a sliding_window_view at the
default training stride, then a second group of the same shape in the same process (as a
nightly run trains many groups). Tutorial: Sequential LSTM(100, relu) -> RepeatVector ->
LSTM(100, relu) -> TimeDistributed(Dense), windows built with a Python loop, `fit` on
numpy at stride 1. Prints windows/s, estimated GFLOP/s, and the fraction of a float32
numpy matmul measured in the same run (the machine's practical peak).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.config import GroupConfig, ModelConfig  # noqa: E402
from pipeline.model import train_autoencoder  # noqa: E402
from pipeline.window import window_starts, window_view  # noqa: E402


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    started = time.perf_counter()
    for _ in range(repeats):
        a @ a
    return 2 * n ** 3 * repeats / (time.perf_counter() - started) / 1e9


def lstm_flops(steps: int, inputs: int, units: int) -> int:
    """Multiply-adds of one LSTM layer over `steps`, counted as 2 FLOPs each."""
    return 2 * 4 * units * (inputs + units) * steps


def autoencoder_train_flops(window: int, features: int, units: int, bottleneck: int) -> int:
    """Training FLOPs per window: forward (encoder, bottleneck, decoder, output) times 3."""
    forward = (lstm_flops(window, features, units) + 2 * units * bottleneck
               + lstm_flops(window, bottleneck, units) + 2 * units * features * window)
    return 3 * forward


def series(steps: int, features: int) -> np.ndarray:
    t = np.arange(steps)[:, None]
    rng = np.random.default_rng(1)
    values = np.sin(2 * np.pi * t / 288 + np.arange(features)) + 0.1 * rng.standard_normal((steps, features))
    return values.astype(np.float32)


def ours(values: np.ndarray, window: int, epochs: int) -> tuple[float, int, int]:
    defaults = GroupConfig(name="bench")
    cfg = ModelConfig(**{**defaults.model.__dict__, "epochs": epochs, "patience": epochs})
    view = window_view(values, window)
    starts = window_starts(len(values), window, defaults.train_stride)
    split = int(len(starts) * 0.8)
    started = time.perf_counter()
    train_autoencoder(view, starts[:split], starts[split:], cfg, emit=lambda _: None)
    seconds = time.perf_counter() - started
    return seconds, split * epochs, autoencoder_train_flops(window, values.shape[1], cfg.units, cfg.bottleneck)


def tutorial(values: np.ndarray, window: int, epochs: int) -> tuple[float, int, int]:
    keras.utils.set_random_seed(7)
    started = time.perf_counter()
    windows = np.array([values[i:i + window] for i in range(len(values) - window + 1)])
    features = values.shape[1]
    model = keras.Sequential([
        keras.Input((window, features)),
        keras.layers.LSTM(100, activation="relu"),
        keras.layers.RepeatVector(window),
        keras.layers.LSTM(100, activation="relu", return_sequences=True),
        keras.layers.TimeDistributed(keras.layers.Dense(features)),
    ])
    model.compile(optimizer="adam", loss="mse")
    split = int(len(windows) * 0.8)
    model.fit(windows[:split], windows[:split], validation_data=(windows[split:], windows[split:]),
              epochs=epochs, batch_size=32, verbose=0)
    seconds = time.perf_counter() - started
    flops = 3 * (lstm_flops(window, features, 100) + lstm_flops(window, 100, 100) + 2 * 100 * features * window)
    return seconds, split * epochs, flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--window", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    values = series(args.steps, args.features)
    peak = matmul_gflops()
    print(f"numpy float32 matmul peak: {peak:.1f} GFLOP/s; {args.steps} steps x {args.features} metrics, "
          f"window {args.window}, {args.epochs} epochs")
    rows = {"nightwatch": ours(values, args.window, args.epochs),
            "  next group": ours(values[::-1].copy(), args.window, args.epochs),
            "tutorial": tutorial(values, args.window, args.epochs)}
    print(f"{'trainer':<14}{'seconds':>9}{'windows/s':>11}{'GFLOP/s':>9}{'% peak':>8}")
    rates = {}
    for name, (seconds, windows, flops) in rows.items():
        rates[name] = windows / seconds
        gflops = flops * windows / seconds / 1e9
        print(f"{name:<14}{seconds:9.1f}{rates[name]:11.0f}{gflops:9.2f}{100 * gflops / peak:7.1f}%")
    print(f"nightwatch / tutorial: {rates['nightwatch'] / rates['tutorial']:.1f}x windows/s, "
          f"{rows['tutorial'][0] / rows['nightwatch'][0]:.1f}x less wall time for the same series and epochs "
          f"(nightwatch trains on every {GroupConfig(name='x').train_stride}th window); the next group: "
          f"{rates['  next group'] / rates['tutorial']:.1f}x windows/s")

if __name__ == "__main__":
    main()
