"""`nightwatch` command line: generate sample data, train, score, report, run the nightly flow, serve,
and show or reset a group's scoring state."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Set before prefect is imported (it reads its settings then) and only where the environment has no
# value, so a user's own choice wins: no TensorFlow banner, and no usage telemetry from Prefect's
# local server, which logs an ERROR on every command where it cannot be sent (an offline machine).
ENV_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
os.environ.update({name: value for name, value in ENV_DEFAULTS.items() if name not in os.environ})
AUDIT_LINES = 5  # resets `state show` lists, newest last


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


def _state(args: argparse.Namespace, command: argparse.ArgumentParser) -> int:
    """`state show|reset GROUP`: a plain admin command on the group's state file, which starts neither
    Prefect nor TensorFlow, so it works while a flow is broken or running. A group that is neither
    configured nor has a model, a state or published scores is refused (a typo would otherwise
    create a state file nobody reads)."""
    import json

    from pipeline import io
    from pipeline.config import load_settings

    settings = load_settings(args.config)
    data_root = settings.storage.data_root
    known = sorted({g.name for g in settings.groups} | set(io.published_groups(data_root, "scores"))
                   | set(io.model_groups(settings.storage.models_root)) | set(io.state_groups(data_root)))
    if args.group not in known:
        command.error(f"argument GROUP: no group {args.group!r} is configured, trained, scored or has a state "
                      f"(known: {', '.join(known) or 'none'})")
    to = None if args.action != "reset" or args.clear else _utc(args.to)
    now = _now()  # after `to`: `--to now` is not after it
    if args.action == "reset":
        try:
            print(json.dumps(io.reset_state(data_root, args.group, to, now, who="cli")))
        except ValueError as exc:
            command.error(f"argument --to: {exc}")
        return 0
    path, watermark = io.state_path(data_root, args.group), io.read_watermark(data_root, args.group)
    print(f"state of group {args.group!r}: {path}" +
          ("" if path.exists() else " (none: the next incremental run scores everything)"))
    for label, time in (("watermark", watermark), ("open since", io.read_open_since(data_root, args.group)),
                        ("newest score", io.newest_time(data_root, "scores", args.group, "timestamp"))):
        print(f"  {label:<13}{'-' if time is None else time}")
    if watermark is not None and watermark > now:
        print(f"  warning: the watermark is after now ({now:%Y-%m-%d %H:%M} UTC), so nothing before it is scored; "
              f"move it back with `nightwatch state reset {args.group} --to TIME`")
    lines = io.read_audit(data_root, args.group, AUDIT_LINES)
    print(f"resets: {io.audit_path(data_root, args.group)}" + ("" if lines else " (none)"))
    for line in lines:
        print(f"  {line}")
    return 0


def _config_file(value: str) -> str:
    """`--config` names a file that exists: a mistyped path must not run on defaults in this folder."""
    if not Path(value).is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value}")
    return value


def _time(value: str) -> str:
    """`--start`/`--end`: a time pandas reads (naive ones are UTC, as landed timestamps are)."""
    import pandas as pd

    try:
        time = pd.Timestamp(value)
    except ValueError:
        time = pd.NaT
    if time is pd.NaT:
        raise argparse.ArgumentTypeError(f"not a time: {value!r} (e.g. 2026-11-18 or 2026-11-18T06:00Z)")
    return value


def _group(value: str) -> str:
    """`state GROUP`: a usable group name (it names the state file), checked as configured names are."""
    from pipeline.config import ConfigError, check_name

    try:
        return check_name(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _utc(value: str):
    import pandas as pd

    time = pd.Timestamp(value)
    return time.tz_localize("UTC") if time.tzinfo is None else time.tz_convert("UTC")


def _now():
    import pandas as pd

    return pd.Timestamp.now(tz="UTC")


def _positive(value: str) -> int:
    """`--days`: a whole number of days, at least 1 (0 would show or write nothing)."""
    try:
        days = int(value)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of days, at least 1, got {value!r}")
    return days


def _check(parser: argparse.ArgumentParser, command: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse what no single option can check alone, before anything starts (`command`: the
    subcommand's parser, whose usage the error shows)."""
    if args.config is None and os.environ.get("NIGHTWATCH_CONFIG"):
        try:
            _config_file(os.environ["NIGHTWATCH_CONFIG"])
        except argparse.ArgumentTypeError as exc:
            parser.error(f"argument --config (from $NIGHTWATCH_CONFIG): {exc}")
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is not None and end is not None and _utc(start) > _utc(end):
        command.error(f"argument --start: {start} is after --end {end}")
    to = getattr(args, "to", None)
    if to is not None and _utc(to) > (now := _now()):
        command.error(f"argument --to: {to} is after now ({now:%Y-%m-%d %H:%M} UTC); group {args.group!r} "
                      "would score nothing until then")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nightwatch", description=__doc__)
    parser.add_argument("--config", type=_config_file,
                        help="settings YAML (default: $NIGHTWATCH_CONFIG or ./nightwatch.yaml)")
    config = argparse.ArgumentParser(add_help=False)  # every command also takes --config after its name
    config.add_argument("--config", type=_config_file, default=argparse.SUPPRESS, help="settings YAML")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", parents=[config], help="write sample metric parquet with injected anomalies")
    gen.add_argument("--days", type=_positive, default=21)
    gen.add_argument("--landing", help="landing folder (default: the configured data root's landing/)")
    sub.add_parser("train", parents=[config], help="train a model per metric group")
    score = sub.add_parser("score", parents=[config], help="score new data (or --start/--end for a backfill)")
    score.add_argument("--start", type=_time)
    score.add_argument("--end", type=_time)
    for name in ("report", "run"):
        cmd = sub.add_parser(name, parents=[config], help="write the ops report" if name == "report" else
                             "nightly flow: train, score, report")
        cmd.add_argument("--days", type=_positive, default=7, help="days of data the report shows per group")
    sub.add_parser("serve", parents=[config], help="serve all flows with their schedules in this process")
    state = sub.add_parser("state", parents=[config], help="show or reset a group's scoring watermark")
    actions = state.add_subparsers(dest="action", required=True)
    actions.add_parser("show", parents=[config], help="the state file, watermark, open interval, newest score, "
                       "last resets").add_argument("group", type=_group, metavar="GROUP")
    reset = actions.add_parser("reset", parents=[config], help="move the watermark back (logged in state/GROUP.log)")
    reset.add_argument("group", type=_group, metavar="GROUP")
    target = reset.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", type=_time, help="the new watermark: steps after it are scored again (UTC if naive)")
    target.add_argument("--clear", action="store_true", help="remove the state: the next run scores everything")
    args = parser.parse_args(argv)
    _check(parser, actions.choices[args.action] if args.command == "state" else sub.choices[args.command], args)
    if args.command == "generate":
        return _generate(args)
    if args.command == "state":
        return _state(args, actions.choices[args.action])
    if args.command == "serve":
        return _serve(args)
    return _run_flow(args)


if __name__ == "__main__":
    sys.exit(main())
