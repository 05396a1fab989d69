"""Reading landing files from any fsspec URL: listing, scanning, validated time-range reads."""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipeline.ingest import TIMESTAMP, InputError, detect_layout, long_series, parse_timestamps, to_long

SPAN_BATCH = 1 << 20  # rows per batch when scanning a file's timestamps
DECODED_BUDGET = 256 << 20  # bytes of decoded landing row groups kept for the next read of them
TIME_UNITS = {"milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}  # parquet's, as pandas names them


def landing_files(root: str) -> dict[str, str | None]:
    """Parquet files under `root`, nested and hive-partitioned folders included, sorted, each with
    its version as the listing gives it (size, times, inode or ETag; None where the file system
    reports none of those): a file of an unchanged version need not be opened again. A missing
    `root` is refused once, naming it, rather than read as 'no landed series' for every group."""
    fs, path = fsspec.core.url_to_fs(root)
    if not fs.exists(path):
        raise InputError(root, "the landing folder does not exist (it is <storage.data_root>/landing; "
                         "`nightwatch generate` writes sample data there)")
    files = {f: info for f, info in fs.find(path, detail=True).items() if f.endswith(".parquet")}
    visible = [f for f in files if not any(p.startswith((".", "_")) for p in f[len(path):].split("/") if p)]
    return {(fs.unstrip_protocol(f) if "://" in root else f): _version(files[f]) for f in sorted(visible)}


def _version(info: dict) -> str | None:
    changes = [info.get(key) for key in ("mtime", "created", "ino", "LastModified", "ETag")]
    return json.dumps([info.get("size"), *changes], default=str) if any(v is not None for v in changes) else None


def hive_group(path: str) -> str | None:
    """The `group=<name>` hive partition value in a file's path, if any."""
    parts = [p.split("=", 1)[1] for p in path.split("/") if p.startswith("group=")]
    return parts[-1] if parts else None


def _read_table(path: str, columns: list[str] | None = None, filters: list | None = None) -> pd.DataFrame:
    try:
        if filters is not None:
            return _read_rows(path, columns, filters)
        with fsspec.open(path, "rb") as handle:
            return pq.read_table(handle, columns=columns).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(path, f"not a readable parquet file ({type(exc).__name__}: {exc})") from exc


class _RowGroupCache:
    """The most recently decoded row groups, up to `budget` bytes: the parts of a long range
    scored one after another mostly fall in one large row group, decoded once instead of per part."""

    def __init__(self, budget: int):
        self.budget, self.tables, self.lock, self.held = budget, OrderedDict(), threading.Lock(), 0

    def get(self, key: tuple, decode: Callable[[], pa.Table]) -> pa.Table:
        with self.lock:
            if key in self.tables:
                self.tables.move_to_end(key)
                return self.tables[key]
        table = decode()
        with self.lock:
            if key not in self.tables:  # another thread may have decoded it meanwhile
                self.tables[key] = table
                self.held += table.nbytes
            while self.held > self.budget:
                self.held -= self.tables.popitem(last=False)[1].nbytes
        return table


_DECODED = _RowGroupCache(DECODED_BUDGET)


def _read_rows(path: str, columns: list[str], filters: list) -> pd.DataFrame:
    """The rows matching `filters`, from the row groups whose statistics may hold them; a row
    group is decoded again when the file changed (size, times, inode or ETag; a file system that
    reports none of those is never cached)."""
    fs, local = fsspec.core.url_to_fs(path)
    info = fs.info(local)
    version = tuple(info.get(k) for k in ("mtime", "created", "ino", "LastModified", "ETag"))
    fragment = _fragment(fs, local)
    wanted = pq.filters_to_expression(filters)
    tables = []
    for part in fragment.split_by_row_group(wanted):
        decode = lambda part=part: part.to_table(columns=columns)  # noqa: E731
        key = (path, info.get("size"), version, tuple(columns), part.row_groups[0].id)
        tables.append(_DECODED.get(key, decode) if any(v is not None for v in version) else decode())
    table = pa.concat_tables(tables) if tables else fragment.physical_schema.empty_table().select(columns)
    return table.filter(wanted).to_pandas()


def _fragment(fs, local: str) -> ds.ParquetFileFragment:
    (fragment,) = ds.dataset(local, filesystem=fs, format="parquet").get_fragments()
    return fragment


def _row_groups(path: str, filters: list | None) -> list[int] | None:
    """The row groups whose statistics may hold rows matching `filters` (None: read them all)."""
    if filters is None:
        return None
    fragment = _fragment(*fsspec.core.url_to_fs(path))
    return [part.row_groups[0].id for part in fragment.split_by_row_group(pq.filters_to_expression(filters))]


def _time_filters(kind: pa.DataType, start: pd.Timestamp | None, end: pd.Timestamp | None) -> list | None:
    """A parquet filter keeping at least the rows in [start, end] of a timestamp-typed column.

    Bounds are widened to whole seconds, so any time unit compares exactly; the exact range
    is cut after parsing. Other timestamp columns (ISO strings) are read whole.
    """
    if not pa.types.is_timestamp(kind) or (start is None and end is None):
        return None

    def bound(t: pd.Timestamp) -> pd.Timestamp:
        return t.tz_convert(kind.tz) if kind.tz else t.tz_convert("UTC").tz_localize(None)

    filters = []
    if start is not None:
        filters.append((TIMESTAMP, ">=", bound(pd.Timestamp(start).floor("s") - pd.Timedelta("1s"))))
    if end is not None:
        filters.append((TIMESTAMP, "<=", bound(pd.Timestamp(end).ceil("s") + pd.Timedelta("1s"))))
    return filters


def _schema(path: str) -> pa.Schema:
    return _footer(path).schema.to_arrow_schema()


def _footer(path: str) -> pq.FileMetaData:
    try:
        with fsspec.open(path, "rb") as handle:
            return pq.read_metadata(handle)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(path, f"not a readable parquet file ({type(exc).__name__}: {exc})") from exc


def file_bounds(footer: pq.FileMetaData) -> tuple[pd.Timestamp, pd.Timestamp, int] | None:
    """The first and last time of a file's rows from its row groups' statistics (UTC) and its row
    count ((NaT, NaT, 0) for a file without rows), or None when they are not known (ISO string
    times, a row group without statistics, a missing time): a read of another time range can skip
    the file without opening it. The unit is the parquet column's own (a `s` column is stored in ms)."""
    leaves = [footer.schema.column(i) for i in range(len(footer.schema))]
    found = [i for i, leaf in enumerate(leaves) if leaf.path == TIMESTAMP]
    if len(found) != 1:
        return None
    if footer.num_rows == 0:
        return pd.NaT, pd.NaT, 0  # no time range holds a row of it
    unit = json.loads(leaves[found[0]].logical_type.to_json()).get("timeUnit")
    if unit not in TIME_UNITS:
        return None
    lows, highs = [], []
    for number in range(footer.num_row_groups):
        stats = footer.row_group(number).column(found[0]).statistics
        if (stats is None or not stats.has_min_max or stats.physical_type != "INT64" or not stats.has_null_count
                or stats.null_count):
            return None
        lows.append(stats.min_raw)
        highs.append(stats.max_raw)
    return (pd.Timestamp(min(lows), unit=TIME_UNITS[unit], tz="UTC"),
            pd.Timestamp(max(highs), unit=TIME_UNITS[unit], tz="UTC"), footer.num_rows)


def scan_file(path: str) -> dict[str, str | None]:
    """The series a file holds, each with its source group (None for wide files)."""
    return scan_landed(path)[0]


def scan_landed(path: str) -> tuple[dict[str, str | None], tuple[pd.Timestamp, pd.Timestamp, int] | None]:
    """The series a file holds (each with its source group, None for wide files) and the time
    bounds of its rows if its statistics give them (`file_bounds`), from one read of its footer."""
    footer = _footer(path)
    return _series(path, footer.schema.to_arrow_schema().names), file_bounds(footer)


def _series(path: str, names: list[str]) -> dict[str, str | None]:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(path, f"{len(repeated)} column name(s) appear more than once; each column needs its own name",
                         repeated[0])
    if detect_layout(names, path) == "wide":
        return {c: None for c in names if c != "timestamp"}
    columns = ["metric"] + (["group"] if "group" in names else [])
    frame = _read_table(path, columns)
    if "group" not in frame.columns and hive_group(path):
        frame["group"] = hive_group(path)
    series = long_series(frame, path)
    groups = frame["group"].astype("string") if "group" in frame.columns else pd.Series([None] * len(frame))
    pairs = pd.DataFrame({"series": series.to_numpy(), "group": groups.to_numpy()}).drop_duplicates("series")
    return {s: (g if isinstance(g, str) and g else None) for s, g in zip(pairs["series"], pairs["group"])}


def _columns(path: str, wanted: set[str], values: bool = True) -> tuple[str, list[str], pa.DataType]:
    """The file's layout, the columns holding `wanted` series (values only if asked), the time type."""
    schema = _schema(path)
    layout = detect_layout(schema.names, path)
    if layout == "wide":
        columns = [TIMESTAMP] + ([c for c in schema.names if c in wanted] if values else [])
    else:
        keep = ("timestamp", "metric", "value", "group") if values else ("timestamp", "metric", "group")
        columns = [c for c in keep if c in schema.names]
    return layout, columns, schema.field(TIMESTAMP).type


def read_series(path: str, wanted: set[str], start: pd.Timestamp | None = None,
                end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Read only the columns holding `wanted` series from one file, validated, in long layout.

    With `start`/`end`, only the rows timed in [start, end] (parquet filters skip most others).
    """
    _, columns, kind = _columns(path, wanted)
    rows = to_long(_read_table(path, columns, _time_filters(kind, start, end)), path, wanted, hive_group(path))
    if start is None and end is None:
        return rows
    return rows[_within(rows[TIMESTAMP], start, end)].reset_index(drop=True)


def time_span(path: str, wanted: set[str], start: pd.Timestamp | None = None,
              end: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp, int] | None:
    """First and last time of the file's rows of `wanted` series in [start, end], and their count.

    Reads only the time (and series name) columns, in batches, validating every timestamp
    read; with `start`/`end`, row groups whose time statistics lie outside them are skipped,
    so an hourly run costs what its new rows cost, not the file's whole history.
    """
    layout, columns, kind = _columns(path, wanted, values=False)
    source_group = hive_group(path)
    first, last, count = None, None, 0
    try:
        row_groups = _row_groups(path, _time_filters(kind, start, end))
        if row_groups == []:
            return None
        with fsspec.open(path, "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(SPAN_BATCH, row_groups=row_groups, columns=columns):
                frame = batch.to_pandas()
                if layout == "long":
                    if source_group is not None and "group" not in frame.columns:
                        frame = frame.assign(group=source_group)
                    frame = frame[long_series(frame, path).isin(wanted).to_numpy()]
                times = parse_timestamps(frame[TIMESTAMP].reset_index(drop=True), path)
                times = times[_within(times, start, end)]
                if len(times):
                    first = times.min() if first is None else min(first, times.min())
                    last = times.max() if last is None else max(last, times.max())
                    count += len(times)
    except InputError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(path, f"not a readable parquet file ({type(exc).__name__}: {exc})") from exc
    return None if first is None else (first, last, count)


def _within(times: pd.Series, start: pd.Timestamp | None, end: pd.Timestamp | None) -> np.ndarray:
    keep = np.ones(len(times), bool)
    if start is not None:
        keep &= (times >= start).to_numpy()
    if end is not None:
        keep &= (times <= end).to_numpy()
    return keep
