"""Signal-by-signal comparison of two `benchmarks.nab --json` files: the detected intervals
with their top metric and trigger, and the tp/fp/fn counts.

    python -m benchmarks.compare before.json after.json

Exit code 0 when every signal in both files detected the same intervals with the same
triggers, 1 otherwise (the differing signals are listed).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def signals(path: Path) -> dict[str, dict]:
    """`category/name` -> the signal's row, from a benchmark JSON file."""
    results = json.loads(path.read_text())["signals"]
    return {f"{category}/{name}": row for category, rows in results.items() for name, row in rows.items()}


def differences(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """One line per signal whose intervals, triggers or counts differ (or that only one file has)."""
    lines = []
    for key in sorted(set(before) | set(after)):
        if key not in before or key not in after:
            lines.append(f"{key}: only in {'after' if key in after else 'before'}")
            continue
        old, new = before[key], after[key]
        counts = [(c, old[c], new[c]) for c in ("tp", "fp", "fn") if old[c] != new[c]]
        if old["detected"] != new["detected"] or counts or old.get("error") != new.get("error"):
            lost = [d for d in old["detected"] if d not in new["detected"]]
            gained = [d for d in new["detected"] if d not in old["detected"]]
            lines.append(f"{key}: counts {counts}; lost {lost}; gained {gained}; errors {old.get('error')!r} -> "
                         f"{new.get('error')!r}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    before, after = signals(args.before), signals(args.after)
    lines = differences(before, after)
    for line in lines:
        print(line)
    intervals = sum(len(row["detected"]) for row in after.values())
    print(f"{len(set(before) & set(after))} signals compared, {intervals} intervals after; "
          f"{len(lines)} differ")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
