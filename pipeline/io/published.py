"""Published datasets (scores, anomalies, features) as hive partitions, scoring state, reports."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import check_name
from pipeline.io.files import (LOCK, append_line, locked, read_arrow, read_parquet, read_table, remove, sweep,
                                write_arrow_atomic, write_bytes_atomic, write_json_atomic, write_table_atomic)
from pipeline.io.store import ObjectPath, location


def dataset_dir(data_root: str, dataset: str, group: str) -> Path | ObjectPath:
    return location(data_root) / dataset / f"group={check_name(group)}"


def upsert_partitions(data_root: str, dataset: str, group: str, rows: pd.DataFrame | pa.Table, time_column: str,
                      start: pd.Timestamp, end: pd.Timestamp) -> list[Path | ObjectPath]:
    """Replace rows with `time_column` in [start, end] by `rows`, one file per date partition.

    Rerunning for the same range rewrites the same rows, so publishing is idempotent. As in
    any hive layout, the `group` column lives in the folder name, not in the files. Rows stay in
    Arrow from end to end (an hourly run's merge with its day costs what its bytes cost, not
    pandas' per-column overhead); a day replaced whole is written without reading back.
    """
    base = dataset_dir(data_root, dataset, group)
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False, nthreads=1)
    if "group" in table.column_names:
        table = table.drop_columns(["group"])
    times = _micros(table.column(time_column))
    if np.any(times[1:] < times[:-1]):
        table = table.sort_by(time_column)  # a stable sort
        times = _micros(table.column(time_column))
    edges = pd.date_range(start.floor("D"), end.floor("D") + pd.Timedelta(days=1), freq="D")
    days, bounds = edges[:-1], np.searchsorted(times, _micros(edges))
    written = []
    with locked(base / LOCK):
        for day, first, stop in zip(days, bounds[:-1], bounds[1:]):
            path = base / f"date={day:%Y-%m-%d}" / "part-0.parquet"
            sweep(path.parent, ".tmp-*")  # the day's folder only: listing every day's costs what history costs
            new = table.slice(first, stop - first)
            whole_day = start <= day and day + pd.Timedelta(days=1) - pd.Timedelta(1, "us") <= end
            if not whole_day and path.exists():
                old = read_table(path)
                kept = _outside(old, time_column, start, end)
                if new.num_rows == 0 and kept.num_rows == old.num_rows:
                    continue  # nothing in the range, before or now (an hour without anomalies): the day stands
                new = _merged(kept, new, time_column)
            if new.num_rows == 0:
                path.unlink(missing_ok=True)
                continue
            write_table_atomic(new, path)
            written.append(path)
    return written


def _micros(times: pa.ChunkedArray | pd.DatetimeIndex) -> np.ndarray:
    """Times as int64 microseconds since the epoch (UTC), whatever their unit."""
    if isinstance(times, pd.DatetimeIndex):
        return times.as_unit("us").asi8
    return pc.cast(times.cast(pa.timestamp("us", times.type.tz)), pa.int64()).to_numpy()


def _outside(old: pa.Table, time_column: str, start: pd.Timestamp, end: pd.Timestamp) -> pa.Table:
    """The day's rows outside [start, end]: those a publish of that range keeps."""
    old_times, (first, last) = _micros(old.column(time_column)), _micros(pd.DatetimeIndex([start, end]))
    return old.filter((old_times < first) | (old_times > last))


def _merged(keep: pa.Table, new: pa.Table, time_column: str) -> pa.Table:
    """The day's kept rows with `new` ones, ordered by time (ties: kept rows first)."""
    if keep.num_rows == 0:
        return new
    return pa.concat_tables([keep, new], promote_options="permissive").sort_by(time_column)


def read_dataset(data_root: str, dataset: str, group: str, since: pd.Timestamp | None = None) -> pd.DataFrame:
    """All partitions of a group's published dataset (from `since`'s date on)."""
    base = dataset_dir(data_root, dataset, group)
    files = sorted(p for p in base.glob("date=*/part-0.parquet")
                   if since is None or p.parent.name[5:] >= f"{since:%Y-%m-%d}")
    if not files:
        return pd.DataFrame()
    frame = pd.concat([read_parquet(p) for p in files], ignore_index=True)
    frame.insert(0, "group", pd.Series([group] * len(frame), dtype="string"))
    return frame


def published_groups(data_root: str, dataset: str) -> list[str]:
    base = location(data_root) / dataset
    return sorted(p.name[6:] for p in base.glob("group=*") if p.is_dir()) if base.exists() else []


def state_groups(data_root: str) -> list[str]:
    """Groups with a scoring state file."""
    base = location(data_root) / "state"
    return sorted(p.stem for p in base.glob("*.json") if not p.name.startswith(".")) if base.exists() else []


def newest_time(data_root: str, dataset: str, group: str, time_column: str) -> pd.Timestamp | None:
    """The latest `time_column` value of a group's published dataset, read from its newest date
    partition only (empty days are never left behind by `upsert_partitions`)."""
    files = sorted(dataset_dir(data_root, dataset, group).glob("date=*/part-0.parquet"))
    if not files:
        return None
    times = read_parquet(files[-1], columns=[time_column])[time_column]
    return times.max() if len(times) else None


def state_path(data_root: str, group: str) -> Path | ObjectPath:
    """`<data_root>/state/<group>.json`: the group's watermark and the start of an interval open there."""
    return location(data_root) / "state" / f"{check_name(group)}.json"


def audit_path(data_root: str, group: str) -> Path | ObjectPath:
    """`<data_root>/state/<group>.log`: one JSON line per reset of the group's state by hand."""
    return location(data_root) / "state" / f"{check_name(group)}.log"


def read_watermark(data_root: str, group: str) -> pd.Timestamp | None:
    """The last step published by incremental scoring."""
    return _state(data_root, group).get("scored_until")


def read_open_since(data_root: str, group: str) -> pd.Timestamp | None:
    """Start of the anomaly interval still open at the watermark (later steps could extend it)."""
    return _state(data_root, group).get("open_since")


def read_audit(data_root: str, group: str, last: int) -> list[str]:
    """The last `last` lines of the group's reset log (none if it was never reset)."""
    path = audit_path(data_root, group)
    return path.read_text().splitlines()[-last:] if path.exists() else []


class StateError(ValueError):
    """A group's scoring state file that cannot be read; the message names it and the way out."""


def _state(data_root: str, group: str) -> dict[str, pd.Timestamp]:
    path = state_path(data_root, group)
    try:
        raw = json.loads(path.read_text()) if path.exists() else {}
        times = {key: pd.Timestamp(value) for key, value in raw.items()
                 if key in ("scored_until", "open_since") and value is not None}
        state = {key: time.tz_localize("UTC") if time.tzinfo is None else time for key, time in times.items()}
        if "open_since" in state and state["open_since"] > state.get("scored_until", state["open_since"]):
            raise ValueError(f"open_since {state['open_since']} is after scored_until")  # its steps would be skipped
        return state
    except (ValueError, TypeError, AttributeError) as exc:  # not JSON, not a mapping, not times
        raise StateError(f"{path}: unreadable scoring state ({type(exc).__name__}: {exc}); "
                         f"`nightwatch state reset {group} --to TIME` (or --clear) rewrites it") from None


@contextmanager
def _state_locked(data_root: str, group: str) -> Iterator[Path | ObjectPath]:
    """The group's state file, with its lock held (written with `lock_held`: nothing to sweep)."""
    path = state_path(data_root, group)
    with locked(path.parent / f".{group}.lock"):
        yield path


def _write_state(path: Path | ObjectPath, scored_until: pd.Timestamp, open_since: pd.Timestamp | None) -> None:
    write_json_atomic(path, {"scored_until": scored_until.isoformat(),
                             "open_since": None if open_since is None else open_since.isoformat()}, lock_held=True)


def write_watermark(data_root: str, group: str, scored_until: pd.Timestamp,
                    open_since: pd.Timestamp | None = None) -> None:
    with _state_locked(data_root, group) as path:
        _write_state(path, scored_until, open_since)


def landing_scans_path(data_root: str) -> Path | ObjectPath:
    """`<data_root>/catalog/landing.json`: what the last landing scan found in each file (a cache)."""
    return location(data_root) / "catalog" / "landing.json"


def read_landing_scans(data_root: str) -> dict[str, dict]:
    """The last landing scan's entries; none where there is no file or it cannot be read (a cache:
    every file is then scanned again)."""
    path = landing_scans_path(data_root)
    try:
        scans = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}
    return scans if isinstance(scans, dict) else {}


