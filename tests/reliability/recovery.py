"""Crash-and-recover helpers: landed roots, the fault driver in a subprocess, snapshots of what a
run published, and what a reader may see after a crash."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from pipeline import io
from pipeline.saved import load_autoencoder
from tests.reliability.common import land, settings_for, wide
from tests.reliability.fault_driver import GROUPS

REPO = Path(__file__).resolve().parents[2]
NAMES = [g["name"] for g in GROUPS]
DATASETS = ("scores", "anomalies", "features")
TITLE_TIME = re.compile(r"Nightwatch anomaly report \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")


def make_root(root: Path) -> Path:
    landing = root / "data" / "landing"
    alpha = wide("alpha", steps=288)
    alpha.loc[100:104, "alpha.m1"] += 30.0  # a spike, so anomalies get published too
    land(landing, "alpha.parquet", alpha)
    beta = wide("b", steps=288, seed=5).melt(id_vars="timestamp", var_name="metric").assign(group="beta")
    land(landing, "beta/part.parquet", beta)
    return root


def land_next_day(root: Path) -> None:
    """A second day for both groups, in new files (as the next night's landing brings)."""
    landing = root / "data" / "landing"
    start = pd.Timestamp("2026-11-19", tz="UTC")
    alpha = wide("alpha", steps=288, start=start, seed=11)
    alpha.loc[150:154, "alpha.m0"] -= 25.0  # a dip: the new day has anomalies of its own
    land(landing, "alpha-2.parquet", alpha)
    beta = wide("b", steps=288, start=start, seed=12).melt(id_vars="timestamp", var_name="metric")
    land(landing, "beta/part-2.parquet", beta.assign(group="beta"))


def driver(root: Path, *kill: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.fault_driver", str(root), *map(str, kill)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out + err[-3000:]


def latest_report(root: Path) -> str | None:
    """The newest report page, its title's time masked (the page is otherwise a function of the data)."""
    pages = sorted((root / "data" / "reports").glob("report-*.html"))
    return TITLE_TIME.sub("Nightwatch anomaly report <time>", pages[-1].read_text()) if pages else None


def snapshot(root: Path) -> dict:
    """Everything a run publishes, without run ids and timestamps of the run itself."""
    settings = settings_for(root, GROUPS)
    data, models = settings.storage.data_root, settings.storage.models_root
    out: dict = {}
    for name in NAMES:
        for dataset in DATASETS:
            frame = io.read_dataset(data, dataset, name).drop(columns="run_id", errors="ignore")
            if "embedding" in frame:
                frame["embedding"] = frame["embedding"].map(tuple)
            out[dataset, name] = frame
        version = io.current_version(models, name)
        meta = io.read_metadata(models, name, version) if version else {}
        # the model file's hash is the run's too: a .keras archive records when it was saved
        run_own = ("run_id", "trained_at", "model_sha256")
        out["model", name] = (version, {k: v for k, v in meta.items() if k not in run_own})
        out["watermark", name] = io.read_watermark(data, name)
    out["report", "html"] = latest_report(root)
    return out


def assert_same(expected: dict, actual: dict) -> int:
    """Compare two snapshots; return the number of published rows compared."""
    rows = 0
    for key, value in expected.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(value, actual[key], obj=str(key))
            rows += len(value)
        else:
            assert value == actual[key], key
    return rows


def assert_consistent(root: Path) -> list[Path]:
    """What a reader sees mid-crash: readable datasets without temp files, complete model versions
    (the current one loadable), complete report pages. Returns the hidden temp names left."""
    data, models = root / "data", root / "models"
    for dataset in DATASETS:
        if (data / dataset).exists():
            whole = pd.read_parquet(data / dataset)
            parts = sum(len(io.read_dataset(str(data), dataset, n)) for n in NAMES)
            assert len(whole) == parts and set(whole["group"].astype(str)) <= set(NAMES)
    for name in NAMES:
        group_dir = models / name
        for folder in (p for p in group_dir.glob("[!.]*") if p.is_dir()):  # every visible version is whole
            assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.keras"], folder
            assert json.loads((folder / "metadata.json").read_text())["version"] == folder.name
        version = io.current_version(str(models), name)
        if version:
            assert (group_dir / version).is_dir()
            load_autoencoder(str(group_dir / version / "model.keras"))
    for page in (data / "reports").glob("report-*.html"):
        assert page.read_text().endswith("</body></html>"), page
    return list(root.rglob(".tmp-*"))
