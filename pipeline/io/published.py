"""Published datasets (scores, anomalies, features) as hive partitions, watermarks, reports."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa

from pipeline.config import check_name
from pipeline.io.files import LOCK, locked, sweep, write_bytes_atomic, write_json_atomic, write_table_atomic


def dataset_dir(data_root: str, dataset: str, group: str) -> Path:
    return Path(data_root) / dataset / f"group={check_name(group)}"


def upsert_partitions(data_root: str, dataset: str, group: str, rows: pd.DataFrame | pa.Table, time_column: str,
                      start: pd.Timestamp, end: pd.Timestamp) -> list[Path]:
    """Replace rows with `time_column` in [start, end] by `rows`, one file per date partition.

    Rerunning for the same range rewrites the same rows, so publishing is idempotent. As in
    any hive layout, the `group` column lives in the folder name, not in the files. A frame
    goes to Arrow once; a day replaced whole is written as a slice of it, without reading back.
    """
    base = dataset_dir(data_root, dataset, group)
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False, nthreads=1)
    if "group" in table.column_names:
        table = table.drop_columns(["group"])
    times = pd.DatetimeIndex(table.column(time_column).to_pandas())
    if not times.is_monotonic_increasing:
        table = table.sort_by(time_column)  # a stable sort
        times = pd.DatetimeIndex(table.column(time_column).to_pandas())
    edges = pd.date_range(start.floor("D"), end.floor("D") + pd.Timedelta(days=1), freq="D")
    days, bounds = edges[:-1], times.searchsorted(edges)
    written = []
    with locked(base / LOCK):
        sweep(base, "date=*/.tmp-*")
        for day, first, stop in zip(days, bounds[:-1], bounds[1:]):
            path = base / f"date={day:%Y-%m-%d}" / "part-0.parquet"
            new = table.slice(first, stop - first)
            whole_day = start <= day and day + pd.Timedelta(days=1) - pd.Timedelta(1, "us") <= end
            if not whole_day and path.exists():
                old = pd.read_parquet(path)
                keep = old[(old[time_column] < start) | (old[time_column] > end)]
                if len(keep):
                    merged = pd.concat([keep, new.to_pandas()], ignore_index=True)
                    new = pa.Table.from_pandas(merged.sort_values(time_column, kind="stable"), preserve_index=False,
                                               nthreads=1)
            if new.num_rows == 0:
                path.unlink(missing_ok=True)
                continue
            write_table_atomic(new, path)
            written.append(path)
    return written


def read_dataset(data_root: str, dataset: str, group: str, since: pd.Timestamp | None = None) -> pd.DataFrame:
    """All partitions of a group's published dataset (from `since`'s date on)."""
    base = dataset_dir(data_root, dataset, group)
    files = sorted(p for p in base.glob("date=*/part-0.parquet")
                   if since is None or p.parent.name[5:] >= f"{since:%Y-%m-%d}")
    if not files:
        return pd.DataFrame()
    frame = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    frame.insert(0, "group", pd.Series([group] * len(frame), dtype="string"))
    return frame


def published_groups(data_root: str, dataset: str) -> list[str]:
    base = Path(data_root) / dataset
    return sorted(p.name[6:] for p in base.glob("group=*") if p.is_dir()) if base.exists() else []


def read_watermark(data_root: str, group: str) -> pd.Timestamp | None:
    """The last step published by incremental scoring."""
    return _state(data_root, group).get("scored_until")


def read_open_since(data_root: str, group: str) -> pd.Timestamp | None:
    """Start of the anomaly interval still open at the watermark (later steps could extend it)."""
    return _state(data_root, group).get("open_since")


def _state(data_root: str, group: str) -> dict[str, pd.Timestamp]:
    path = Path(data_root) / "state" / f"{check_name(group)}.json"
    raw = json.loads(path.read_text()) if path.exists() else {}
    return {key: pd.Timestamp(value) for key, value in raw.items() if value is not None}


def write_watermark(data_root: str, group: str, scored_until: pd.Timestamp,
                    open_since: pd.Timestamp | None = None) -> None:
    state = Path(data_root) / "state"
    with locked(state / f".{check_name(group)}.lock"):
        sweep(state, f".tmp-{group}.json-*")
        write_json_atomic(state / f"{group}.json", {"scored_until": scored_until.isoformat(),
                                                    "open_since": None if open_since is None else open_since.isoformat()})


def write_report(data_root: str, name: str, html: str) -> Path:
    reports = Path(data_root) / "reports"
    path = reports / check_name(name, "report")
    with locked(reports / LOCK):
        sweep(reports, ".tmp-report-*")
        write_bytes_atomic(path, html.encode())
    return path