def write_landing_scans(data_root: str, scans: dict[str, dict]) -> None:
    """Replace the landing scan's entries (one atomic write, under the folder's lock)."""
    path = landing_scans_path(data_root)
    with locked(path.parent / ".landing.lock"):
        sweep(path.parent, f".tmp-{path.name}-*")
        write_bytes_atomic(path, json.dumps(scans).encode())  # series in each file's order


def lookback_path(data_root: str, group: str) -> Path | ObjectPath:
    """`<data_root>/lookback/<group>.arrow`: the rules' look-back carried to the next run."""
    return location(data_root) / "lookback" / f"{check_name(group)}.arrow"


def write_lookback(data_root: str, group: str, table: pa.Table) -> None:
    """Replace the group's carried look-back (one atomic write, under the group's lock there)."""
    path = lookback_path(data_root, group)
    with locked(path.parent / f".{group}.lock"):
        write_arrow_atomic(table, path, lock_held=True)


def drop_lookback(data_root: str, group: str) -> None:
    """Forget the group's carried look-back: a backfill may have scored rows rewritten in place
    (same times and row count, other values), which the check of the landing files cannot see."""
    path = lookback_path(data_root, group)
    if path.exists():
        with locked(path.parent / f".{group}.lock"):
            path.unlink(missing_ok=True)


