"""The NAB benchmark command on two small signals in NAB's layout (real code path, tiny model)."""
import json

import numpy as np
import pandas as pd

from benchmarks.nab import main

TINY = ["window=16", "model.units=8", "model.bottleneck=4", "model.epochs=2"]


def signal(n: int, spike_at: int | None, seed: int) -> pd.DataFrame:
    t = np.arange(n)
    values = 10 + np.sin(2 * np.pi * t / 96) + 0.05 * np.random.default_rng(seed).standard_normal(n)
    if spike_at is not None:
        values[spike_at:spike_at + 3] += 15
    stamps = pd.date_range("2024-01-01", periods=n, freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    return pd.DataFrame({"timestamp": stamps, "value": values})


def test_benchmark_runs_the_pipeline_and_scores_by_overlap(tmp_path, capsys):
    data = tmp_path / "nab"
    (data / "demo").mkdir(parents=True)
    signal(900, 600, 1).to_csv(data / "demo" / "spiky.csv", index=False)
    signal(900, None, 2).to_csv(data / "demo" / "quiet.csv", index=False)
    labels = {"demo/spiky.csv": [["2024-01-03 01:00:00.000000", "2024-01-03 03:00:00.000000"]],
              "demo/quiet.csv": []}
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    out = tmp_path / "result.json"
    args = ["--data", str(data), "--labels", str(tmp_path / "labels.json"), "--json", str(out)]
    assert main(args + [arg for a in TINY for arg in ("--set", a)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("category") and "demo" in table
    result = json.loads(out.read_text())
    spiky, quiet = result["signals"]["demo"]["spiky"], result["signals"]["demo"]["quiet"]
    assert spiky["error"] is None and quiet["error"] is None
    assert spiky["tp"] == 1 and spiky["fn"] == 0  # the 15-sigma spike at step 600 is inside the window
    assert quiet["tp"] == quiet["fn"] == 0 and quiet["fp"] == len(quiet["detected"])
    assert spiky["tp"] + spiky["fp"] == len(spiky["detected"])
    summary = result["summary"]["demo"]
    assert summary["tp"] == 1 and summary["signals"] == 2 and summary["flagged_fraction"] < 0.10

    parallel = tmp_path / "parallel.json"
    args[-1] = str(parallel)
    assert main(args + ["--workers", "2"] + [arg for a in TINY for arg in ("--set", a)]) == 0
    again = json.loads(parallel.read_text())["signals"]["demo"]
    for name in ("spiky", "quiet"):  # each signal in its own process gives what the serial run gave
        assert {k: again[name][k] for k in ("tp", "fp", "fn", "detected", "flagged")} == \
               {k: result["signals"]["demo"][name][k] for k in ("tp", "fp", "fn", "detected", "flagged")}
