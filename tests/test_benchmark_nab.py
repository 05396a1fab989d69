"""The NAB benchmark command on two small signals in NAB's layout (real code path, tiny model)."""
import json

import numpy as np
import pandas as pd

from benchmarks.nab import apply_override, detect, main, paired_signals
from pipeline.config import parse_settings

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
    assert any("score" in trigger.split("+") for *_, trigger in spiky["detected"])  # each interval says what flagged it
    summary = result["summary"]["demo"]
    assert summary["tp"] == 1 and summary["signals"] == 2 and summary["flagged_fraction"] < 0.10

    parallel = tmp_path / "parallel.json"
    args[-1] = str(parallel)
    assert main(args + ["--workers", "2"] + [arg for a in TINY for arg in ("--set", a)]) == 0
    again = json.loads(parallel.read_text())["signals"]["demo"]
    for name in ("spiky", "quiet"):  # each signal in its own process gives what the serial run gave
        assert {k: again[name][k] for k in ("tp", "fp", "fn", "detected", "flagged")} == \
               {k: result["signals"]["demo"][name][k] for k in ("tp", "fp", "fn", "detected", "flagged")}


def test_each_signal_is_trained_on_its_whole_length(tmp_path):
    """40 days of hourly data, longer than the default 28-day lookback: the protocol trains on all of it."""
    index = pd.date_range("2024-01-01", periods=40 * 24, freq="h", tz="UTC", name="timestamp")
    frame = pd.DataFrame({"value": 10 + np.sin(2 * np.pi * np.arange(len(index)) / 24)}, index=index)
    detect(frame, "long", TINY, tmp_path)
    meta = json.loads(next((tmp_path / "models").glob("long/*/metadata.json")).read_text())
    assert pd.Timestamp(meta["training"]["start"]) == index[0] and meta["training"]["steps"] == len(index)


def test_train_rows_trains_on_the_first_rows_and_counts_points_after_them(tmp_path, capsys):
    """A spike inside the first rows would be learnt as normal; with `--train-rows` the model never
    sees the rows after them, and the point-wise table counts only those rows."""
    data = tmp_path / "nab"
    (data / "demo").mkdir(parents=True)
    signal(900, 600, 1).to_csv(data / "demo" / "spiky.csv", index=False)
    (tmp_path / "labels.json").write_text(json.dumps(
        {"demo/spiky.csv": [["2024-01-03 01:00:00.000000", "2024-01-03 03:00:00.000000"]]}))
    out = tmp_path / "result.json"
    args = ["--data", str(data), "--labels", str(tmp_path / "labels.json"), "--json", str(out), "--train-rows", "400",
            "--baselines"]
    assert main(args + [arg for a in TINY for arg in ("--set", a)]) == 0
    table = capsys.readouterr().out
    assert "point-wise, after row 400" in table and "  robust_z" in table
    result = json.loads(out.read_text())
    spiky = result["signals"]["demo"]["spiky"]
    assert result["train_rows"] == 400 and spiky["error"] is None and spiky["tp"] == 1
    assert spiky["points"] == 500 and spiky["anomalous"] == 25  # the rows after the first 400; 2 h of 5 min
    assert spiky["baselines"]["robust_z"]["points"] == 500
    summary = result["summary"]["demo"]
    assert 0 < summary["point_f1"] <= 1 and 0 <= summary["false_alarm_rate"] < 0.1

    frame = signal(900, None, 3).assign(timestamp=lambda f: pd.to_datetime(f["timestamp"], utc=True))
    detect(frame.set_index("timestamp"), "first", TINY + ["training.first_steps=400"], tmp_path / "first")
    meta = json.loads(next((tmp_path / "first" / "models").glob("first/*/metadata.json")).read_text())
    assert meta["training"]["steps"] == 400 and pd.Timestamp(meta["training"]["end"]) == frame["timestamp"][399]


def test_pairs_put_the_second_signal_on_the_first_ones_timestamps_with_its_windows():
    def frame(start, n, offset):
        index = pd.date_range(start, periods=n, freq="5min", tz="UTC", name="timestamp")
        return pd.DataFrame({"value": offset + np.arange(n, dtype=float)}, index=index)

    a, b = frame("2024-01-01", 6, 0.0), frame("2024-03-01 00:02", 5, 100.0)  # b: other dates, shorter
    signals = [("c", "a", a, [["2024-01-01 00:05:00.000000", "2024-01-01 00:10:00.000000"]]),
               ("c", "b", b, [["2024-03-01 00:07:00", "2024-03-01 00:14:00"],  # steps 1 and 2 of b
                              ["2024-03-01 00:20:00", "2024-03-01 09:00:00"]]),  # steps 4 to the end
               ("c", "odd", a, [])]  # no partner: left out
    ((category, name, pair, windows),) = paired_signals(signals)
    assert (category, name, list(pair.columns)) == ("cPairs", "a__b", ["a", "b"])
    assert pair.index.equals(a.index[:5]) and pair["b"].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]
    t = [s.tz_localize(None) for s in a.index]
    assert windows == [("2024-01-01 00:05:00.000000", "2024-01-01 00:10:00.000000", "a"), (t[1], t[2], "b"),
                       (t[4], t[4], "b")]  # each window names the metric it marks


def test_false_turns_a_rule_off_and_a_rules_option_off_rather_than_back_to_its_default():
    """A rule's missing key takes its default, so `recent=false` must not just drop the key."""
    raw = {}
    for assignment in ("detection.flags.level=false", "detection.flags.score.recent=false",
                       "detection.flags.shift.k=4", "detection.filters.daily_repeat=false"):
        apply_override(raw, assignment)
    detection = parse_settings(raw, "benchmark").defaults.detection
    score, shift = detection.flags
    assert [rule.name for rule in detection.flags] == ["score", "shift"]
    assert score.recent is None and shift.recent is not None and shift.k == 4
    assert [rule.name for rule in detection.filters] == ["min_peak"]
