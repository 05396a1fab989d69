"""`nightwatch models list|show|promote|pin|unpin`: operate the model registry by hand. Each change
is atomic, taken under the group's registry lock and recorded in its `registry.log` (what, when,
who, why), which `list` shows. Starts neither Prefect nor TensorFlow."""
from __future__ import annotations

import argparse
import getpass
import json

from nightwatch_cli import args as types

LOG_LINES = 8  # registry log lines `models list` shows per group, newest last


def add_parser(sub, config: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The `models` command and its actions' parsers, by action."""
    models = sub.add_parser("models", parents=[config], help="list, show, promote (or roll back), pin and unpin "
                            "model versions")
    actions = models.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[config], help="versions with training range, validation error, "
                                 "threshold and status, and the registry log")
    listing.add_argument("group", type=types.group, metavar="GROUP", nargs="?")
    actions.add_parser("show", parents=[config], help="one version's metadata and its log lines")
    for name, text in (("promote", "make VERSION current (also to roll back to an older one)"),
                       ("pin", "make VERSION current and keep it through nightly retraining until unpinned"),
                       ("unpin", "let the next training promote new versions again")):
        actions.add_parser(name, parents=[config], help=text)
    for name in ("show", "promote", "pin", "unpin"):
        actions.choices[name].add_argument("group", type=types.group, metavar="GROUP")
        if name != "unpin":
            actions.choices[name].add_argument("version", metavar="VERSION")
        if name != "show":
            actions.choices[name].add_argument("--why", default="", help="the reason, kept in the registry log")
            actions.choices[name].add_argument("--by", default=_user(), help="who (default: the login name)")
    return actions.choices


def check(args: argparse.Namespace, command: argparse.ArgumentParser) -> None:
    """Nothing to check beyond each argument's type before the registry is read."""


def run(args: argparse.Namespace, command: argparse.ArgumentParser) -> int:
    from pipeline import io
    from nightwatch_cli.args import load_settings

    root = load_settings(args.config).storage.models_root
    groups = io.model_groups(root)
    if args.group is not None and args.group not in groups:
        command.error(f"argument GROUP: group {args.group!r} has no models in {root} (groups: "
                      f"{', '.join(groups) or 'none'})")
    if args.action == "list":
        for group in [args.group] if args.group else groups:
            _list(root, group)
        return 0
    if args.action == "unpin":
        try:
            held = io.unpin_version(root, args.group, args.by, args.why)
        except ValueError as exc:
            command.error(str(exc))
        print(f"{args.group}: unpinned (was {held or 'an unreadable pin'}); the next training may promote a new "
              "version")
        return 0
    _usable(root, args.group, args.version, command)
    if args.action == "show":
        _show(root, args.group, args.version)
    elif args.action == "pin":
        io.pin_version(root, args.group, args.version, args.by, args.why)
        print(f"{args.group}: pinned to {args.version} (current); nightly training registers new versions "
              "without promoting them")
    elif io.current_version(root, args.group) == args.version:
        print(f"{args.group}: {args.version} is already current")
    else:
        try:
            io.set_current_version(root, args.group, args.version, who=args.by, why=args.why)
        except io.PinnedError as exc:
            command.error(str(exc))
        print(f"{args.group}: current version is now {args.version}")
    return 0


def _usable(root: str, group: str, version: str, command: argparse.ArgumentParser) -> None:
    """Refuse a version that is not registered, or whose metadata or model file scoring would refuse:
    promoting it would stop the group's scoring."""
    from pipeline import io
    from pipeline.config import ConfigError
    from pipeline.metadata import check_model_file, read_version

    known = io.versions(root, group)
    if version not in known:
        command.error(f"argument VERSION: group {group!r} has no version {version!r} (versions: "
                      f"{', '.join(known) or 'none'})")
    try:
        check_model_file(io.model_path(root, group, version), read_version(root, group, version))
    except ConfigError as exc:
        command.error(f"argument VERSION: {version} cannot be scored with: {exc}")


