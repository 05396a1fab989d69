"""The labels dataset: `<data_root>/labels/<group>.parquet`, one row per label, appended, and
removed only by an operator withdrawing one. A change reads the file, adds or drops rows and
writes a temp name renamed into place, all under the folder's lock, so two operators labelling at
once both keep their row and a reader never sees a half-written file."""
from __future__ import annotations

import getpass
import os
from pathlib import Path

import pandas as pd

from pipeline.config import check_name
from pipeline.io.files import LOCK, locked, read_parquet, sweep, write_parquet_atomic
from pipeline.io.published import read_dataset
from pipeline.io.store import ObjectPath, location
from pipeline.labels import COLUMNS, empty, interval_labels, label_row, within


def labels_path(data_root: str, group: str) -> Path | ObjectPath:
    return location(data_root) / "labels" / f"{check_name(group)}.parquet"


def read_labels(data_root: str, group: str) -> pd.DataFrame:
    """The group's labels, oldest first (none: an empty frame with the columns). A file that cannot
    be read is a ValueError naming it, so that group's training fails alone rather than learning a
    labelled incident as normal."""
    path = labels_path(data_root, group)
    if not path.exists():
        return empty()
    try:
        frame = read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
        raise ValueError(f"{path}: unreadable labels ({type(exc).__name__}: {exc})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: labels without column(s) {', '.join(missing)}")
    return frame[list(COLUMNS)]


def default_user() -> str:
    """Who labels when `by` is not given: the login name (`$USER` where the OS cannot tell)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def add_label(data_root: str, group: str, start, end, kind: str, note: str | None = None, by: str | None = None,
              at: pd.Timestamp | None = None) -> dict:
    """Append one label (`kind`: incident or false-alarm; times UTC if naive) to the group's labels
    and return its row. ValueError for an end before the start or an unknown kind; nothing is
    written then. It takes effect at the group's next training."""
    row = label_row(group, start, end, kind, note, by or default_user(),
                    pd.Timestamp.now(tz="UTC") if at is None else at)
    path = labels_path(data_root, group)
    with locked(path.parent / LOCK):
        sweep(path.parent, f".tmp-{path.name}-*")
        old = read_labels(data_root, group)
        new = pd.DataFrame([row]).astype(empty().dtypes.to_dict())
        write_parquet_atomic(pd.concat([old, new], ignore_index=True) if len(old) else new, path)
    return row


def remove_labels(data_root: str, group: str, start, end, kind: str | None = None) -> pd.DataFrame:
    """Remove the group's labels (of `kind`, or any) whose range lies in [start, end] (a wrong
    verdict: a false alarm labelled on a real incident raises thresholds until withdrawn) and
    return them; nothing is written when none does. It takes effect at the group's next training."""
    path = labels_path(data_root, group)
    with locked(path.parent / LOCK):
        sweep(path.parent, f".tmp-{path.name}-*")
        labels = read_labels(data_root, group)
        removed = within(labels, start, end, kind)
        if removed.any():
            write_parquet_atomic(labels[~removed].reset_index(drop=True), path)
    return labels[removed].reset_index(drop=True)


def read_anomalies(data_root: str, group: str) -> pd.DataFrame:
    """The group's published anomaly intervals with a `label` column: the newest label overlapping
    each (missing where none does). Joined when read, not stored, as a verdict usually comes after
    its interval is published and must show at once."""
    anomalies = read_dataset(data_root, "anomalies", group)
    if anomalies.empty:
        return anomalies
    return anomalies.assign(label=interval_labels(anomalies, read_labels(data_root, group)))
