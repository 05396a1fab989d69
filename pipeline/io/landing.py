"""Landing files from any fsspec URL: the listing with each file's version, and what a file's
footer tells without reading its rows (its series, its rows' time bounds)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.ingest import TIMESTAMP, InputError, detect_layout, long_series, wide_metrics

TIME_UNITS = {"milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}  # parquet's, as pandas names them
UNIT_NANOS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
PARQUET_SUFFIXES = (".parquet", ".pq")  # in any case: an exporter's `.PARQUET` is no reason to skip a file unsaid


def landing_files(root: str) -> dict[str, str | None]:
    """Parquet files (`.parquet` or `.pq`, any case) under `root`, nested and hive-partitioned folders included, sorted, each with
    its version as the listing gives it (size, times, inode or ETag; None where the file system
    reports none of those): a file of an unchanged version need not be opened again. A missing
    `root` is refused once, naming it, rather than read as 'no landed series' for every group."""
    fs, path = fsspec.core.url_to_fs(root)
    if not fs.exists(path):
        raise InputError(root, "the landing folder does not exist (it is <storage.data_root>/landing; "
                         "`nightwatch generate` writes sample data there)")
    files = {f: info for f, info in fs.find(path, detail=True).items() if f.lower().endswith(PARQUET_SUFFIXES)}
    visible = [f for f in files if not any(p.startswith((".", "_")) for p in f[len(path):].split("/") if p)]
    return {(fs.unstrip_protocol(f) if "://" in root else f): file_version(files[f]) for f in sorted(visible)}


def file_version(info: dict) -> str | None:
    changes = [info.get(key) for key in ("mtime", "created", "ino", "LastModified", "ETag")]
    return json.dumps([info.get("size"), *changes], default=str) if any(v is not None for v in changes) else None


def hive_group(path: str) -> str | None:
    """The `group=<name>` hive partition value in a file's path, if any."""
    parts = [p.split("=", 1)[1] for p in path.split("/") if p.startswith("group=")]
    return parts[-1] if parts else None


@contextmanager
def named_if_unreadable(path: str) -> Iterator[None]:
    """A parquet or file-system error inside as an InputError naming the file; the file's own
    problems found there (already InputErrors: its layout) pass as they are."""
    try:
        yield
    except InputError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(path, f"not a readable parquet file ({type(exc).__name__}: {exc})") from exc


def _read_table(path: str, columns: list[str] | None = None) -> pd.DataFrame:
    with named_if_unreadable(path), fsspec.open(path, "rb") as handle:
        return pq.ParquetFile(handle).read(columns=columns).to_pandas()


def raw_time_bounds(stats: pq.Statistics | None) -> tuple[int, int] | None:
    """A row group's least and greatest time as stored, or None where its statistics do not bound
    every row (none kept, not integers, or rows without a time)."""
    if (stats is None or not stats.has_min_max or stats.physical_type != "INT64" or not stats.has_null_count
            or stats.null_count):
        return None
    return stats.min_raw, stats.max_raw


def time_leaf(footer: pq.FileMetaData) -> tuple[int, str] | None:
    """The timestamp column's index among the parquet leaves and its stored unit (a `s` column is
    stored in ms), or None when the file has no single integer timestamp column."""
    leaves = [footer.schema.column(i) for i in range(len(footer.schema))]
    found = [i for i, leaf in enumerate(leaves) if leaf.path == TIMESTAMP]
    if len(found) != 1:
        return None
    unit = TIME_UNITS.get(json.loads(leaves[found[0]].logical_type.to_json()).get("timeUnit"))
    return None if unit is None else (found[0], unit)


def _footer(path: str) -> pq.FileMetaData:
    with named_if_unreadable(path), fsspec.open(path, "rb") as handle:
        return pq.read_metadata(handle)


def file_bounds(footer: pq.FileMetaData) -> tuple[pd.Timestamp, pd.Timestamp, int] | None:
    """The first and last time of a file's rows from its row groups' statistics (UTC) and its row
    count ((NaT, NaT, 0) for a file without rows), or None when they are not known (ISO string
    times, a row group without statistics, a missing time): a read of another time range can skip
    the file without opening it. The unit is the parquet column's own (a `s` column is stored in ms)."""
    found = time_leaf(footer)
    if found is None:
        return None
    if footer.num_rows == 0:
        return pd.NaT, pd.NaT, 0  # no time range holds a row of it
    leaf, unit = found
    bounds = [raw_time_bounds(footer.row_group(number).column(leaf).statistics)
              for number in range(footer.num_row_groups)]
    if None in bounds:
        return None
    return (pd.Timestamp(min(low for low, _ in bounds), unit=unit, tz="UTC"),
            pd.Timestamp(max(high for _, high in bounds), unit=unit, tz="UTC"), footer.num_rows)


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
        return {c: None for c in wide_metrics(names)}
    columns = ["metric"] + (["group"] if "group" in names else [])
    frame = _read_table(path, columns)
    if "group" not in frame.columns and hive_group(path):
        frame["group"] = hive_group(path)
    series = long_series(frame, path)
    groups = frame["group"].astype("string") if "group" in frame.columns else pd.Series([None] * len(frame))
    pairs = pd.DataFrame({"series": series.to_numpy(), "group": groups.to_numpy()}).drop_duplicates("series")
    return {s: (g if isinstance(g, str) and g else None) for s, g in zip(pairs["series"], pairs["group"])}


def series_columns(schema: pa.Schema, path: str, wanted: set[str], values: bool = True) -> list[str]:
    """The columns holding `wanted` series in a file of this schema (the time, and values only if asked)."""
    if detect_layout(schema.names, path) == "wide":
        return [TIMESTAMP] + ([c for c in schema.names if c in wanted] if values else [])
    keep = ("timestamp", "metric", "value", "group") if values else ("timestamp", "metric", "group")
    return [c for c in keep if c in schema.names]