def _list(root: str, group: str) -> None:
    from pipeline import io

    current, pinned = _safe(io.current_version, root, group), _safe(io.pinned_version, root, group)
    log = io.read_log(root, group)
    ever = {entry.get("version") for entry in log if entry.get("action") in ("promote", "pin")} | {current}
    print(f"group {group}: current {current or '-'}" + (f", pinned to {pinned}" if pinned else ""))
    print(f"  {'VERSION':<28} {'TRAINED (UTC)':<17} {'DATA FROM .. TO (UTC)':<35} {'VAL_ERROR':>9} "
          f"{'THRESHOLD':>9}  STATUS")
    for version in io.versions(root, group):
        row = _row(root, group, version)
        status = ", ".join(filter(None, ["current" if version == current else "",
                                         "pinned" if version == pinned else "",
                                         "promoted before" if version in ever and version != current else "",
                                         row.pop("problem")])) or "never promoted"
        print(f"  {version:<28} {row['trained']:<17} {row['range']:<35} {row['val_error']:>9} {row['threshold']:>9}  "
              f"{status}")
    print(f"  registry log ({len(log)} entries{', last ' + str(LOG_LINES) if len(log) > LOG_LINES else ''}):")
    for entry in log[-LOG_LINES:]:
        print(f"    {_log_line(entry)}")


def _row(root: str, group: str, version: str) -> dict[str, str]:
    """A version's list cells, from its checked metadata; a broken one says why instead."""
    from pipeline import io
    from pipeline.config import ConfigError
    from pipeline.metadata import read_version

    meta = io.read_metadata(root, group, version) if _readable(root, group, version) else {}
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    row = {"trained": _minutes(meta.get("trained_at")), "val_error": "-", "threshold": "-", "problem": "",
           "range": f"{_minutes(training.get('start'))} .. {_minutes(training.get('end'))}"}
    try:
        stored = read_version(root, group, version)
    except ConfigError as exc:
        return {**row, "problem": f"unusable: {exc}"}
    threshold = stored.states.get("score", {}).get("threshold")
    return {**row, "val_error": f"{stored.val_error:.4f}", "threshold": "-" if threshold is None else f"{threshold:.4f}"}


def _show(root: str, group: str, version: str) -> None:
    from pipeline import io

    meta = io.read_metadata(root, group, version)
    print(f"group {group}, version {version}: {io.metadata_path(root, group, version).parent}")
    print(f"  current: {'yes' if _safe(io.current_version, root, group) == version else 'no'}; pinned: "
          f"{'yes' if _safe(io.pinned_version, root, group) == version else 'no'}")
    for key in ("trained_at", "run_id", "val_error", "metrics", "training", "states", "model_sha256", "libraries"):
        if key in meta:
            print(f"  {key}: {json.dumps(meta[key], sort_keys=True)}")
    config = meta.get("config", {})
    print(f"  config: {json.dumps({k: config.get(k) for k in ('interval', 'window', 'stride', 'model')}, sort_keys=True)}")
    print(f"  detection: {json.dumps(config.get('detection'), sort_keys=True)}")
    entries = [e for e in io.read_log(root, group) if e.get("version") == version or e.get("previous") == version]
    print(f"  registry log ({len(entries)} entries):")
    for entry in entries:
        print(f"    {_log_line(entry)}")


def _log_line(entry: dict) -> str:
    if entry.get("action") == "unreadable":
        return f"(unreadable line) {entry.get('line')}"
    previous = f" (was {entry.get('previous') or '-'})" if "previous" in entry else ""
    why = f": {entry['why']}" if entry.get("why") else ""
    return f"{entry.get('time')} {entry.get('action')} {entry.get('version') or '-'}{previous} by {entry.get('who')}{why}"


def _readable(root: str, group: str, version: str) -> bool:
    from pipeline import io
    from pipeline.config import ConfigError

    try:
        return isinstance(io.read_metadata(root, group, version), dict)
    except ConfigError:
        return False


def _safe(read, root: str, group: str) -> str | None:
    """A pointer or pin, or None where it is unreadable (listing must still show the versions)."""
    from pipeline.config import ConfigError

    try:
        return read(root, group)
    except ConfigError:
        return None


def _minutes(text) -> str:
    return "-" if not isinstance(text, str) else text.replace("T", " ")[:16]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"
