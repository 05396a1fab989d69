"""SIGKILL on S3 roots: killed while publishing and while saving a model version, then a rerun
whose outputs equal an uninterrupted run's, with no partial object ever visible; and two runs at
once on the same groups (the lease object excludes the second writer of a group)."""
from __future__ import annotations

import signal

import pytest

from pipeline import io
from tests.reliability.recovery import NAMES, assert_same, finish
from tests.s3.s3_roots import assert_consistent, bucket_snapshot, driver, land_in_bucket, use_bucket

# (fragment of the object's URL, which PUT of it, kill before or after): one run each, every run
# resuming from what the killed one before it left
KILLS = [("model.keras", 1, "after"),  # a version's model put, its metadata not yet
         ("metadata.json", 1, "after"),  # a version complete, the current pointer not yet moved
         ("scores/", 1, "after"),  # one partition of the scores published, the rest not
         ("features/", 2, "before"),  # scores and anomalies published, features half
         ("state/", 1, "before")]  # everything published but the watermark


@pytest.fixture(scope="module")
def reference(tmp_path_factory, s3_server):
    """Two runs at once on one fresh bucket: both succeed, and their result is the reference."""
    import s3fs

    bucket = "s3://nightwatch-reference"
    s3fs.S3FileSystem().mkdir(bucket[5:])
    root = land_in_bucket(tmp_path_factory.mktemp("s3-reference"), bucket)
    with pytest.MonkeyPatch.context() as monkeypatch:
        data, models = use_bucket(monkeypatch, bucket)
        results = [finish(p) for p in [driver(root), driver(root)]]
        for code, log in results:
            assert code == 0, log
        return data, models, bucket_snapshot(root, data), assert_consistent(data, models)


def test_two_concurrent_runs_on_one_bucket_publish_each_row_once(reference):
    data, models, expected, left = reference
    for name in NAMES:
        scores = expected["scores", name]
        assert len(scores) == 288 * 2 and not scores.duplicated(["timestamp", "metric"]).any()
        assert io.versions(models, name) == [expected["model", name][0]]
    assert len(expected["anomalies", "alpha"]) >= 1
    assert expected["report", "html"].count("<svg") == 2
    assert left == []  # no lease left behind, no version without metadata


def test_sigkill_while_saving_and_publishing_then_rerun_equals_uninterrupted(reference, bucket, tmp_path,
                                                                            monkeypatch):
    _, _, expected, _ = reference
    root = land_in_bucket(tmp_path, bucket)
    data, models = use_bucket(monkeypatch, bucket)
    leftovers = []
    for kill in KILLS:
        code, log = finish(driver(root, *kill))
        assert code == -signal.SIGKILL, f"{kill}: {log}"
        leftovers += assert_consistent(data, models)
    assert any("model" not in p for p in leftovers)  # a killed run's lease was left, and taken over
    assert any(p.endswith("alpha/" + expected["model", "alpha"][0]) for p in leftovers)  # model.keras alone
    code, log = finish(driver(root))
    assert code == 0, log
    assert assert_consistent(data, models) == []  # the rerun removed what the killed runs left
    assert assert_same(expected, bucket_snapshot(root, data)) > 0
