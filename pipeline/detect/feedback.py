"""Labelled false alarms at calibration: each flagging rule's fitted thresholds are raised just
enough that the rule stays quiet over the labelled false-alarm steps, but never so far that a
labelled incident the rule flags stops being flagged. Any rule works through its `flags` and
`scaled` methods: a rule's flags only thin out as its thresholds grow, so the smallest factor
that quiets it, and the largest that keeps each incident, are found by search."""
from __future__ import annotations

import numpy as np

from pipeline.detect.base import Evidence
from pipeline.detect.compose import Detection

MARGIN = 0.1  # headroom on both sides, as `min_peak`'s default ratio: a threshold 10% above the false
# alarm's peak, an incident's peak 10% above the threshold, so neither sits on the edge
ROUNDS = 20  # raises tried per rule (each at least by MARGIN; a rule with a recent-context part needs several)
BISECTIONS = 30


def quieted(detection: Detection, evidence: Evidence, states: dict[str, dict], false_alarms: np.ndarray,
            incidents: list[np.ndarray]) -> tuple[dict[str, dict], dict[str, dict]]:
    """The states with thresholds raised so no rule flags a step of `false_alarms` (a mask over the
    evidence's steps) while every incident (one mask each) that a rule flags is still flagged by it,
    with MARGIN to spare; and per rule that flagged a false alarm, what was done: `factor` (the
    thresholds' multiplier), `quiet` (the false-alarm steps raise no flag now) and `kept_incidents`."""
    new, done = dict(states), {}
    for rule in detection.flags:
        state = states[rule.name]
        if not rule.flags(evidence, state).raised[false_alarms].any():
            continue
        flagged = [steps for steps in incidents if rule.flags(evidence, state).raised[steps].any()]

        def keeps(factor: float) -> bool:
            raised = rule.flags(evidence, rule.scaled(state, factor * (1 + MARGIN))).raised
            return all(raised[steps].any() for steps in flagged)

        factor = _quiet_factor(rule, evidence, state, false_alarms)
        if not keeps(factor):  # capped: the largest factor that keeps every incident flagged
            low, high = 1.0, factor
            for _ in range(BISECTIONS):
                middle = (low + high) / 2
                low, high = (middle, high) if keeps(middle) else (low, middle)
            factor = low
        new[rule.name] = rule.scaled(state, factor)
        quiet = not rule.flags(evidence, new[rule.name]).raised[false_alarms].any()
        done[rule.name] = {"factor": factor, "quiet": bool(quiet), "kept_incidents": len(flagged)}
    return new, done


def _quiet_factor(rule, evidence: Evidence, state: dict, false_alarms: np.ndarray) -> float:
    """The factor, found by raising it step by step, at which the rule flags none of `false_alarms`
    (its statistic there at most the raised threshold / (1 + MARGIN)); the last one tried if a
    threshold of 0 or ROUNDS raises never get there."""
    factor = 1.0
    for _ in range(ROUNDS):
        flags = rule.flags(evidence, rule.scaled(state, factor))
        with np.errstate(invalid="ignore"):
            loud = false_alarms & (flags.raised | (flags.ratio * (1 + MARGIN) > 1))
        if not loud.any():
            break
        peak = float(np.nanmax(np.where(loud, flags.ratio, np.nan)))
        if not np.isfinite(peak):  # a threshold of 0: no factor raises it
            break
        factor *= max(peak * (1 + MARGIN), 1 + MARGIN)
    return factor
