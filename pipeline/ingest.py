"""Ingest and validate landed metric frames (long or wide layout) into one long frame.

Output of `to_long`: columns `timestamp` (UTC), `series` (str; categorical for wide files),
`value` (float64, NaN for missing, inf treated as missing). A series is `metric`, or
`group/metric` when a long file carries a `group` column (so one metric name can live in
many hosts' groups).
"""
from __future__ import annotations

import decimal
import re

import numpy as np
import pandas as pd

TIMESTAMP = "timestamp"
LONG_COLUMNS = ("timestamp", "metric", "value")
# Plausible metric times: epoch zero (1970) and the nanosecond ceiling (2262) are sentinels.
EARLIEST, LATEST = pd.Timestamp("1990-01-01", tz="UTC"), pd.Timestamp("2200-01-01", tz="UTC")
MAX_MAGNITUDE = 1e30  # larger values' squares overflow float64 sums; far past any counter or gauge
# The index pandas' `to_parquet` stores as a column (a filtered or concatenated frame's row numbers): no metric.
PANDAS_INDEX = re.compile(r"__index_level_\d+__")


class InputError(ValueError):
    """Bad landed data; the message names the file, group, column and problem."""

    def __init__(self, source: str, problem: str, column: str | None = None, group: str | None = None):
        self.source, self.problem, self.column, self.group = source, problem, column, group
        parts = [source]
        if group:
            parts.append(f"group {group!r}")
        if column:
            parts.append(f"column {column!r}")
        super().__init__(": ".join(parts + [problem]))


def detect_layout(columns: list[str], source: str) -> str:
    """'long' when the file has a metric column, else 'wide'; both need a timestamp.

    A wide file may well have a single metric called `value` (as NAB's files do).
    """
    if TIMESTAMP not in columns:
        raise InputError(source, f"missing column (found {columns[:8]})", TIMESTAMP)
    if "metric" in columns:
        missing = [c for c in LONG_COLUMNS if c not in columns]
        if missing:
            raise InputError(source, "missing column for the long layout", missing[0])
        return "long"
    if not wide_metrics(columns):
        raise InputError(source, "wide layout needs at least one metric column besides timestamp")
    return "wide"


def wide_metrics(columns: list[str]) -> list[str]:
    """A wide file's metric columns: all but the time and an index pandas stored beside them."""
    return [c for c in columns if c != TIMESTAMP and not PANDAS_INDEX.fullmatch(str(c))]


def long_series(frame: pd.DataFrame, source: str) -> pd.Series:
    """Series names of a long frame's rows (`metric`, or `group/metric` with a group column, which
    then names every row's group)."""
    if frame["metric"].isna().any():
        raise InputError(source, f"{int(frame['metric'].isna().sum())} rows without a metric name", "metric")
    metric = frame["metric"].astype(str)
    if "group" not in frame.columns:
        return metric
    group = frame["group"].astype("string").fillna("")
    if (missing := int((group.str.strip() == "").sum())):  # a bare series would mix every such row's host
        raise InputError(source, f"{missing} rows without a group value in a file with a group column; give "
                                 f"each row its group, or leave the column out", "group")
    return (group + "/" + metric).astype(str)


