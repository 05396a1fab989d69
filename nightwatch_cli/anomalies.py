"""`nightwatch anomalies [--group G] [--since T] [--severity S]`: the published anomaly intervals
as a table, newest first, for triage in a terminal. Starts neither Prefect nor TensorFlow."""
from __future__ import annotations

import argparse

from nightwatch_cli import args as types

COLUMNS = ("group", "start", "end", "severity", "trigger", "peak_score", "threshold", "contributors")


def add_parser(sub, config: argparse.ArgumentParser) -> dict[None, argparse.ArgumentParser]:
    from pipeline.explain import SEVERITIES

    command = sub.add_parser("anomalies", parents=[config], help="the published anomaly intervals as a table")
    command.add_argument("--group", type=types.group, action="append", help="only this group (repeatable)")
    command.add_argument("--since", type=types.time, help="only intervals ending at or after this time (UTC if naive)")
    command.add_argument("--severity", choices=SEVERITIES, help="only intervals of at least this severity")
    return {None: command}


def check(args: argparse.Namespace, command: argparse.ArgumentParser) -> None:
    """Nothing to check beyond each argument's type before the datasets are read."""


def run(args: argparse.Namespace, command: argparse.ArgumentParser) -> int:
    import pandas as pd

    from pipeline import io
    from nightwatch_cli.args import load_settings
    from pipeline.explain import triage

    root = load_settings(args.config).storage.data_root
    published = io.published_groups(root, "anomalies")
    unknown = sorted(set(args.group or ()) - set(published))
    if unknown:
        command.error(f"argument --group: no published anomalies for {', '.join(unknown)} (groups with anomalies: "
                      f"{', '.join(published) or 'none'})")
    names = args.group or published
    frames = []
    for done, group in enumerate(names, start=1):
        frames.append(io.read_anomalies(root, group))
        types.progress(done, len(names), "groups read")
    found = [frame for frame in frames if not frame.empty]
    table = triage(pd.concat(found, ignore_index=True) if found else pd.DataFrame(),
                   types.utc(args.since) if args.since else None, args.severity)
    if table.empty:
        print("no anomaly intervals" + (" matching the filters" if args.since or args.severity else ""))
        return 0
    labelled = "label" in table.columns and table["label"].notna().any()
    columns = [c for c in COLUMNS if c in table.columns] + (["label"] if labelled else [])
    cells = [[_cell(row[c]) for c in columns] for _, row in table.iterrows()]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    print(f"{len(table)} intervals in {table['group'].nunique()} groups")
    return 0


def _cell(value) -> str:
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
