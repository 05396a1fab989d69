import datetime
from dataclasses import dataclass, field

import pytest

from pipeline.config_build import ConfigError, build, check_scalar


@dataclass(frozen=True)
class Inner:
    size: int = 2


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    ratio: float = 1.0
    limit: int | None = None
    names: tuple[str, ...] = ("a",)
    skipped: tuple[str, ...] = field(default=(), metadata={"may_be_empty": True})
    inner: Inner | None = field(default_factory=Inner)


def test_scalars_are_read_as_their_fields_type():
    assert check_scalar(3, float, "k") == 3.0 and isinstance(check_scalar(3, float, "k"), float)
    assert check_scalar(datetime.date(2026, 11, 10), str, "k") == "2026-11-10"  # YAML's date
    assert check_scalar(5, str, "k") == "5"
    for value, kind, message in [(True, int, "k: expected int, got True"), ("x", float, "k: expected float"),
                                 (-1, int, "k: must not be negative, got -1")]:
        with pytest.raises(ConfigError, match=message):
            check_scalar(value, kind, "k")


def test_a_mapping_builds_the_dataclass_from_its_base_with_optional_and_empty_fields():
    built = build(Outer, {"ratio": 2, "limit": None, "names": "b", "skipped": [], "inner": {"size": 4}}, "o",
                  Outer(name="base"))
    assert built == Outer(name="base", ratio=2.0, limit=None, names=("b",), skipped=(), inner=Inner(4))
    assert build(Outer, {"inner": None, "limit": 7}, "o").inner is None  # None turns an optional part off
    assert build(Outer, {"limit": 7}, "o").limit == 7


@pytest.mark.parametrize("raw, message", [
    ({"names": []}, "o.names: expected a non-empty list of names"),
    ({"limit": "many"}, "o.limit: expected int, got 'many'"),
    ({"inner": {"sise": 3}}, "o.inner: unknown key 'sise' (allowed: size)"),
    ({"nmae": "y"}, "o: unknown key 'nmae'"),
    ([1], "o: expected a mapping, got [1]"),
])
def test_what_cannot_be_built_names_the_key(raw, message):
    with pytest.raises(ConfigError) as refused:
        build(Outer, raw, "o")
    assert str(refused.value).startswith(message), str(refused.value)
