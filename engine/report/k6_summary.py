"""A report in k6's `--summary-export` format, so scripts written for k6 read Surge's.

k6 writes one JSON object: `metrics` (trends in ms as avg, min, med, max, p(90),
p(95); counters as count and rate; rates as passes, fails and value; gauges as value,
min and max; each with `thresholds`, expression -> whether it FAILED) and
`root_group` with the checks, their ids the MD5 of their path as k6 makes them.
Built from a saved report (its rounded tables), so `surge report export --format k6`
gives the same file for any report `surge run --summary-export` would have written.
Surge's own figures keep their own names (`latency`); k6 has no key for them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from engine.load.metrics import PHASES
from engine.load.thresholds import parse_key
from engine.report.document import is_number, number

# metric -> the report's stats table (in [summary], a step's or an upstream's section).
_TRENDS = {
    "http_req_duration": "http_req_duration_ms",
    "http_req_duration{expected_response:true}": "http_req_duration_expected_ms",
    "iteration_duration": "iteration_duration_ms",
    "latency": "latency_ms",
    **{name: f"{name}_ms" for name in PHASES},
}


def summary_export(report: Mapping[str, Any]) -> dict[str, Any]:
    summary: Mapping[str, Any] = report["summary"]
    seconds = max(number(report.get("meta", {}).get("duration_s")), 1e-9)
    metrics: dict[str, dict[str, Any]] = {}
    for name, table in _TRENDS.items():
        if isinstance(summary.get(table), Mapping):
            metrics[name] = _trend(summary[table])
    for name, key in (
        ("http_reqs", "requests"),
        ("iterations", "iterations"),
        ("data_received", "data_received_bytes"),
        ("data_sent", "data_sent_bytes"),
        ("dropped_iterations", "dropped_iterations"),
    ):
        if is_number(summary.get(key)) and (key != "dropped_iterations" or summary[key]):
            count = summary[key]
            metrics[name] = {"count": count, "rate": count / seconds}
    requests, failed = int(number(summary.get("requests"))), int(number(summary.get("failed")))
    metrics["http_req_failed"] = _rate(failed, requests - failed)
    checks = _checks(report.get("checks"))
    if checks:
        passes = sum(c["passes"] for c in checks.values())
        metrics["checks"] = _rate(passes, sum(c["fails"] for c in checks.values()))
    for name in ("vus", "vus_max"):
        values = [
            number(r.get(name)) for r in report.get("timeline") or () if isinstance(r, Mapping)
        ]
        if values:
            metrics[name] = {"value": values[-1], "min": min(values), "max": max(values)}
    for th in report.get("thresholds") or ():
        if isinstance(th, Mapping) and isinstance(th.get("metric"), str):
            # k6 writes every metric a threshold names, tagged ones too; what no table of
            # the report holds (checks{step:...}) keeps the value the threshold judged.
            entry = metrics.get(th["metric"]) or _submetric(report, th["metric"], seconds)
            if entry is None:
                entry = _observed(th["metric"], number(th.get("observed")), seconds)
            metrics[th["metric"]] = entry
            entry.setdefault("thresholds", {})[str(th.get("expression"))] = not th.get("ok")
    return {"metrics": metrics, "root_group": _root_group(checks)}


def _trend(table: Mapping[str, Any]) -> dict[str, float]:
    return {
        "avg": number(table.get("mean")),
        "min": number(table.get("min")),
        "med": number(table.get("p50")),
        "max": number(table.get("max")),
        "p(90)": number(table.get("p90")),
        "p(95)": number(table.get("p95")),
    }


def _rate(passes: int, fails: int) -> dict[str, float]:
    """k6's rate metric: `passes` counts the true values (for http_req_failed, failures)."""
    total = passes + fails
    return {"passes": passes, "fails": fails, "value": passes / total if total else 0.0}


def _submetric(report: Mapping[str, Any], key: str, seconds: float) -> dict[str, Any] | None:
    """A threshold's `metric{step:NAME}`, `{upstream:NAME}` (that section's figures) or
    `{expected_response:BOOL}` on a count (k6 lists every submetric a threshold names)."""
    try:
        metric, tags = parse_key(key)
    except ValueError:
        return None
    if len(tags) != 1:
        return None
    if tags[0][0] == "expected_response":
        return _expected_counts(report, metric, tags[0][1] == "true")
    if tags[0][0] not in ("step", "upstream"):
        return None
    section = report.get("steps" if tags[0][0] == "step" else "upstreams", {}).get(tags[0][1])
    if not isinstance(section, Mapping):
        return None
    if metric in ("http_req_duration", "latency"):
        return _trend(section.get(_TRENDS[metric], {}))
    if metric == "http_req_failed":
        requests, failed = int(number(section.get("requests"))), int(number(section.get("failed")))
        return _rate(failed, requests - failed)
    counter = _COUNTERS.get(metric)
    if counter is not None and is_number(section.get(counter)):
        return {"count": section[counter], "rate": section[counter] / seconds}
    return None


def _observed(key: str, observed: float, seconds: float) -> dict[str, Any]:
    """A threshold's metric no table holds, from the value the threshold judged: a counter
    as k6 writes one (an upstream that got nothing: count 0), anything else its value."""
    try:
        metric = parse_key(key)[0]
    except ValueError:
        metric = key
    if metric in _COUNTERS or metric in ("iterations", "dropped_iterations"):
        return {"count": observed, "rate": observed / seconds}
    return {"value": observed}


# k6's counters a step's or an upstream's section holds -> the key it has them under.
_COUNTERS = {
    "http_reqs": "requests",
    "data_received": "data_received_bytes",
    "data_sent": "data_sent_bytes",
}


def _expected_counts(
    report: Mapping[str, Any], metric: str, expected: bool
) -> dict[str, Any] | None:
    summary = report["summary"]
    requests, failed = int(number(summary.get("requests"))), int(number(summary.get("failed")))
    chosen = requests - failed if expected else failed
    if metric == "http_reqs":
        seconds = max(number(report.get("meta", {}).get("duration_s")), 1e-9)
        return {"count": chosen, "rate": chosen / seconds}
    if metric == "http_req_failed":  # failed is not expected: all true or all false
        return _rate(0, chosen) if expected else _rate(chosen, 0)
    return None


def _checks(table: Any) -> dict[str, dict[str, int]]:
    if not isinstance(table, Mapping):
        return {}
    return {
        str(name): {"passes": int(number(pf.get("passes"))), "fails": int(number(pf.get("fails")))}
        for name, pf in table.items()
        if isinstance(pf, Mapping)
    }


def _root_group(checks: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    return {
        "name": "",
        "path": "",
        "id": md5(""),
        "groups": {},
        "checks": {
            name: {"name": name, "path": f"::{name}", "id": md5(f"::{name}"), **pf}
            for name, pf in checks.items()
        },
    }
