"""The report's `[observe.series.NAME]`: the server's side of a run as series (times in
run seconds and values, typed, round-trip), the block `report show` and the summary
print (a sparkline and min/mean/max a series, within 80 columns) and the pairing
`report compare` prints (each series of both runs, on one scale)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.observe.series import Series
from engine.report.text import Paint, fmt_bytes

__all__ = ["observe_table", "read_observe", "render_observed", "render_observed_pair"]

BARS = "▁▂▃▄▅▆▇█"
NAME_W = 16
SPARK = 24  # cells of a sparkline in `report show`
PAIR_SPARK = 12  # each run's, side by side, in `report compare`


def observe_table(series: Mapping[str, Series]) -> dict[str, Any]:
    """`[observe.series.NAME]`: source, unit, times, values and a problem when there was one."""
    out: dict[str, Any] = {}
    for name, s in series.items():
        table: dict[str, Any] = {"source": s.source, "unit": s.unit}
        table |= {"times": list(s.times), "values": [round(v, 6) for v in s.values]}
        if s.problem:
            table["problem"] = s.problem
        out[name] = table
    return {"series": out}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_observe(data: Any, fail: Callable[[str], Exception]) -> dict[str, Series]:
    """The series of an `[observe]` table; `fail(what)` makes the ReportError."""
    tables = data.get("series", {}) if isinstance(data, Mapping) else None
    if not isinstance(tables, Mapping):
        raise fail("[observe.series] is not a table")
    out = {}
    for name, t in tables.items():
        where = f"observe.series.{name}"
        if not isinstance(t, Mapping):
            raise fail(f"[{where}] is not a table")
        times, values = t.get("times", []), t.get("values", [])
        numbers = (
            [*times, *values] if isinstance(times, list) and isinstance(values, list) else [0j]
        )
        if any(not isinstance(v, int | float) or isinstance(v, bool) for v in numbers):
            raise fail(f"{where}: times and values are lists of numbers")
        if len(times) != len(values):
            raise fail(f"{where}: {len(times)} times for {len(values)} values")
        text = {k: t.get(k, "") for k in ("source", "unit", "problem")}
        if any(not isinstance(v, str) for v in text.values()):
            raise fail(f"{where}: source, unit and problem are strings")
        floats = tuple(float(v) for v in times), tuple(float(v) for v in values)
        out[str(name)] = Series(str(name), text["source"], text["unit"], *floats, text["problem"])
    return out


# ------------------------------------------------------------------------- text


def fmt_value(value: float, unit: str) -> str:
    """A series' value in its unit: 42.0%, 51.2 MB, 1,204/s, 0.003 s/s, 17."""
    if unit == "bytes":
        return fmt_bytes(value)
    if unit == "%":
        return f"{value:.1f}%"
    number = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{number}{unit if unit.startswith('/') else f' {unit}' if unit else ''}"


def sparkline(values: Sequence[float], cells: int, lo: float, hi: float) -> str:
    """`values` as `cells` bars (each the mean of its share), scaled lo..hi."""
    if not values:
        return ""
    n = min(cells, len(values))
    parts = [values[i * len(values) // n : (i + 1) * len(values) // n] for i in range(n)]
    span = hi - lo
    out = []
    for part in parts:
        mean = sum(part) / len(part)
        level = 0 if span <= 0 else round((mean - lo) / span * (len(BARS) - 1))
        out.append(BARS[max(0, min(level, len(BARS) - 1))])
    return "".join(out)


def _problems(series: Mapping[str, Series], paint: Paint) -> list[str]:
    said = dict.fromkeys(s.problem for s in series.values() if s.problem)
    out = []
    for problem in said:
        out.extend(f"    {paint(x, '33')}" for x in textwrap.wrap("⚠ " + problem, 73))
    return out


def _named(name: str, row: str) -> list[str]:
    """A series' row after its name; a long name (`cpu@host:port`) on a line of its own."""
    if len(name) < NAME_W:
        return [f"    {name:<{NAME_W}}{row}".rstrip()]
    return [f"    {name}", f"    {'':<{NAME_W}}{row}".rstrip()]


def render_observed(series: Mapping[str, Series], paint: Paint) -> list[str]:
    """`█ SERVER SIDE`: a series a line (name, sparkline, min, mean, max), then any outage."""
    if not series:
        return []
    out = [
        f"  {paint('█ SERVER SIDE', '1')}",
        f"    {'':<{NAME_W + SPARK + 1}}{'min / mean / max':>28}",
    ]
    for name, s in series.items():
        if not s.values:
            continue
        lo, hi = min(s.values), max(s.values)
        mean = sum(s.values) / len(s.values)
        figures = " / ".join(fmt_value(v, s.unit) for v in (lo, mean, hi))
        spark = sparkline(s.values, SPARK, lo, hi)
        out.extend(_named(name, f"{spark:<{SPARK}} {figures:>28}"))
    return out + _problems(series, paint)


def render_observed_pair(base: Mapping[str, Series], new: Mapping[str, Series]) -> list[str]:
    """Each series of either run: mean in BASE and NEW, the change, both sparklines on
    one scale (the overlay of a terminal: the same bar height is the same value)."""
    names = [*base, *(n for n in new if n not in base)]
    if not names:
        return []
    head = f"    {'':<{NAME_W}}{'base':>11}{'new':>11}{'change':>8}  base / new"
    out = ["  █ SERVER SIDE (mean over the run)", head]
    for name in names:
        a, b = base.get(name), new.get(name)
        values = [*(a.values if a else ()), *(b.values if b else ())]
        if not values:
            continue
        lo, hi = min(values), max(values)
        unit = (a or b).unit  # type: ignore[union-attr]
        means = [sum(s.values) / len(s.values) if s and s.values else None for s in (a, b)]
        cells = [fmt_value(m, unit) if m is not None else "–" for m in means]
        change = ""
        if means[0] and means[1] is not None and math.isfinite(means[0]):
            change = f"{(means[1] - means[0]) / abs(means[0]):+.0%}"
        sparks = [sparkline(s.values, PAIR_SPARK, lo, hi) if s else "" for s in (a, b)]
        row = f"{cells[0]:>11}{cells[1]:>11}{change:>8}  {sparks[0]:<{PAIR_SPARK}} {sparks[1]}"
        out.extend(_named(name, row))
    return out
