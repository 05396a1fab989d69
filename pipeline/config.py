"""Settings: one frozen dataclass per concern, built and validated from YAML at the boundary."""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

AGGREGATIONS = ("mean", "median", "sum", "min", "max", "first", "last")
THRESHOLD_METHODS = ("quantile", "mean_std")
CALIBRATION_RANGES = ("training", "validation")
COMBINE_METHODS = ("max", "mean")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ConfigError(ValueError):
    """The configuration file is invalid; the message names the file, key and problem."""


@dataclass(frozen=True)
class ModelConfig:
    """Size and training schedule of the LSTM autoencoder."""

    units: int = 32
    bottleneck: int = 8
    epochs: int = 12
    batch_size: int = 64
    patience: int = 2
    validation_fraction: float = 0.2
    learning_rate: float = 0.002
    seed: int = 7


@dataclass(frozen=True)
class ThresholdConfig:
    """How scores become anomalies: calibration of the stored threshold, then interval rules.

    The defaults were chosen on the labelled NAB benchmark (benchmarks/RESULTS.md).
    """

    method: str = "mean_std"  # mean + k std, or quantile x factor
    k: float = 6.0
    quantile: float = 0.995
    factor: float = 1.0
    calibrate_on: str = "training"  # the whole training range, or only its held-out validation end
    combine: str = "max"  # a timestamp's score: its largest metric score, or the metrics' mean
    smoothing: int = 6  # centred rolling mean of the combined score, in steps
    merge_gap: int = 48  # flagged runs this many steps apart or closer form one interval
    min_peak: float = 1.1  # an interval must peak at min_peak x threshold, or it is dropped
    level_steps: int = 144  # a sustained rise: the median score over this many trailing steps (0: off) ...
    level_factor: float = 2.5  # ... and the step's own score above level_factor x the training range's mean
    repeat_days: int = 2  # drop a score interval whose peak time of day already scored repeat_factor x threshold
    repeat_tolerance: str = "1h"  # (within this much) on one of the previous repeat_days days: a daily pattern
    repeat_factor: float = 0.8
    shift_steps: int = 24  # a level change in the values: the mean of the last shift_steps steps (0: off) ...
    shift_baseline: int = 288  # ... against the mean of the shift_baseline steps before them, per metric,
    shift_k: float = 6.0  # flagged above mean + shift_k std of that distance over the training range
    recent_days: int = 5  # a score or level flag must also stand out against the scores of the last recent_days
    recent_k: float = 6.0  # days (0: off): a score above their mean + recent_k std, a sustained level above
    recent_factor: float = 1.5  # recent_factor x their mean; what has been usual for days raises no new alarm.
    recent_shift_floor: float = 0.5  # and a mean shift above mean + recent_k std of the metric's recent shifts is
    # flagged from recent_shift_floor x its stored threshold on: a change in a metric that has been steady lately


@dataclass(frozen=True)
class GroupConfig:
    """One metric group: which metrics, how to align and window them, and its model."""

    name: str
    metrics: tuple[str, ...] = ()
    interval: str = "5min"
    aggregation: str = "mean"
    max_gap: int = 3
    window: int = 48
    stride: int = 8  # scoring stride: same NAB F1 as 1 and 4 (benchmarks/RESULTS.md), an eighth of the windows
    train_stride: int = 4
    lookback: str = "28D"
    model: ModelConfig = field(default_factory=ModelConfig)
    threshold: ThresholdConfig = field(default_factory=ThresholdConfig)

    @property
    def interval_td(self) -> pd.Timedelta:
        return pd.Timedelta(self.interval)


@dataclass(frozen=True)
class StorageConfig:
    """Where landing data, published outputs and the model registry live."""

    data_root: str = "data"
    models_root: str = "models"

    @property
    def landing(self) -> str:
        return f"{self.data_root.rstrip('/')}/landing"


@dataclass(frozen=True)
class Settings:
    """Everything a flow needs: storage, declared groups, defaults for undeclared ones."""

    storage: StorageConfig = field(default_factory=StorageConfig)
    defaults: GroupConfig = field(default_factory=lambda: GroupConfig(name="default"))
    groups: tuple[GroupConfig, ...] = ()
    promotion_margin: float = 0.10


