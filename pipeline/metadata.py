"""A model version's `metadata.json`, checked before a version is registered and when it is
loaded: everything scoring reads from it (settings, scaler, per-metric scales, the rules'
fitted states) must be there, of the right kind, finite and agreeing with the metrics, so a
broken or tampered version is refused with an error naming the file and key instead of
publishing garbage (a zero scale divides by zero, a NaN threshold silently turns a rule off)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.config import ConfigError, GroupConfig, group_from_dict
from pipeline.detect.stored import stored_states
from pipeline.ingest import MAX_MAGNITUDE
from pipeline.scale import Scaler
from pipeline.seasonal import slot_count
from pipeline.time_inputs import width


class MetadataError(ConfigError):
    """A model version's metadata that cannot be scored with; the message names the file and key."""


@dataclass(frozen=True)
class StoredVersion:
    """What scoring reads of a model version, validated."""

    version: str
    config: GroupConfig
    scaler: Scaler
    metric_scales: np.ndarray  # [metric] each metric's usual error (1 for versions from before them)
    states: dict[str, dict]  # each flagging rule's fitted state, by rule name
    val_error: float
    windows_from: pd.Timestamp  # the training range's first step: scoring windows start whole strides from it
    model_sha256: str | None  # of the model file the version saved (None for versions from before it)
    seasonal: np.ndarray | None = None  # [slot, metric] baseline removed before scaling (config.model.seasonal)


def read_version(models_root: str, group: str, version: str) -> StoredVersion:
    """The stored version `version` of `group`, checked; one whose metadata file is missing (a
    current pointer naming a folder that is not there) is refused like a broken one."""
    path = io.metadata_path(models_root, group, version)
    try:
        meta = io.read_metadata(models_root, group, version)
    except FileNotFoundError:
        raise MetadataError(f"{path}: missing: version {version!r} of group {group!r} is not in the registry "
                            "(a current pointer naming a version that is not there?)") from None
    return parse_metadata(meta, str(path), group, version)


def parse_metadata(meta: object, source: str, group: str, version: str) -> StoredVersion:
    """`meta` as the version `version` of group `group`; MetadataError "source: key: problem"."""
    def fail(key: str, problem: str):
        raise MetadataError(f"{source}: {key}: {problem}")

    if not isinstance(meta, dict):
        fail("(top level)", f"expected a mapping, got {type(meta).__name__}")
    for key in ("version", "config", "scaler", "val_error", "training"):
        if key not in meta:
            fail(key, "missing")
    if meta["version"] != version:
        fail("version", f"{meta['version']!r} is not the folder's version {version!r}")
    if not isinstance(meta["config"], dict):
        fail("config", "expected a mapping")
    try:
        config = group_from_dict(meta["config"], f"{source}: config")
    except ConfigError as exc:  # its message names the file and key already
        raise MetadataError(str(exc)) from None
    except (KeyError, TypeError) as exc:
        fail("config", f"unreadable ({type(exc).__name__}: {exc})")
    if config.name != group:
        fail("config.name", f"{config.name!r} is not the group {group!r}")
    metrics = config.metrics
    if "metrics" in meta and meta["metrics"] != list(metrics):
        fail("metrics", f"{meta['metrics']!r} differ from config.metrics {list(metrics)}")
    scaler = _scaler(meta["scaler"], metrics, fail)
    scales = _metric_scales(meta.get("metric_scales"), metrics, fail)
    states = _states(meta, config, fail)
    val_error = meta["val_error"]
    if isinstance(val_error, bool) or not isinstance(val_error, (int, float)) or not np.isfinite(val_error) \
            or val_error < 0:
        fail("val_error", f"must be a finite number, at least 0, got {val_error!r}")
    sha = meta.get("model_sha256")
    if sha is not None and not (isinstance(sha, str) and len(sha) == 64):
        fail("model_sha256", f"must be 64 hex digits, got {sha!r}")
    return StoredVersion(version, config, scaler, scales, states, float(val_error), _training_start(meta, fail), sha,
                         _seasonal(meta.get("seasonal"), config, fail))


def check_model_file(path: str, stored: StoredVersion) -> None:
    """The model file is there and is the one its version saved (versions from before the hash:
    there only); a missing or swapped file is refused, not retried as an I/O error would be."""
    try:
        digest = io.file_sha256(path)
    except FileNotFoundError:
        raise MetadataError(f"{path}: missing: version {stored.version} has no model file") from None
    if stored.model_sha256 is not None and digest != stored.model_sha256:
        raise MetadataError(f"{path}: its SHA-256 {digest[:12]}... is not the model_sha256 "
                            f"{stored.model_sha256[:12]}... its metadata.json recorded: not the file this version saved")


