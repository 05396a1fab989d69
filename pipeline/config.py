"""Settings: one frozen dataclass per concern, built and validated from YAML at the boundary."""
from __future__ import annotations

import dataclasses
import datetime
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipeline.detect.compose import Detection
from pipeline.detect.rules import FILTERS, FLAG_RULES
from pipeline.detect.stored import legacy_detection
from pipeline.training_range import TrainingRange

AGGREGATIONS = ("mean", "median", "sum", "min", "max", "first", "last")
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
    training: TrainingRange = field(default_factory=TrainingRange)  # which steps the model learns as normal
    detection: Detection = field(default_factory=Detection)  # defaults chosen on NAB (benchmarks/RESULTS.md)

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
    future_tolerance: str = "1h"  # landed rows later than the run's clock plus this are not read


def _check_scalar(value: Any, kind: type, where: str) -> Any:
    if kind is str and isinstance(value, datetime.date):  # YAML reads 2026-11-10 as a date
        value = value.isoformat()
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    if kind in (int, float) and value < 0:
        raise ConfigError(f"{where}: must not be negative, got {value!r}")
    return value


def build(cls: type, raw: Any, where: str, base: Any = None) -> Any:
    """Build dataclass `cls` from a mapping, starting from `base`, rejecting unknown keys; a
    class with a `check` method has it run, its ValueError becoming a ConfigError at `where`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(fields))})")
    kinds = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        inner = getattr(base, name, None) if base is not None else None
        if cls is Detection and name in ("flags", "filters"):
            values[name] = _rules(FLAG_RULES if name == "flags" else FILTERS, value, f"{where}.{name}", inner)
        else:
            values[name] = _field(kinds[name], value, f"{where}.{name}", inner,
                                  fields[name].metadata.get("may_be_empty", False))
    built = dataclasses.replace(base, **values) if base is not None else cls(**values)
    if hasattr(built, "check"):
        try:
            built.check()
        except ValueError as exc:
            raise ConfigError(f"{where}.{exc}") from None
    return built


def _field(kind: Any, value: Any, where: str, base: Any, may_be_empty: bool = False) -> Any:
    """One field's value: a nested dataclass (None turns an optional one off), a tuple of names
    (empty only where the field's metadata allows it), or a scalar (None only where it may be unset)."""
    optional = [k for k in typing.get_args(kind) if k is not type(None)] if typing.get_origin(kind) is not tuple else []
    if dataclasses.is_dataclass(kind) or (len(optional) == 1 and dataclasses.is_dataclass(optional[0])):
        if value is None and optional:
            return None
        return build(optional[0] if optional else kind, value or {}, where, base)
    if kind == tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not (items or may_be_empty):
            raise ConfigError(f"{where}: expected a non-empty list of names")
        return tuple(_check_scalar(v, str, where) for v in items)
    if len(optional) == 1:
        return None if value is None else _check_scalar(value, optional[0], where)
    return _check_scalar(value, kind, where)


def _rules(registry: dict[str, type], raw: Any, where: str, base: tuple | None) -> tuple:
    """The rules a `flags` or `filters` mapping turns on, in the order they are listed in
    `pipeline.detect.rules` (the order they run in and an interval's trigger names them), each
    from the base's settings of that rule (or the rule's defaults) with the mapping's keys applied."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of rule names to their settings, got {raw!r}")
    inherited = {rule.name: rule for rule in base or ()}
    for name in raw:
        if name not in registry:
            raise ConfigError(f"{where}: unknown rule {name!r} (known: {', '.join(registry)})")
    return tuple(build(registry[name], raw[name] or {}, f"{where}.{name}", inherited.get(name, registry[name]()))
                 for name in registry if name in raw)


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
    unknown = sorted(set(raw) - {"storage", "defaults", "groups", "promotion_margin", "future_tolerance"})
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}")
    storage = build(StorageConfig, raw.get("storage", {}), f"{source}: storage", StorageConfig())
    storage = StorageConfig(
        data_root=_resolve_root(os.environ.get("NIGHTWATCH_DATA_ROOT", storage.data_root), base_dir),
        models_root=_resolve_root(os.environ.get("NIGHTWATCH_MODELS_ROOT", storage.models_root), base_dir),
    )
    _refuse_moved(raw.get("defaults", {}), f"{source}: defaults")
    defaults = build(GroupConfig, {"name": "default", **raw.get("defaults", {})}, f"{source}: defaults",
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
        _refuse_moved(item, where)
        group = build(GroupConfig, item, where, dataclasses.replace(defaults, name=str(item["name"])))
        _validate_group(group, where)
        groups.append(group)
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: group names must be unique, got {names}")
    margin = _check_scalar(raw.get("promotion_margin", 0.10), float, f"{source}: promotion_margin")
    tolerance = _check_scalar(raw.get("future_tolerance", "1h"), str, f"{source}: future_tolerance")
    try:
        if pd.Timedelta(tolerance) < pd.Timedelta(0):
            raise ValueError
    except ValueError:
        raise ConfigError(f"{source}: future_tolerance: must be a duration of 0 or more like '1h', got {tolerance!r}")
    return Settings(storage=storage, defaults=defaults, groups=tuple(groups), promotion_margin=margin,
                    future_tolerance=tolerance)


def _refuse_moved(raw: Any, where: str) -> None:
    """Point a configuration written for an earlier release at where its settings went."""
    if isinstance(raw, dict) and "threshold" in raw:
        raise ConfigError(f"{where}.threshold: replaced by the 'detection' section (its rules and filters; "
                          f"see the README's Detection section and nightwatch.yaml)")


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


def group_to_dict(group: GroupConfig) -> dict:
    """A group's settings as JSON, in the configuration file's shape (rules by name)."""
    return {**dataclasses.asdict(group), "metrics": list(group.metrics), "detection": detection_to_dict(group.detection)}


def detection_to_dict(detection: Detection) -> dict:
    plain = {f.name: getattr(detection, f.name) for f in dataclasses.fields(detection)}
    return {**plain, **{kind: {rule.name: dataclasses.asdict(rule) for rule in plain[kind]}
                        for kind in ("flags", "filters")}}


def group_from_dict(raw: dict, where: str = "stored config") -> GroupConfig:
    """Rebuild the settings a model was trained with (`group_to_dict`'s form); a model stored
    before detection rules has its `threshold` settings read as the rules they were."""
    if "threshold" in raw:
        raw = {**{k: v for k, v in raw.items() if k != "threshold"}, "detection": legacy_detection(raw["threshold"])}
    base = GroupConfig(name=raw["name"], detection=Detection(flags=(), filters=()))
    group = build(GroupConfig, {**raw, "metrics": list(raw["metrics"])}, where, base)
    _validate_group(group, where)
    return group
