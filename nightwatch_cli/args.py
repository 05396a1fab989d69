"""Argument types and times shared by the subcommands: each refuses a bad value with argparse's
exit 2 and a message naming it, before anything starts."""
from __future__ import annotations

import argparse
from pathlib import Path


def config_file(value: str) -> str:
    """`--config` names a file that exists: a mistyped path must not run on defaults in this folder."""
    if not Path(value).is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value}")
    return value


def time(value: str) -> str:
    """An ISO 8601 time (naive ones are UTC, as landed timestamps are). Other formats are refused,
    as in landed data: a guessed one would read 05/12/2026 as May 12th without a word."""
    try:
        parsed = _iso(value)
    except (ValueError, TypeError, OverflowError):
        parsed = None
    if parsed is None or parsed != parsed:  # NaT
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r} (e.g. 2026-11-18 or 2026-11-18T06:00Z)")
    return value


def _iso(value: str):
    import pandas as pd

    return pd.to_datetime(value, format="ISO8601")


def group(value: str) -> str:
    """A usable group name (it names files), checked as configured names are."""
    from pipeline.config import ConfigError, check_name

    try:
        return check_name(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive(value: str) -> int:
    """`--days`: a whole number of days, at least 1 (0 would show or write nothing)."""
    try:
        days = int(value)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of days, at least 1, got {value!r}")
    return days


def utc(value: str):
    parsed = _iso(value)
    return parsed.tz_localize("UTC") if parsed.tzinfo is None else parsed.tz_convert("UTC")


def now():
    import pandas as pd

    return pd.Timestamp.now(tz="UTC")


def load_settings(config: str | None):
    """The settings, with their storage options applied to fsspec (object-store roots)."""
    from pipeline import io
    from pipeline.config import load_settings as load

    settings = load(config)
    io.use_storage(settings.storage)
    return settings


def known_groups(settings) -> list[str]:
    """Groups that are configured, trained, scored or have a state: a name outside these is a typo."""
    from pipeline import io

    data_root = settings.storage.data_root
    return sorted({g.name for g in settings.groups} | set(io.published_groups(data_root, "scores"))
                  | set(io.model_groups(settings.storage.models_root)) | set(io.state_groups(data_root)))


def progress(done: int, total: int, what: str) -> None:
    """`done/total what` on one terminal line of stderr, rewritten as it grows; silent when stderr is
    not a terminal (a log or a pipe)."""
    import sys

    if sys.stderr.isatty():
        sys.stderr.write(f"\r{done}/{total} {what}" + ("\n" if done == total else ""))
        sys.stderr.flush()
