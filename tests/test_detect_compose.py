import dataclasses
import typing

import numpy as np
import pandas as pd
import pytest

from pipeline.anomalies import to_intervals
from pipeline.config import ConfigError, parse_settings
from pipeline.detect.base import Evidence, Flags, sliced
from pipeline.detect.compose import Detection, anomaly_scores, detect, filter_flags, fit, raise_flags
from pipeline.detect.daily_repeat import DailyRepeat
from pipeline.detect.level import Level
from pipeline.detect.min_peak import MinPeak
from pipeline.detect.rules import FLAG_RULES
from pipeline.detect.score import Score
from pipeline.detect.shift import Shift

SIX_HOURS = pd.Timedelta("6h")  # 4 steps a day
# every flagging rule raises the same runs here: a score (and its one-step median) or a value step of
# 3 at step 2, and one of 1.5 at step 8 (against the other filter's case: 3 again a day later, step 6)
CASES = {
    "min_peak": ([0, 0, 3, 0, 0, 0, 0, 0, 1.5, 0], [0, 0, 3, 3, 3, 3, 3, 3, 4.5, 4.5], MinPeak(ratio=2.0), 8),
    "daily_repeat": ([0, 0, 3, 0, 0, 0, 3, 0, 0, 0], [0, 0, 3, 3, 3, 3, 6, 6, 6, 6],
                     DailyRepeat(days=1, tolerance="0h", factor=1.0), 6),
}
RULES = (Score(recent=None), Level(steps=1, recent=None), Shift(steps=1, baseline=1, recent=None))
STATES = {"score": {"threshold": 1.0}, "level": {"threshold": 1.0}, "shift": {"thresholds": {"x": 1.0}}}


def evidence(scores, values) -> Evidence:
    scores = np.asarray(scores, dtype=float)
    return Evidence(scores, scores[:, None], np.asarray(values, dtype=float)[:, None], ("x",), SIX_HOURS)


@pytest.mark.parametrize("target", ["score", "level", "shift"])
@pytest.mark.parametrize("case", list(CASES))
def test_each_filter_drops_a_run_of_each_flagging_rule_it_applies_to_and_no_other(case, target):
    scores, values, rule, dropped = CASES[case]
    detection = Detection(merge_gap=0, flags=RULES, filters=(dataclasses.replace(rule, applies_to=(target,)),))
    found = detect(detection, evidence(scores, values), STATES)
    for name in ("score", "level", "shift"):
        assert np.flatnonzero(found.raised.flags[name].raised).tolist() == [2, dropped]
        assert np.flatnonzero(found.kept[name]).tolist() == ([2] if name == target else [2, dropped])
    assert np.flatnonzero(found.published).tolist() == [2, dropped]  # the other rules still keep it


def test_the_anomaly_score_is_the_largest_ratio_of_any_rule_and_above_1_wherever_a_rule_flags():
    nan, no = np.nan, np.zeros(4, bool)
    flags = {"score": Flags(no, np.array([0.5, nan, 2.0, nan])), "level": Flags(no, np.array([1.5, nan, 0.1, 3.0]))}
    np.testing.assert_array_equal(anomaly_scores(flags, 4), [1.5, nan, 2.0, 3.0])
    np.testing.assert_array_equal(anomaly_scores({}, 2), [nan, nan])
    scores, values = CASES["min_peak"][:2]
    found = detect(Detection(flags=RULES, filters=()), evidence(scores, values), STATES)
    ratios = anomaly_scores(found.raised.flags, len(scores))
    assert found.published.any() and (ratios[found.published] > 1).all() and (ratios[~found.published] <= 1).all()


def test_filters_run_in_order_each_on_what_the_last_kept():
    scores, values, _, _ = CASES["daily_repeat"]
    repeat = DailyRepeat(days=1, tolerance="0h", factor=1.0)
    both = Detection(merge_gap=0, flags=RULES[:1], filters=(MinPeak(ratio=4.0), repeat))
    assert not detect(both, evidence(scores, values), STATES).published.any()  # 3 < 4: min_peak drops both
    alone = Detection(merge_gap=0, flags=RULES[:1], filters=(repeat,))
    assert np.flatnonzero(detect(alone, evidence(scores, values), STATES).published).tolist() == [2]


def test_without_rules_nothing_is_flagged_and_fit_gives_each_flagging_rule_its_state():
    nothing = Detection(flags=(), filters=())
    assert not detect(nothing, evidence([0, 9, 0], [0, 9, 0]), {}).published.any()
    states = fit(Detection(flags=(Score(k=1.0, recent=None), Level(factor=2.0, recent=None)), filters=()),
                 evidence([1.0, 3.0, 1.0, 3.0], [0, 0, 0, 0]), first=0)
    assert states == {"score": {"threshold": 3.0}, "level": {"threshold": 4.0}}


