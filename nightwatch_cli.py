"""`nightwatch` command line: generate sample data, train, score, report, run the nightly flow, serve."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _generate(args: argparse.Namespace) -> int:
    from pipeline import io
    from pipeline.config import load_settings
    from pipeline.sample_data import landing_files

    landing = Path(args.landing or load_settings(args.config).storage.landing)
    files, injected = landing_files(days=args.days)
    for rel, frame in files.items():
        io.write_parquet_atomic(frame, landing / rel)
    print(f"wrote {len(files)} parquet files under {landing}")
    for item in injected:
        print(f"  injected {item.kind:<12} {item.group}: {','.join(item.metrics)} {item.start} .. {item.end}")
    return 0


def _print_outputs(config: str | None) -> None:
    from pipeline.config import load_settings

    storage = load_settings(config).storage
    print("\noutputs:")
    for name in ("scores", "anomalies", "features", "reports"):
        print(f"  {name:<10} {Path(storage.data_root) / name}")
    print(f"  {'models':<10} {storage.models_root}")


def _run_flow(args: argparse.Namespace) -> int:
    from flows.nightly import nightly_flow, report_flow, score_flow, train_flow

    if args.command == "train":
        result = train_flow(args.config)
        ok = not result["failed"]
    elif args.command == "score":
        result = score_flow(args.config, args.start, args.end)
        ok = not result["failed"]
    elif args.command == "report":
        print(report_flow(args.config, args.days))
        ok = True
    else:
        state = nightly_flow(args.config, args.days, return_state=True)
        print(f"\nnightly flow: {state.name}: {state.message}")
        ok = state.is_completed()
    _print_outputs(args.config)
    return 0 if ok else 1


def _serve(args: argparse.Namespace) -> int:
    from prefect import serve

    from flows.nightly import nightly_flow, report_flow, score_flow, train_flow

    params = {"config": args.config}
    serve(nightly_flow.to_deployment("nightwatch-nightly", parameters=params),
          train_flow.to_deployment("nightwatch-train", cron="0 2 * * *", parameters=params),
          score_flow.to_deployment("nightwatch-score", cron="15 * * * *", parameters=params),
          report_flow.to_deployment("nightwatch-report", cron="0 7 * * *", parameters=params))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nightwatch", description=__doc__)
    parser.add_argument("--config", help="settings YAML (default: $NIGHTWATCH_CONFIG or ./nightwatch.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write sample metric parquet with injected anomalies")
    gen.add_argument("--days", type=int, default=21)
    gen.add_argument("--landing", help="landing folder (default: the configured data root's landing/)")
    sub.add_parser("train", help="train a model per metric group")
    score = sub.add_parser("score", help="score new data (or --start/--end for a backfill)")
    score.add_argument("--start")
    score.add_argument("--end")
    for name in ("report", "run"):
        cmd = sub.add_parser(name, help="write the ops report" if name == "report" else
                             "nightly flow: train, score, report")
        cmd.add_argument("--days", type=int, default=7, help="days of data the report shows per group")
    sub.add_parser("serve", help="serve all flows with their schedules in this process")
    args = parser.parse_args(argv)
    if args.command == "generate":
        return _generate(args)
    if args.command == "serve":
        return _serve(args)
    return _run_flow(args)


if __name__ == "__main__":
    sys.exit(main())
