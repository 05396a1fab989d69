"""Rolling NAB benchmark (issue 23): nightly retraining warm or cold, each new day scored by the model current then.

    python -m benchmarks.rolling --data ../shared/datasets/nab/data \
        --labels ../shared/datasets/nab/labels/combined_windows.json --seed 7 8 [--max-nights 7] [--json rolling.json]

Each signal (read, configured and judged as benchmarks.nab does: its interval, a lookback of its
whole length, the Orion overlap F1 and VUS-PR) lands its first half, cut at the next UTC midnight,
and is trained on it once. Then it advances `--days-step` days a night (widened so there are at
most `--max-nights` nights: the hourly and long signals would otherwise retrain a hundred times):
the night's rows land as a file of their own, each arm scores them with its current model
(score_group, incrementally from its watermark, as the hourly deployment scores each hour with the
model of the night before) and then retrains on all rows landed so far (train_group, as the nightly
flow does; not after the last day, which nothing follows). A day is thus always scored by a model
that has not seen it: the model trained on a day's anomaly would have learnt it as normal.
The arms share the first model and differ only in `model.warm_start` (cold: off; warm: the
`--warm-start` mapping, by default `{}`, every rule off, the model's own schedule). Each night the
rows of its new day are taken from the published scores right after its scoring, so each step is
scored exactly once, by the model current then (a later night may rescore an open interval; that
rescoring is not counted). The signal's score is those days concatenated; its
intervals are the runs of `is_anomaly` merged over `detection.merge_gap`, judged against the
labelled windows that reach into the scored range. The first half is never judged: the model
learnt it as normal (benchmarks.nab's default protocol trains on the whole signal and scores it
in-sample, which leaves nothing to roll over; the first half, like its `--train-rows`, is a clean
start and leaves a week of nights on the 5-minute signals).

`--max-signals N` keeps each category's first N signals, to fit a run in the time at hand;
`--tables a.json b.json` prints the tables of runs made apart (one process per seed).
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from benchmarks.nab import apply_override, nab_signals  # noqa: E402
from benchmarks.nab_baselines import category_summary, failed_counts, signal_vus_pr  # noqa: E402
from pipeline import io  # noqa: E402
from pipeline.catalog import discover, groups  # noqa: E402
from pipeline.config import parse_settings  # noqa: E402
from pipeline.detect.base import runs  # noqa: E402
from pipeline.evaluate import overlap_counts, point_counts  # noqa: E402
from pipeline.scoring import score_group  # noqa: E402
from pipeline.train import train_group  # noqa: E402

ARMS = ("cold", "warm")


def night_ends(index: pd.DatetimeIndex, days_step: int, max_nights: int | None) -> tuple[pd.Timestamp, list]:
    """The first half's end (the UTC midnight after the middle row) and each night's data end
    (exclusive): every `days_step` days, the step widened to whole days so there are at most
    `max_nights` nights; the last night ends after the last row."""
    cut = index[len(index) // 2].ceil("D")
    if cut > index[-1]:
        raise ValueError(f"{len(index)} rows: no whole day after the first half")
    days = math.ceil((index[-1] - cut) / pd.Timedelta(days=1) + 1e-9)
    step = days_step if max_nights is None else max(days_step, math.ceil(days / max_nights))
    ends = [cut + pd.Timedelta(days=k) for k in range(step, days, step)]
    return cut, ends + [index[-1] + pd.Timedelta(microseconds=1)]


def arm_settings(workdir: Path, name: str, frame: pd.DataFrame, overrides: list[str], warm_start: dict | None):
    """One arm's settings: benchmarks.nab's per-signal configuration, `warm_start` set or left out."""
    spacing = frame.index.to_series().diff().median()
    length = frame.index[-1] - frame.index[0] + spacing  # each night trains on everything landed so far
    raw = {"storage": {"data_root": str(workdir / "data"), "models_root": str(workdir / "models")},
           "defaults": {"interval": f"{int(spacing.total_seconds())}s", "lookback": f"{int(length.total_seconds())}s"},
           "groups": [{"name": name, "metrics": ["*"]}]}
    for assignment in overrides:
        apply_override(raw, assignment)
    if warm_start is not None:
        raw["defaults"].setdefault("model", {})["warm_start"] = warm_start
    return parse_settings(raw, "benchmark", workdir)


def land(settings, name: str, rows: pd.DataFrame, night: int) -> None:
    """A night's rows as a landing file of their own, as a collector lands a day."""
    io.write_parquet_atomic(rows.reset_index(), Path(settings.storage.landing) / name / f"night-{night:03d}.parquet")


