"""Train a group's autoencoder, fit its detection rules, register the version, maybe promote it."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import version as package_version

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.catalog import Catalog, future_rows, load_aligned
from pipeline.config import ConfigError, GroupConfig, Settings, group_to_dict
from pipeline.detect.compose import fit
from pipeline.detect.evidence import evidence
from pipeline.detect.feedback import quieted
from pipeline.detect.stored import stored_states
from pipeline.inference import scaled_input
from pipeline.ingest import InputError
from pipeline.labels import Feedback, feedback, with_incidents
from pipeline.metadata import parse_metadata, read_version
from pipeline.model import StoredModel, train_autoencoder
from pipeline.overlaps import overlapping
from pipeline.promotion import errors_from, mean_error, promote
from pipeline.resample import Aligned
from pipeline.saved import ModelFileError, load_autoencoder
from pipeline.scale import Scaler, fit_scaler
from pipeline.seasonal import deseasonalised, fit_profile, rules_input
from pipeline.time_inputs import model_input
from pipeline.training_range import TrainingRange
from pipeline.score import metric_scales
from pipeline.warm_start import Plan, plan, previous_runs
from pipeline.window import clean_starts, fitted_window, window_starts, window_view

log = logging.getLogger(__name__)
LIBRARIES = ("nightwatch", "tensorflow-cpu", "keras", "numpy", "pandas", "pyarrow", "prefect")


def fingerprint(values: pd.DataFrame, group: GroupConfig, labels: list[dict] | None = None) -> str:
    """Hash of the aligned training data, the group's configuration and the labels on its range
    (a new label makes a new version, calibrated with it)."""
    digest = hashlib.sha256(values.index.asi8.tobytes())
    digest.update(np.ascontiguousarray(values.to_numpy()).tobytes())
    digest.update(json.dumps(group_to_dict(group), sort_keys=True).encode())
    if labels:
        digest.update(json.dumps([[row["start"], row["end"], row["label"]] for row in labels]).encode())
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = package_version(name)
        except Exception:  # noqa: BLE001 - a missing optional package is simply not listed
            continue
    return found


def train_group(settings: Settings, group: GroupConfig, catalog: Catalog, run_id: str,
                emit: Callable[[str], None] = log.info) -> dict:
    """Fit on the training range (`group.training`: by default the lookback before the newest data,
    excluded intervals counted as missing), hold out its end for early stopping (and, with
    `calibrate_on: validation`, for fitting the detection rules). Rows after the catalog's clock
    limit are left out, and named in the summary's `warnings`."""
    warnings = future_rows(catalog, group)
    for line in warnings:
        emit(f"warning: {line}")
    labels = _labels(settings, group)
    aligned = _observed(load_aligned(catalog, group))
    keep = group.training.rows(aligned.values.index, group.lookback)
    frame, imputed = aligned.values[keep], aligned.imputed.to_numpy()[keep]
    group = dataclasses.replace(group, training=with_incidents(group.training, labels, frame.index))
    left_out = group.training.excluded(frame.index)
    masked = frame.mask(np.broadcast_to(left_out[:, None], frame.shape))  # missing: never learnt as normal
    n = int(keep.sum())
    split = int(n * (1 - group.model.validation_fraction))
    window, stride = fitted_window(group.window, group.stride, split, group.split_windows)
    if window != group.window:  # stored with the version, so scoring windows alike
        emit(f"{group.name}: a training split of {split} steps is windowed at {window} steps, not {group.window} "
             f"(split_windows {group.split_windows})")
        group = dataclasses.replace(group, window=window, stride=stride)
    span = group.span
    unseen = masked[:split].isna().all()
    if 0 < unseen.sum() < len(unseen):  # all of them: the scaler's error below names them
        line = (f"{group.name}: metrics {list(unseen.index[unseen])} have no values in the training split (new, "
                f"renamed or stopped upstream?): this version leaves them out; a later one takes them in once "
                "its training split holds their values")
        emit(f"warning: {line}")
        warnings.append(line)
        imputed, frame, masked = imputed[:, ~unseen.to_numpy()], frame.loc[:, ~unseen], masked.loc[:, ~unseen]
        group = dataclasses.replace(group, metrics=tuple(frame.columns))
    for line in overlapping(catalog, group, frame.index[0] - group.interval_td, frame.index[-1]) if n else ():
        emit(f"warning: {line}")
        warnings.append(line)
    labelled = feedback(labels, frame.index, frame.to_numpy(), imputed)  # the values before any exclusion
    frame = masked
    values = frame.to_numpy()
    if split < 2 * span or n - split < span:
        fraction = group.model.validation_fraction
        needed = int(np.ceil(max(2 * span / (1 - fraction), span / fraction)))
        raise InputError("landing", f"{n} aligned steps is too short for window {span}: need at least "
                         f"{needed}{_range_note(group)}", group=group.name)
    digest = fingerprint(frame, group, labelled.used)
    version = f"{frame.index[-1]:%Y%m%dT%H%M%SZ}-{digest[:10]}"
    excluded = imputed | np.isnan(values)
    seasonal = group.model.seasonal  # its baseline is fitted where the scaler is, and taken out before it
    profile = fit_profile(values[:split], frame.index[:split], seasonal, group.interval_td) if seasonal else None
    values = deseasonalised(values, frame.index, profile, group.interval_td)
    try:
        scaler = fit_scaler(values[:split], group.metrics)
    except ValueError as exc:
        raise InputError("landing", f"{exc}{_range_note(group)}", group=group.name) from exc

    try:
        existing = io.current_version(settings.storage.models_root, group.name)
    except ConfigError as exc:  # a broken pointer is replaced by the new version rather than block training
        emit(f"{group.name}: {exc}")
        existing = None
    try:
        meta = io.read_metadata(settings.storage.models_root, group.name, version)
        parse_metadata(meta, str(io.metadata_path(settings.storage.models_root, group.name, version)), group.name,
                       version)
        emit(f"{group.name}: version {version} already trained on identical data; reusing it")
    except FileNotFoundError:
        start = _warm_start(settings, group, existing, scaler, profile, emit)
        meta = _fit_and_register(settings, group, version, digest, frame, values, excluded, scaler, split,
                                 run_id, emit, labelled, profile, start)
    promoted = promote(settings, group, meta, frame, excluded, split, existing, emit)
    return {"group": group.name, "version": version, "promoted": promoted, "val_error": meta["val_error"],
            "threshold": stored_states(meta).get("score", {}).get("threshold"), "steps": n, "metrics": len(group.metrics),
            "warnings": warnings}


