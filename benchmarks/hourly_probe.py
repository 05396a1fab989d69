"""The hourly run's steady state without its flow: `score_group` for each group of a fleet kept by
`python -m benchmarks.fleet --keep DIR`, after each of N more hours lands as a file per group (hour
k: the fleet's `-h00` file with its times moved k hours on), as the hourly deployment finds them.

    python -m benchmarks.hourly_probe DIR [--hours 4] [--copies K] [--flow]

It works on a copy of DIR's warm arm (DIR stays as it is) and prints each hour's milliseconds
per group, then where the last hour's time went (`benchmarks.fleet`'s stages, each exclusive of
the others). Set against the fleet's hourly figure, what is left is the flow's own cost.
`--copies K` first replicates each group K times (`replicate`: a 100-group fleet kept, then
`--copies 10`, is an hourly run of 1,000 groups without training 1,000 models); `--flow` times
each hour through `score_flow`, as the hourly deployment runs it, instead of `score_group` alone.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import yaml

from benchmarks.fleet import profiled, quiet_environment, rss_mib
from benchmarks.fleet_profile import stage_lines


def copy_warm_arm(kept: Path, work: Path) -> str:
    """The warm arm's models and published data beside a copy of the landing; its config's path.
    The carried look-backs are moved to the copy's landing paths, so the first hour resumes them
    as the kept fleet's next hour would (else it reads and scores the days again)."""
    from pipeline.io.files import read_arrow, write_arrow_atomic

    shutil.copytree(kept / "landing", work / "landing")
    shutil.copytree(kept / "warm" / "data", work / "data", symlinks=True, ignore=shutil.ignore_patterns("landing"))
    (work / "data" / "landing").symlink_to(work / "landing")
    shutil.copytree(kept / "warm" / "models", work / "models")
    for path in (work / "data" / "lookback").glob("*.arrow"):  # carried look-backs name the copy's files
        table = read_arrow(path)
        moved = {key: value.replace(str(kept / "warm" / "data").encode(), str(work / "data").encode())
                 for key, value in table.schema.metadata.items()}
        write_arrow_atomic(table.replace_schema_metadata(moved), path)
    config = (kept / "warm" / "nightwatch.yaml").read_text().replace(str(kept / "warm"), str(work))
    (work / "nightwatch.yaml").write_text(config)
    return str(work / "nightwatch.yaml")


def replicate(work: Path, copies: int) -> int:
    """Each group of the copy `copies` - 1 times more, as `<name>c<k>`: its landing files (series
    renamed), model versions, published days, scoring state, carried look-back and configuration,
    so an hourly run of a fleet of thousands is measured without training each model. The fleet's
    names (`g0000`..) are no part of any other name or version, so they are replaced as text."""
    from pipeline.io.files import read_arrow, write_arrow_atomic

    path = work / "nightwatch.yaml"
    config = yaml.safe_load(path.read_text())
    originals = list(config["groups"])
    for k in range(1, copies):
        for entry in originals:
            name, new = entry["name"], f"{entry['name']}c{k}"
            for landed in [*(work / "landing").glob(f"fleet/*/{name}.parquet"),
                           *(work / "landing").glob(f"fleet/*/{name}-h*.parquet")]:
                table = pq.read_table(landed)
                table = table.rename_columns([c.replace(f"{name}.", f"{new}.") for c in table.column_names])
                pq.write_table(table, landed.with_name(landed.name.replace(name, new, 1)))
            shutil.copytree(work / "models" / name, work / "models" / new)
            for text in (*(work / "models" / new).glob("*/metadata.json"), work / "models" / new / "registry.log"):
                text.write_text(text.read_text().replace(name, new))
            for dataset in ("scores", "anomalies", "features"):
                if (work / "data" / dataset / f"group={name}").exists():
                    shutil.copytree(work / "data" / dataset / f"group={name}", work / "data" / dataset / f"group={new}")
            shutil.copy(work / "data" / "state" / f"{name}.json", work / "data" / "state" / f"{new}.json")
            carried = work / "data" / "lookback" / f"{name}.arrow"
            if carried.exists():
                table = read_arrow(carried)
                meta = {key: value.replace(f"/{name}".encode(), f"/{new}".encode()).replace(
                    f'"{name}.'.encode(), f'"{new}.'.encode()) for key, value in table.schema.metadata.items()}
                table = table.rename_columns([c.replace(f":{name}.", f":{new}.") for c in table.column_names])
                write_arrow_atomic(table.replace_schema_metadata(meta), carried.with_name(f"{new}.arrow"))
            config["groups"].append({**entry, "name": new, "metrics": [f"{new}.*"]})
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return len(config["groups"])


