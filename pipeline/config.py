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

from pipeline.alert_config import Alerts, Prometheus, parse_alerts
from pipeline.config_build import ConfigError, build, check_scalar
from pipeline.detect.compose import Detection
from pipeline.detect.stored import legacy_detection
from pipeline.robust import Robust
from pipeline.seasonal import Seasonal, on_grid
from pipeline.time_inputs import TimeInputs
from pipeline.training_range import TrainingRange
from pipeline.warm_start import WarmStart

ENCODERS = ("lstm", "bidirectional")
AGGREGATIONS = ("mean", "median", "sum", "min", "max", "first", "last")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Composite:
    """The tutorial's composite autoencoder: beside the reconstruction decoder, a second decoder
    predicts the `horizon` steps after each window from the same code, so a step's error also
    counts how far it is from what the windows before it foretold (benchmarks/RESULTS.md)."""

    horizon: int = 12

    def check(self) -> None:
        if self.horizon < 1:
            raise ValueError("horizon: must be at least 1 step")


INPUT_KEYS = ("seasonal", "time_inputs", "composite")  # model options that change what the model reads or returns


@dataclass(frozen=True)
class ModelConfig:
    """Size and training schedule of the LSTM autoencoder; `encoder` picks the tutorial's plain
    LSTM encoder or its bidirectional variant (both measured in benchmarks/RESULTS.md);
    `seasonal` (null: off) removes a daily baseline before it from each metric it explains most of (pipeline.seasonal);
    `warm_start` (off when left out) retrains from the current model's weights (pipeline.warm_start);
    `composite` (off when left out) adds a future-prediction decoder;
    `robust` (off when left out) leaves windows still extreme after a warm-up out of training (pipeline.robust);
    `time_inputs` (off when left out) gives the encoder each step's time of day or week, not
    reconstructed (pipeline.time_inputs);
    `min_epoch_windows` (null: each training window once an epoch): an epoch repeats its windows,
    reshuffled, until it holds at least this many, so a short range (a sensor file's 400 rows: 69
    windows, two batches) still takes gradient steps enough to learn, and `patience` covers them."""

    encoder: str = "lstm"
    units: int = 32
    bottleneck: int = 8
    epochs: int = 12
    batch_size: int = 64
    patience: int = 2
    validation_fraction: float = 0.2
    learning_rate: float = 0.002
    seed: int = 7
    seasonal: Seasonal | None = field(default_factory=Seasonal)
    warm_start: WarmStart | None = None
    composite: Composite | None = None
    robust: Robust | None = None
    time_inputs: TimeInputs | None = None
    min_epoch_windows: int | None = 512

    def check(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder: {self.encoder!r} is not one of {ENCODERS}")
        if self.min_epoch_windows is not None and self.min_epoch_windows < 1:
            raise ValueError(f"min_epoch_windows: must be at least 1 (null: each window once), got "
                             f"{self.min_epoch_windows!r}")

    def input_change(self, before: ModelConfig) -> str:
        """The first option, as `model.<key> before -> now`, by which a model of `before` reads or
        returns other arrays than one of this config (a residual, time features, a predicted
        horizon), or '': its weights and errors then mean something else (warm start, promotion)."""
        for key in INPUT_KEYS:
            if getattr(self, key) != getattr(before, key):
                return f"model.{key} {getattr(before, key)!r} -> {getattr(self, key)!r}"
        return ""


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
    split_windows: int | None = 20  # a training split holds at least this many window lengths (window.fitted_window)
    lookback: str = "28D"
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingRange = field(default_factory=TrainingRange)  # which steps the model learns as normal
    detection: Detection = field(default_factory=Detection)  # defaults chosen on NAB (benchmarks/RESULTS.md)

    @property
    def interval_td(self) -> pd.Timedelta:
        return pd.Timedelta(self.interval)

    @property
    def span(self) -> int:
        """Steps of series one model pass reads: the window it encodes, then with a composite
        model the steps it predicts after it."""
        return self.window + (self.model.composite.horizon if self.model.composite else 0)


@dataclass(frozen=True)
class StorageConfig:
    """Where landing data, published outputs and the model registry live."""

    data_root: str = "data"  # a local path, or an fsspec URL (s3://bucket/prefix, gs://, file://)
    models_root: str = "models"
    storage_options: tuple[tuple[str, str | int | float | bool], ...] = ()  # fsspec settings, never secrets

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
    alerts: Alerts | None = None  # where new anomaly intervals are sent (off when left out)
    prometheus: Prometheus | None = None  # the scores as a Prometheus textfile (off when left out)


def _validate_group(group: GroupConfig, where: str) -> None:
    check_name(group.name, where)
    try:
        if group.interval_td <= pd.Timedelta(0) or pd.Timedelta(group.lookback) <= pd.Timedelta(0):
            raise ValueError
    except ValueError:
        raise ConfigError(f"{where}: interval/lookback must be durations like '5min' or '28D', above 0")
    if group.aggregation not in AGGREGATIONS:
        raise ConfigError(f"{where}.aggregation: {group.aggregation!r} is not one of {AGGREGATIONS}")
    if not 0 < group.model.validation_fraction < 1:
        raise ConfigError(f"{where}.model.validation_fraction: must be between 0 and 1")
    for key in ("epochs", "batch_size", "units", "bottleneck"):  # 0 epochs would register the initial weights
        if getattr(group.model, key) < 1:
            raise ConfigError(f"{where}.model.{key}: must be at least 1")
    if group.model.learning_rate <= 0:
        raise ConfigError(f"{where}.model.learning_rate: must be above 0")
    for key in ("window", "stride", "train_stride"):
        if getattr(group, key) < 1:
            raise ConfigError(f"{where}.{key}: must be at least 1")
    if group.window < 2:
        raise ConfigError(f"{where}.window: must be at least 2 timesteps")
    if group.stride > group.window:
        raise ConfigError(f"{where}.stride: must not exceed window ({group.window})")
    if group.split_windows is not None and group.split_windows < 1:
        raise ConfigError(f"{where}.split_windows: must be at least 1 (null: the window as configured)")
    seasonal = group.model.seasonal
    if seasonal is not None and seasonal.min_share is None and not on_grid(seasonal, group.interval_td):
        raise ConfigError(f"{where}.model.seasonal.period: {seasonal.period!r} is not a whole number of "
                          f"intervals ({group.interval})")
    if group.model.time_inputs is not None and group.model.composite is not None:
        raise ConfigError(f"{where}.model.time_inputs: not combined with model.composite (the two are not "
                          "measured together); turn one of them off")


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
    unknown = sorted(set(raw) - {"storage", "defaults", "groups", "promotion_margin", "future_tolerance", "alerts",
                                 "prometheus"})
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}")
    raw_storage = raw.get("storage", {})
    options = storage_options(raw_storage.get("storage_options", {}) if isinstance(raw_storage, dict) else {},
                              f"{source}: storage.storage_options")
    roots = {k: v for k, v in raw_storage.items() if k != "storage_options"} if isinstance(raw_storage, dict) \
        else raw_storage
    storage = build(StorageConfig, roots, f"{source}: storage", StorageConfig())
    storage = StorageConfig(
        data_root=_resolve_root(os.environ.get("NIGHTWATCH_DATA_ROOT", storage.data_root), base_dir),
        models_root=_resolve_root(os.environ.get("NIGHTWATCH_MODELS_ROOT", storage.models_root), base_dir),
        storage_options=options,
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
    margin = check_scalar(raw.get("promotion_margin", 0.10), float, f"{source}: promotion_margin")
    tolerance = check_scalar(raw.get("future_tolerance", "1h"), str, f"{source}: future_tolerance")
    try:
        if pd.Timedelta(tolerance) < pd.Timedelta(0):
            raise ValueError
    except ValueError:
        raise ConfigError(f"{source}: future_tolerance: must be a duration of 0 or more like '1h', got {tolerance!r}")
    alerts = None if raw.get("alerts") is None else parse_alerts(raw["alerts"], f"{source}: alerts")
    prometheus = None if raw.get("prometheus") is None else build(Prometheus, raw["prometheus"],
                                                                  f"{source}: prometheus", Prometheus())
    return Settings(storage=storage, defaults=defaults, groups=tuple(groups), promotion_margin=margin,
                    future_tolerance=tolerance, alerts=alerts, prometheus=prometheus)


def _refuse_moved(raw: Any, where: str) -> None:
    """Point a configuration written for an earlier release at where its settings went."""
    if isinstance(raw, dict) and "threshold" in raw:
        raise ConfigError(f"{where}.threshold: replaced by the 'detection' section (its rules and filters; "
                          f"see the README's Detection section and nightwatch.yaml)")


SECRET_WORDS = ("key", "secret", "token", "password", "credential")


def storage_options(raw: Any, where: str) -> tuple[tuple[str, str | int | float | bool], ...]:
    """fsspec settings for the roots' store (`endpoint_url`, `region_name`, ...) as sorted pairs.
    Secrets are refused: a configuration file is checked in and copied around, while credentials
    belong in the environment (AWS_ACCESS_KEY_ID, ...) or fsspec's own configuration."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    for key, value in raw.items():
        if any(word in str(key).lower() for word in SECRET_WORDS):
            raise ConfigError(f"{where}.{key}: credentials do not belong in the configuration file; set them in "
                              "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...) or fsspec's config")
        if not isinstance(value, (str, int, float, bool)):
            raise ConfigError(f"{where}.{key}: expected a string, number or boolean, got {value!r}")
    return tuple(sorted((str(k), v) for k, v in raw.items()))


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
        text = path.read_text()
        _refuse_repeated_keys(yaml.compose(text, Loader=yaml.SafeLoader), set())
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_settings(raw, str(path), path.parent.resolve())


def _refuse_repeated_keys(node: yaml.Node | None, seen_nodes: set[int]) -> None:
    """A key given twice in one mapping of the composed document is an error: YAML keeps the
    later one, so a second `groups:` would silently drop every group of the first."""
    if node is None or id(node) in seen_nodes:  # an alias met again
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in keys:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key.value!r} is given twice in one mapping; the later one would replace "
                        "the earlier", key.start_mark)
                keys.add(key.value)
            _refuse_repeated_keys(value, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_repeated_keys(item, seen_nodes)


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
