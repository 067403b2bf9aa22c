"""The typed-value validators every table of a profile shares, `[deploy]` included.

One copy, so a wrong type or an out-of-range number reads the same wherever it is
written. Each raises `Invalid` with the key path of the culprit; `parse_profile`
turns it into a located `ProfileError`, `parse_deploy` into a `ConfigError`.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.durations import parse_duration
from engine.errors import did_you_mean
from engine.profile.locate import KeyPath


class Invalid(Exception):
    """A bad value at a key path; parse_profile turns it into a located ProfileError."""

    def __init__(self, path: KeyPath, message: str, *, locate: bool = True) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.locate = locate


def describe(value: Any) -> str:
    """A value as the user wrote it, with its TOML type, and never a whole page of it."""
    return f"{toml_type(value)} {reprlib.repr(value)}"


def toml_type(value: Any) -> str:
    """TOML's name for a value's type (tuples and mappings come from Python callers)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "table"
    return "date/time"


def table(value: Any, path: KeyPath, *, hint: str = "") -> Mapping[str, Any]:
    if not isinstance(value, dict):
        wanted = f"a table{f' ({hint})' if hint else ''}"
        raise Invalid(path, f"expected {wanted}, got {describe(value)}")
    return value


def known_keys(table: Mapping[str, Any], path: KeyPath, known: Sequence[str]) -> None:
    """Every key of `table` is one of `known`: a typo is an error, never ignored."""
    for key in table:
        if key not in known:
            hint = did_you_mean(key, known)
            raise Invalid((*path, key), f"unknown key{hint} (known: {', '.join(known)})")


def text(value: Any, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise Invalid(path, f"expected a string, got {describe(value)}")
    return value


def name(value: Any, path: KeyPath) -> str:
    """A non-blank string, stripped: names are shown and compared, so blanks are mistakes."""
    stripped = text(value, path).strip()
    if not stripped:
        raise Invalid(path, "must not be empty")
    return stripped


def whole(value: Any, path: KeyPath) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(path, f"expected a whole number >= 1, got {describe(value)}")
    return value


def integer(value: Any, path: KeyPath, low: int, high: int) -> int:
    """An integer within low..high (a port, a percentage, a limit)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(path, f"expected an integer {low}..{high}, got {describe(value)}")
    if not low <= value <= high:
        raise Invalid(path, f"expected an integer {low}..{high}, got {value}")
    return value


def port(value: Any, path: KeyPath) -> int:
    """A TCP port; 0 asks the system for a free one."""
    return integer(value, path, 0, 65535)


def number(value: Any, path: KeyPath) -> float:
    """Any finite number; TOML's inf and nan are never meant as bounds."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value):
        raise Invalid(path, f"expected a number, got {describe(value)}")
    return float(value)


def positive(value: Any, path: KeyPath) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0 < value < math.inf:
        raise Invalid(path, f"expected a number > 0, got {describe(value)}")
    return float(value)


def fraction(value: Any, path: KeyPath) -> float:
    """A share 0..1 (a success rate, an allowed drop), not a percentage."""
    share = number(value, path)
    if not 0.0 <= share <= 1.0:
        raise Invalid(path, f"expected a fraction 0..1, got {share:g}")
    return share


def seconds(value: Any, path: KeyPath) -> float:
    """A k6 duration ("30s", "1m30s") or a number of seconds, always > 0 and finite."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid(path, f'expected a duration such as "30s", got {describe(value)}')
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise Invalid(path, str(exc)) from None
    if not 0 < parsed < math.inf:
        raise Invalid(path, f"expected a positive duration, got {describe(value)}")
    return parsed


def flag(value: Any, path: KeyPath) -> bool:
    if not isinstance(value, bool):
        raise Invalid(path, f"expected true or false, got {describe(value)}")
    return value


def at_most(check: Callable[[Any, KeyPath], float], limit: float) -> Callable[[Any, KeyPath], Any]:
    """`check`, then an upper bound (engine/limits.py): a typo never reaches a run."""

    def bounded(value: Any, path: KeyPath) -> Any:
        result = check(value, path)
        if result > limit:
            raise Invalid(path, f"at most {limit:,g}, got {result:,g}")
        return result

    return bounded
