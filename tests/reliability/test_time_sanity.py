"""A stray future timestamp (a clock set to 2030 on one host) never stops a group's scoring:
rows after the run's clock plus the tolerance are neither trained on nor scored, the run names
the file, and the watermark stays on real data."""
import pandas as pd
import pytest

from pipeline import io
from pipeline.catalog import discover, groups
from pipeline.scoring import score_group
from pipeline.train import train_group
from tests.helpers import land_sample, tiny_settings

DB = [{"name": "db-01", "metrics": ["db-01.*"]}]
TRAINED_AT = pd.Timestamp("2026-11-19 00:00", tz="UTC")  # the clock of the nightly run
SCORED_AT = pd.Timestamp("2026-11-20 06:00", tz="UTC")  # the next morning's hourly run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("time-sanity")
    land_sample(root, days=10, keep=("db-01",))
    settings = tiny_settings(root, DB)
    catalog = discover(settings.storage.landing, now=TRAINED_AT)
    (db,) = groups(settings, catalog)
    summary = train_group(settings, db, catalog, "train", emit=lambda _: None)
    return root, settings, db, summary


def test_training_leaves_out_rows_after_its_clock_and_says_so(trained):
    root, _, _, summary = trained
    (line,) = summary["warnings"]
    assert line.startswith(str(root / "data" / "landing" / "exports" / "db-01-week47.parquet"))
    assert "of group 'db-01' after 2026-11-19 01:00:00+00:00" in line
    meta = io.read_metadata(str(root / "models"), "db-01", summary["version"])
    assert pd.Timestamp(meta["training"]["end"]) <= TRAINED_AT + pd.Timedelta("1h")


def test_a_stray_future_row_is_not_scored_and_the_watermark_stays_on_real_data(trained, tmp_path):
    root, settings, db, _ = trained
    data = settings.storage.data_root
    stray = root / "data" / "landing" / "exports" / "db-01-stray.parquet"
    real = io.read_series([str(root / "data" / "landing" / "exports" / "db-01-week47.parquet")], set(db.metrics))
    row = {"timestamp": [pd.Timestamp("2030-01-01")], **{m: [1.0] for m in db.metrics}}
    io.write_parquet_atomic(pd.DataFrame(row), stray)
    try:
        catalog = discover(settings.storage.landing, now=SCORED_AT)
        (db,) = groups(settings, catalog)
        summary = score_group(settings, db, catalog, "hourly", emit=lambda _: None)
        (line,) = [w for w in summary["warnings"] if w.startswith(str(stray))]
        assert "1 row(s) of group 'db-01' after 2026-11-20 07:00:00+00:00" in line and "2030-01-01" in line
        assert io.read_watermark(data, "db-01") == real["timestamp"].max().floor("5min") <= SCORED_AT
        dates = sorted(p.name for p in (root / "data" / "scores" / "group=db-01").glob("date=*"))
        assert dates[-1] == "date=2026-11-20" and len(dates) <= 11  # no partitions of empty steps up to 2030
    finally:
        stray.unlink()
    again = score_group(settings, db, discover(settings.storage.landing, now=SCORED_AT), "next", emit=lambda _: None)
    assert again["scored"] == 0 and again["warnings"] == []  # the file gone, the next run is a normal one
    later = discover(settings.storage.landing, now=pd.Timestamp("2031-01-01", tz="UTC"))
    assert score_group(settings, db, later, "later", emit=lambda _: None)["scored"] == 0


def test_a_watermark_already_past_the_clock_is_warned_about_with_the_way_back(trained, tmp_path):
    """A state written by a release before the clock limit (or by hand) with a 2030 watermark: the run
    scores nothing, and says why and how to recover instead of reporting a normal empty run."""
    root, settings, db, _ = trained
    data = settings.storage.data_root
    before = io.read_watermark(data, "db-01")
    io.write_watermark(data, "db-01", pd.Timestamp("2030-01-01", tz="UTC"))
    try:
        summary = score_group(settings, db, discover(settings.storage.landing, now=SCORED_AT), "hourly",
                              emit=lambda _: None)
        assert summary["scored"] == 0
        assert summary["warnings"] == [
            "db-01: watermark 2030-01-01 00:00:00+00:00 is after the run's clock (2026-11-20 07:00:00+00:00), so no "
            "step before it is scored; `nightwatch state reset db-01 --to TIME` moves it back"]
    finally:
        io.write_watermark(data, "db-01", before)
