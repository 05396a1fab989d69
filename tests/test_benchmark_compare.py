"""The signal-by-signal comparison of two NAB benchmark JSON files, on hand-made results."""
import json

from benchmarks.compare import differences, main


def row(detected, tp=0, fp=0, fn=0, error=None):
    return {"detected": detected, "tp": tp, "fp": fp, "fn": fn, "error": error}


def test_same_intervals_and_triggers_compare_equal(tmp_path, capsys):
    result = {"signals": {"c": {"a": row([["2024-01-01", "2024-01-02", "value", "score"]], tp=1)}}}
    for name in ("before.json", "after.json"):
        (tmp_path / name).write_text(json.dumps(result))
    assert main([str(tmp_path / "before.json"), str(tmp_path / "after.json")]) == 0
    assert "1 signals compared, 1 intervals after; 0 differ" in capsys.readouterr().out


def test_a_changed_trigger_a_lost_interval_and_a_missing_signal_are_each_listed():
    interval = ["2024-01-01", "2024-01-02", "value", "score"]
    before = {"c/a": row([interval], tp=1), "c/b": row([interval], fp=1), "c/gone": row([])}
    after = {"c/a": row([interval[:3] + ["score+level"]], tp=1), "c/b": row([], fn=0), "c/new": row([])}
    lines = differences(before, after)
    assert lines[0].startswith("c/a: counts []; lost [['2024-01-01', '2024-01-02', 'value', 'score']]")
    assert lines[1].startswith("c/b: counts [('fp', 1, 0)]")
    assert lines[2:] == ["c/gone: only in before", "c/new: only in after"]
