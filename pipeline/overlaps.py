"""Landing files holding rows of one series over the same times: a re-delivered day, or a corrected
export landed beside the original. Their rows meet in one step and the group's aggregation combines
them (`sum` adds them, `mean` averages a correction with the original, `first` and `last` follow
the files' path order), so each such pair is named in the run's warnings rather than scored unsaid.
"""
from __future__ import annotations

import pandas as pd

from pipeline.catalog import Catalog
from pipeline.config import GroupConfig

SHOWN = 3  # pairs named in full; the rest are counted


def overlapping(catalog: Catalog, group: GroupConfig, start: pd.Timestamp, end: pd.Timestamp) -> list[str]:
    """One line per pair of the group's landing files whose rows of a series share more than one
    step in [start, end], by the files' time statistics (a file without them is not compared; two
    files meeting at one boundary step, as consecutive exports often do, are not named)."""
    step, pairs = group.interval_td, {}
    for series in group.metrics:
        spans = sorted((max(first, start), min(last, end), path)
                       for path in catalog.holders.get(series, ())
                       if (bounds := catalog.bounds.get(path)) is not None and bounds[2] > 0
                       and (first := bounds[0]) <= end and (last := bounds[1]) >= start)
        reach = None  # (last time, path) of the file reaching furthest so far
        for first, last, path in spans:
            if reach is not None and min(last, reach[0]) - first >= step:
                pairs.setdefault((reach[1], path), (series, first, min(last, reach[0])))
            if reach is None or last > reach[0]:
                reach = (last, path)
    lines = [f"{group.name}: landing files {a} and {b} both hold rows of {series!r} from {lo} to {hi}; "
             f"the group's aggregation ({group.aggregation}) combines them (a re-delivered or corrected file?)"
             for (a, b), (series, lo, hi) in pairs.items()]
    return lines[:SHOWN] + ([f"{group.name}: and {len(lines) - SHOWN} more such pairs of landing files"]
                            if len(lines) > SHOWN else [])
