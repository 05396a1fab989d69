"""Feedback labels: an operator's verdict on a time range of a group, `incident` (a confirmed
incident: never learnt as normal) or `false-alarm` (behaviour that must not alarm again). Pure
logic here: checking a label, the steps it covers, the training range it leaves, and which label
an anomaly interval carries; the labels dataset itself is read and written by `pipeline.io.labels`."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.training_range import TrainingRange

INCIDENT, FALSE_ALARM = "incident", "false-alarm"
KINDS = (INCIDENT, FALSE_ALARM)
COLUMNS = ("group", "start", "end", "label", "note", "labelled_by", "labelled_at")


def utc(value) -> pd.Timestamp:
    """A time as UTC (naive ones are UTC, as landed timestamps are); ValueError if unreadable."""
    try:
        time = pd.Timestamp(value)
    except (ValueError, TypeError):
        time = pd.NaT
    if time is pd.NaT:
        raise ValueError(f"not a time: {value!r} (e.g. 2026-11-18 or 2026-11-18T06:00Z)")
    return time.tz_localize("UTC") if time.tzinfo is None else time.tz_convert("UTC")


def label_row(group: str, start, end, kind: str, note: str | None, by: str, at) -> dict:
    """One checked row of the labels dataset; ValueError naming the problem (an end before the
    start, an unknown kind) otherwise."""
    if kind not in KINDS:
        raise ValueError(f"label: {kind!r} is not one of {', '.join(KINDS)}")
    first, last = utc(start), utc(end)
    if last < first:
        raise ValueError(f"end: {end} is before start {start}")
    return {"group": group, "start": first, "end": last, "label": kind, "note": note or "", "labelled_by": by,
            "labelled_at": utc(at)}


def empty() -> pd.DataFrame:
    """A labels frame with no rows, with the dataset's columns and types."""
    frame = pd.DataFrame({c: pd.Series(dtype="string") for c in COLUMNS})
    for column in ("start", "end", "labelled_at"):
        frame[column] = pd.Series(dtype="datetime64[us, UTC]")
    return frame


def of_kind(labels: pd.DataFrame, kind: str) -> pd.DataFrame:
    return labels[labels["label"] == kind] if not labels.empty else labels


def within(labels: pd.DataFrame, start, end, kind: str | None = None) -> np.ndarray:
    """The labels (of `kind`, or any) whose whole range lies in [start, end]: what an operator
    withdrawing a wrong verdict over that range means, and never a label reaching outside it."""
    first, last = utc(start), utc(end)
    inside = (labels["start"] >= first) & (labels["end"] <= last)
    return np.asarray(inside & (labels["label"] == kind) if kind is not None else inside, bool)


def covered(labels: pd.DataFrame, index: pd.DatetimeIndex) -> np.ndarray:
    """Steps of `index` inside any of the labels' [start, end] (inclusive)."""
    mask = np.zeros(len(index), bool)
    for start, end in zip(labels["start"], labels["end"]):
        mask |= np.asarray((index >= start) & (index <= end))
    return mask


def with_incidents(training: TrainingRange, labels: pd.DataFrame, index: pd.DatetimeIndex) -> TrainingRange:
    """The training range with every labelled incident that has a step in `index` (the range) as one
    more excluded interval: the one implementation of leaving steps out (`TrainingRange.exclude`)
    serves labels and configured exclusions alike, and the version's stored `training.exclude`
    shows what was left out."""
    incidents = of_kind(labels, INCIDENT)
    if len(index) and not incidents.empty:
        incidents = incidents[(incidents["start"] <= index[-1]) & (incidents["end"] >= index[0])]
        incidents = incidents.sort_values(["start", "end"])
    extra = tuple(f"{s.isoformat()}/{e.isoformat()}" for s, e in zip(incidents["start"], incidents["end"]))
    added = tuple(text for text in dict.fromkeys(extra) if text not in training.exclude)
    return dataclasses.replace(training, exclude=training.exclude + added) if added else training


def interval_labels(anomalies: pd.DataFrame, labels: pd.DataFrame) -> pd.Series:
    """Per anomaly interval, the label of the newest label overlapping it (by `labelled_at`: a later
    verdict replaces an earlier one), or missing where none does."""
    found = pd.Series(pd.NA, index=anomalies.index, dtype="string")
    if anomalies.empty or labels.empty:
        return found
    for _, label in labels.sort_values("labelled_at", kind="stable").iterrows():
        overlaps = (anomalies["start"] <= label["end"]) & (anomalies["end"] >= label["start"])
        found[overlaps] = label["label"]
    return found


@dataclass(frozen=True)
class Feedback:
    """A group's labels on its training range, for calibration: the false-alarm steps, each
    incident's steps, the range's values and missing cells with the incidents left in (training
    never reads them, but calibration must see how the rules judge them), and the labels used."""

    false_alarms: np.ndarray  # [time] bool
    incidents: tuple[np.ndarray, ...]  # one [time] bool mask per incident label with a step in the range
    values: np.ndarray  # [time, metric]
    excluded: np.ndarray  # [time, metric] bool: imputed or missing
    used: list[dict]


def feedback(labels: pd.DataFrame, index: pd.DatetimeIndex, values: np.ndarray, imputed: np.ndarray) -> Feedback:
    """What `labels` say about the training range `index` (its values before any exclusion)."""
    incidents = of_kind(labels, INCIDENT)
    masks = (np.asarray((index >= start) & (index <= end)) for start, end in zip(incidents["start"], incidents["end"]))
    return Feedback(covered(of_kind(labels, FALSE_ALARM), index), tuple(mask for mask in masks if mask.any()), values, imputed | np.isnan(values),
                    used(labels, index))


def used(labels: pd.DataFrame, index: pd.DatetimeIndex) -> list[dict]:
    """The labels with a step in `index` (what a training could use), as JSON rows for the version's
    metadata."""
    rows = []
    for _, label in labels.iterrows():
        if ((index >= label["start"]) & (index <= label["end"])).any():
            rows.append({"start": label["start"].isoformat(), "end": label["end"].isoformat(),
                         "label": label["label"], "labelled_by": label["labelled_by"],
                         "labelled_at": label["labelled_at"].isoformat()})
    return rows