def night(settings, name: str, number: int, since: pd.Timestamp, until: pd.Timestamp,
          retrain: bool) -> tuple[dict, pd.DataFrame]:
    """Score what landed incrementally with the current model, take the published scores of the
    steps in [since, until) right after it, then (`retrain`) train on everything landed, as the
    night's training after the day's hourly scoring; returns what the night did and that day."""
    catalog = discover(settings.storage.landing)
    (group,) = groups(settings, catalog)
    models = settings.storage.models_root
    current = io.current_version(models, name)
    score_group(settings, group, catalog, f"night-{number}", emit=lambda _: None)
    scores = io.read_dataset(settings.storage.data_root, "scores", name).drop_duplicates("timestamp")
    day = scores[(scores["timestamp"] >= since) & (scores["timestamp"] < until)].set_index("timestamp").sort_index()
    record = {"night": number, "until": str(until), "current": current, "scored": len(day),
              "scored_by": sorted(set(day["model_version"]))}
    if retrain:
        started = time.perf_counter()
        trained = train_group(settings, group, catalog, f"night-{number}", emit=lambda _: None)
        meta = io.read_metadata(models, name, trained["version"])
        record.update(train_seconds=time.perf_counter() - started, version=trained["version"],
                      promoted=bool(trained["promoted"]), epochs=meta["training"]["epochs"],
                      warm_from=meta["warm_start"]["from"], why=meta["warm_start"]["why"])
    return record, day[["anomaly_score", "is_anomaly", "model_version", "run_id"]]


def judge(scores: pd.DataFrame, windows: list, merge_gap: int) -> dict:
    """Overlap and point counts and VUS-PR of the concatenated days against the labelled windows
    that reach into them; intervals are runs of `is_anomaly` merged as scoring merges them."""
    times = pd.DatetimeIndex(scores.index)
    labelled = [(pd.Timestamp(w[0], tz="UTC"), pd.Timestamp(w[1], tz="UTC")) for w in windows]
    labelled = [w for w in labelled if w[1] >= times[0]]
    flags = scores["is_anomaly"].to_numpy(bool)
    detected = [(times[a], times[b]) for a, b in runs(flags, merge_gap)]
    return {**overlap_counts(detected, labelled), **point_counts(times, flags, labelled),
            "vus_pr": signal_vus_pr(times, scores["anomaly_score"].to_numpy(), labelled),
            "detected": [[str(a), str(b)] for a, b in detected], "labelled": [[str(a), str(b)] for a, b in labelled]}


def rolling_signal(frame: pd.DataFrame, windows: list, name: str, overrides: list[str], warm_start: dict,
                   days_step: int = 1, max_nights: int | None = None) -> dict:
    """Both arms of one signal: the shared first training, then each night; a failure counts every
    window reaching the second half as missed, in both arms."""
    started = time.perf_counter()
    try:
        cut, ends = night_ends(frame.index, days_step, max_nights)
    except ValueError as exc:
        return {arm: {**failed_counts(frame.index, []), "error": str(exc), "seconds": 0.0, "nights": []}
                for arm in ARMS}
    out = {"cut": str(cut), "nights": len(ends)}
    with tempfile.TemporaryDirectory(prefix="nw-rolling-") as tmp:
        try:
            arms = {arm: arm_settings(Path(tmp) / arm, name, frame, overrides, warm_start if arm == "warm" else None)
                    for arm in ARMS}
            first = frame[frame.index < cut]
            land(arms["cold"], name, first, 0)
            catalog = discover(arms["cold"].storage.landing)
            (group,) = groups(arms["cold"], catalog)
            clock = time.perf_counter()
            out["first_version"] = train_group(arms["cold"], group, catalog, "night-0", emit=lambda _: None)["version"]
            out["first_train_seconds"] = time.perf_counter() - clock
            shutil.copytree(arms["cold"].storage.models_root, arms["warm"].storage.models_root)
            for settings in arms.values():
                land(settings, name, first, 0)
                io.write_watermark(settings.storage.data_root, name, first.index[-1])
            days = {arm: [] for arm in ARMS}
            records = {arm: [] for arm in ARMS}
            since = cut
            for number, until in enumerate(ends, start=1):
                new = frame[(frame.index >= since) & (frame.index < until)]
                for arm, settings in arms.items():
                    land(settings, name, new, number)
                    record, day = night(settings, name, number, since, until, retrain=number < len(ends))
                    records[arm].append(record)
                    days[arm].append(day)
                since = until
            for arm in ARMS:
                scores = pd.concat(days[arm])
                out[arm] = {**judge(scores, windows, group.detection.merge_gap), "error": None,
                            "seconds": sum(r.get("train_seconds", 0.0) for r in records[arm]), "nights": records[arm],
                            "scored": len(scores), "unique_steps": int(scores.index.nunique())}
        except Exception as exc:  # noqa: BLE001 - a failed signal is scored as all windows missed
            labelled = [(pd.Timestamp(w[0], tz="UTC"), pd.Timestamp(w[1], tz="UTC")) for w in windows]
            after = frame.index[frame.index >= cut]
            for arm in ARMS:
                out[arm] = {**failed_counts(after, [w for w in labelled if w[1] >= cut]),
                            "error": f"{type(exc).__name__}: {exc}", "seconds": 0.0, "nights": []}
    out["wall_seconds"] = time.perf_counter() - started
    return out


