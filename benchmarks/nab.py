"""Labelled benchmark: NAB-layout signals run through the pipeline's own train and score code.

    python -m benchmarks.nab --data ../shared/datasets/nab/data \
        --labels ../shared/datasets/nab/labels/combined_windows.json \
        --orion ../shared/datasets/orion-benchmark/orion-0.7.1-nab-results.csv --json nab.json

Each `<category>/<name>.csv` (`timestamp` plus one or more value columns, one group) is
written as wide parquet into a fresh landing folder, trained and scored on its whole
length with the default configuration (only the interval and the training range, the
signal's length, are taken from the data), and
its anomaly intervals are compared with the labelled windows (see pipeline.evaluate).
`--generated` also runs the multi-metric sample groups with their injected anomalies.
`--pairs` runs two-metric groups of real signals instead: each category's signals in pairs,
the second re-timed onto the first's timestamps, each keeping its labelled windows.
`--workers N` evaluates N signals at once, each in its own process (as the nightly flow
trains groups in parallel); the table's seconds per signal are then per process.
`--baselines` also runs PCA, Isolation Forest and a robust z-score on each signal, trained on
the same rows and thresholded like the pipeline (see benchmarks.baselines), and shows each
under the category's row. `vusPR` is the mean VUS-PR of the continuous score (the pipeline's
published `anomaly_score`: the largest of its rules' statistics over their thresholds) over
the category's signals with labelled windows (see benchmarks.vus).
`--train-rows N` trains each signal on its first N rows only (the pipeline through its
`training.first_steps` setting, the baselines likewise), scores all of it, and adds a table of
point-wise F1 and false-alarm rate over the rows after the first N, pooled per category: how
sensor benchmarks judge a detector trained on a clean start.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from benchmarks.baselines import BASELINES  # noqa: E402
from benchmarks.nab_baselines import (category_summaries, evaluate_baseline, failed_counts,  # noqa: E402
                                      print_point_table, print_table, signal_vus_pr)
from pipeline import io  # noqa: E402
from pipeline.catalog import discover, groups  # noqa: E402
from pipeline.config import detection_to_dict, parse_settings  # noqa: E402
from pipeline.detect.compose import Detection  # noqa: E402
from pipeline.evaluate import attribution_counts, overlap_counts, point_counts  # noqa: E402
from pipeline.sample_data import GROUPS, group_frame, inject  # noqa: E402
from pipeline.scoring import score_group  # noqa: E402
from pipeline.train import train_group  # noqa: E402

ORION_CATEGORIES = ("artificialWithAnomaly", "realAWSCloudwatch", "realAdExchange")


def apply_override(raw: dict, assignment: str) -> None:
    """`detection.flags.score.k=5` sets raw['defaults']['detection']['flags']['score']['k']
    (YAML-typed). The detection section starts from the defaults, so one rule's setting leaves
    the other rules on; `false` removes a key (`detection.flags.level=false` turns that rule off),
    except a rule's option, which it sets to null (`detection.flags.score.recent=false`): a rule's
    missing key takes the default, so removing it would leave the option on."""
    key, value = assignment.split("=", 1)
    node = raw.setdefault("defaults", {})
    if key.startswith("detection."):
        node.setdefault("detection", detection_to_dict(Detection()))
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    parsed = yaml.safe_load(value)
    if parsed is not False:
        node[leaf] = parsed
    elif parents[:1] == ["detection"] and len(parents) > 2:  # detection.flags.<rule>.<option>
        node[leaf] = None
    else:
        node.pop(leaf, None)


def detect(frame: pd.DataFrame, name: str, overrides: list[str], workdir: Path,
           labels: tuple = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and score one signal (wide frame indexed by UTC timestamp) with the pipeline's code,
    after adding `labels` (`(start, end, kind)` each) to its labels dataset.

    Returns the published anomaly intervals and the per-timestamp scores (`anomaly_score`, `is_anomaly`, ...).
    """
    spacing = frame.index.to_series().diff().median()
    length = frame.index[-1] - frame.index[0] + spacing  # trained on its whole length, as the protocol says
    raw = {"storage": {"data_root": str(workdir / "data"), "models_root": str(workdir / "models")},
           "defaults": {"interval": f"{int(spacing.total_seconds())}s", "lookback": f"{int(length.total_seconds())}s"},
           "groups": [{"name": name, "metrics": ["*"]}]}
    for assignment in overrides:
        apply_override(raw, assignment)
    settings = parse_settings(raw, "benchmark", workdir)
    io.write_parquet_atomic(frame.reset_index(), Path(settings.storage.landing) / f"{name}.parquet")
    for start, end, kind in labels:
        io.add_label(settings.storage.data_root, name, start, end, kind, by="benchmark")
    catalog = discover(settings.storage.landing)
    (group,) = groups(settings, catalog)
    train_group(settings, group, catalog, "benchmark", emit=lambda _: None)
    score_group(settings, group, catalog, "benchmark", emit=lambda _: None)
    scores = io.read_dataset(settings.storage.data_root, "scores", name).drop_duplicates("timestamp")
    return io.read_dataset(settings.storage.data_root, "anomalies", name), scores.set_index("timestamp")


