"""Labelled false alarms at calibration: a rule's threshold is raised past the false alarm's peak
(with 10% to spare), but never so far that a labelled incident the rule flags is lost."""
import numpy as np
import pandas as pd
import pytest

from pipeline.detect.base import Evidence
from pipeline.detect.compose import Detection
from pipeline.detect.feedback import quieted
from pipeline.detect.level import Level
from pipeline.detect.score import Score

SCORES = np.array([1.0, 1.0, 3.0, 2.5, 1.0, 1.0, 5.0, 1.0, 1.0, 2.2, 1.0, 1.0])
FALSE_ALARM = np.isin(np.arange(12), [2, 3])
INCIDENT = np.isin(np.arange(12), [6])


def evidence(scores: np.ndarray) -> Evidence:
    return Evidence(scores, scores[:, None], np.zeros((len(scores), 1)), ("m",), pd.Timedelta("5min"))


def only_score() -> Detection:
    return Detection(flags=(Score(recent=None),), filters=())


def test_the_threshold_rises_past_the_false_alarm_and_the_incident_stays_flagged():
    states, done = quieted(only_score(), evidence(SCORES), {"score": {"threshold": 2.0}}, FALSE_ALARM, [INCIDENT])
    assert states["score"]["threshold"] == pytest.approx(3.0 * 1.1)  # the false alarm's peak x (1 + margin)
    assert done == {"score": {"factor": pytest.approx(1.65), "quiet": True, "kept_incidents": 1}}
    raised = Score(recent=None).flags(evidence(SCORES), states["score"]).raised
    assert np.flatnonzero(raised).tolist() == [6]  # the later 2.2 is quiet too: the same behaviour, smaller


def test_an_incident_below_the_false_alarm_caps_the_rise():
    scores = SCORES.copy()
    scores[6] = 3.2  # under 3.3, the threshold that would quiet the false alarm
    states, done = quieted(only_score(), evidence(scores), {"score": {"threshold": 2.0}}, FALSE_ALARM, [INCIDENT])
    threshold = states["score"]["threshold"]
    assert threshold * 1.1 == pytest.approx(3.2, abs=1e-6) and threshold * 1.1 <= 3.2  # the incident keeps 10%
    assert done["score"]["quiet"] is False  # the false alarm's 3.0 still passes: the incident wins
    raised = Score(recent=None).flags(evidence(scores), states["score"]).raised
    assert raised[6] and raised[2]


def test_an_incident_the_rule_never_flagged_does_not_hold_it_back():
    states, _ = quieted(only_score(), evidence(SCORES), {"score": {"threshold": 2.0}}, FALSE_ALARM,
                        [np.isin(np.arange(12), [10])])  # score 1.0: not flagged before either
    assert states["score"]["threshold"] == pytest.approx(3.3)


def test_a_rule_that_did_not_flag_the_false_alarm_keeps_its_state():
    detection = Detection(flags=(Score(recent=None), Level(steps=2, recent=None)), filters=())
    states = {"score": {"threshold": 2.0}, "level": {"threshold": 10.0}}
    new, done = quieted(detection, evidence(SCORES), states, FALSE_ALARM, [])
    assert new["level"] is states["level"] and set(done) == {"score"}


def test_a_level_rule_is_quieted_through_its_own_statistic():
    detection = Detection(flags=(Level(steps=2, recent=None),), filters=())
    new, done = quieted(detection, evidence(SCORES), {"level": {"threshold": 2.0}}, FALSE_ALARM, [])
    flags = Level(steps=2, recent=None).flags(evidence(SCORES), new["level"])
    assert done["level"]["quiet"] and not flags.raised[FALSE_ALARM].any()
    assert new["level"]["threshold"] == pytest.approx(2.75 * 1.1)  # the trailing median's peak there, (3+2.5)/2