def _check_scalar(value: Any, kind: type, where: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    if kind in (int, float) and value < 0:
        raise ConfigError(f"{where}: must not be negative, got {value!r}")
    return value


def _build(cls: type, raw: Any, where: str, base: Any = None) -> Any:
    """Build dataclass `cls` from a mapping, starting from `base`, rejecting unknown keys."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(fields)})")
    values = {}
    for name, value in raw.items():
        kind = fields[name].type
        nested = {"ModelConfig": ModelConfig, "ThresholdConfig": ThresholdConfig}.get(kind)
        if nested:
            values[name] = _build(nested, value, f"{where}.{name}", getattr(base, name, None))
        elif kind == "tuple[str, ...]":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not items:
                raise ConfigError(f"{where}.{name}: expected a non-empty list of names or globs")
            values[name] = tuple(_check_scalar(v, str, f"{where}.{name}") for v in items)
        else:
            values[name] = _check_scalar(value, _scalar_type(kind), f"{where}.{name}")
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def _scalar_type(kind: str) -> type:
    return {"int": int, "float": float, "str": str}[kind]


def _validate_group(group: GroupConfig, where: str) -> None:
    check_name(group.name, where)
    try:
        if group.interval_td <= pd.Timedelta(0):
            raise ValueError
        pd.Timedelta(group.lookback)
    except ValueError:
        raise ConfigError(f"{where}: interval/lookback must be durations like '5min' or '28D'")
    if group.aggregation not in AGGREGATIONS:
        raise ConfigError(f"{where}.aggregation: {group.aggregation!r} is not one of {AGGREGATIONS}")
    if group.threshold.method not in THRESHOLD_METHODS:
        raise ConfigError(f"{where}.threshold.method: {group.threshold.method!r} is not one of {THRESHOLD_METHODS}")
    if group.threshold.calibrate_on not in CALIBRATION_RANGES:
        raise ConfigError(f"{where}.threshold.calibrate_on: {group.threshold.calibrate_on!r} is not one of "
                          f"{CALIBRATION_RANGES}")
    if group.threshold.combine not in COMBINE_METHODS:
        raise ConfigError(f"{where}.threshold.combine: {group.threshold.combine!r} is not one of {COMBINE_METHODS}")
    if group.threshold.min_peak < 1:
        raise ConfigError(f"{where}.threshold.min_peak: must be at least 1 (a ratio to the threshold)")
    if not 0 < group.threshold.quantile < 1:
        raise ConfigError(f"{where}.threshold.quantile: must be between 0 and 1")
    if group.threshold.level_factor <= 0:
        raise ConfigError(f"{where}.threshold.level_factor: must be above 0")
    if group.threshold.shift_steps and (group.threshold.shift_baseline < 1 or group.threshold.shift_k <= 0):
        raise ConfigError(f"{where}.threshold: shift_baseline must be at least 1 and shift_k above 0")
    if group.threshold.recent_days < 0 or group.threshold.recent_k <= 0 or group.threshold.recent_factor <= 0:
        raise ConfigError(f"{where}.threshold: recent_days must be at least 0, recent_k and recent_factor above 0")
    if not 0 < group.threshold.recent_shift_floor <= 1:
        raise ConfigError(f"{where}.threshold.recent_shift_floor: must be above 0 and at most 1")
    try:
        pd.Timedelta(group.threshold.repeat_tolerance)
    except ValueError:
        raise ConfigError(f"{where}.threshold.repeat_tolerance: must be a duration like '1h'")
    if not 0 < group.model.validation_fraction < 1:
        raise ConfigError(f"{where}.model.validation_fraction: must be between 0 and 1")
    for key in ("window", "stride", "train_stride"):
        if getattr(group, key) < 1:
            raise ConfigError(f"{where}.{key}: must be at least 1")
    if group.window < 2:
        raise ConfigError(f"{where}.window: must be at least 2 timesteps")
    if group.stride > group.window:
        raise ConfigError(f"{where}.stride: must not exceed window ({group.window})")


def check_name(name: str, where: str = "group") -> str:
    """Group names become folder names: allow only safe characters, never path separators."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"{where}: name {name!r} must match {NAME_PATTERN.pattern} (no '/', '..' or spaces)")
    return name


def parse_settings(raw: Any, source: str = "config", base_dir: Path | None = None) -> Settings:
    """Validate a parsed YAML document into Settings; errors name `source` and the key."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping")
    unknown = sorted(set(raw) - {"storage", "defaults", "groups", "promotion_margin"})
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}")
    storage = _build(StorageConfig, raw.get("storage", {}), f"{source}: storage", StorageConfig())
    storage = StorageConfig(
        data_root=_resolve_root(os.environ.get("NIGHTWATCH_DATA_ROOT", storage.data_root), base_dir),
        models_root=_resolve_root(os.environ.get("NIGHTWATCH_MODELS_ROOT", storage.models_root), base_dir),
    )
    defaults = _build(GroupConfig, {"name": "default", **raw.get("defaults", {})}, f"{source}: defaults",
                      GroupConfig(name="default"))
    _validate_group(defaults, f"{source}: defaults")
    groups = []
    raw_groups = raw.get("groups") or []
    if not isinstance(raw_groups, list):
        raise ConfigError(f"{source}: groups must be a list")
    for i, item in enumerate(raw_groups):
        where = f"{source}: groups[{i}]"
        if not isinstance(item, dict) or "name" not in item or "metrics" not in item:
            raise ConfigError(f"{where}: each group needs 'name' and 'metrics'")
        group = _build(GroupConfig, item, where, dataclasses.replace(defaults, name=str(item["name"])))
        _validate_group(group, where)
        groups.append(group)
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: group names must be unique, got {names}")
    margin = _check_scalar(raw.get("promotion_margin", 0.10), float, f"{source}: promotion_margin")
    return Settings(storage=storage, defaults=defaults, groups=tuple(groups), promotion_margin=margin)


def _resolve_root(root: str, base_dir: Path | None) -> str:
    if "://" in root or base_dir is None or Path(root).is_absolute():
        return root
    return str((base_dir / root).resolve())


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Read settings from `path`, $NIGHTWATCH_CONFIG or ./nightwatch.yaml (defaults if absent)."""
    path = Path(path or os.environ.get("NIGHTWATCH_CONFIG", "nightwatch.yaml"))
    if not path.exists():
        return parse_settings({}, str(path), Path.cwd())
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_settings(raw, str(path), path.parent.resolve())


def group_from_dict(raw: dict) -> GroupConfig:
    """Rebuild a GroupConfig stored with a model (`dataclasses.asdict` form); models stored
    before `combine` existed averaged their metric scores, those before `level_steps` had no
    sustained-level check, those before `repeat_days` no daily-repeat check, those before
    `shift_steps` no mean-shift check, those before `recent_days` no recent-context check."""
    threshold = ThresholdConfig(**{"combine": "mean", "level_steps": 0, "repeat_days": 0, "shift_steps": 0,
                                   "recent_days": 0, **raw["threshold"]})
    return GroupConfig(**{**raw, "metrics": tuple(raw["metrics"]), "model": ModelConfig(**raw["model"]),
                          "threshold": threshold})
