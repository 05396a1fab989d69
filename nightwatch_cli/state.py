"""`nightwatch state show|reset GROUP`: a plain admin command on the group's state file, which starts
neither Prefect nor TensorFlow, so it works while a flow is broken or running."""
from __future__ import annotations

import argparse
import json

from nightwatch_cli import args as types

AUDIT_LINES = 5  # resets `state show` lists, newest last


def add_parser(sub, config: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The `state` command and its actions' parsers, by action."""
    state = sub.add_parser("state", parents=[config], help="show or reset a group's scoring watermark")
    actions = state.add_subparsers(dest="action", required=True)
    actions.add_parser("show", parents=[config], help="the state file, watermark, open interval, newest score, "
                       "last resets").add_argument("group", type=types.group, metavar="GROUP")
    reset = actions.add_parser("reset", parents=[config], help="move the watermark back (logged in state/GROUP.log)")
    reset.add_argument("group", type=types.group, metavar="GROUP")
    target = reset.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", type=types.time, help="the new watermark: steps after it are scored again (UTC if naive)")
    target.add_argument("--clear", action="store_true", help="remove the state: the next run scores everything")
    return actions.choices


def check(args: argparse.Namespace, command: argparse.ArgumentParser) -> None:
    """`--to` after now would stop the group's scoring until then."""
    if getattr(args, "to", None) is not None and types.utc(args.to) > (now := types.now()):
        command.error(f"argument --to: {args.to} is after now ({now:%Y-%m-%d %H:%M} UTC); group {args.group!r} "
                      "would score nothing until then")


def run(args: argparse.Namespace, command: argparse.ArgumentParser) -> int:
    """Show or reset the state. A group that is neither configured nor has a model, a state or published
    scores is refused (a typo would otherwise create a state file nobody reads)."""
    from pipeline import io
    from nightwatch_cli.args import load_settings

    settings = load_settings(args.config)
    data_root = settings.storage.data_root
    known = types.known_groups(settings)
    if args.group not in known:
        command.error(f"argument GROUP: no group {args.group!r} is configured, trained, scored or has a state "
                      f"(known: {', '.join(known) or 'none'})")
    to = None if args.action != "reset" or args.clear else types.utc(args.to)
    now = types.now()  # after `to`: `--to now` is not after it
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
