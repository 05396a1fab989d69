"""Helpers of the S3 tests: landed roots in a bucket, the driver on them, and what a reader sees."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import s3fs

from pipeline import io
from pipeline.saved import load_autoencoder
from tests.reliability.recovery import DATASETS, NAMES, REPO, TITLE_TIME, make_root, snapshot

ROOT_VARS = ("NIGHTWATCH_DATA_ROOT", "NIGHTWATCH_MODELS_ROOT")


def land_in_bucket(local: Path, bucket: str) -> Path:
    """The reliability suite's two landed groups, copied to `<bucket>/data/landing`."""
    make_root(local)
    s3fs.S3FileSystem().put(f"{local}/data/landing/", f"{bucket[5:]}/data/landing/", recursive=True)
    return local


def use_bucket(monkeypatch, bucket: str) -> tuple[str, str]:
    """Point the settings' roots at the bucket (the driver and `snapshot` read these variables)."""
    data, models = f"{bucket}/data", f"{bucket}/models"
    monkeypatch.setenv("NIGHTWATCH_DATA_ROOT", data)
    monkeypatch.setenv("NIGHTWATCH_MODELS_ROOT", models)
    return data, models


def driver(root: Path, *kill: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "tests.s3.kill_driver", str(root), *map(str, kill)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def bucket_snapshot(root: Path, data: str) -> dict:
    """`tests.reliability.recovery.snapshot` of the bucket's roots, with the newest report page."""
    out = snapshot(root)
    pages = sorted((io.location(data) / "reports").glob("report-*.html"))
    out["report", "html"] = TITLE_TIME.sub("Nightwatch anomaly report <time>", pages[-1].read_text()) if pages else None
    return out


def assert_consistent(data: str, models: str) -> list[str]:
    """What a reader of the bucket sees after a kill: each dataset read whole straight from the
    bucket equals its groups' partitions, every listed version is whole and the current one loads.
    Returns the unreferenced objects left (version objects without metadata, leases)."""
    for dataset in DATASETS:
        if (io.location(data) / dataset).exists():
            whole = pd.read_parquet(f"{data}/{dataset}")
            assert len(whole) == sum(len(io.read_dataset(data, dataset, n)) for n in NAMES)
    left = []
    for name in NAMES:
        listed = io.versions(models, name)
        for version in listed:
            folder = io.location(models) / name / version
            assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.keras"], folder
        current = io.current_version(models, name)
        if current:
            assert current in listed
            load_autoencoder(io.model_path(models, name, current))
        group_dir = io.location(models) / name
        left += [str(p) for p in group_dir.iterdir() if p.is_dir() and p.name not in listed]
    fs, base = io.location(data).parent.fs()
    left += [path for path in fs.find(base) if re.search(r"/\.[^/]*lock$", path)]
    return left
