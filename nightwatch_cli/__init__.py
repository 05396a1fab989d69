"""`nightwatch` command line: generate sample data, train, score, report, run the nightly flow, serve;
the commands on stored data (a group's scoring state, ...) are one module each in this package."""
from __future__ import annotations

import argparse
import os

# Set before prefect is imported (it reads its settings then) and only where the environment has no
# value, so a user's own choice wins: no TensorFlow banner, and no usage telemetry from Prefect's
# local server, which logs an ERROR on every command where it cannot be sent (an offline machine).
ENV_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
os.environ.update({name: value for name, value in ENV_DEFAULTS.items() if name not in os.environ})

# after the environment is set: nothing imported here imports prefect
from nightwatch_cli import anomalies, args as types, explain, label, models, state  # noqa: E402

# commands on stored data, by name: a module with add_parser, check and run each
ADMIN = {"state": state, "models": models, "label": label, "anomalies": anomalies, "explain": explain}


def _generate(args: argparse.Namespace) -> int:
    from pipeline import io
    from nightwatch_cli.args import load_settings
    from pipeline.sample_data import landing_files

    landing = io.location(args.landing or load_settings(args.config).storage.landing)
    files, injected = landing_files(days=args.days)
    for rel, frame in files.items():
        io.write_parquet_atomic(frame, landing / rel)
    print(f"wrote {len(files)} parquet files under {landing}")
    for item in injected:
        print(f"  injected {item.kind:<12} {item.group}: {','.join(item.metrics)} {item.start} .. {item.end}")
    return 0


def _print_outputs(config: str | None) -> None:
    from nightwatch_cli.args import load_settings
    from pipeline import io

    storage = load_settings(config).storage
    print("\noutputs:")
    for name in ("scores", "anomalies", "features", "reports"):
        print(f"  {name:<10} {io.location(storage.data_root) / name}")
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


def _check(parser: argparse.ArgumentParser, command: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse what no single option can check alone, before anything starts (`command`: the
    subcommand's parser, whose usage the error shows)."""
    if args.config is None and os.environ.get("NIGHTWATCH_CONFIG"):
        try:
            types.config_file(os.environ["NIGHTWATCH_CONFIG"])
        except argparse.ArgumentTypeError as exc:
            parser.error(f"argument --config (from $NIGHTWATCH_CONFIG): {exc}")
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is not None and end is not None and types.utc(start) > types.utc(end):
        command.error(f"argument --start: {start} is after --end {end}")


def _check_settings(command: argparse.ArgumentParser, config: str | None) -> None:
    """A flow command's settings are read before Prefect and TensorFlow start: a bad key is one line
    and exit code 2, as a bad argument is, not a failed flow run's tracebacks."""
    from pipeline.config import load_settings
    from pipeline.config_build import ConfigError

    try:
        load_settings(config)
    except ConfigError as exc:
        command.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nightwatch", description=__doc__)
    parser.add_argument("--config", type=types.config_file,
                        help="settings YAML (default: $NIGHTWATCH_CONFIG or ./nightwatch.yaml)")
    config = argparse.ArgumentParser(add_help=False)  # every command also takes --config after its name
    config.add_argument("--config", type=types.config_file, default=argparse.SUPPRESS, help="settings YAML")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", parents=[config], help="write sample metric parquet with injected anomalies")
    gen.add_argument("--days", type=types.positive, default=21)
    gen.add_argument("--landing", help="landing folder (default: the configured data root's landing/)")
    sub.add_parser("train", parents=[config], help="train a model per metric group")
    score = sub.add_parser("score", parents=[config], help="score new data (or --start/--end for a backfill)")
    score.add_argument("--start", type=types.time)
    score.add_argument("--end", type=types.time)
    for name in ("report", "run"):
        cmd = sub.add_parser(name, parents=[config], help="write the ops report" if name == "report" else
                             "nightly flow: train, score, report")
        cmd.add_argument("--days", type=types.positive, default=7, help="days of data the report shows per group")
    sub.add_parser("serve", parents=[config], help="serve all flows with their schedules in this process")
    admin = {name: module.add_parser(sub, config) for name, module in ADMIN.items()}
    args = parser.parse_args(argv)
    if args.command in ADMIN:
        command = admin[args.command][getattr(args, "action", None)]
        _check(parser, command, args)
        ADMIN[args.command].check(args, command)
        return ADMIN[args.command].run(args, command)
    _check(parser, sub.choices[args.command], args)
    if args.command != "generate":
        _check_settings(sub.choices[args.command], args.config)
    if args.command == "generate":
        return _generate(args)
    if args.command == "serve":
        return _serve(args)
    return _run_flow(args)
