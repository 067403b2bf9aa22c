"""k6's threshold grammar, plus a sustained window ("p(95)<500 over 10s").

Pure parsing and comparison: the run model computes observed values and calls
`compare`, so the grammar can be table-tested without running anything.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.durations import parse_duration
from engine.errors import ConfigError, did_you_mean

TREND, RATE, COUNTER, GAUGE = "trend", "rate", "counter", "gauge"

# Metric name -> kind. Trends are in milliseconds, data counters in bytes, like k6.
METRICS: dict[str, str] = {
    "http_req_duration": TREND,  # k6's: from the first byte sent to the last byte received
    "latency": TREND,  # Surge's: from the moment the iteration was due (open model's wait in)
    "http_req_blocked": TREND,  # k6's timing breakdown, of the whole run (no tags)
    "http_req_connecting": TREND,
    "http_req_tls_handshaking": TREND,
    "http_req_sending": TREND,
    "http_req_waiting": TREND,
    "http_req_receiving": TREND,
    "iteration_duration": TREND,
    "http_req_failed": RATE,
    "checks": RATE,
    "http_reqs": COUNTER,
    "iterations": COUNTER,
    "dropped_iterations": COUNTER,
    "data_received": COUNTER,
    "data_sent": COUNTER,
    "vus": GAUGE,
    "vus_max": GAUGE,
}

AGGREGATIONS: dict[str, frozenset[str]] = {
    TREND: frozenset({"avg", "min", "max", "med", "p"}),
    RATE: frozenset({"rate"}),
    COUNTER: frozenset({"count", "rate"}),
    GAUGE: frozenset({"value", "min", "max"}),
}

TAGS: dict[str, str] = {
    "step": "step",
    "name": "step",
    "upstream": "upstream",
    "check": "check",
    "expected_response": "expected_response",
}
# Metrics whose figures are kept per (step, upstream) and so take those tags.
TAGGED = frozenset({"http_req_duration", "latency", "http_req_failed", "http_reqs"})
TAGGED |= {"data_received", "data_sent", "checks"}
# Names of reports and profiles before format 2, and what they are now.
RENAMED = {"service_time": "http_req_duration"}

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "===": operator.eq,
    "!=": operator.ne,
}

_KEY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\{(.*)\})?\s*$")
_EXPR = re.compile(
    r"^\s*(?P<agg>avg|min|max|med|count|rate|value|p\(\s*(?P<pct>\d+(?:\.\d+)?)\s*\))"
    r"\s*(?P<op><=|>=|===|==|!=|<|>)\s*(?P<bound>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"(?:\s+over\s+(?P<window>\S+))?\s*$"
)


@dataclass(frozen=True)
class Threshold:
    """One threshold expression on one metric key, as a user wrote it."""

    key: str  # as written, e.g. "http_req_duration{step:login}"
    metric: str
    tags: tuple[tuple[str, str], ...]
    expression: str  # as written, e.g. "p(95)<500 over 10s"
    aggregation: str  # avg, min, max, med, p, count, rate, value
    percentile: float | None
    op: str
    bound: float
    window_s: float | None = None
    abort_on_fail: bool = False
    delay_abort_eval_s: float = 0.0

    @property
    def kind(self) -> str:
        return METRICS[self.metric]

    @property
    def tag_dict(self) -> dict[str, str]:
        return dict(self.tags)

    def passes(self, observed: float | None) -> bool:
        """No data yet counts as passing, as in k6 (a threshold on an unseen tag holds)."""
        if observed is None or math.isnan(observed):
            return True
        return _OPS[self.op](observed, self.bound)


def parse_key(key: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    m = _KEY.match(key)
    if not m:
        raise ConfigError(key, "not a metric key (expected e.g. http_req_duration{step:login})")
    metric, raw_tags = m.group(1), m.group(2)
    if metric in RENAMED:
        raise ConfigError(
            key,
            f"{metric} is now {RENAMED[metric]} (k6's meaning: from the request's send); "
            "latency is the figure from the due time",
        )
    if metric not in METRICS:
        known = ", ".join(sorted(METRICS))
        hint = did_you_mean(metric, METRICS)
        raise ConfigError(key, f"unknown metric {metric!r}{hint} (known: {known})")
    tags: list[tuple[str, str]] = []
    if raw_tags is not None:
        for part in raw_tags.split(","):
            name, sep, value = part.partition(":")
            name, value = name.strip(), value.strip()
            if not sep or not name or not value:
                raise ConfigError(key, f"bad tag {part.strip()!r} (expected name:value)")
            if name not in TAGS:
                raise ConfigError(key, f"unknown tag {name!r} (known: {', '.join(sorted(TAGS))})")
            tags.append((TAGS[name], value))
    if any(t == "check" for t, _ in tags) and metric != "checks":
        raise ConfigError(key, "the check tag applies only to the checks metric")
    if tags and metric not in TAGGED:
        raise ConfigError(key, f"{metric} is kept for the whole run: it takes no tags")
    for name, value in tags:
        if name != "expected_response":
            continue
        if value not in ("true", "false"):
            raise ConfigError(key, f"expected_response is true or false, got {value!r}")
        if metric not in ("http_req_duration", "http_reqs", "http_req_failed"):
            raise ConfigError(
                key,
                "the expected_response tag applies to http_req_duration, http_reqs "
                "and http_req_failed",
            )
    return metric, tuple(tags)


def parse_threshold(
    key: str,
    expression: str,
    *,
    abort_on_fail: bool = False,
    delay_abort_eval: str | float = 0.0,
) -> Threshold:
    """Parse one `key` + `expression` pair; ConfigError names what is wrong."""
    metric, tags = parse_key(key)
    if not isinstance(expression, str):
        raise ConfigError(key, f"threshold must be a string, got {expression!r}")
    m = _EXPR.match(expression)
    if not m:
        raise ConfigError(
            key,
            f"bad threshold {expression!r} (expected AGG OP NUMBER [over DURATION], "
            "e.g. 'p(95)<500', 'rate<0.01', 'p(99)<300 over 10s')",
        )
    agg_text = m.group("agg")
    agg = "p" if agg_text.startswith("p(") else agg_text
    kind = METRICS[metric]
    if agg not in AGGREGATIONS[kind]:
        allowed = ", ".join("p(N)" if a == "p" else a for a in sorted(AGGREGATIONS[kind]))
        raise ConfigError(key, f"{agg_text} does not apply to a {kind} metric (use {allowed})")
    pct = float(m.group("pct")) if m.group("pct") is not None else None
    if pct is not None and not 0 <= pct <= 100:
        raise ConfigError(key, f"percentile {pct:g} is outside 0..100")
    window = None
    if m.group("window") is not None:
        try:
            window = parse_duration(m.group("window"))
        except ValueError as exc:
            raise ConfigError(key, f"bad window in {expression!r}: {exc}") from None
        if window <= 0:
            raise ConfigError(key, f"window must be positive in {expression!r}")
    try:
        delay = parse_duration(delay_abort_eval)
    except ValueError as exc:
        raise ConfigError(key, f"bad delay_abort_eval: {exc}") from None
    return Threshold(
        key=key.strip(),
        metric=metric,
        tags=tags,
        expression=expression.strip(),
        aggregation=agg,
        percentile=pct,
        op=m.group("op"),
        bound=float(m.group("bound")),
        window_s=window,
        abort_on_fail=bool(abort_on_fail),
        delay_abort_eval_s=delay,
    )


_ENTRY_KEYS = {
    "threshold": "threshold",
    "abort_on_fail": "abort_on_fail",
    "abortOnFail": "abort_on_fail",
    "delay_abort_eval": "delay_abort_eval",
    "delayAbortEval": "delay_abort_eval",
}


def parse_thresholds(table: Mapping[str, Any]) -> list[Threshold]:
    """k6's `thresholds` object: key -> list of strings or {threshold, abortOnFail, ...}."""
    out: list[Threshold] = []
    for key, entries in table.items():
        if isinstance(entries, str | Mapping):
            entries = [entries]
        if not isinstance(entries, list):
            raise ConfigError(key, "expected a list of threshold expressions")
        for entry in entries:
            if isinstance(entry, str):
                out.append(parse_threshold(key, entry))
                continue
            if not isinstance(entry, Mapping):
                raise ConfigError(key, f"expected a string or a table, got {entry!r}")
            opts: dict[str, Any] = {}
            for k, v in entry.items():
                if k not in _ENTRY_KEYS:
                    raise ConfigError(
                        f"{key}.{k}", f"unknown key (known: {', '.join(_ENTRY_KEYS)})"
                    )
                opts[_ENTRY_KEYS[k]] = v
            if "threshold" not in opts:
                raise ConfigError(key, "a threshold table needs a 'threshold' expression")
            if not isinstance(opts.get("abort_on_fail", False), bool):
                raise ConfigError(f"{key}.abort_on_fail", "expected true or false")
            out.append(
                parse_threshold(
                    key,
                    opts["threshold"],
                    abort_on_fail=opts.get("abort_on_fail", False),
                    delay_abort_eval=opts.get("delay_abort_eval", 0.0),
                )
            )
    return out


def parse_cli_threshold(text: str) -> Threshold:
    """`--threshold "METRIC:EXPR"`; the metric part may carry {tag:value} with colons."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ":" and depth == 0:
            return parse_threshold(text[:i], text[i + 1 :])
    raise ConfigError(text, "expected METRIC:EXPRESSION, e.g. http_req_duration:p(95)<500")
