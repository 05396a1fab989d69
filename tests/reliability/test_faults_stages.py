"""SIGKILL inside ingest, training (an epoch, the model version's files) and the report write, then a
normal rerun: the outputs equal an uninterrupted run's, readers never see a partial file, and the
scoring watermark of an incremental (next day) run neither skips nor double-counts."""
from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pandas as pd
import pytest

from pipeline import io
from tests.reliability.recovery import (NAMES, assert_consistent, assert_same, driver, finish, land_next_day,
                                        make_root, snapshot)

SCORE = "score,report"  # the hourly scoring then the morning report, without retraining


def models_written(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "models").rglob("*") if p.name != ".lock") \
        if (root / "models").exists() else []


def published(root: Path, dataset: str = "scores") -> int:
    return sum(len(io.read_dataset(str(root / "data"), dataset, n)) for n in NAMES)


def watermarks(root: Path) -> dict[str, pd.Timestamp | None]:
    return {n: io.read_watermark(str(root / "data"), n) for n in NAMES}


def current(root: Path) -> dict[str, str | None]:
    return {n: io.current_version(str(root / "models"), n) for n in NAMES}


def check_ingest(root: Path) -> None:  # killed reading the first landing file: nothing written at all
    assert models_written(root) == []
    assert sorted(p.name for p in (root / "data").iterdir()) == ["landing"]


def check_save(root: Path) -> None:  # killed after model.keras, before metadata.json: a hidden folder only
    (staged,) = (root / "models" / "alpha").glob(".tmp-*")
    assert sorted(p.name for p in staged.iterdir()) == ["model.keras"]
    assert not [p for p in (root / "models" / "alpha").glob("[!.]*")]
    assert current(root) == {"alpha": None, "beta": None}


def check_second_fit(root: Path) -> None:  # killed in beta's first epoch: alpha whole and current
    versions = current(root)
    assert versions["alpha"] is not None and versions["beta"] is None
    assert published(root) == 0


def check_score_ingest(root: Path) -> None:  # killed after scoring read alpha's landing: nothing published
    assert None not in current(root).values()
    assert published(root) == 0 and watermarks(root) == {"alpha": None, "beta": None}


def check_report(root: Path) -> None:  # killed before the report's rename: a hidden temp page only
    assert published(root) == 288 * 2 * len(NAMES) and None not in watermarks(root).values()
    assert not list((root / "data" / "reports").glob("report-*.html"))
    assert len(list((root / "data" / "reports").glob(".tmp-report-*"))) == 1


# (crash point, occurrence, before/after, what the killed run must have left): one run each, every
# run resuming from what the killed one before it left (see fault_driver for the crash points)
STAGE_KILLS = [
    ("call:pipeline.io:read_series", 1, "before", check_ingest),
    ("call:keras:Model.save", 1, "after", check_save),
    ("epoch", 3, "-", check_second_fit),  # alpha runs 2 epochs, so the 3rd is beta's first
    ("call:pipeline.io:read_series", 3, "after", check_score_ingest),  # 1, 2: training reads
    ("reports", 1, "before", check_report),
]


def assert_recovered(root: Path, expected: dict, steps: int) -> int:
    """The rerun's outputs equal the uninterrupted run's; every step scored once; nothing hidden left."""
    now = snapshot(root)
    rows = assert_same(expected, now)
    for name in NAMES:
        scores = now["scores", name]
        assert len(scores) == steps * 2 and not scores.duplicated(["timestamp", "metric"]).any()
        assert now["watermark", name] == scores["timestamp"].max()
    assert now["report", "html"] is not None and now["report", "html"].count("<svg") == len(NAMES)
    assert not list(root.rglob(".tmp-*"))  # every temp name a crash left was swept
    assert_consistent(root)
    return rows


def test_sigkill_in_ingest_training_and_report_then_rerun_gives_identical_outputs(reference, tmp_path, capsys):
    _, expected = reference
    root = make_root(tmp_path)
    leftovers = 0
    for point, nth, when, left in STAGE_KILLS:
        code, log = finish(driver(root, point, nth, when))
        assert code == -signal.SIGKILL, f"{point} {nth}: not killed there:\n{log}"
        left(root)
        leftovers += len(assert_consistent(root))
    code, log = finish(driver(root))
    assert code == 0, log
    rows = assert_recovered(root, expected, 288)
    with capsys.disabled():
        print(f"\n  stage faults: {len(STAGE_KILLS)} SIGKILLs in ingest, model save, a training epoch and report "
              f"survived ({leftovers} hidden temp names seen mid-crash); {rows} published rows identical "
              f"after recovery")


@pytest.fixture
def next_day(reference, tmp_path):
    """Two copies of the reference roots with the next day landed; one is scored without faults."""
    roots = []
    for name in ("clean", "crashed"):
        shutil.copytree(reference[0], tmp_path / name)
        land_next_day(tmp_path / name)
        roots.append(tmp_path / name)
    code, log = finish(driver(roots[0], "", 0, "-", SCORE))
    assert code == 0, log
    return reference[1], snapshot(roots[0]), roots[1]


def test_sigkill_in_an_incremental_run_neither_skips_nor_double_counts(next_day, capsys):
    day_one, expected, root = next_day
    end_one = pd.Timestamp("2026-11-18 23:55", tz="UTC")
    assert watermarks(root) == {"alpha": end_one, "beta": end_one}

    code, log = finish(driver(root, "call:pipeline.io:read_series", 1, "after", SCORE))
    assert code == -signal.SIGKILL, log  # alpha's two landing files read (one call), nothing aligned or written
    assert_same({k: v for k, v in day_one.items() if k[0] in ("scores", "watermark")}, snapshot(root))

    code, log = finish(driver(root, "state", 1, "before", SCORE))
    assert code == -signal.SIGKILL, log  # alpha's next day published, its watermark not moved yet
    assert published(root) == 288 * 2 * 3 and watermarks(root) == {"alpha": end_one, "beta": end_one}

    code, log = finish(driver(root, "state", 2, "before", SCORE))
    assert code == -signal.SIGKILL, log  # alpha rescored from its old watermark, beta published, not moved
    assert published(root) == 288 * 2 * 4 and watermarks(root)["beta"] == end_one
    assert watermarks(root)["alpha"] == end_one + pd.Timedelta(days=1)
    assert_consistent(root)

    code, log = finish(driver(root, "", 0, "-", SCORE))
    assert code == 0, log
    rows = assert_recovered(root, expected, 2 * 288)
    for name in NAMES:  # the first day's rows are untouched by the next day's runs
        first = expected["scores", name]
        pd.testing.assert_frame_equal(first[first["timestamp"] <= end_one].reset_index(drop=True),
                                      day_one["scores", name])
    with capsys.disabled():
        print(f"\n  incremental faults: 3 SIGKILLs survived; {rows} published rows identical after recovery")
