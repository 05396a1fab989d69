"""What an incremental run takes over from the last one: the look-back it carried (read back,
resumed on this run's grid, kept for the next), and the rows that landed or changed behind the
watermark since (`pipeline.late_rows`), found from the landing files that look-back was read from."""
from __future__ import annotations

import dataclasses

import pandas as pd

from pipeline import io, late_rows, lookback
from pipeline.catalog import MICROSECOND, Catalog, landed, load_aligned
from pipeline.config import GroupConfig
from pipeline.metadata import MetadataError, read_version
from pipeline.detect.base import Evidence
from pipeline.parts import Grid
from pipeline.ranges import score_context

ALIGNMENT = ("metrics", "interval", "aggregation", "max_gap")  # what a step's published values depend on


def carried(data_root: str, group: GroupConfig) -> lookback.Carried | None:
    """The look-back the last incremental run carried, if readable as the group's."""
    table = io.read_lookback(data_root, group.name)
    return None if table is None else lookback.from_table(table, group.metrics, group.interval_td)


def landed_now(catalog: Catalog, group: GroupConfig, carried: lookback.Carried) -> list | None:
    """The landing files that hold the carried steps' rows now (`catalog.landed`), to set against
    those the steps were read from."""
    return landed(catalog, group, *carried.reads(score_context(group)))


def resumed(group: GroupConfig, grid: Grid, version: str, carried: lookback.Carried,
            now: list | None) -> tuple[int, Evidence, int] | None:
    """The carried look-back's steps on this grid, if still true (`lookback.resumed`; `now`: `landed_now`)."""
    return lookback.resumed(carried, version, now, grid, score_context(group))


def stale_since(data_root: str, catalog: Catalog, group: GroupConfig, carried: lookback.Carried,
                now: list | None, watermark: pd.Timestamp) -> pd.Timestamp | None:
    """The first published step whose rows landed or changed since it was scored (`late_rows`;
    `now`: `landed_now`); only where the carried steps were `aligned_alike`."""
    interval, metrics = group.interval_td, list(group.metrics)

    def recompute(first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
        return load_aligned(catalog, group, first, last + interval - MICROSECOND, grid=(first, last)).values

    def published(first: pd.Timestamp) -> pd.DataFrame:
        rows = io.read_dataset(data_root, "scores", group.name, since=first)
        if rows.empty:
            return pd.DataFrame(columns=metrics, dtype=float)
        rows = rows[rows["timestamp"] >= first].drop_duplicates(["timestamp", "metric"], keep="last")
        return rows.pivot(index="timestamp", columns="metric", values="value").reindex(columns=metrics)

    return late_rows.stale_since(carried.landed, now, watermark, interval, recompute, published,
                                 group.max_gap + 1, score_context(group))


def aligned_alike(models_root: str, group: GroupConfig, carried_version: str, version: str) -> bool:
    """Whether the carried steps' values were aligned as `group` (the current version's config)
    aligns them: the same version, or one trained on the same metrics, grid and gap filling, as a
    nightly retraining is. Then rows that landed late before a retraining are found too; a version
    that cannot be read, or aligned otherwise, finds none (its values are not comparable)."""
    if carried_version == version:
        return True
    try:
        before = read_version(models_root, group.name, carried_version).config
    except (MetadataError, OSError):
        return False
    return all(getattr(before, key) == getattr(group, key) for key in ALIGNMENT)


def carry(data_root: str, catalog: Catalog, group: GroupConfig, grid: Grid, history: Evidence, version: str) -> None:
    """Keep the settled part of the look-back for the next incremental run, with the landing files
    it was computed from (none kept where their bounds are unknown)."""
    edge = score_context(group)
    carried = lookback.settled(history, grid, grid.stop, edge, version)
    files = None if carried is None else landed(catalog, group, *carried.reads(edge))
    if files is not None:
        io.write_lookback(data_root, group.name, lookback.to_table(dataclasses.replace(carried, landed=files)))