def arm_summary(rows: list[dict], arm: str) -> dict:
    """A category's figures for one arm, with the mean training seconds per night and the count
    of nights that started warm and that promoted the new version."""
    arm_rows = [r[arm] for r in rows]
    nights = [n for r in arm_rows for n in r["nights"] if "train_seconds" in n]  # those that retrained
    summary = category_summary(arm_rows)
    summary["train_seconds_per_night"] = float(np.mean([n["train_seconds"] for n in nights])) if nights else math.nan
    summary["nights"], summary["warm_nights"] = len(nights), sum(n["warm_from"] is not None for n in nights)
    summary["promoted_nights"] = sum(n["promoted"] for n in nights)
    summary["errors"] = sum(r["error"] is not None for r in arm_rows)
    return summary


def run_seed(signals: list, seed: int, args, save) -> dict:
    """Every signal with `model.seed` = `seed`; `save` is called with the results so far after each
    signal, so a run cut short keeps what it finished."""
    overrides = [*args.overrides, f"model.seed={seed}"]
    jobs = [(frame, windows, name, overrides, args.warm_start, args.days_step, args.max_nights)
            for _, name, frame, windows in signals]
    results: dict[str, dict[str, dict]] = {}
    pool = (ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn"))
            if args.workers > 1 else None)
    with pool or nullcontext():
        rows = (pool.map if pool else map)(rolling_signal, *zip(*jobs))
        for (category, name, _, _), row in zip(signals, rows):
            results.setdefault(category, {})[name] = row
            print(f"seed {seed} {category}/{name}: {row.get('nights', 0)} nights; "
                  + "; ".join(f"{arm} tp={row[arm]['tp']} fp={row[arm]['fp']} fn={row[arm]['fn']} "
                              f"train {row[arm]['seconds']:.1f}s {row[arm]['error'] or ''}" for arm in ARMS),
                  file=sys.stderr, flush=True)
            save(seed_result(results))
    return seed_result(results)


def seed_result(results: dict[str, dict[str, dict]]) -> dict:
    summary = {category: {arm: arm_summary(list(rows.values()), arm) for arm in ARMS}
               for category, rows in results.items()}
    return {"summary": summary, "signals": results}