def parse_timestamps(values: pd.Series, source: str) -> pd.Series:
    """Timestamps in any unit, naive (taken as UTC) or zone-aware, as UTC microseconds. Strings
    must be ISO 8601: a guessed format would read 05/11/2026 as May 11th without a word."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        raise InputError(source, "numeric timestamps are ambiguous; store a timestamp type or ISO strings",
                         TIMESTAMP)
    try:
        text = pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
        parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601" if text else None)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(source, f"unparseable timestamps ({exc})", TIMESTAMP) from exc
    bad = parsed.isna() & values.notna()
    if bad.any():
        raise InputError(source, f"{int(bad.sum())} unparseable timestamps, e.g. {values[bad].iloc[0]!r} (ISO 8601 "
                         "expected, e.g. 2026-11-18T06:00:00Z)", TIMESTAMP)
    if parsed.isna().any():
        raise InputError(source, f"{int(parsed.isna().sum())} missing timestamps", TIMESTAMP)
    odd = (parsed < EARLIEST) | (parsed >= LATEST)
    if odd.any():
        raise InputError(source, f"{int(odd.sum())} timestamps outside {EARLIEST:%Y-%m-%d} .. {LATEST:%Y-%m-%d} "
                         f"(sentinel or unset clock?), e.g. {parsed[odd].iloc[0]}", TIMESTAMP)
    return parsed.dt.as_unit("us")


def numeric_values(values: pd.Series, source: str, column: str, series: np.ndarray | None = None) -> np.ndarray:
    """Float64 values; strings or other non-numbers are rejected, inf becomes NaN. Finite values
    beyond `MAX_MAGNITUDE` are refused: their squares overflow, and a model trained on them
    (scaler centre inf, every score 0) would be registered and score nothing. `series`: each
    row's series name, for a long file's `value` column."""
    if values.isna().all() and not pd.api.types.is_bool_dtype(values):  # a null-typed column: all missing
        return np.full(len(values), np.nan)
    if _decimals(values):  # a database's or Spark's decimal column: numbers, read as floats
        values = values.astype("float64")
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        sample = values.dropna()
        example = f", e.g. {sample.iloc[0]!r}" if len(sample) else ""
        raise InputError(source, f"non-numeric values (dtype {values.dtype}{example})", column)
    out = values.to_numpy(dtype="float64", na_value=np.nan, copy=True)
    out[~np.isfinite(out)] = np.nan
    huge = np.abs(out) > MAX_MAGNITUDE
    if huge.any():
        first = int(np.argmax(huge))
        of = f" (series {series[first]!r})" if series is not None else ""
        raise InputError(source, f"{int(huge.sum())} values beyond ±{MAX_MAGNITUDE:.0e}, where float arithmetic "
                         f"overflows, e.g. {float(out[first])!r}{of}", column)
    return out


def _decimals(values: pd.Series) -> bool:
    """Whether an object column holds `decimal.Decimal` numbers only (as parquet's decimal type reads)."""
    if values.dtype != object:
        return False
    present = values.dropna()
    return len(present) > 0 and all(isinstance(v, decimal.Decimal) for v in present)


def to_long(frame: pd.DataFrame, source: str, wanted: set[str] | None = None,
            source_group: str | None = None) -> pd.DataFrame:
    """Validate one file's frame and return it in the long layout, keeping `wanted` series only.

    `source_group` is a group taken from the path (hive partition `group=...`), used when
    a long file has no group column.
    """
    layout = detect_layout(list(frame.columns), source)
    if layout == "long":
        if source_group is not None and "group" not in frame.columns:
            frame = frame.assign(group=source_group)
        series = long_series(frame, source)
        keep = series.isin(wanted).to_numpy() if wanted is not None else np.ones(len(frame), bool)
        out = pd.DataFrame({
            "timestamp": parse_timestamps(frame[TIMESTAMP][keep].reset_index(drop=True), source),
            "series": series[keep].to_numpy(),
            "value": numeric_values(frame["value"][keep], source, "value", series[keep].to_numpy()),
        })
    else:
        metrics = [c for c in wide_metrics(list(frame.columns)) if wanted is None or c in wanted]
        stamps = parse_timestamps(frame[TIMESTAMP].reset_index(drop=True), source)
        values = [numeric_values(frame[m], source, m) for m in metrics]
        out = pd.DataFrame({  # metric after metric; series as codes into the column names (no string per row)
            "timestamp": pd.concat([stamps] * len(metrics), ignore_index=True) if metrics else stamps[:0],
            "series": pd.Categorical.from_codes(np.repeat(np.arange(len(metrics)), len(stamps)), metrics),
            "value": np.concatenate(values) if values else np.array([], float)})
    return out