def evaluate_signal(frame: pd.DataFrame, windows: list, name: str, overrides: list[str],
                    baselines: tuple[str, ...] = (), train_rows: int | None = None) -> dict:
    """One signal's tp/fp/fn, flagged points, VUS-PR and seconds, and each of `baselines`' under
    `baselines` (trained on the same rows: all of them, or the first `train_rows`, after which
    the points are counted); a failure counts every window as missed."""
    labelled = [(pd.Timestamp(w[0], tz="UTC"), pd.Timestamp(w[1], tz="UTC")) for w in windows]
    train_rows = len(frame) if train_rows is None else min(train_rows, len(frame))
    judged_from = frame.index[train_rows] if train_rows < len(frame) else frame.index[0]
    if train_rows < len(frame):
        overrides = [*overrides, f"training.first_steps={train_rows}"]
    culprits = [w[2] if len(w) > 2 else None for w in windows]  # the anomalous metric, where known
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="nw-bench-") as tmp:
            intervals, scores = detect(frame, name, overrides, Path(tmp))
        flags = scores["is_anomaly"][scores.index >= judged_from]
        detected = list(zip(intervals["start"], intervals["end"])) if not intervals.empty else []
        tops = intervals["top_metric"].tolist() if not intervals.empty else []
        triggers = intervals["trigger"].tolist() if not intervals.empty else []
        row = {**overlap_counts(detected, labelled), **attribution_counts(detected, tops, labelled, culprits),
               **point_counts(pd.DatetimeIndex(flags.index), flags.to_numpy(bool), labelled), "error": None}
    except Exception as exc:  # noqa: BLE001 - a failed signal is scored as all windows missed
        detected, tops, triggers = [], [], []
        scores = None
        row = {**failed_counts(frame.index[frame.index >= judged_from], labelled),
               "error": f"{type(exc).__name__}: {exc}"}
    row["seconds"] = time.perf_counter() - started
    if scores is not None:  # after the clock: the seconds stay train + score
        row["vus_pr"] = signal_vus_pr(pd.DatetimeIndex(scores.index), scores["anomaly_score"].to_numpy(), labelled)
    row["detected"] = [[str(a), str(b), top, trigger]  # with its top metric and what flagged it
                       for (a, b), top, trigger in zip(detected, tops, triggers)]
    row["labelled"] = [[str(a), str(b)] + ([culprit] if culprit else []) for (a, b), culprit in zip(labelled, culprits)]
    if baselines:
        row["baselines"] = {method: evaluate_baseline(frame, labelled, method, train_rows) for method in baselines}
    return row


