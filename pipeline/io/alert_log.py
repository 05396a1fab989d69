"""What was alerted per group: `<data_root>/state/alerts/<group>.json`, beside the watermarks,
written to a temp name and renamed, read and written under its own lock, so two runs of one group
never both send an alert."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.config import check_name
from pipeline.io.files import locked, write_json_atomic
from pipeline.io.store import ObjectPath, location


class AlertLogError(ValueError):
    """A sent log that cannot be read; the message names the file."""


def alert_log_path(data_root: str, group: str) -> Path | ObjectPath:
    return location(data_root) / "state" / "alerts" / f"{check_name(group)}.json"


@contextmanager
def alert_log_locked(data_root: str, group: str) -> Iterator[Path | ObjectPath]:
    """The group's sent log path, with its lock held (other runs of the group wait; written with
    `lock_held`: nothing to sweep)."""
    path = alert_log_path(data_root, group)
    with locked(path.parent / f".{group}.lock"):
        yield path


def read_alert_log(path: Path | ObjectPath) -> dict:
    """`{"since": time or None, "kept_from": time, "sent": {start: {destination: {end, severity,
    first_sent_at, ...}}}, "held": {start: true}}` (`pipeline.alerts`)."""
    if not path.exists():
        return {"since": None, "sent": {}}
    try:
        log = json.loads(path.read_text())
        if not isinstance(log, dict) or not isinstance(log.get("sent", {}), dict):
            raise ValueError("not a mapping with a 'sent' mapping")
        return log
    except ValueError as exc:
        raise AlertLogError(f"{path}: unreadable alert log ({exc}); remove it to start alerting afresh "
                            "from the next run's new steps") from None


def write_alert_log(path: Path | ObjectPath, log: dict) -> None:
    write_json_atomic(path, log, lock_held=True)

