import numpy as np
import pandas as pd

from pipeline.sample_data import GROUPS, landing_files


def test_sample_data_layouts_and_injections():
    files, injected = landing_files(days=4, end="2026-11-20")
    assert {i.kind for i in injected} == {"spike", "level_shift", "decoupling"}
    web = pd.concat(f for name, f in files.items() if name.startswith("cloudwatch/"))
    assert list(web.columns) == ["timestamp", "group", "metric", "value"] and len(web) == 4 * 288 * 5
    db = next(f for name, f in files.items() if name.startswith("exports/"))
    assert db["timestamp"].dt.tz is None and "db-01.replication_lag" in db.columns
    queue = files["prometheus/group=queue-01/metrics.parquet"]
    assert not queue["timestamp"].is_monotonic_increasing
    spike = next(i for i in injected if i.kind == "spike")
    lat = web[web["metric"] == "latency_p95"].set_index("timestamp")["value"]
    assert lat[spike.start:spike.end].min() > lat.drop(lat[spike.start:spike.end].index).max()
    assert len(GROUPS["web-01"]) == 5


def test_metrics_within_a_group_are_correlated():
    files, _ = landing_files(days=4, end="2026-11-20")
    db = pd.concat(f for name, f in files.items() if name.startswith("exports/"))
    assert np.corrcoef(db["db-01.cpu"], db["db-01.iops"])[0, 1] > 0.8