def read_signal(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame.set_index("timestamp")


def nab_signals(data: Path, labels: dict, categories: list[str] | None):
    for path in sorted(data.glob("*/*.csv")):
        category = path.parent.name
        if categories and category not in categories:
            continue
        key = f"{category}/{path.name}"
        if key in labels:
            yield category, path.stem, read_signal(path), labels[key]


def paired_signals(signals: list) -> Iterator[tuple[str, str, pd.DataFrame, list]]:
    """Consecutive signals of a category as one two-metric group: the second's values are put on
    the first's timestamps by position (both cut to the shorter), and its labelled windows move
    with them; each window names the metric it marks, to check the intervals' top metric."""
    by_category: dict[str, list] = {}
    for category, name, frame, windows in signals:
        by_category.setdefault(category, []).append((name, frame, windows))
    for category, members in by_category.items():
        for (name_a, a, windows_a), (name_b, b, windows_b) in zip(members[0::2], members[1::2]):
            n = min(len(a), len(b))
            times, times_b = a.index[:n], b.index[:n]
            frame = pd.DataFrame({name_a: a.iloc[:n, 0].to_numpy(), name_b: b.iloc[:n, 0].to_numpy()}, index=times)
            windows = [(*w[:2], name_a) for w in windows_a if pd.Timestamp(w[0], tz="UTC") <= times[-1]]
            for start, end in windows_b:
                first = times_b.searchsorted(pd.Timestamp(start, tz="UTC"))
                last = min(times_b.searchsorted(pd.Timestamp(end, tz="UTC"), side="right") - 1, n - 1)
                if first < n:
                    windows.append((times[first].tz_localize(None), times[last].tz_localize(None), name_b))
            yield f"{category}Pairs", f"{name_a}__{name_b}", frame, windows


def generated_signals():
    """The sample groups (multi-metric) with their injected anomalies as labelled windows, each
    naming the metric it was injected into."""
    index = pd.date_range(end=pd.Timestamp("2026-11-23", tz="UTC"), periods=21 * 288, freq="5min", name="timestamp")
    frames = {name: group_frame(name, index, 11 + i) for i, name in enumerate(GROUPS)}
    injected = inject(frames)
    for name, frame in frames.items():
        windows = [(i.start.tz_localize(None), i.end.tz_localize(None), i.metrics[0]) for i in injected
                   if i.group == name]
        yield "generatedMultivariate", name, frame, windows


def orion_table(path: Path | None) -> dict[str, dict[str, float]]:
    """Category F1 of Orion 0.7.1's lstm_autoencoder, aer, and its best pipeline."""
    if path is None or not path.exists():
        return {}
    results = pd.read_csv(path)
    sums = results.groupby(["dataset", "pipeline"])[["tp", "fp", "fn"]].sum()
    f1 = 2 * sums["tp"] / (2 * sums["tp"] + sums["fp"] + sums["fn"])
    out = {}
    for category, per in f1.groupby(level=0):
        per = per.droplevel(0)
        out[category] = {"lstm_autoencoder": per.get("lstm_autoencoder"), "aer": per.get("aer"),
                         "best": per.max(), "best_pipeline": per.idxmax()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="NAB-layout folder: <category>/<name>.csv")
    parser.add_argument("--labels", type=Path, help="combined_windows.json")
    parser.add_argument("--categories", nargs="*")
    parser.add_argument("--orion", type=Path, help="Orion's published results CSV, shown beside ours")
    parser.add_argument("--generated", action="store_true", help="also run the multi-metric sample groups")
    parser.add_argument("--pairs", action="store_true", help="run the signals as two-metric groups, in pairs")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="override a default, e.g. --set detection.flags.score.k=5")
    parser.add_argument("--json", type=Path, help="write per-signal results here")
    parser.add_argument("--workers", type=int, default=1, help="signals evaluated at once, one process each")
    parser.add_argument("--baselines", action="store_true", help=f"also run the baselines: {', '.join(BASELINES)}")
    parser.add_argument("--train-rows", type=int, help="train each signal on its first N rows; point-wise figures "
                        "count the rows after them")
    args = parser.parse_args(argv)

    signals = []
    if args.data:
        labels = json.loads(args.labels.read_text())
        signals += list(nab_signals(args.data, labels, args.categories))
    if args.pairs:
        signals = list(paired_signals(signals))
    if args.generated:
        signals += list(generated_signals())
    results: dict[str, dict[str, dict]] = {}
    started = time.perf_counter()
    baselines = BASELINES if args.baselines else ()
    jobs = [(frame, windows, name, args.overrides, baselines, args.train_rows) for _, name, frame, windows in signals]
    spawn = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(args.workers, mp_context=spawn) if args.workers > 1 else None
    with pool or nullcontext():
        rows = (pool.map if pool else map)(evaluate_signal, *zip(*jobs))
        for (category, name, _, _), row in zip(signals, rows):
            results.setdefault(category, {})[name] = row
            print(f"{category}/{name}: tp={row['tp']} fp={row['fp']} fn={row['fn']} "
                  f"flagged={row['flagged']}/{row['points']} {row['seconds']:.1f}s {row['error'] or ''}",
                  file=sys.stderr, flush=True)
    wall = time.perf_counter() - started
    summary = category_summaries(results, baselines)
    print_table(summary, orion_table(args.orion))
    if args.train_rows:
        print_point_table(summary, args.train_rows)
    for category, s in summary.items():
        if s["found_with_culprit"]:
            print(f"{category}: top metric names the anomalous one in {s['attributed']} of "
                  f"{s['found_with_culprit']} found windows")
    print(f"{len(signals)} signals in {wall:.0f} s wall time ({args.workers} worker process(es))")
    if args.json:
        args.json.write_text(json.dumps({"overrides": args.overrides, "train_rows": args.train_rows,
                                         "workers": args.workers, "wall_seconds": wall,
                                         "summary": summary, "signals": results}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
