"""Flow-level integration: the nightly flow trains, scores, publishes and reports under Prefect."""
import pandas as pd
import pytest

from pipeline import io
from pipeline.publish import SCORES_SCHEMA
from tests.helpers import BAD_GROUP, GROUPS, land_sample_with_bad_inputs, overlaps, write_config


@pytest.fixture(scope="module")
def nightly(tmp_path_factory, prefect_harness):
    from flows.nightly import nightly_flow

    root = tmp_path_factory.mktemp("flows")
    injected = land_sample_with_bad_inputs(root)
    config = str(write_config(root, GROUPS + [BAD_GROUP]))
    state = nightly_flow(config, days=30, return_state=True)  # the report covers the injections
    return root, config, injected, state


def test_nightly_publishes_every_good_group_and_finds_injections(nightly):
    root, _, injected, state = nightly
    data = str(root / "data")
    whole = pd.read_parquet(root / "data" / "scores")  # a plain hive read of the dataset root works
    assert set(whole["group"].astype(str)) == {"web-01", "db-01"}
    for group in ("web-01", "db-01"):
        scores = io.read_dataset(data, "scores", group)
        assert {c: str(t) for c, t in scores.dtypes.items()} == SCORES_SCHEMA
        assert scores["model_version"].nunique() == 1 and scores["run_id"].nunique() == 1
        assert len(io.read_dataset(data, "features", group)) > 0
        anomalies = io.read_dataset(data, "anomalies", group)
        for item in (i for i in injected if i.group == group):
            assert overlaps(anomalies, item.start, item.end), f"{item.kind} in {group} not found"


def test_bad_group_and_file_are_reported_and_fail_the_run(nightly):
    root, _, _, state = nightly
    assert state.is_failed() and "bad" in state.message and "broken.parquet" in state.message
    (report,) = (root / "data" / "reports").glob("report-*.html")
    page = report.read_text()
    assert "bad.parquet: group &#x27;bad&#x27;: column &#x27;bad.x&#x27;: non-numeric values" in page
    assert "broken.parquet: not a readable parquet file" in page
    assert page.count("<svg") == 2 and 'class="anomalies"' in page


def test_rerun_is_idempotent(nightly):
    from flows.nightly import nightly_flow

    root, config, _, _ = nightly
    data = str(root / "data")
    before = {g: io.read_dataset(data, "scores", g).drop(columns="run_id") for g in ("web-01", "db-01")}
    nightly_flow(config, return_state=True)
    for group, frame in before.items():
        pd.testing.assert_frame_equal(frame, io.read_dataset(data, "scores", group).drop(columns="run_id"))
    assert len([p for p in (root / "models" / "web-01").iterdir() if p.is_dir()]) == 1


def test_the_report_shows_an_intervals_label(nightly):
    """Last: the label would make the next training a new version."""
    from flows.nightly import report_flow

    root, config, injected, _ = nightly
    (spike,) = [i for i in injected if i.group == "web-01"]
    io.add_label(str(root / "data"), "web-01", spike.start, spike.end, "incident", "INC-9", "ana")
    report_flow(config, 30)
    page = max((root / "data" / "reports").glob("report-*.html")).read_text()
    assert page.count("<td>incident</td>") == 1 and "<th>label</th>" in page


def test_progress_is_reported_for_every_group_of_a_small_run_and_each_twentieth_of_a_fleet():
    from flows.nightly import reports_progress

    assert all(reports_progress(k, 2) for k in (1, 2))
    assert all(reports_progress(k, 20) for k in range(1, 21))
    fleet = [k for k in range(1, 1001) if reports_progress(k, 1000)]
    assert fleet == list(range(50, 1001, 50))  # 20 artifact updates and log lines, not 1,000
    assert [k for k in range(1, 31) if reports_progress(k, 30)][-1] == 30 and sum(
        reports_progress(k, 30) for k in range(1, 31)) == 20
    assert [k for k in range(16, 1001, 16) if reports_progress(k, 1000, 16)][:3] == [64, 112, 160]  # batches


def test_scoring_batches_hold_one_group_each_up_to_the_most_tasks_then_near_equal_shares():
    from flows.nightly import batches

    assert batches(list("abc"), most=4) == [("a",), ("b",), ("c",)]
    assert batches(list("abcdefg"), most=3) == [("a", "b"), ("c", "d"), ("e", "f", "g")]
    fleet = batches(list(range(1000)))
    assert len(fleet) == 64 and {len(b) for b in fleet} == {15, 16} and [g for b in fleet for g in b] == list(range(1000))
    assert batches([]) == []


def test_the_landing_scan_is_kept_for_the_next_run_and_a_failed_keep_loses_nothing(tmp_path, prefect_harness):
    from flows.tasks import discover_task
    from tests.helpers import land_sample, tiny_settings

    land_sample(tmp_path, keep=("db-01",))
    settings = tiny_settings(tmp_path)
    first = discover_task(settings)
    assert io.read_landing_scans(settings.storage.data_root) == first.scans and first.scans
    blocked = tmp_path / "blocked"
    land_sample(blocked, keep=("db-01",))
    (blocked / "data" / "catalog").write_text("a file where the folder belongs")
    catalog = discover_task(tiny_settings(blocked))  # warns; the run goes on with the catalog it found
    assert len(catalog.files) == len(first.files) > 0 and not (blocked / "data" / "catalog").is_dir()