def check_input_shape(shape: tuple, stored: StoredVersion, source: str) -> None:
    """The model's input `[batch, window, metrics + time features]` agrees with the settings it is
    scored with (`model.time_inputs` adds two columns per period)."""
    config = stored.config
    expected = (config.window, len(config.metrics) + width(config.model.time_inputs))
    if tuple(shape[1:]) != expected:
        keys = "config.window, config.metrics" + (", config.model.time_inputs" if config.model.time_inputs else "")
        raise MetadataError(f"{source}: {keys}: the model takes windows of shape {tuple(shape[1:])}, the metadata "
                            f"says {expected}")


def _training_start(meta: dict, fail) -> pd.Timestamp:
    training = meta.get("training")
    try:
        start = pd.Timestamp(training["start"])
    except (TypeError, KeyError, ValueError):
        fail("training.start", f"must be a time, got {training.get('start') if isinstance(training, dict) else None!r}")
    if start is pd.NaT:
        fail("training.start", "must be a time, got NaT")
    return start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")


def _numbers(values: object, n: int) -> np.ndarray | None:
    """`values` as `n` floats, or None if it is not a list of `n` numbers."""
    if not isinstance(values, list) or len(values) != n or \
            any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        return None
    return np.array(values, dtype=np.float64)


def _scaler(raw: object, metrics: tuple[str, ...], fail) -> Scaler:
    if not isinstance(raw, dict) or raw.get("metrics") != list(metrics):
        fail("scaler.metrics", f"must list the metrics {list(metrics)}")
    center, scale = _numbers(raw.get("center"), len(metrics)), _numbers(raw.get("scale"), len(metrics))
    if center is None or not (np.abs(center) <= MAX_MAGNITUDE).all():
        fail("scaler.center", f"must be {len(metrics)} finite numbers within ±{MAX_MAGNITUDE:.0e} (as landed values "
                              f"are), got {raw.get('center')!r}")
    if scale is None or not (np.isfinite(scale) & (scale > 1e-12 * np.maximum(1.0, np.abs(center)))).all():
        fail("scaler.scale", f"must be {len(metrics)} finite numbers above 0 (and above 1e-12 x the centre, as "
                             f"training fits them), got {raw.get('scale')!r}")
    return Scaler.from_dict(raw)


def _seasonal(raw: object, config: GroupConfig, fail) -> np.ndarray | None:
    """The seasonal profile the version's `model.seasonal` setting needs: per metric, one finite
    value per slot of the period; a version with the setting off must have none, and one with
    `min_share` has none where its gate removed nothing."""
    if config.model.seasonal is None:
        if raw is not None:
            fail("seasonal", "present, but config.model.seasonal is off")
        return None
    if raw is None and config.model.seasonal.min_share is not None:
        return None
    count, metrics = slot_count(config.model.seasonal, config.interval_td), config.metrics
    if not isinstance(raw, dict) or sorted(raw) != sorted(metrics):
        fail("seasonal", f"must give each of the metrics {list(metrics)} a profile (config.model.seasonal is on)")
    for metric in metrics:
        profile = _numbers(raw[metric], count)
        if profile is None or not (np.abs(profile) <= MAX_MAGNITUDE).all():
            fail(f"seasonal.{metric}", f"must be {count} finite numbers within ±{MAX_MAGNITUDE:.0e} (one per "
                                       f"{config.interval} of the {config.model.seasonal.period} period)")
    return np.array([raw[m] for m in metrics], dtype=np.float64).T


def _metric_scales(raw: object, metrics: tuple[str, ...], fail) -> np.ndarray:
    if raw is None or raw == {}:  # versions from before per-metric scales score raw errors
        return np.ones(len(metrics))
    if not isinstance(raw, dict) or sorted(raw) != sorted(metrics):
        fail("metric_scales", f"must give each of the metrics {list(metrics)} a scale")
    scales = _numbers([raw[m] for m in metrics], len(metrics))
    if scales is None or not (np.isfinite(scales) & (scales > 0)).all():
        fail("metric_scales", f"must be finite numbers above 0, got {raw!r}")
    return scales


def _states(meta: dict, config: GroupConfig, fail) -> dict[str, dict]:
    """The fitted state of each flagging rule the version's settings turn on, each checked by its rule."""
    if "states" not in meta and "threshold" not in meta:
        fail("states", "missing")
    layout = "states" if "states" in meta else "threshold"
    try:
        states = stored_states(meta)
    except (KeyError, TypeError, AttributeError) as exc:
        fail(layout, f"unreadable ({type(exc).__name__}: {exc})")
    if not isinstance(states, dict):
        fail(layout, "expected a mapping")
    for rule in config.detection.flags:
        state = states.get(rule.name)
        if not isinstance(state, dict):
            fail(f"states.{rule.name}", "missing: the rule is on in config.detection but has no fitted state")
        try:
            rule.check_state(state, config.metrics)
        except ValueError as exc:
            fail(f"states.{rule.name}", str(exc))
    return states
