"""`nightwatch explain GROUP TIME`: for the anomaly interval holding TIME, which rules fired, each
metric's share of the error and its peak score, and the scores against the version's thresholds,
read from the published rows and the version's metadata (no model is loaded)."""
from __future__ import annotations

import argparse

from nightwatch_cli import args as types


def add_parser(sub, config: argparse.ArgumentParser) -> dict[None, argparse.ArgumentParser]:
    command = sub.add_parser("explain", parents=[config], help="why the interval at TIME is anomalous")
    command.add_argument("group", type=types.group, metavar="GROUP")
    command.add_argument("time", type=types.time, metavar="TIME", help="a time inside the interval (UTC if naive)")
    return {None: command}


def check(args: argparse.Namespace, command: argparse.ArgumentParser) -> None:
    """Nothing to check beyond each argument's type before the datasets are read."""


def run(args: argparse.Namespace, command: argparse.ArgumentParser) -> int:
    from pipeline import io
    from nightwatch_cli.args import load_settings
    from pipeline.config import ConfigError, group_to_dict
    from pipeline.explain import contributions, interval_at, rule_lines

    storage = load_settings(args.config).storage
    if args.group not in io.published_groups(storage.data_root, "scores"):
        command.error(f"argument GROUP: group {args.group!r} has no published scores")
    time = types.utc(args.time)
    anomalies = io.read_anomalies(storage.data_root, args.group)
    interval = interval_at(anomalies, time)
    if interval is None:
        _no_interval(storage.data_root, args.group, time, anomalies)
        return 0
    start, end = interval["start"], interval["end"]
    print(f"{args.group}: {interval['severity']} anomaly {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC "
          f"({interval['n_points']} flagged steps), trigger {interval['trigger']}, model {interval['model_version']}")
    if "label" in interval.index and isinstance(interval["label"], str):
        print(f"  labelled: {interval['label']}")
    print(f"  peak score {interval['peak_score']:.3f} at {interval['peak_time']:%Y-%m-%d %H:%M}, "
          f"threshold {interval['threshold']:.3f}")
    print("  rules (version's settings and fitted state):")
    try:
        stored = _version(storage.models_root, args.group, str(interval["model_version"]))
        for line in rule_lines(interval["trigger"], group_to_dict(stored.config)["detection"], stored.states,
                               float(interval["peak_score"])):
            print(f"    {line}")
    except (ConfigError, FileNotFoundError) as exc:
        print(f"    (version {interval['model_version']} cannot be read: {exc})")
    scores = io.read_dataset(storage.data_root, "scores", args.group, since=start)
    print("  metrics (share of the interval's error; peak metric score, 1 = its usual error in training):")
    for _, row in contributions(scores, start, end).iterrows():
        filled = f", {row['imputed_steps']} steps filled" if row["imputed_steps"] else ""
        print(f"    {row['metric']:<32} {row['share']:>5.0%}  peak {row['peak_metric_score']:8.3f} at "
              f"{row['peak_time']:%Y-%m-%d %H:%M} (value {row['value_at_peak']:.4g}){filled}")
    return 0


def _version(models_root: str, group: str, version: str):
    from pipeline.metadata import read_version

    return read_version(models_root, group, version)


def _no_interval(data_root: str, group: str, time, anomalies) -> None:
    """No interval holds `time`: its score against the threshold then, and the nearest intervals."""
    from pipeline import io

    scores = io.read_dataset(data_root, "scores", group, since=time.floor("D"))
    at = scores[scores["timestamp"] == time] if not scores.empty else scores
    if at.empty:
        print(f"{group}: no anomaly interval holds {time:%Y-%m-%d %H:%M} UTC, and no score was published then")
    else:
        row = at.iloc[0]
        print(f"{group}: no anomaly interval holds {time:%Y-%m-%d %H:%M} UTC: score {row['score']:.3f}, threshold "
              f"{row['threshold']:.3f}")
    if not anomalies.empty:
        gaps = (anomalies["start"] - time).abs().combine((anomalies["end"] - time).abs(), min)
        for _, near in anomalies.loc[gaps.sort_values().index[:3]].sort_values("start").iterrows():
            print(f"  nearby: {near['start']:%Y-%m-%d %H:%M} .. {near['end']:%Y-%m-%d %H:%M} {near['severity']} "
                  f"({near['trigger']})")
