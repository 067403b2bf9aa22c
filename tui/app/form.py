"""The load form's fields: parsing each value, and placing the engine's errors next to a field.

Kept free of widgets so the rules are table-testable: an empty field means "as
the profile and the test type say", anything else must parse, and a
ConfigError from the engine is shown beside the field it names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.durations import parse_duration
from engine.load.thresholds import Threshold
from engine.profile.plan import Overrides


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise ValueError(f"must be a positive number, got {text}")
    return value


def _duration(text: str) -> float:
    value = parse_duration(text)
    if value <= 0:
        raise ValueError(f"must be longer than 0s, got {text!r}")
    return value


@dataclass(frozen=True)
class Field:
    key: str  # the Overrides attribute
    label: str
    parse: Callable[[str], float | int]


FIELDS: tuple[Field, ...] = (
    Field("vus", "VUs", _whole),
    Field("rate", "rate (/s)", _positive),
    Field("max_vus", "max VUs", _whole),
    Field("duration", "duration", _duration),
    Field("time_scale", "time scale", _positive),
    Field("workers", "workers", _whole),
)
FIELD_KEYS = tuple(f.key for f in FIELDS)


def parse_fields(texts: Mapping[str, str]) -> tuple[dict[str, float | int], dict[str, str]]:
    """Values of the filled-in fields, and an error message per field that does not parse."""
    values: dict[str, float | int] = {}
    errors: dict[str, str] = {}
    for f in FIELDS:
        text = texts.get(f.key, "").strip()
        if not text:
            continue
        try:
            values[f.key] = f.parse(text)
        except ValueError as exc:
            errors[f.key] = str(exc)
    return values, errors


def field_for(config_key: str) -> str:
    """The form field a ConfigError's key (CLI or k6 spelling) belongs to; "" if none."""
    key = config_key.lower().lstrip("-").replace("-", "_")
    if "max" in key and "vus" in key:
        return "max_vus"
    for name, field in (
        ("prealloc", "vus"),
        ("vus", "vus"),
        ("rate", "rate"),
        ("duration", "duration"),
        ("time_scale", "time_scale"),
        ("workers", "workers"),
        ("executor", "executor"),
        ("stages", "executor"),
        ("iterations", "executor"),
    ):
        if name in key:
            return field
    return ""


def make_overrides(
    values: Mapping[str, float | int],
    *,
    executor: str | None,
    test_type: str | None,
    thresholds: tuple[Threshold, ...],
) -> Overrides:
    """An executor chosen in the form wins over the test type (as --executor does)."""
    return Overrides(
        executor=executor,
        test_type=None if executor else test_type,
        vus=_int(values.get("vus")),
        max_vus=_int(values.get("max_vus")),
        rate=_float(values.get("rate")),
        duration=_float(values.get("duration")),
        time_scale=_float(values.get("time_scale")),
        workers=_int(values.get("workers")),
        thresholds=thresholds,
        replace_thresholds=True,
    )


def _int(value: float | int | None) -> int | None:
    return None if value is None else int(value)


def _float(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def field_texts(o: Overrides) -> dict[str, str]:
    """The form's initial texts from command-line overrides (e.g. `surge P --vus 5`)."""
    out = {}
    for key in FIELD_KEYS:
        value = getattr(o, key)
        if value is not None:
            out[key] = f"{value:g}" if isinstance(value, float) else str(value)
    return out
