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
    "group_duration": TREND,  # k6's: one pass through a group of steps, by its `group` path
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

# Tag spellings: k6's `name` of a request is Surge's step name.
ALIASES = {"name": "step"}
# The metrics of requests: kept per lane, step and upstream.
REQUESTS = frozenset({"http_req_duration", "latency", "http_req_failed", "http_reqs"})
REQUESTS |= {"data_received", "data_sent"}
# Tags read inside a figure (a bucket's upstream, status and expected part; a check's
# name), with the metrics that keep them; every other tag picks lanes and steps.
INNER: dict[str, frozenset[str]] = {
    "upstream": REQUESTS,
    "expected_response": frozenset({"http_req_duration", "http_reqs", "http_req_failed"}),
    "status": frozenset({"http_reqs"}),
    "check": frozenset({"checks"}),
}
_INNER_WHY = {
    "upstream": "kept per upstream only for requests (http_*, latency, data_*)",
    "expected_response": "applies to http_req_duration, http_reqs and http_req_failed",
    "status": "counted per status only for http_reqs (durations: use expected_response)",
    "check": "applies only to the checks metric",
}
# Tags of a step, with the metrics kept per step (a check has its step, not its method).
STEP_TAGS = {"step": REQUESTS | {"checks"}, "method": REQUESTS}
# Tags k6 may set that Surge cannot select, and why.
REFUSED: dict[str, str] = {
    "url": "figures are kept per step, not per URL: use {name:STEP}",
    "proto": "the protocol is counted per connection for the whole run, not per request",
    "subproto": "not kept by Surge",
    "error": "errors are counted by kind in the report's errors, not as a tag",
    "error_code": "errors are counted by kind in the report's errors, not as a tag",
    "tls_version": "not kept by Surge",
    "ip": "not kept by Surge",
    "ocsp_status": "not kept by Surge",
    "vu": "not a tag of k6's samples by default, nor of Surge's",
    "iter": "not a tag of k6's samples by default, nor of Surge's",
}
# Kept for the whole run only: a tag selects them only if every sample has it (a run tag).
WHOLE_RUN = frozenset(
    {"vus", "vus_max", "http_req_blocked", "http_req_connecting", "http_req_tls_handshaking"}
    | {"http_req_sending", "http_req_waiting", "http_req_receiving"}
)
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
_QUOTES = "\"'"  # k6 trims spaces, then these, from a tag's name and value
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
    if raw_tags is None:
        return metric, ()
    tags: dict[str, str] = {}  # a tag named twice: the last, as k6 keeps it
    for part in raw_tags.split(","):
        name, sep, value = part.partition(":")  # at the first colon: group:::x is ::x
        name, value = name.strip().strip(_QUOTES), value.strip().strip(_QUOTES)
        if not sep or not name or not value:
            raise ConfigError(key, f"bad tag {part.strip()!r} (expected name:value)")
        name = ALIASES.get(name, name)
        if name in REFUSED:
            raise ConfigError(key, f"Surge cannot select by {name!r}: {REFUSED[name]}")
        tags[name] = value
        _check_tag(key, metric, name, value)
    return metric, tuple(tags.items())


def _check_tag(key: str, metric: str, name: str, value: str) -> None:
    """A tag the metric's figures cannot carry in Surge: refused with the reason."""
    if name in INNER and metric not in INNER[name]:
        raise ConfigError(key, f"the {name} tag {_INNER_WHY[name]}")
    if name == "expected_response" and value not in ("true", "false"):
        raise ConfigError(key, f"expected_response is true or false, got {value!r}")
    if name in STEP_TAGS and metric not in STEP_TAGS[name]:
        if metric in WHOLE_RUN:
            raise ConfigError(key, f"{metric} is kept for the whole run: it takes no {name} tag")
        raise ConfigError(key, f"{metric} is not kept per step: it takes no {name} tag")
    if metric in WHOLE_RUN and name in ("scenario", "group"):
        raise ConfigError(key, f"{metric} is kept for the whole run: it takes no {name} tag")


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