def test_flags_raised_with_a_look_back_equal_the_tail_of_one_pass():
    """What scoring's parts rely on: the steps after a look-back of `lookback` steps get the flags,
    ratios and filter measures that one pass over everything gives them."""
    rng = np.random.default_rng(3)
    scores, values = rng.gamma(2.0, 0.5, 60), np.cumsum(rng.normal(0, 1, 60))
    detection = Detection(merge_gap=1, flags=(Score(recent=None), Level(steps=3), Shift(steps=2, baseline=4)),
                          filters=(MinPeak(), DailyRepeat(days=1, tolerance="6h")))
    states = {"score": {"threshold": 1.5}, "level": {"threshold": 1.2}, "shift": {"thresholds": {"x": 1.0}}}
    whole = raise_flags(detection, evidence(scores, values), states)
    lookback = detection.lookback(SIX_HOURS)
    assert lookback == (2 + 4 - 1 + 5 * 4) + (1 * 4 + 1)  # the shift's spans and recent days, then a day's repeat
    start = 40
    part = raise_flags(detection, sliced(evidence(scores, values), slice(start - lookback, None)), states, lookback)
    tail = sliced(whole, slice(start, None))
    for name in whole.flags:
        np.testing.assert_array_equal(part.flags[name].raised, tail.flags[name].raised)
        np.testing.assert_allclose(part.flags[name].ratio, tail.flags[name].ratio)
    np.testing.assert_allclose(part.measures["daily_repeat:score"], tail.measures["daily_repeat:score"])
    assert filter_flags(detection, part)["score"].tolist() == filter_flags(detection, tail)["score"].tolist()


def test_a_filter_must_apply_to_a_flagging_rule_that_is_on():
    with pytest.raises(ValueError, match="filters.min_peak.applies_to: 'level' is not a flagging rule that is on"):
        Detection(flags=(Score(),), filters=(MinPeak(applies_to=("level",)),)).check()
    with pytest.raises(ValueError, match="combine: 'sum'"):
        Detection(combine="sum").check()


@dataclasses.dataclass(frozen=True)
class Above:
    """A rule written for this test only: a step whose scaled value passes the training range's
    largest one by `margin`."""

    name: typing.ClassVar[str] = "above"
    margin: float = 1.0

    def check(self) -> None:
        if self.margin <= 0:
            raise ValueError("margin: must be above 0")

    def lookback(self, interval: pd.Timedelta) -> int:
        return 0

    def fit(self, evidence: Evidence, first: int) -> dict:
        return {"limit": float(np.nanmax(evidence.values[first:])) + self.margin}

    def flags(self, evidence: Evidence, state: dict) -> Flags:
        top = np.nanmax(evidence.values, axis=1)
        return Flags(top > state["limit"], top / state["limit"])


def test_a_new_rule_is_one_class_and_one_registry_entry(monkeypatch):
    """Registered, the rule is configured by name (its keys checked), fitted, filtered and named in
    the trigger by the same code that runs the built-in rules."""
    monkeypatch.setitem(FLAG_RULES, "above", Above)
    raw = {"defaults": {"detection": {"merge_gap": 0, "flags": {"score": {"recent": None}, "above": {"margin": 2.0}},
                                      "filters": {"min_peak": {"ratio": 1.2, "applies_to": ["above"]}}}}}
    detection = parse_settings(raw, "test").defaults.detection
    assert [rule.name for rule in detection.flags] == ["score", "above"]  # the registry's order
    with pytest.raises(ConfigError, match=r"test: defaults\.detection\.flags\.above\.margin: must be above 0"):
        parse_settings({"defaults": {"detection": {"flags": {"above": {"margin": -0.0}}}}}, "test")

    training = evidence([1.0] * 4, [0.0, 1.0, 0.5, 1.0])
    states = fit(detection, training, 0)
    assert states == {"score": {"threshold": 1.0}, "above": {"limit": 3.0}}
    found = detect(detection, evidence([0.0] * 6, [0, 3.3, 0, 0, 4.0, 0]), states)
    assert found.raised.flags["above"].raised.tolist() == [False, True, False, False, True, False]
    assert found.kept["above"].tolist() == [False] * 4 + [True, False]  # 3.3 / 3 grazes the limit: dropped
    intervals = to_intervals(pd.date_range("2026-01-01", periods=6, freq="6h", tz="UTC"), np.zeros(6),
                             np.zeros((6, 1)), ("x",), 1.0, 0, found.kept, found.raised.flags)
    assert intervals[["trigger", "n_points"]].values.tolist() == [["above", 1]]
