"""Landing files holding one series over the same times are named: a re-delivered or corrected file."""
import pandas as pd

from pipeline.catalog import Catalog
from pipeline.config import GroupConfig
from pipeline.overlaps import overlapping

T0 = pd.Timestamp("2026-11-20", tz="UTC")
STEP = pd.Timedelta("5min")
GROUP = GroupConfig(name="g", metrics=("g.a", "g.b"), aggregation="sum")


def catalog(files: dict[str, tuple]) -> Catalog:
    """Files by path: (series held, first step, last step, rows)."""
    return Catalog(files={p: dict.fromkeys(f[0]) for p, f in files.items()},
                   bounds={p: (T0 + f[1] * STEP, T0 + f[2] * STEP, f[3]) for p, f in files.items() if f[3] is not None})


def test_files_sharing_steps_of_a_series_are_named_once_per_pair():
    found = catalog({"day.parquet": (("g.a", "g.b"), 0, 287, 576),
                     "day-again.parquet": (("g.a", "g.b"), 0, 287, 576),  # re-delivered: every step again
                     "next.parquet": (("g.a", "g.b"), 287, 300, 28),  # meets the day at its last step only
                     "b-fix.parquet": (("g.b",), 100, 102, 3)})  # a correction of three steps of g.b
    lines = overlapping(found, GROUP, T0, T0 + 400 * STEP)
    assert lines == [
        f"g: landing files day-again.parquet and day.parquet both hold rows of 'g.a' from {T0} to {T0 + 287 * STEP}; "
        "the group's aggregation (sum) combines them (a re-delivered or corrected file?)",
        f"g: landing files day-again.parquet and b-fix.parquet both hold rows of 'g.b' from {T0 + 100 * STEP} to "
        f"{T0 + 102 * STEP}; the group's aggregation (sum) combines them (a re-delivered or corrected file?)"]
    # only the range asked about: the scored hour after the day holds no pair
    assert overlapping(found, GROUP, T0 + 288 * STEP, T0 + 300 * STEP) == []


def test_files_without_statistics_or_rows_are_not_compared_and_many_pairs_are_counted():
    found = catalog({"iso.parquet": (("g.a",), 0, 0, None), "empty.parquet": (("g.a",), 0, 9, 0),
                     "day.parquet": (("g.a",), 0, 9, 10)})
    assert overlapping(found, GROUP, T0, T0 + 9 * STEP) == []
    many = catalog({f"copy{k}.parquet": (("g.a",), 0, 9, 10) for k in range(6)})
    lines = overlapping(many, GROUP, T0, T0 + 9 * STEP)
    assert len(lines) == 4 and lines[-1] == "g: and 2 more such pairs of landing files"
