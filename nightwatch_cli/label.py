"""`nightwatch label GROUP START END --as incident|false-alarm [--note TEXT] [--by NAME]`: append an
operator's verdict to the group's labels dataset; with `--remove [--as KIND]`, withdraw the labels
lying in [START, END]. It takes effect at the group's next training (a confirmed incident is left
out of its training range, a false alarm raises the thresholds that flagged it); it starts neither
Prefect nor TensorFlow."""
from __future__ import annotations

import argparse
import json

from nightwatch_cli import args as types

KINDS = ("incident", "false-alarm")  # pipeline.labels.KINDS, without importing pandas to build the parser


def add_parser(sub, config: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The `label` command; it has one parser (`--remove` withdraws instead of adding)."""
    label = sub.add_parser("label", parents=[config], help="label a group's time range as an incident or a false "
                           "alarm (used at its next training)")
    label.add_argument("group", type=types.group, metavar="GROUP")
    label.add_argument("first", type=types.time, metavar="START", help="first labelled time (UTC if naive)")
    label.add_argument("last", type=types.time, metavar="END", help="last labelled time, inclusive (UTC if naive)")
    label.add_argument("--as", dest="kind", choices=KINDS,
                       help="incident: left out of the next training; false-alarm: the next calibration stays quiet "
                       "on it (with --remove: only labels of this kind)")
    label.add_argument("--note", default="", help="free text kept with the label (a ticket, a reason)")
    label.add_argument("--by", help="who labels (default: the login name)")
    label.add_argument("--remove", action="store_true", help="withdraw the labels whose range lies in [START, END] "
                       "instead (a wrong verdict)")
    label.set_defaults(action="add")
    return {"add": label}


def check(args: argparse.Namespace, command: argparse.ArgumentParser) -> None:
    """END before START would label nothing (`first`/`last`: not `start`/`end`, which the shared check
    reads as `--start`/`--end`)."""
    if types.utc(args.last) < types.utc(args.first):
        command.error(f"argument END: {args.last} is before START {args.first}")
    if args.kind is None and not args.remove:
        command.error("the following arguments are required: --as")
    if args.remove and (args.note or args.by):
        command.error("argument --remove: --note and --by describe a new label; a removal takes none")


def run(args: argparse.Namespace, command: argparse.ArgumentParser) -> int:
    """Append the label and print its row, or remove labels and print theirs (exit 1 if none lies
    in the range). A group that is neither configured nor has a model, a state or published
    scores is refused (a typo's label would never be read)."""
    from pipeline import io
    from nightwatch_cli.args import load_settings

    settings = load_settings(args.config)
    known = types.known_groups(settings)
    if args.group not in known:
        command.error(f"argument GROUP: no group {args.group!r} is configured, trained, scored or has a state "
                      f"(known: {', '.join(known) or 'none'})")
    path = io.labels_path(settings.storage.data_root, args.group)
    if args.remove:
        removed = io.remove_labels(settings.storage.data_root, args.group, types.utc(args.first), types.utc(args.last),
                                   args.kind)
        for row in removed.to_dict("records"):
            print(json.dumps({key: str(value) for key, value in row.items()}))
        if removed.empty:
            print(f"no {args.kind + ' ' if args.kind else ''}label of {args.group} lies in {args.first} .. "
                  f"{args.last}; nothing removed")
            return 1
        print(f"removed {len(removed)} label(s) from {path}; {args.group}'s next training goes without them")
        return 0
    row = io.add_label(settings.storage.data_root, args.group, types.utc(args.first), types.utc(args.last), args.kind,
                       args.note, args.by)
    print(json.dumps({key: str(value) for key, value in row.items()}))
    print(f"labelled in {path}; used at {args.group}'s next training")
    return 0
