"""Scoring throughput end to end, parquet in -> scores, anomalies and features out, by stage.

    python -m benchmarks.scoring_throughput [--rows 200000] [--metrics 8] [--strides 1 12]

Lands one wide group of `rows` timestamps x `metrics` metrics, trains the default model
briefly on its first 20,000 steps, then scores the whole group with `score_group`'s own
stages (read + align, window + model + per-timestamp errors, publish) for each scoring
stride, printing metric points per second, the time per stage and the peak RSS.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline import io  # noqa: E402
from pipeline.catalog import discover, groups, load_aligned  # noqa: E402
from pipeline.config import parse_settings  # noqa: E402
from pipeline.scoring import score_group  # noqa: E402
from pipeline.train import train_group  # noqa: E402


def land(root: Path, rows: int, metrics: int) -> None:
    index = pd.date_range("2025-01-01", periods=rows, freq="1min", tz="UTC")
    t = np.arange(rows)[:, None]
    rng = np.random.default_rng(3)
    values = np.sin(2 * np.pi * t / 1440 + np.arange(metrics)) + 0.1 * rng.standard_normal((rows, metrics))
    frame = pd.DataFrame(values, columns=[f"m{i}" for i in range(metrics)])
    frame.insert(0, "timestamp", index)
    io.write_parquet_atomic(frame, root / "data" / "landing" / "group.parquet")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--metrics", type=int, default=8)
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 12])
    args = parser.parse_args()
    points = args.rows * args.metrics
    print(f"{args.rows} rows x {args.metrics} metrics = {points} metric points")
    print(f"{'stride':>6}{'read+align s':>14}{'score+publish s':>17}{'points/s':>11}{'peak RSS MB':>13}")
    for stride in args.strides:
        with tempfile.TemporaryDirectory(prefix="nw-score-bench-") as tmp:
            root = Path(tmp)
            land(root, args.rows, args.metrics)
            raw = {"storage": {"data_root": str(root / "data"), "models_root": str(root / "models")},
                   "defaults": {"interval": "1min", "stride": stride, "lookback": "14D", "model": {"epochs": 1}},
                   "groups": [{"name": "bench", "metrics": ["m*"]}]}
            settings = parse_settings(raw, "benchmark", root)
            catalog = discover(settings.storage.landing)
            (group,) = groups(settings, catalog)
            train_group(settings, group, catalog, "bench", emit=lambda _: None)
            started = time.perf_counter()
            load_aligned(catalog, group)
            read = time.perf_counter() - started
            started = time.perf_counter()
            score_group(settings, group, catalog, "bench", emit=lambda _: None)
            total = time.perf_counter() - started
            print(f"{stride:6d}{read:14.2f}{total:17.2f}{points / total:11.0f}{peak_rss_mb():13.0f}")
    print("score+publish is the whole of score_group (its read+align included); stride s runs every "
          "s-th window and still covers every timestamp")

if __name__ == "__main__":
    main()
