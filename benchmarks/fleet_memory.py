"""Peak memory of one nightly flow run against the fleet's size (issue 23).

    python -m benchmarks.fleet_memory [--groups 100 200 400] [--days 14] [--epochs 3]

The deployments run on a process work pool, which starts a fresh process for each flow run: what
must stay flat as a fleet grows is one flow run's peak. (`benchmarks.fleet` runs both nights and
the hourly run in one process, and its peak RSS is the high point of all five flow runs.) For
each size, `benchmarks.fleet`'s groups land `--days` days in a folder of their own; then
`train_flow` and `score_flow` each run in a fresh process that reports its peak RSS, its RSS at
the end and the decoded landing row groups it kept for a next read (bounded by
`pipeline.io.landing_reads.DECODED_BUDGET`). The last lines set the largest size against the
smallest: the peak's change, and the end-of-run RSS per group beyond what the reads keep.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.fleet import END, fleet_frame, group_name, land, quiet_environment, rss_mib, write_config


def land_fleet(folder: Path, groups: int, days: int, epochs: int | None) -> str:
    """`groups` fleet groups' `days` days landed under `folder`; the path of their configuration."""
    index = pd.date_range(end=END, periods=days * 288, freq="5min", inclusive="left")
    names = [group_name(i) for i in range(groups)]
    land(folder / "landing", {name: fleet_frame(i, index)[0] for i, name in enumerate(names)}, index[0], END, "")
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "landing").symlink_to((folder / "landing").resolve())
    return write_config(folder, names, warm=False, epochs=epochs)


def run_flow(flow_name: str, config: str) -> dict:
    """One flow run in this process (a fresh one): its seconds, peak and final RSS (MiB), and the
    decoded row groups it kept (MiB)."""
    from flows.nightly import score_flow, train_flow
    from pipeline.io import landing_reads

    started = time.perf_counter()
    result = {"train": train_flow, "score": score_flow}[flow_name](config)
    if result["failed"]:
        raise RuntimeError(f"{flow_name}_flow failed groups: {result['failed']}")
    return {"seconds": time.perf_counter() - started, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "end": rss_mib(), "decoded": landing_reads._DECODED.held / 2**20}


def in_fresh_process(flow_name: str, config: str) -> dict:
    """`run_flow` in a child process, as a process worker runs a flow run."""
    code = f"import json; from benchmarks.fleet_memory import run_flow; print(json.dumps(run_flow({flow_name!r}, {config!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    if out.returncode != 0:
        raise RuntimeError(f"{flow_name}_flow on {config} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def growth_lines(rows: dict[int, dict[str, dict]]) -> list[str]:
    """The largest size against the smallest, per flow: the peak's change and the end-of-run RSS per
    group beyond the decoded row groups the reads keep (bounded)."""
    small, large = min(rows), max(rows)
    lines = []
    for flow_name in ("train", "score"):
        a, b = rows[small][flow_name], rows[large][flow_name]
        per_group = ((b["end"] - b["decoded"]) - (a["end"] - a["decoded"])) / (large - small)
        lines.append(f"{flow_name}_flow: peak {a['peak']:.0f} -> {b['peak']:.0f} MiB "
                     f"({100 * (b['peak'] / a['peak'] - 1):+.1f}%) from {small} to {large} groups; "
                     f"RSS at the end less the kept row groups: {per_group * 1024:+.0f} KiB per group")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--epochs", type=int, default=3, help="model.epochs (the default's 12 only take longer)")
    args = parser.parse_args(argv)
    if len(args.groups) < 2:
        parser.error("--groups: give at least two sizes to compare")
    quiet_environment()
    os.environ.setdefault("NIGHTWATCH_WORKERS", "2")
    work = Path(tempfile.mkdtemp(prefix="nightwatch-fleet-memory-"))
    rows = {}
    print(f"one flow run per fresh process; {args.days} days at 5 min, model.epochs {args.epochs}, "
          f"{os.environ['NIGHTWATCH_WORKERS']} workers")
    print(f"{'groups':>7}{'flow':>7}{'seconds':>9}{'peak MiB':>10}{'end MiB':>9}{'kept reads MiB':>16}")
    try:
        for groups in sorted(set(args.groups)):
            config = land_fleet(work / f"g{groups}", groups, args.days, args.epochs)
            rows[groups] = {}
            for flow_name in ("train", "score"):
                found = rows[groups][flow_name] = in_fresh_process(flow_name, config)
                print(f"{groups:7d}{flow_name:>7}{found['seconds']:9.0f}{found['peak']:10.0f}{found['end']:9.0f}"
                      f"{found['decoded']:16.0f}", flush=True)
            shutil.rmtree(work / f"g{groups}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for line in growth_lines(rows):
        print(line)


if __name__ == "__main__":
    main()
