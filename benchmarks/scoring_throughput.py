"""Scoring throughput end to end, parquet in -> scores, anomalies and features published.

    python -m benchmarks.scoring_throughput [--rows 1000000] [--strides 1 8] [--groups 200]
        [--group-rows 5000] [--rss-rows 1000000 5000000 20000000] [--rss-stride 12] [--parts one many rss]

For each part it prints metric points per second of `score_group` ("new": scoring in parts,
compiled inference) beside the baseline, the unchunked path scoring had before (the
whole range read and aligned at once with the long-layout groupby, the model loaded by
Keras, `predict_on_batch` in batches of 1024), both measured in this run:

1. one group of `--rows` 1-minute steps x `--metrics` metrics, per scoring stride, with
   the seconds spent in each stage;
2. `--groups` groups of `--group-rows` steps each (one wide file and one model each);
3. the peak RSS of scoring `--rss-rows` steps of one group, each size in a fresh process
   (ru_maxrss); the baseline only up to `--baseline-max-rows`, as it holds everything.

The model is the default one (window 48, 32 units), trained briefly once on 20,000 steps
and registered for every group (throughput does not depend on the weights).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from pipeline import inference, io, model, scoring  # noqa: E402
from pipeline.anomalies import to_intervals  # noqa: E402
from pipeline.catalog import Catalog, discover, groups, read_group  # noqa: E402
from pipeline.config import Settings, group_from_dict, parse_settings  # noqa: E402
from pipeline.publish import anomalies_table, features_table, scores_table  # noqa: E402
from pipeline.resample import aggregate_to_grid, fill_short_gaps, grid_index  # noqa: E402
from pipeline.scale import Scaler  # noqa: E402
from pipeline.detect.compose import anomaly_scores, detect  # noqa: E402
from pipeline.detect.evidence import evidence  # noqa: E402
from pipeline.detect.stored import stored_states  # noqa: E402
from pipeline.score import timestamp_means  # noqa: E402
from pipeline.train import train_group  # noqa: E402
from pipeline.window import iter_batches, window_starts, window_view  # noqa: E402

TRAIN_ROWS = 20_000
STAGES = ["span", "read", "align", "model", "errors", "scores+anomalies", "frames", "write", "other"]


# ---------------------------------------------------------------- data and models
def land(landing: Path, name: str, rows: int, metrics: int, prefix: str = "") -> None:
    """One wide file of `rows` 1-minute steps (sines plus noise), written 1M rows at a time."""
    columns = [f"{prefix}m{i}" for i in range(metrics)]
    rng = np.random.default_rng(3)
    landing.mkdir(parents=True, exist_ok=True)
    start = pd.Timestamp("2025-01-01", tz="UTC")
    with pq.ParquetWriter(landing / f"{name}.parquet", pa.schema(
            [("timestamp", pa.timestamp("us", tz="UTC"))] + [(c, pa.float64()) for c in columns])) as writer:
        for first in range(0, rows, 1_000_000):
            t = np.arange(first, min(rows, first + 1_000_000))
            values = np.sin(2 * np.pi * t[:, None] / 1440 + np.arange(metrics)) + 0.1 * rng.standard_normal(
                (len(t), metrics))
            frame = pd.DataFrame(values, columns=columns)
            frame.insert(0, "timestamp", start + pd.to_timedelta(t, unit="min"))
            writer.write_table(pa.Table.from_pandas(frame, preserve_index=False))


def settings_for(root: Path, names: list[str], stride: int) -> Settings:
    raw = {"storage": {"data_root": str(root / "data"), "models_root": str(root / "models")},
           "defaults": {"interval": "1min", "stride": stride, "lookback": "14D", "model": {"epochs": 1}},
           "groups": [{"name": n, "metrics": [f"{n}.*" if n != "bench" else "m*"]} for n in names]}
    return parse_settings(raw, "benchmark", root)


def trained_model(work: Path, metrics: int) -> Path:
    """Train the default model for one minute-step group once; returns its registry folder."""
    root = work / "trained"
    if not (root / "models").exists():
        land(root / "data" / "landing", "group", TRAIN_ROWS, metrics)
        settings = settings_for(root, ["bench"], 1)
        catalog = discover(settings.storage.landing)
        (group,) = groups(settings, catalog)
        train_group(settings, group, catalog, "bench", emit=lambda _: None)
    return root / "models" / "bench"


def register(model_dir: Path, models_root: Path, name: str, metrics: list[str], stride: int) -> None:
    """The trained model as the current version of group `name` with these metric names and stride."""
    target = models_root / name
    shutil.copytree(model_dir, target, ignore=shutil.ignore_patterns(".lock"))
    (meta_path,) = target.glob("*/metadata.json")
    meta = json.loads(meta_path.read_text())
    meta["config"].update(name=name, metrics=metrics, stride=stride)
    meta.update(group=name, metrics=metrics)
    meta_path.write_text(json.dumps(meta))


def make_root(root: Path, model_dir: Path, names: list[str], rows: int, metrics: int, stride: int) -> Settings:
    for name in names:
        prefix = "" if name == "bench" else f"{name}."
        land(root / "data" / "landing", name, rows, metrics, prefix)
        register(model_dir, root / "models", name, [f"{prefix}m{i}" for i in range(metrics)], stride)
    return settings_for(root, names, stride)


# ---------------------------------------------------------------- the two paths, timed by stage
class Stages:
    """Seconds per stage; `wrap` times calls of a module attribute, `timed` a block."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.undo: list = []
        self.beside: set[str] = set()  # stages run in another thread, overlapping the others

    @contextmanager
    def timed(self, stage: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - started

    def wrap(self, module, name: str, stage: str) -> None:
        real = getattr(module, name)

        def timed(*args, **kwargs):
            with self.timed(stage):
                return real(*args, **kwargs)

        setattr(module, name, timed)
        self.undo.append((module, name, real))

    def wrap_generator(self, module, name: str, stage: str) -> None:
        real = getattr(module, name)

        def timed(*args, **kwargs):
            items = real(*args, **kwargs)
            while True:
                with self.timed(stage):
                    item = next(items, None)
                if item is None:
                    return
                yield item

        setattr(module, name, timed)
        self.undo.append((module, name, real))

    def restore(self) -> None:
        for module, name, real in reversed(self.undo):
            setattr(module, name, real)


def new_path(settings: Settings, catalog: Catalog, names: list[str], stages: Stages | None = None) -> None:
    """`score_group` as the flows call it, with its stages timed through the functions it calls.

    The compiled inference is dropped first: a flow run is a fresh process and compiles once.
    """
    model._COMPILED.clear()
    if stages is not None:
        stages.wrap(scoring, "time_span", "span")
        stages.wrap(io, "read_series", "read")
        stages.wrap(scoring, "load_aligned", "align")  # read included: subtracted below
        stages.wrap_generator(inference, "reconstruct", "model")
        stages.wrap(inference, "timestamp_means", "errors")  # model included: subtracted below
        for name in ("evidence", "raise_flags", "filter_flags", "published", "to_intervals", "closed_until"):
            stages.wrap(scoring, name, "scores+anomalies")
        for name in ("scores_table", "anomalies_table", "features_table"):
            stages.wrap(scoring, name, "frames")
        stages.wrap(io, "upsert_partitions", "write")
        stages.wrap(io, "write_watermark", "write")
        stages.beside = {"frames", "write"}  # score_group's publishing thread, while the next part is scored
    try:
        by_name = {g.name: g for g in groups(settings, catalog)}
        for name in names:
            scoring.score_group(settings, by_name[name], catalog, "bench", emit=lambda _: None)
    finally:
        if stages is not None:
            stages.restore()
            stages.seconds["align"] -= stages.seconds["read"]
            stages.seconds["errors"] -= stages.seconds["model"]


def baseline_path(settings: Settings, catalog: Catalog, names: list[str], stages: Stages | None = None) -> None:
    """The unchunked scoring this project had before: everything read, aligned and scored at once."""
    stages, by_name = stages or Stages(), {g.name: g for g in groups(settings, catalog)}
    for name in names:
        group = by_name[name]
        models_root, data_root = settings.storage.models_root, settings.storage.data_root
        version = io.current_version(models_root, name)
        meta = io.read_metadata(models_root, name, version)
        group = group_from_dict(meta["config"])
        with stages.timed("read"):
            rows = read_group(catalog, group)
            set(rows.loc[rows["value"].notna(), "series"])  # read_group's check of empty metrics, as it was
        with stages.timed("align"):
            grid = aggregate_to_grid(rows, group.metrics, grid_index(rows["timestamp"], group.interval_td),
                                     group.interval_td, group.aggregation)  # the groupby path, as it was
            aligned = fill_short_gaps(grid, group.max_gap)
        del rows
        index, values, imputed = aligned.values.index, aligned.values.to_numpy(), aligned.imputed.to_numpy()
        autoencoder = keras.saving.load_model(io.model_path(models_root, name, version), compile=False,
                                              safe_mode=True)  # a full Keras load per group, as it was
        scaler = Scaler.from_dict(meta["scaler"])
        scaled = inference.scaled_input(values, scaler)
        starts, codes = window_starts(len(scaled), group.window, group.stride), []

        def batches():
            encoder, decoder = autoencoder.get_layer("encoder"), autoencoder.get_layer("decoder")
            for chunk, x in iter_batches(window_view(scaled, group.window), starts, 1024):
                with stages.timed("model"):
                    n = len(x)
                    if len(starts) > 1024 and n < 1024:
                        x = np.concatenate([x, np.zeros((1024 - n, *x.shape[1:]), x.dtype)])
                    code = np.asarray(encoder.predict_on_batch(x))
                    recon = np.asarray(decoder.predict_on_batch(code))
                codes.append(code[:n])
                yield chunk, np.square(recon[:n] - x[:n])

        model_before = stages.seconds["model"]
        with stages.timed("errors"):
            errors = timestamp_means(len(scaled), group.window, batches())
        stages.seconds["errors"] -= stages.seconds["model"] - model_before
        with stages.timed("scores+anomalies"):
            scales = np.array([meta["metric_scales"][m] for m in group.metrics])
            found = evidence(errors, imputed | np.isnan(values), scales, scaler.transform(values), group.detection, group.metrics,
                             group.interval_td)
            states = stored_states(meta)
            detected = detect(group.detection, found, states)
            threshold, flags = float(states["score"]["threshold"]), detected.published
            intervals = to_intervals(index, found.scores, found.metric_scores, group.metrics, threshold,
                                     group.detection.merge_gap, detected.kept, detected.raised.flags)
        with stages.timed("frames"):
            frames = {"scores": scores_table(index, group.metrics, values, imputed, found.metric_scores,
                                             found.scores, threshold,
                                             anomaly_scores(detected.raised.flags, len(index)), flags, version,
                                             "bench"),
                      "anomalies": anomalies_table(intervals, version, "bench"),
                      "features": features_table(index[starts + group.window - 1], np.concatenate(codes), version,
                                                 "bench")}
        with stages.timed("write"):
            for dataset, column in (("scores", "timestamp"), ("anomalies", "start"), ("features", "window_end")):
                io.upsert_partitions(data_root, dataset, name, frames[dataset], column, index[0], index[-1])
            io.write_watermark(data_root, name, index[-1])


PATHS = {"baseline": baseline_path, "new": new_path}


def timed_run(path: str, settings: Settings, names: list[str]) -> tuple[float, Stages]:
    catalog, stages = discover(settings.storage.landing), Stages()
    started = time.perf_counter()
    PATHS[path](settings, catalog, names, stages)
    total = time.perf_counter() - started
    stages.seconds["other"] = total - sum(v for k, v in stages.seconds.items() if k not in stages.beside)
    return total, stages


# ---------------------------------------------------------------- the three parts
def one_group(work: Path, model_dir: Path, rows: int, metrics: int, strides: list[int]) -> None:
    points = rows * metrics
    print(f"\n1. one group: {rows} steps x {metrics} metrics = {points} metric points, window 48")
    for stride in strides:
        results = {}
        for path in PATHS:
            root = work / f"one-{path}-{stride}"
            results[path] = timed_run(path, make_root(root, model_dir, ["bench"], rows, metrics, stride), ["bench"])
            shutil.rmtree(root)
        print(f"\n   stride {stride}{'':9}{'baseline s':>12}{'new s':>10}")
        for stage in STAGES:
            mark = " (beside)" if stage in results["new"][1].beside else ""
            print(f"   {stage:<18}{results['baseline'][1].seconds[stage]:12.2f}{results['new'][1].seconds[stage]:10.2f}"
                  f"{mark}")
        base, new = results["baseline"][0], results["new"][0]
        print(f"   {'total':<18}{base:12.2f}{new:10.2f}")
        print(f"   {'points/s':<18}{points / base:12.0f}{points / new:10.0f}   ({base / new:.1f}x)")


def many_groups(work: Path, model_dir: Path, count: int, rows: int, metrics: int, stride: int) -> None:
    points = count * rows * metrics
    print(f"\n2. {count} groups x {rows} steps x {metrics} metrics = {points} metric points, stride {stride}")
    names = [f"g{i:03d}" for i in range(count)]
    for path in PATHS:
        root = work / f"many-{path}"
        total, _ = timed_run(path, make_root(root, model_dir, names, rows, metrics, stride), names)
        print(f"   {path:<10}{total:8.1f} s{points / total:12.0f} points/s")
        shutil.rmtree(root)


RSS_CHILD = """
import resource, sys, time
from pathlib import Path
from benchmarks.scoring_throughput import PATHS, settings_for
from pipeline.catalog import discover
settings = settings_for(Path(sys.argv[1]), ["bench"], int(sys.argv[3]))
started = time.perf_counter()
PATHS[sys.argv[2]](settings, discover(settings.storage.landing), ["bench"])
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_rss(work: Path, model_dir: Path, sizes: list[int], metrics: int, stride: int, baseline_max: int,
             child_env: list[str]) -> None:
    env = dict(os.environ, **dict(item.split("=", 1) for item in child_env))
    print(f"\n3. peak RSS scoring one group of {metrics} metrics, stride {stride}, each in a fresh process"
          + (f" with {' '.join(child_env)}" if child_env else ""))
    print(f"   {'steps':>10}{'baseline MB':>13}{'s':>8}{'new MB':>10}{'s':>8}")
    project = Path(__file__).resolve().parents[1]
    for rows in sizes:
        root = work / f"rss-{rows}"
        make_root(root, model_dir, ["bench"], rows, metrics, stride)
        cells = []
        for path in PATHS:
            if path == "baseline" and rows > baseline_max:
                cells.append(f"{'skipped':>13}{'':>8}")
                continue
            for published in ("scores", "anomalies", "features", "state"):
                shutil.rmtree(root / "data" / published, ignore_errors=True)
            out = subprocess.run([sys.executable, "-c", RSS_CHILD, str(root), path, str(stride)], cwd=project,
                                 env=env, capture_output=True, text=True, check=True).stdout.split()
            cells.append(f"{float(out[-1]):{13 if path == 'baseline' else 10}.0f}{float(out[-2]):8.1f}")
        print(f"   {rows:>10}" + "".join(cells), flush=True)
        shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="steps of the one-group run")
    parser.add_argument("--metrics", type=int, default=8)
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--group-rows", type=int, default=5_000)
    parser.add_argument("--group-stride", type=int, default=8)
    parser.add_argument("--rss-rows", type=int, nargs="*", default=[1_000_000, 5_000_000])
    parser.add_argument("--rss-stride", type=int, default=12)
    parser.add_argument("--baseline-max-rows", type=int, default=1_000_000)
    parser.add_argument("--child-env", nargs="*", default=[], metavar="KEY=VALUE",
                        help="environment of the RSS processes, e.g. glibc's MALLOC_MMAP_THRESHOLD_=1048576")
    parser.add_argument("--parts", nargs="+", choices=["one", "many", "rss"], default=["one", "many", "rss"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nw-score-bench-") as tmp:
        work = Path(tmp)
        model_dir = trained_model(work, args.metrics)
        print(f"scoring throughput, {os.cpu_count()} CPUs; baseline = unchunked scoring with predict_on_batch")
        if "one" in args.parts:
            one_group(work, model_dir, args.rows, args.metrics, args.strides)
        if "many" in args.parts:
            many_groups(work, model_dir, args.groups, args.group_rows, args.metrics, args.group_stride)
        if "rss" in args.parts:
            peak_rss(work, model_dir, args.rss_rows, args.metrics, args.rss_stride, args.baseline_max_rows,
                     args.child_env)


if __name__ == "__main__":
    main()