def land_hour(landing: Path, first_hours: list[Path], hour: int) -> None:
    """Each group's first hourly file again, `hour` hours later, in its day's folder."""
    for path in first_hours:
        frame = pd.read_parquet(path)
        frame["timestamp"] += pd.Timedelta(hours=hour)
        folder = landing / "fleet" / f"date={frame['timestamp'].iloc[0].date()}"
        folder.mkdir(exist_ok=True)
        frame.to_parquet(folder / path.name.replace("-h00", f"-h{hour:02d}"), index=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kept", type=Path, help="a folder `benchmarks.fleet --keep` left")
    parser.add_argument("--hours", type=int, default=4)
    parser.add_argument("--copies", type=int, default=1, help="each group this many times (`replicate`)")
    parser.add_argument("--flow", action="store_true", help="each hour through score_flow, as deployed")
    args = parser.parse_args(argv)
    quiet_environment()
    from pipeline import scoring
    from pipeline.catalog import discover, groups as resolve
    from pipeline.config import load_settings

    with tempfile.TemporaryDirectory(prefix="nightwatch-hourly-") as folder:
        work = Path(folder)
        config = copy_warm_arm(args.kept, work)
        if args.copies > 1:
            print(f"{replicate(work, args.copies)} groups: each of the kept fleet's {args.copies} times", flush=True)
        if args.flow:
            return flow_hours(work, config, args.hours)
        settings = load_settings(config)
        first_hours = sorted((work / "landing").glob("fleet/*/*-h00.parquet"))
        profile = profiled()
        profile.wrap(scoring, "score_group", "other (in score_group: rules, waits)")
        try:
            for hour in range(1, args.hours + 1):
                land_hour(work / "landing", first_hours, hour)
                catalog = discover(settings.storage.landing, now=pd.Timestamp.now("UTC") + pd.Timedelta(days=3650))
                groups = resolve(settings, catalog)
                profile.take()
                started = time.perf_counter()
                for group in groups:
                    scoring.score_group(settings, group, catalog, f"probe-{hour}", emit=lambda _: None)
                wall = time.perf_counter() - started
                print(f"hour {hour}: {1000 * wall / len(groups):.1f} ms per group ({len(groups)} groups)", flush=True)
            stages = profile.take()
        finally:
            profile.restore()
    print(f"hour {args.hours}, where the time went:")
    for line in stage_lines(stages, len(groups), wall):
        print(line)


def flow_hours(work: Path, config: str, hours: int) -> None:
    """Each hour landed, then scored by `score_flow` as the hourly deployment runs it (its task runs,
    threads and publishing), timed whole, with the process's RSS after it."""
    from flows.nightly import score_flow

    first_hours = sorted((work / "landing").glob("fleet/*/*-h00.parquet"))
    for hour in range(1, hours + 1):
        land_hour(work / "landing", first_hours, hour)
        started = time.perf_counter()
        result = score_flow(config)
        wall = time.perf_counter() - started
        if result["failed"]:
            raise RuntimeError(f"score_flow failed groups: {result['failed']}")
        groups = len(result["scored"])
        print(f"hour {hour}: {wall:.1f} s for {groups} groups ({1000 * wall / groups:.1f} ms per group); "
              f"RSS {rss_mib():.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
