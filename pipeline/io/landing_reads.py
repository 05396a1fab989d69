"""Validated time-range reads of a group's landing files: row groups picked by their time
statistics and kept decoded for the next read of them, rows cut as integers in the file's unit."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.ingest import TIMESTAMP, InputError, long_series, parse_timestamps, to_long
from pipeline.io.landing import (UNIT_NANOS, file_version, hive_group, named_if_unreadable, raw_time_bounds,
                                 series_columns, time_leaf)

SPAN_BATCH = 1 << 20  # rows per batch when scanning a file's timestamps
DECODED_BUDGET = 256 << 20  # bytes of decoded landing row groups kept for the next read of them


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


def _decoded(path: str, wanted: set[str], start: pd.Timestamp | None, end: pd.Timestamp | None) -> pa.Table:
    """The columns holding `wanted` series, from one open of the file. With `start`/`end` and a
    timestamp-typed time column, only the rows timed in [start, end] widened by `_widened`, from
    the row groups whose statistics may hold them, compared as integers in the file's unit (an
    expression engine per read cost more than a small file's bytes); such row groups are kept
    decoded for the next read of them until the file changes (size, times, inode or ETag; a file
    system that reports none of those is never cached). Other reads take the whole file."""
    fs, local = fsspec.core.url_to_fs(path)
    with named_if_unreadable(path):
        version = file_version(fs.info(local))
        with fs.open(local, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            schema = parquet.schema_arrow
            columns, kind = series_columns(schema, path, wanted), schema.field(TIMESTAMP).type
            low, high = _widened(start, end) if pa.types.is_timestamp(kind) else (None, None)
            if low is None and high is None:  # ISO strings, or no range: read whole
                return parquet.read(columns=columns)
            tables = []
            for number in _row_groups(parquet.metadata, low, high):
                decode = lambda number=number: parquet.read_row_group(number, columns=columns)  # noqa: E731
                key = (path, version, tuple(columns), number)
                tables.append(decode() if version is None else _DECODED.get(key, decode))
            table = pa.concat_tables(tables) if tables else schema.empty_table().select(columns)
    times = table.column(TIMESTAMP)
    ticks = pc.fill_null(times.cast(pa.int64()), 0).to_numpy()
    keep = pc.is_null(times).to_numpy(zero_copy_only=False)  # rows without a time: validation refuses them
    keep |= ((low is None or ticks >= low // UNIT_NANOS[kind.unit])
             & (high is None or ticks <= high // UNIT_NANOS[kind.unit]))
    return table if keep.all() else table.filter(keep)


def _widened(start: pd.Timestamp | None, end: pd.Timestamp | None) -> tuple[int | None, int | None]:
    """[start, end] widened to whole seconds and a second more, as nanoseconds since the epoch:
    in any time unit a row inside the range compares inside this; the exact cut is made on the
    parsed times."""
    second = 1_000_000_000  # integer steps: Timestamp.floor and Timedelta("1s") were a fifth of a cached read
    low = None if start is None else (pd.Timestamp(start).value // second - 1) * second
    high = None if end is None else (-(-pd.Timestamp(end).value // second) + 1) * second
    return low, high


def _row_groups(footer: pq.FileMetaData, low: int | None, high: int | None) -> list[int]:
    """The row groups whose time statistics may hold times in [low, high] (nanoseconds; a row
    group without usable statistics, or with rows without a time, may hold any)."""
    found = time_leaf(footer)
    numbers = list(range(footer.num_row_groups))
    if found is None or (low is None and high is None):
        return numbers
    leaf, unit = found
    kept = []
    for number in numbers:
        bounds = raw_time_bounds(footer.row_group(number).column(leaf).statistics)
        if bounds is None or ((low is None or bounds[1] >= low // UNIT_NANOS[unit])
                              and (high is None or bounds[0] <= high // UNIT_NANOS[unit])):
            kept.append(number)
    return kept


def read_series(paths: list[str], wanted: set[str], start: pd.Timestamp | None = None,
                end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Read only the columns holding `wanted` series from the files, validated, in long layout
    (file after file; with `start`/`end`, only the rows timed in [start, end]).

    Consecutive files of one schema (a group's hourly files) are validated as one frame: per
    file, pandas' fixed costs were most of an hourly run's read. Where that finds a problem the
    batch's files are validated one by one, so the error names the file.
    """
    batches: list[list[tuple[str, pa.Table]]] = []
    for path in paths:
        table = _decoded(path, wanted, start, end)
        last = batches[-1][-1] if batches else None
        if last is not None and last[1].schema.equals(table.schema) and hive_group(last[0]) == hive_group(path):
            batches[-1].append((path, table))
        else:
            batches.append([(path, table)])
    parts = [_validated(batch, wanted) for batch in batches]
    rows = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    if start is None and end is None:
        return rows
    return rows[_within(rows[TIMESTAMP], start, end)].reset_index(drop=True)


def _validated(batch: list[tuple[str, pa.Table]], wanted: set[str]) -> pd.DataFrame:
    """`to_long` of the batch's rows together; on a problem, of each file alone to name it."""
    paths, table = [path for path, _ in batch], pa.concat_tables([table for _, table in batch])
    try:
        return to_long(table.to_pandas(), ", ".join(paths), wanted, hive_group(paths[0]))
    except InputError:
        for path, alone in batch if len(batch) > 1 else ():
            to_long(alone.to_pandas(), path, wanted, hive_group(path))  # raises, naming the file
        raise


def time_span(path: str, wanted: set[str], start: pd.Timestamp | None = None,
              end: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp, int] | None:
    """First and last time of the file's rows of `wanted` series in [start, end], and their count.

    Validates every timestamp it reads. A range's rows are those the read that follows takes
    (`_decoded`: row groups picked by their time statistics, kept decoded, so both cost one
    decode and an hourly run what its new rows cost); a whole file's time (and series name)
    columns are scanned in batches, its values never read.
    """
    source_group, first, last, count = hive_group(path), None, None, 0
    for batch in (_range_times(path, wanted, start, end) if start is not None or end is not None
                  else _all_times(path, wanted)):
        frame = batch.to_pandas()
        if "metric" in frame.columns:  # the long layout (the file's layout was checked where it was opened)
            if source_group is not None and "group" not in frame.columns:
                frame = frame.assign(group=source_group)
            frame = frame[long_series(frame, path).isin(wanted).to_numpy()]
        times = parse_timestamps(frame[TIMESTAMP].reset_index(drop=True), path)
        times = times[_within(times, start, end)]
        if len(times):
            first = times.min() if first is None else min(first, times.min())
            last = times.max() if last is None else max(last, times.max())
            count += len(times)
    return None if first is None else (first, last, count)


def _range_times(path: str, wanted: set[str], start: pd.Timestamp | None, end: pd.Timestamp | None) -> list[pa.Table]:
    table = _decoded(path, wanted, start, end)  # its columns are already the wanted ones: keep the time and names
    return [table.select([c for c in (TIMESTAMP, "metric", "group") if c in table.column_names])]


def _all_times(path: str, wanted: set[str]) -> Iterator[pa.RecordBatch]:
    with named_if_unreadable(path), fsspec.open(path, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        yield from parquet.iter_batches(SPAN_BATCH, columns=series_columns(parquet.schema_arrow, path, wanted,
                                                                          values=False))


def _within(times: pd.Series, start: pd.Timestamp | None, end: pd.Timestamp | None) -> np.ndarray:
    keep = np.ones(len(times), bool)
    if start is not None:
        keep &= (times >= start).to_numpy()
    if end is not None:
        keep &= (times <= end).to_numpy()
    return keep
