"""Durations as k6 writes them ("1m30s", "500ms", "2h"), parsed to float seconds."""

from __future__ import annotations

import math
import re

from engine.limits import MAX_DURATION_S

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|s|m|h|d)")
_UNIT_S = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration; a bare number means seconds (k6 accepts the same)."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        return _bounded(float(text), text)
    if not isinstance(text, str):
        raise TypeError(f"not a duration: {text!r} (expected e.g. 30s, 1m30s, 500ms)")
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    try:
        value = float(s)
    except ValueError:
        pass
    else:
        return _bounded(value, text)
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30s, 1m30s, 500ms)")
    return _bounded(total, text)


def _bounded(value: float, shown: object) -> float:
    """Finite, not negative, at most 31 days: nan, inf and typos never reach a run."""
    if not math.isfinite(value):
        raise ValueError(f"not a duration: {shown!r} (must be finite)")
    if value < 0:
        raise ValueError(f"negative duration: {shown!r}")
    if value > MAX_DURATION_S:
        raise ValueError(f"duration too long: {shown!r} (at most 31d)")
    return value


def format_duration(seconds: float) -> str:
    """Short human form, the inverse of parse_duration for whole units."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    whole = round(seconds)
    if abs(seconds - whole) > 1e-9:
        return f"{seconds:g}s"
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s or not (h or m) else "")
    return out


def clock(seconds: float) -> str:
    """Run time as m:ss (h:mm:ss past an hour): reads at a glance on an axis or a bar."""
    whole = max(0, round(seconds))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
