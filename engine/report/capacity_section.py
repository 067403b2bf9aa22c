"""The report's `[capacity]`: a capacity search's answer and its steps, written and read.

```toml
[capacity]
rate = 300.0        # the highest rate that held (left out: even the first step failed)
failed_at = 325.0   # the lowest rate the server failed (left out: none up to max)
precision = 0.1
[[capacity.steps]]
rate = 100.0
held = true
achieved_rate = 99.8
p50_ms = 0.4
...
values = { "http_req_duration p(95)<50" = 1.2 }   # each threshold's value over the step
```

Written only for a capacity run, so every other report stays byte-identical. The
summary says the answer in one line ("holds 4,200/s with p99 < 50 ms; fails at
4,450/s: p99 61 ms") above the step table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import ConfigError
from engine.explore.model import CapacityResult, CapacityStep
from engine.load.thresholds import parse_threshold
from engine.report.text import Paint, ms_cell

__all__ = ["capacity_line", "capacity_table", "read_capacity", "render_capacity"]

_MS = ("p50", "p95", "p99")
_NUMBERS = ("achieved_rate", "error_rate", "start", "end")


def capacity_table(c: CapacityResult) -> dict[str, Any]:
    """`[capacity]` as TOML holds it: None left out (TOML has no null)."""
    out: dict[str, Any] = {}
    if c.rate is not None:
        out["rate"] = round(c.rate, 3)
    if c.failed_at is not None:
        out["failed_at"] = round(c.failed_at, 3)
    out["precision"] = c.precision
    out["steps"] = [_step_table(s) for s in c.steps]
    return out


def _step_table(s: CapacityStep) -> dict[str, Any]:
    out: dict[str, Any] = {"rate": round(s.rate, 3), "held": s.held}
    out |= {f"{k}_ms": round(getattr(s, k), 3) for k in _MS}
    out |= {k: round(getattr(s, k), 4) for k in _NUMBERS}
    out["dropped"] = s.dropped
    out["generator_limited"] = s.generator_limited
    out["values"] = {k: round(v, 4) for k, v in s.values.items() if v is not None}
    return out


def read_capacity(t: Mapping[str, Any], where: str) -> CapacityResult:
    """`[capacity]` back as its type; ValueError names the key of a figure gone wrong."""
    steps = t.get("steps", [])
    if not isinstance(steps, list):
        raise ValueError(f"{where}: capacity.steps is not a list")
    return CapacityResult(
        rate=_num(t, "rate", "capacity", None),
        failed_at=_num(t, "failed_at", "capacity", None),
        precision=_num(t, "precision", "capacity", 0.0) or 0.0,
        steps=tuple(_step(s, f"capacity.steps[{i}]") for i, s in enumerate(steps)),
    )


def _step(s: Any, path: str) -> CapacityStep:
    if not isinstance(s, Mapping):
        raise ValueError(f"{path} is not a table")
    values = s.get("values", {})
    if not isinstance(values, Mapping):
        raise ValueError(f"{path}.values is not a table")
    return CapacityStep(
        rate=_num(s, "rate", path, 0.0) or 0.0,
        held=s.get("held") is True,
        **{k: _num(s, f"{k}_ms", path, 0.0) or 0.0 for k in _MS},
        **{k: _num(s, k, path, 0.0) or 0.0 for k in _NUMBERS},
        dropped=int(_num(s, "dropped", path, 0.0) or 0),
        generator_limited=s.get("generator_limited") is True,
        values={str(k): _num(values, k, f"{path}.values", None) for k in values},
    )


def _num(t: Mapping[str, Any], key: str, path: str, default: float | None) -> float | None:
    value = t.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{path}.{key}: expected a number, got {value!r}")
    return float(value)


# ------------------------------------------------------------------------ the summary
_DURATION = ("http_req_duration", "iteration_duration", "http_req_waiting")


def _rate(r: float) -> str:
    return f"{r:,.0f}/s" if r >= 10 else f"{r:.3g}/s"


def _slo(key: str) -> str:
    """ "http_req_duration p(99)<50" as "p99 < 50 ms"; another metric as written."""
    metric, _, expr = key.partition(" ")
    if metric in _DURATION and expr.startswith("p("):
        agg, op, bound = _split(expr)
        return f"{agg} {op} {bound} ms"
    return key


def _said(key: str, value: float) -> str:
    """A threshold's value over a step: "p99 61 ms", or "http_req_failed rate 0.034"."""
    metric, _, expr = key.partition(" ")
    agg = _split(expr)[0]
    if metric in _DURATION:
        return f"{agg} {value:,.0f} ms" if value >= 10 else f"{agg} {value:.3g} ms"
    return f"{metric} {agg} {value:.3g}"


def _split(expr: str) -> tuple[str, str, str]:
    """("p99", "<", "50") out of "p(99)<50"."""
    for op in ("<=", ">=", "==", "!=", "<", ">"):
        agg, sep, bound = expr.partition(op)
        if sep:
            return agg.replace("(", "").replace(")", "").strip(), op, bound.strip()
    return expr, "", ""


def _broken(step: CapacityStep) -> list[str]:
    """The thresholds a step failed, with their values over it."""
    out = []
    for key, value in step.values.items():
        metric, _, expr = key.partition(" ")
        try:
            ok = parse_threshold(metric, expr).passes(value)
        except ConfigError:
            ok = True  # a hand-edited key: not said
        if not ok and value is not None:
            out.append(_said(key, value))
    return out


def capacity_line(c: CapacityResult) -> str:
    """The answer in one line."""
    steps = c.steps
    slo = ", ".join(_slo(k) for k in steps[0].values) if steps else ""
    with_slo = f" with {slo}" if slo else ""
    failed = next((s for s in steps if s.rate == c.failed_at and not s.held), None)
    why = f": {', '.join(_broken(failed))}" if failed is not None and _broken(failed) else ""
    if c.rate is None:
        first = steps[0].rate if steps else 0.0
        if failed is None:
            return f"Surge could not drive even the first step ({_rate(first)})"
        return f"even the first step ({_rate(first)}) failed{why}"
    out = f"holds {_rate(c.rate)}{with_slo}"
    if c.failed_at is not None:
        out += f"; fails at {_rate(c.failed_at)}{why}"
    limited = [s.rate for s in steps if s.generator_limited]
    if limited:
        out += f"; Surge could not drive {_rate(min(limited))}: not the server's limit"
    elif c.failed_at is None:
        out += "; nothing failed up to the search's max"
    return out


def render_capacity(c: CapacityResult | None, paint: Paint) -> list[str]:
    """The summary's CAPACITY block: the answer, then each step."""
    if c is None:
        return []
    out = [f"  {paint('█ CAPACITY', '1')}", "", f"    {paint(capacity_line(c), '1')}", ""]
    out.append("    step      rate  held    p50    p95    p99  errors  achieved  dropped")
    for i, s in enumerate(c.steps, 1):
        held = "gen" if s.generator_limited else ("yes" if s.held else "no")
        cells = "".join(f"{ms_cell(v):>7}" for v in (s.p50, s.p95, s.p99))
        mark = paint(f"{held:>5}", "32" if s.held else "31")
        out.append(
            f"    {i:>4} {_rate(s.rate):>9} {mark}{cells} {s.error_rate:>7.1%}"
            f" {_rate(s.achieved_rate):>9} {s.dropped:>8}"
        )
    return out
