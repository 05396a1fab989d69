from pipeline.config import group_from_dict
from pipeline.detect.daily_repeat import DailyRepeat
from pipeline.detect.level import Level, RecentLevel
from pipeline.detect.min_peak import MinPeak
from pipeline.detect.score import RecentScores, Score
from pipeline.detect.shift import RecentShifts, Shift
from pipeline.detect.stored import legacy_detection, stored_states

CONFIG = {"name": "g", "metrics": ["a", "b"], "interval": "5min", "aggregation": "mean", "max_gap": 3, "window": 48,
          "stride": 8, "train_stride": 4, "lookback": "28D", "model": {}}
LAST = {"method": "mean_std", "k": 6.0, "quantile": 0.995, "factor": 1.0, "calibrate_on": "training", "combine": "max",
        "smoothing": 6, "merge_gap": 48, "min_peak": 1.1, "level_steps": 144, "level_factor": 2.5, "repeat_days": 2,
        "repeat_tolerance": "1h", "repeat_factor": 0.8, "shift_steps": 24, "shift_baseline": 288, "shift_k": 6.0,
        "recent_days": 5, "recent_k": 6.0, "recent_factor": 1.5, "recent_shift_floor": 0.5}


def test_the_last_threshold_section_reads_as_todays_default_rules():
    detection = group_from_dict({**CONFIG, "threshold": LAST}).detection
    assert detection.flags == (Score(), Level(), Shift()) and detection.filters == (MinPeak(), DailyRepeat())
    assert (detection.combine, detection.smoothing, detection.merge_gap) == ("max", 6, 48)


def test_checks_a_model_predates_or_turned_off_with_0_are_off():
    older = {k: v for k, v in LAST.items() if k not in ("combine", "level_steps", "repeat_days", "recent_days")}
    detection = group_from_dict({**CONFIG, "threshold": {**older, "shift_steps": 0, "k": 4.0}}).detection
    assert detection.combine == "mean"  # averaged its metrics before `combine` existed
    assert detection.flags == (Score(k=4.0, recent=None),) and detection.filters == (MinPeak(),)


def test_the_recent_days_apply_to_each_rules_recent_context():
    raw = legacy_detection({**LAST, "recent_days": 3, "recent_k": 2.0, "recent_factor": 1.2, "recent_shift_floor": 0.4})
    assert raw["flags"]["score"]["recent"] == {"days": 3, "k": 2.0}
    detection = group_from_dict({**CONFIG, "detection": raw}).detection
    assert detection.flags[1].recent == RecentLevel(days=3, factor=1.2)
    assert detection.flags[2].recent == RecentShifts(days=3, k=2.0, floor=0.4)
    assert detection.flags[0].recent == RecentScores(days=3, k=2.0)


def test_states_come_from_either_layout():
    assert stored_states({"states": {"score": {"threshold": 2.0}}}) == {"score": {"threshold": 2.0}}
    old = stored_states({"threshold": {"value": 2.0, "level_value": 1.5, "shift_values": {"a": 0.3, "b": None}}})
    assert old == {"score": {"threshold": 2.0}, "level": {"threshold": 1.5}, "shift": {"thresholds": {"a": 0.3, "b": None}}}
    assert stored_states({"threshold": {"value": 2.0}})["shift"] == {"thresholds": {}}  # before mean shifts