def _observed(aligned: Aligned) -> Aligned:
    """The steps up to the newest one where some metric has a value: rows of times alone (an
    exporter's placeholders for the rest of its day) would put the training range's end, and its
    validation split, where no value is."""
    seen = np.flatnonzero(aligned.values.notna().any(axis=1).to_numpy())
    end = int(seen[-1]) + 1 if seen.size else len(aligned.values)
    return aligned if end == len(aligned.values) else Aligned(aligned.values.iloc[:end], aligned.imputed.iloc[:end])


def _labels(settings: Settings, group: GroupConfig) -> pd.DataFrame:
    """The group's feedback labels; an unreadable labels file fails the group (it would otherwise
    learn a labelled incident as normal)."""
    try:
        return io.read_labels(settings.storage.data_root, group.name)
    except ValueError as exc:
        raise InputError("labels", str(exc), group=group.name) from None


def _range_note(group: GroupConfig) -> str:
    """Where a group's own training range settings may be why nothing is left to train on."""
    if group.training == TrainingRange():
        return ""
    set_keys = {k: v for k, v in dataclasses.asdict(group.training).items() if v not in (None, ())}
    return f" (in the range its `training` settings leave: {set_keys})"


def _warm_start(settings: Settings, group: GroupConfig, current: str | None, scaler: Scaler,
                profile: np.ndarray | None, emit: Callable[[str], None]) -> tuple[Plan, StoredModel | None]:
    """Whether this training starts from the current version's weights (`model.warm_start`), and
    those weights; a current version that cannot be read or loaded means a cold start."""
    root, cfg = settings.storage.models_root, group.model.warm_start
    stored, runs = None, 0
    if cfg is not None and current is not None:
        try:
            stored = read_version(root, group.name, current)
            runs = previous_runs(io.read_metadata(root, group.name, current))
        except ConfigError as exc:
            emit(f"{group.name}: cold start: current version {current} is unusable ({exc})")
    decided = plan(cfg, group, stored, runs, scaler, profile)
    weights = None
    if decided.warm:
        try:
            weights = load_autoencoder(io.model_path(root, group.name, current))
        except ModelFileError as exc:
            decided = Plan(False, f"current model not loadable: {exc}", 0, None)
    if cfg is not None:
        emit(f"{group.name}: {'warm' if decided.warm else 'cold'} start ({decided.why})")
    return decided, weights


