"""The rolling benchmark on a small signal in NAB's layout (real train and score path, tiny model)."""
import json

import numpy as np
import pandas as pd

from benchmarks.rolling import main, night_ends

# split_windows off: this demo's nights grow a 153-step training split to 268, which would window it at 16, then
# 8 steps (a short split windows shorter), and a changed window starts cold
TINY = ["window=16", "split_windows=null", "model.units=8", "model.bottleneck=4", "model.epochs=2"]


def test_nights_cut_the_second_half_at_midnights_and_widen_to_max_nights():
    index = pd.date_range("2024-01-01 06:00", periods=8 * 48, freq="30min", tz="UTC")
    cut, ends = night_ends(index, 1, None)
    assert cut == pd.Timestamp("2024-01-06", tz="UTC")  # the midnight after the middle row (01-05 06:00)
    assert ends[:-1] == [cut + pd.Timedelta(days=k) for k in (1, 2, 3)] and ends[-1] > index[-1]
    assert night_ends(index, 1, 2)[1][:-1] == [cut + pd.Timedelta(days=2)]  # 4 days in 2 nights


def test_each_day_is_scored_once_by_the_current_model_then_retrained_warm_or_cold(tmp_path, capsys):
    data = tmp_path / "nab"
    (data / "demo").mkdir(parents=True)
    n = 8 * 48  # 8 days at 30 minutes; the first 4 train, then 4 nights (3 retrainings)
    t = np.arange(n)
    values = 10 + np.sin(2 * np.pi * t / 48) + 0.05 * np.random.default_rng(1).standard_normal(n)
    values[300:303] += 15
    stamps = pd.date_range("2024-01-01", periods=n, freq="30min")
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "value": values}).to_csv(
        data / "demo" / "spiky.csv", index=False)
    window = [str(stamps[298]), str(stamps[306])]
    (tmp_path / "labels.json").write_text(json.dumps({"demo/spiky.csv": [window]}))
    out = tmp_path / "rolling.json"
    args = ["--data", str(data), "--labels", str(tmp_path / "labels.json"), "--json", str(out), "--seed", "7",
            "--warm-start", "{epochs: 1}"]
    assert main(args + [arg for a in TINY for arg in ("--set", a)]) == 0
    assert "demo" in capsys.readouterr().out
    row = json.loads(out.read_text())["seeds"]["7"]["signals"]["demo"]["spiky"]
    assert row["cut"] == "2024-01-05 00:00:00+00:00" and row["nights"] == 4
    for arm in ("cold", "warm"):
        result = row[arm]
        assert result["error"] is None and len(result["nights"]) == 4
        assert result["scored"] == result["unique_steps"] == n // 2  # every step after the cut, once
        assert [night["scored"] for night in result["nights"]] == [48, 48, 48, 48]
        current = row["first_version"]
        for night in result["nights"]:  # each day scored by the model current before it landed, then retrained
            assert night["current"] == current and night["scored_by"] == [current]
            current = night["version"] if night.get("promoted") else current
        assert "version" not in result["nights"][-1]  # nothing follows the last day: no training
        assert result["tp"] == 1 and result["fn"] == 0  # the 15-sigma spike on day 7, unseen when scored
    cold, warm = row["cold"]["nights"][:-1], row["warm"]["nights"][:-1]
    assert all(night["warm_from"] is None and night["why"] == "warm_start off" for night in cold)
    for night in warm:  # from the model that scored the day, on the warm run's own schedule
        assert night["warm_from"] == night["current"] and night["epochs"] <= 1

    assert main(["--tables", str(out)]) == 0  # the table again, from the saved run
    assert capsys.readouterr().out.splitlines()[1].startswith("7    demo")
