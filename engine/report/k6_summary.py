"""A report in k6's `--summary-export` format, so scripts written for k6 read Surge's.

k6 writes one JSON object: `metrics` (trends in ms as avg, min, med, max, p(90),
p(95); counters as count and rate; rates as passes, fails and value; gauges as value,
min and max; each with `thresholds`, expression -> whether it FAILED) and
`root_group` with the checks, their ids the MD5 of their path as k6 makes them, and
the groups nested by path (`::a::b` under `a`), each with its own checks.
Built from a saved report (its rounded tables), so `surge report export --format k6`
gives the same file for any report `surge run --summary-export` would have written.
Surge's own figures keep their own names (`latency`); k6 has no key for them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from engine.load.metrics import PHASES, decode_histogram, merge_histograms
from engine.load.model import LatencyStats
from engine.load.thresholds import parse_key
from engine.report.document import rounded_stats
from engine.report.model import LANE_GROUPS, Checks, Report, Section

# k6's trends a section holds, by the attribute they are kept under.
_TRENDS = {
    "http_req_duration": "http_req_duration",
    "http_req_duration{expected_response:true}": "http_req_duration_expected",
    "iteration_duration": "iteration_duration",
    "latency": "latency",
}
# k6's counters a section holds -> the attribute it has them under (a step only the first
# three, a scenario all five).
_COUNTERS = {
    "http_reqs": "requests",
    "data_received": "data_received_bytes",
    "data_sent": "data_sent_bytes",
    "iterations": "iterations",
    "dropped_iterations": "dropped_iterations",
}


def summary_export(report: Report) -> dict[str, Any]:
    summary = report.summary
    seconds = max(report.meta.duration_s, 1e-9)
    metrics: dict[str, dict[str, Any]] = {}
    for name, attr in _TRENDS.items():
        if (stats := getattr(summary, attr)) is not None:
            metrics[name] = _trend(stats)
    for name in PHASES:
        if name in summary.phases:
            metrics[name] = _trend(summary.phases[name])
    if (groups := _group_duration(report)) is not None:
        metrics["group_duration"] = _trend(groups)
    for name, count in (
        ("http_reqs", summary.requests),
        ("iterations", summary.iterations),
        ("data_received", summary.data_received_bytes),
        ("data_sent", summary.data_sent_bytes),
        ("dropped_iterations", summary.dropped_iterations),
    ):
        if name != "dropped_iterations" or count:
            metrics[name] = {"count": count, "rate": count / seconds}
    metrics["http_req_failed"] = _rate(summary.failed, summary.requests - summary.failed)
    if checks := report.checks:
        passes = sum(c.passes for c in checks.values())
        metrics["checks"] = _rate(passes, sum(c.fails for c in checks.values()))
    for name in ("vus", "vus_max"):
        values = [float(getattr(r, name)) for r in report.timeline]
        if values:
            metrics[name] = {"value": values[-1], "min": min(values), "max": max(values)}
    for th in report.thresholds:
        # k6 writes every metric a threshold names, tagged ones too; what no table of
        # the report holds (checks{step:...}) keeps the value the threshold judged.
        entry = metrics.get(th.metric) or _submetric(report, th.metric, seconds)
        if entry is None:
            entry = _observed(th.metric, th.observed or 0.0, seconds)
        metrics[th.metric] = entry
        entry.setdefault("thresholds", {})[th.expression] = not th.ok
    return {"metrics": metrics, "root_group": _root_group(report)}


def _group_duration(report: Report) -> LatencyStats | None:
    """k6's group_duration over every group, from their histograms (exact); None for a
    run without groups, or a report that kept no histograms of them."""
    kept = report.histograms.groups if report.histograms is not None else {}
    texts = [h.group_duration for h in kept.values() if h.group_duration]
    if not report.groups or not texts:
        return None
    try:
        merged = merge_histograms(decode_histogram(t) for t in texts)
    except Exception:  # a damaged histogram (hdrh, base64, zlib raise their own)
        return None
    return rounded_stats(merged, sum(h.group_duration_sum_us or 0 for h in kept.values()))


def _trend(stats: LatencyStats) -> dict[str, float]:
    return {
        "avg": stats.mean,
        "min": stats.min,
        "med": stats.p50,
        "max": stats.max,
        "p(90)": stats.p90,
        "p(95)": stats.p95,
    }


def _rate(passes: int, fails: int) -> dict[str, float]:
    """k6's rate metric: `passes` counts the true values (for http_req_failed, failures)."""
    total = passes + fails
    return {"passes": passes, "fails": fails, "value": passes / total if total else 0.0}