def read_lookback(data_root: str, group: str) -> pa.Table | None:
    """The group's carried look-back; None if there is none or it is not an Arrow file (damaged, or
    left by hand): it only saves reading days again, so it must never stop the group's scoring."""
    path = lookback_path(data_root, group)
    try:
        return read_arrow(path) if path.exists() else None
    except pa.ArrowInvalid:
        return None


def reset_state(data_root: str, group: str, scored_until: pd.Timestamp | None, now: pd.Timestamp,
                who: str) -> dict[str, str | None]:
    """Set the group's watermark to `scored_until` (UTC, not after `now`), keeping the start of an
    open interval only if it is at or before it; None removes the state, so the next incremental
    run scores everything. A watermark moved past real data (a stray 2030 row once did) otherwise
    stops scoring for good. Each reset appends one JSON line to `<group>.log`, which is returned."""
    if scored_until is not None and scored_until > now:
        raise ValueError(f"group {group!r}: cannot reset the watermark to {scored_until}, after now ({now})")
    with _state_locked(data_root, group) as path:
        try:
            old = _state(data_root, group)
        except StateError:  # a reset is how a broken state file is mended
            old = {}
        open_since = old.get("open_since")
        kept = None if scored_until is None or open_since is None or open_since > scored_until else open_since
        if scored_until is None:
            remove(path)
        else:
            _write_state(path, scored_until, kept)
        entry = {"time": now.isoformat(), "group": group, "who": who,
                 "old_watermark": _iso(old.get("scored_until")), "old_open_since": _iso(open_since),
                 "new_watermark": _iso(scored_until), "new_open_since": _iso(kept)}
        append_line(audit_path(data_root, group), json.dumps(entry))
    return entry


def _iso(time: pd.Timestamp | None) -> str | None:
    return None if time is None else time.isoformat()


def write_report(data_root: str, name: str, html: str) -> Path | ObjectPath:
    reports = location(data_root) / "reports"
    path = reports / check_name(name, "report")
    with locked(reports / LOCK):
        sweep(reports, ".tmp-report-*")
        write_bytes_atomic(path, html.encode())
    return path