def _fit_and_register(settings: Settings, group: GroupConfig, version: str, digest: str, frame: pd.DataFrame,
                      values: np.ndarray, excluded: np.ndarray, scaler: Scaler, split: int, run_id: str,
                      emit: Callable[[str], None], labelled: Feedback, profile: np.ndarray | None,
                      start: tuple[Plan, StoredModel | None]) -> dict:
    window = group.span  # a composite model's windows end in the future
    scaled = model_input(scaled_input(values, scaler), frame.index, group.model.time_inputs)
    missing_rows = np.isnan(values).any(axis=1)
    train_starts = clean_starts(window_starts(split, window, group.train_stride), missing_rows, window)
    val_starts = window_starts(len(values), window, group.train_stride, first=split)
    val_starts = clean_starts(val_starts, missing_rows, window)
    if len(train_starts) == 0 or len(val_starts) == 0:
        raise InputError("landing", f"no complete windows to train or validate on: {1 - missing_rows.mean():.0%} of "
                         f"the {len(values)} steps in the training range have every metric observed (gaps too long: "
                         f"those over max_gap {group.max_gap} steps stay missing; does data land less often than "
                         f"every {group.interval}?){_range_note(group)}", group=group.name)
    emit(f"{group.name}: training on {len(train_starts)} windows, validating on {len(val_starts)}")
    warm, initial = start
    schedule, rule = group.model, group.model.warm_start
    if warm.warm:  # the warm run's own schedule, where set
        schedule = dataclasses.replace(schedule, epochs=rule.epochs or schedule.epochs,
                                       patience=schedule.patience if rule.patience is None else rule.patience)
    result = train_autoencoder(window_view(scaled, window), train_starts, val_starts, schedule, emit, initial)
    first = 0 if group.detection.calibrate_on == "training" else split
    errors = errors_from(result.model, scaler, values, first, window, group.stride, scaler, frame.index,
                         group.model.time_inputs)
    val_error = mean_error(errors[split - first:], excluded[split:])
    scales = metric_scales(errors, excluded[first:])
    before_first = np.full((first, errors.shape[1]), np.nan)  # no errors computed: not calibrated on
    rule_values = scaler.transform(rules_input(frame.to_numpy(), values, group.model.seasonal))
    calibration = evidence(np.concatenate([before_first, errors]), excluded, scales, rule_values,
                           group.detection, group.metrics, group.interval_td)
    states = fit(group.detection, calibration, first)
    quiet = {}
    if labelled.false_alarms[first:].any():
        states, quiet = _heed_false_alarms(group, result.model, scaler, scales, first, states, labelled,
                                           frame.index, profile)
        emit(f"{group.name}: thresholds raised for labelled false alarms: {json.dumps(quiet)}")
    meta = {
        "group": group.name, "version": version, "metrics": list(group.metrics),
        "config": group_to_dict(group), "scaler": scaler.to_dict(),
        "metric_scales": dict(zip(group.metrics, scales.tolist())), "states": states,
        "training": {"start": str(frame.index[0]), "end": str(frame.index[-1]),
                     "validation_start": str(frame.index[split]), "steps": len(values),
                     "excluded_steps": int(group.training.excluded(frame.index).sum()),
                     "train_windows": int(len(train_starts)), "val_windows": int(len(val_starts)),
                     "epochs": result.epochs, "keras_val_loss": result.val_loss},
        "labels": {"used": labelled.used, "quieted": quiet},
        "val_error": val_error, "fingerprint": digest, "warm_start": warm.to_dict(), "libraries": library_versions(),
        "run_id": run_id, "trained_at": datetime.now(timezone.utc).isoformat(),
    }
    if profile is not None:
        meta["seasonal"] = {metric: profile[:, i].tolist() for i, metric in enumerate(group.metrics)}
    parse_metadata(meta, f"group {group.name!r}: version {version} (refused, not registered)", group.name, version)
    io.save_model_version(settings.storage.models_root, group.name, version, result.model, meta,
                          why=f"run {run_id}: val_error {val_error:.4f}")
    emit(f"{group.name}: registered {version} (val_error={val_error:.4f}, states {json.dumps(states)})")
    return meta


def _heed_false_alarms(group: GroupConfig, model, scaler: Scaler, scales: np.ndarray, first: int,
                       states: dict, labelled: Feedback, index: pd.DatetimeIndex,
                       profile: np.ndarray | None) -> tuple[dict, dict]:
    """The rules' states raised to stay quiet over the labelled false alarms while still flagging
    each labelled incident they flag, judged on evidence of the whole range, incidents included."""
    residual = deseasonalised(labelled.values, index, profile, group.interval_td)
    errors = errors_from(model, scaler, residual, first, group.span, group.stride, scaler, index,
                         group.model.time_inputs)
    before_first = np.full((first, errors.shape[1]), np.nan)
    rule_values = scaler.transform(rules_input(labelled.values, residual, group.model.seasonal))
    judged = evidence(np.concatenate([before_first, errors]), labelled.excluded, scales,
                      rule_values, group.detection, group.metrics, group.interval_td)
    steps = labelled.false_alarms & (np.arange(len(labelled.false_alarms)) >= first)
    return quieted(group.detection, judged, states, steps, list(labelled.incidents))