def _submetric(report: Report, key: str, seconds: float) -> dict[str, Any] | None:
    """A threshold's `metric{TAG:VALUE}` from the section that tag names: a step, an
    upstream, a scenario or a group (k6 lists every submetric a threshold names), or
    `{expected_response:BOOL}` on a count; None for what no section holds as such."""
    try:
        metric, tags = parse_key(key)
    except ValueError:
        return None
    if len(tags) != 1:
        return None
    name, value = tags[0]
    if name == "expected_response":
        return _expected_counts(report, metric, value == "true", seconds)
    section = _tagged(report, name, value)
    return _figure(section, metric, seconds) if section is not None else None


def _tagged(report: Report, tag: str, value: str) -> Section | None:
    """The section whose requests carry `tag:value`. A user's tag picks no section: its
    counts are the judged value (fact 4: `dropped_iterations` does not carry a
    scenario's own tags), never a scenario's figures."""
    if tag in ("step", "upstream"):
        return report.section(tag, value)
    if tag == "scenario":
        return report.scenarios.get(value)
    if tag == "group":
        return report.groups.get(value) or report.scenarios.get(LANE_GROUPS.get(value, ""))
    return None


def _figure(section: Section, metric: str, seconds: float) -> dict[str, Any] | None:
    """One metric of a section, as k6 writes it; None where the section has no such figure."""
    if metric == "http_req_failed":
        return _rate(section.failed, section.requests - section.failed)
    if metric == "checks":
        checks = getattr(section, "checks", None)  # a step's are not kept apart
        if checks is None:
            return None
        return _rate(sum(c.passes for c in checks.values()), sum(c.fails for c in checks.values()))
    if metric in _COUNTERS:
        count = getattr(section, _COUNTERS[metric], None)
        return {"count": count, "rate": count / seconds} if count is not None else None
    stats = getattr(section, metric, None)  # a trend: http_req_duration, group_duration...
    return _trend(stats) if isinstance(stats, LatencyStats) else None


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


def _expected_counts(
    report: Report, metric: str, expected: bool, seconds: float
) -> dict[str, Any] | None:
    requests, failed = report.summary.requests, report.summary.failed
    chosen = requests - failed if expected else failed
    if metric == "http_reqs":
        return {"count": chosen, "rate": chosen / seconds}
    if metric == "http_req_failed":  # failed is not expected: all true or all false
        return _rate(0, chosen) if expected else _rate(chosen, 0)
    return None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _group(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "path": path, "id": _md5(path), "groups": {}, "checks": {}}


def _checks(path: str, checks: Mapping[str, Checks]) -> dict[str, Any]:
    return {
        name: {"name": name, "path": f"{path}::{name}", "id": _md5(f"{path}::{name}")}
        | {"passes": c.passes, "fails": c.fails}
        for name, c in checks.items()
    }


def _root_group(report: Report) -> dict[str, Any]:
    """k6's group tree: every group under its parent (`::a::b` in `a`), with the checks
    made in it; the root keeps the checks made outside every group."""
    root = _group("", "")
    inside: dict[str, list[int]] = {}
    for path, section in report.groups.items():
        node = root
        names = path.split("::")[1:]
        for depth, name in enumerate(names, 1):
            node = node["groups"].setdefault(name, _group(name, "::" + "::".join(names[:depth])))
        node["checks"] = _checks(path, section.checks)
        for name, c in section.checks.items():
            counts = inside.setdefault(name, [0, 0])
            counts[0] += c.passes
            counts[1] += c.fails
    outside = {
        name: Checks(c.passes - inside.get(name, [0, 0])[0], c.fails - inside.get(name, [0, 0])[1])
        for name, c in report.checks.items()
    }
    root["checks"] = _checks("", {n: c for n, c in outside.items() if c.passes or c.fails})
    return root