def print_tables(by_seed: dict[int, dict]) -> None:
    """Per seed and category: F1 and VUS-PR of each arm, training seconds per night, warm and
    promoted nights; then, with two seeds or more, the cold arm's seed spread and whether each
    seed's warm F1 is within it of that seed's cold F1."""
    print(f"{'seed':<5}{'category':<24}{'F1 cold':>8}{'F1 warm':>8}{'tp/fp/fn cold':>14}{'tp/fp/fn warm':>14}"
          f"{'VUS cold':>9}{'VUS warm':>9}{'s/night cold':>13}{'s/night warm':>13}{'warm':>9}{'promoted c/w':>14}")
    for seed, result in by_seed.items():
        for category, arms in result["summary"].items():
            c, w = arms["cold"], arms["warm"]
            vus = [f"{s['vus_pr']:9.3f}" if not math.isnan(s["vus_pr"]) else f"{'-':>9}" for s in (c, w)]
            counts = [f"{s['tp']}/{s['fp']}/{s['fn']}" for s in (c, w)]
            print(f"{seed!s:<5}{category:<24}{c['f1']:8.3f}{w['f1']:8.3f}{counts[0]:>14}{counts[1]:>14}{vus[0]}{vus[1]}"
                  f"{c['train_seconds_per_night']:13.2f}{w['train_seconds_per_night']:13.2f}"
                  f"{w['warm_nights']:>5}/{w['nights']:<3}{c['promoted_nights']:>8}/{w['promoted_nights']:<5}")
    for seed, result in by_seed.items():
        per_night = {arm: sum(a[arm]["train_seconds_per_night"] * a[arm]["nights"] for a in result["summary"].values())
                     / max(1, sum(a[arm]["nights"] for a in result["summary"].values())) for arm in ARMS}
        print(f"seed {seed}, all categories: training {per_night['cold']:.2f} s/night cold, {per_night['warm']:.2f} "
              f"s/night warm (x{per_night['warm'] / per_night['cold']:.2f})")
    seeds = list(by_seed)
    if len(seeds) < 2:
        return
    print(f"seed spread: |F1 cold seed {seeds[0]} - seed {seeds[1]}|; warm within it: |F1 warm - F1 cold| of each "
          "seed no larger")
    for category in by_seed[seeds[0]]["summary"]:
        f1 = {seed: {arm: by_seed[seed]["summary"][category][arm]["f1"] for arm in ARMS} for seed in seeds}
        spread = abs(f1[seeds[0]]["cold"] - f1[seeds[1]]["cold"])
        gaps = [f1[seed]["warm"] - f1[seed]["cold"] for seed in seeds]
        within = all(abs(g) <= spread + 1e-9 for g in gaps)
        print(f"  {category:<24}spread {spread:.3f}  warm-cold " + " ".join(f"{g:+.3f}" for g in gaps)
              + f"  {'within' if within else 'OUTSIDE'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="NAB-layout folder: <category>/<name>.csv")
    parser.add_argument("--labels", type=Path, help="combined_windows.json")
    parser.add_argument("--categories", nargs="*")
    parser.add_argument("--seed", type=int, nargs="+", default=[7], help="model.seed; several run one after another")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="override a default in both arms, e.g. --set model.epochs=4")
    parser.add_argument("--warm-start", type=yaml.safe_load, default={},
                        help="the warm arm's model.warm_start mapping (default {}: every rule off)")
    parser.add_argument("--days-step", type=int, default=1, help="days landed per night")
    parser.add_argument("--max-nights", type=int, help="widen the step so a signal has at most this many nights")
    parser.add_argument("--max-signals", type=int, help="the first N signals of each category only")
    parser.add_argument("--workers", type=int, default=1, help="signals run at once, one process each")
    parser.add_argument("--json", type=Path, help="write per-signal, per-night results here")
    parser.add_argument("--tables", type=Path, nargs="+", help="print the tables of saved --json runs (say one "
                        "per seed, run at once) instead of running")
    args = parser.parse_args(argv)
    if args.tables:
        print_tables({seed: result for path in args.tables
                      for seed, result in json.loads(path.read_text())["seeds"].items()})
        return 0
    if args.data is None or args.labels is None:
        parser.error("--data and --labels are required to run")

    labels = json.loads(args.labels.read_text())
    signals = list(nab_signals(args.data, labels, args.categories))
    if args.max_signals:
        kept: dict[str, list] = {}
        for signal in signals:
            kept.setdefault(signal[0], [])
            if len(kept[signal[0]]) < args.max_signals:
                kept[signal[0]].append(signal)
        signals = [signal for chosen in kept.values() for signal in chosen]
    started, by_seed = time.perf_counter(), {}

    def save(seed: int, partial: dict) -> None:
        by_seed[seed] = partial
        if args.json:
            args.json.write_text(json.dumps({"overrides": args.overrides, "warm_start": args.warm_start,
                                             "days_step": args.days_step, "max_nights": args.max_nights,
                                             "max_signals": args.max_signals, "wall_seconds": time.perf_counter()
                                             - started, "seeds": by_seed}, indent=1, default=str))

    for seed in args.seed:
        run_seed(signals, seed, args, lambda partial, seed=seed: save(seed, partial))
    wall = time.perf_counter() - started
    print_tables(by_seed)
    print(f"{len(signals)} signals x {len(args.seed)} seed(s) in {wall:.0f} s wall time ({args.workers} worker "
          f"process(es)); warm arm model.warm_start={json.dumps(args.warm_start)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
