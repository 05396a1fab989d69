"""Frozen dataclasses built from parsed YAML mappings: unknown keys refused, scalars checked
against the field's type, nested settings and the detection rules built by the same code, and
every error a ConfigError naming the key (`defaults.detection.flags.score.k: expected float`)."""
from __future__ import annotations

import dataclasses
import datetime
import functools
import math
import typing
from typing import Any

from pipeline.detect.compose import Detection
from pipeline.detect.rules import FILTERS, FLAG_RULES


class ConfigError(ValueError):
    """The configuration file is invalid; the message names the file, key and problem."""


def check_scalar(value: Any, kind: type, where: str) -> Any:
    """`value` as a `kind` (ints read as floats, numbers and YAML dates as text); never negative."""
    if kind is str and isinstance(value, datetime.date):  # YAML reads 2026-11-10 as a date
        value = value.isoformat()
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    if kind is float and not math.isfinite(value):  # YAML's .nan and .inf: every comparison with them is False
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    if kind in (int, float) and value < 0:
        raise ConfigError(f"{where}: must not be negative, got {value!r}")
    return value


# A class's field types, evaluated once: with postponed annotations each evaluation compiles every
# annotation again (a scoring run builds a group's stored configuration per group: ~2 ms each).
_type_hints = functools.cache(typing.get_type_hints)


def build(cls: type, raw: Any, where: str, base: Any = None) -> Any:
    """Build dataclass `cls` from a mapping, starting from `base`, rejecting unknown keys; a
    class with a `check` method has it run, its ValueError becoming a ConfigError at `where`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(fields))})")
    kinds = _type_hints(cls)
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
        return tuple(check_scalar(v, str, where) for v in items)
    if len(optional) == 1:
        return None if value is None else check_scalar(value, optional[0], where)
    return check_scalar(value, kind, where)


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
