"""Feedback labels on NAB: does a labelled false alarm stop the same behaviour alarming again,
without losing a labelled window?

    python -m benchmarks.feedback --data ../shared/datasets/nab/data \\
        --labels ../shared/datasets/nab/labels/combined_windows.json --workers 2 --json feedback.json

Each signal is run as `benchmarks.nab` runs it (the default configuration, trained on its whole
length, scored whole). Its first false interval (one overlapping no labelled window) is then
labelled `false-alarm` in the group's labels dataset and the signal is trained and scored again
in a fresh folder, as the next nightly run would, twice:

- `fa`: the false-alarm label alone. The model is the same (the training data and seed are: a
  false-alarm label changes only the calibration), so what moves is the rules' thresholds, and
  nothing protects the true windows.
- `fa+inc`: also every interval that overlapped a labelled window labelled `incident`, as an
  operator confirming the real alarms would: those are left out of training (a new model) and
  cap how far the false alarm raises each rule's thresholds.

Counted per category, before and after: false intervals starting after the labelled one ends,
and labelled windows found (overlapped by an interval) anywhere in the signal.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import pandas as pd

from benchmarks.nab import detect, nab_signals
from pipeline.labels import FALSE_ALARM, INCIDENT

CATEGORIES = ("artificialNoAnomaly", "artificialWithAnomaly", "realAWSCloudwatch", "realAdExchange", "realKnownCause")


def intervals_of(frame: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    return list(zip(frame["start"], frame["end"])) if not frame.empty else []


def overlaps(a: tuple, b: tuple) -> bool:
    return a[0] <= b[1] and a[1] >= b[0]


def judged(intervals: list, windows: list, after: pd.Timestamp | None) -> dict:
    """False intervals (overlapping no window) starting after `after`, and windows found."""
    false = [i for i in intervals if not any(overlaps(i, w) for w in windows)]
    return {"false_after": sum(1 for i in false if after is not None and i[0] > after), "false": len(false),
            "found": sum(1 for w in windows if any(overlaps(i, w) for i in intervals))}


def run_signal(frame: pd.DataFrame, windows: list, name: str, overrides: list[str]) -> dict:
    """Before and after labelling the signal's first false interval as a false alarm."""
    labelled = [(pd.Timestamp(w[0], tz="UTC"), pd.Timestamp(w[1], tz="UTC")) for w in windows]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nw-feedback-") as tmp:
        before = intervals_of(detect(frame, name, overrides, Path(tmp))[0])
    false = [i for i in before if not any(overlaps(i, w) for w in labelled)]
    row = {"windows": len(labelled), "label": None}
    if not false:
        row["before"] = row["fa"] = row["fa+inc"] = judged(before, labelled, None)
    else:
        first = min(false)
        row["label"] = [str(first[0]), str(first[1])]
        row["before"] = judged(before, labelled, first[1])
        confirmed = tuple((*i, INCIDENT) for i in before if any(overlaps(i, w) for w in labelled))
        for variant, extra in (("fa", ()), ("fa+inc", confirmed)):
            with tempfile.TemporaryDirectory(prefix="nw-feedback-") as tmp:
                after = intervals_of(detect(frame, name, overrides, Path(tmp), ((*first, FALSE_ALARM), *extra))[0])
            row[variant] = judged(after, labelled, first[1])
            row[f"{variant} quiet"] = not any(overlaps(i, first) for i in after)
    row["seconds"] = time.perf_counter() - started
    return row


VARIANTS = ("before", "fa", "fa+inc")


def table(results: dict[str, dict[str, dict]]) -> str:
    """Per category: signals, those with a false interval to label, how many of those labelled
    intervals no longer alarm, then false intervals after the label, windows found and all false
    intervals, each before / fa / fa+inc."""
    head = ("category", "signals", "labelled", "quiet fa / fa+inc", "false after label", "windows found",
            "all false intervals")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for category, rows in results.items():
        done = [r for r in rows.values() if r["label"] is not None]

        def three(key: str) -> str:
            return " / ".join(str(sum(r[v][key] for r in rows.values())) for v in VARIANTS)

        quiet = " / ".join(str(sum(r[f"{v} quiet"] for r in done)) for v in VARIANTS[1:])
        windows = sum(r["windows"] for r in rows.values())
        lines.append(f"| {category} | {len(rows)} | {len(done)} | {quiet} | {three('false_after')} | "
                     f"{three('found')} of {windows} | {three('false')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="NAB-layout folder: <category>/<name>.csv")
    parser.add_argument("--labels", type=Path, required=True, help="combined_windows.json")
    parser.add_argument("--categories", nargs="*", default=list(CATEGORIES))
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="override a default, e.g. --set model.seed=8")
    parser.add_argument("--workers", type=int, default=1, help="signals run at once, one process each")
    parser.add_argument("--json", type=Path, help="write per-signal results here")
    args = parser.parse_args(argv)
    signals = list(nab_signals(args.data, json.loads(args.labels.read_text()), args.categories))
    started = time.perf_counter()
    results: dict[str, dict[str, dict]] = {}
    spawn = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(args.workers, mp_context=spawn) if args.workers > 1 else None
    with pool or nullcontext():
        jobs = [(frame, windows, name, args.overrides) for _, name, frame, windows in signals]
        for (category, name, _, _), row in zip(signals, (pool.map if pool else map)(run_signal, *zip(*jobs))):
            results.setdefault(category, {})[name] = row
            print(f"{category}/{name}: label={row['label']} " + " ".join(f"{v}={row[v]}" for v in VARIANTS) + " "
                  f"{row['seconds']:.0f}s", file=sys.stderr, flush=True)
    print(table(results))
    print(f"{len(signals)} signals in {time.perf_counter() - started:.0f} s wall time ({args.workers} worker(s))")
    if args.json:
        args.json.write_text(json.dumps({"overrides": args.overrides, "signals": results}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
