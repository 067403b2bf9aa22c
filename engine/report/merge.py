"""Merging the reports of runs made in parallel (processes, machines) into one report.

Exact where a report keeps enough: HDR histograms add exactly, so the merged
percentiles are those of one histogram holding every run's values, never an
average of percentiles (which means nothing). Counters add. Throughput is the
requests over the longest run, because parallel runs overlap in time. Thresholds
are judged again on the merged figures with the run's own evaluator.

Approximate where it does not: timeline rows are aligned by index (runs started
together with one interval) and their percentile columns keep the worst run's, an
upper bound; window thresholds ("p(95)<500 over 10s") need per-window histograms no
report keeps, so they keep the inputs' verdicts (ok only if every input passed) and
say so with `recomputed = false`.

One module on purpose: every function here reads the same untrusted
report tables and shares one error path (a ConfigError naming the report and key);
split, each half would need the other's private helpers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hdrh.histogram import HdrHistogram

from engine import __version__
from engine.errors import ConfigError
from engine.load.metrics import decode_histogram, encode_histogram, new_histogram
from engine.load.model import LatencyStats, trend_value
from engine.load.thresholds import COUNTER, GAUGE, RATE, TREND, Threshold, parse_threshold
from engine.report.compare import meta_warnings
from engine.report.document import FORMAT, ReportError, is_number, steering_of, steering_tables

# Timeline columns: counters add across parallel runs, percentiles keep the worst.
_ROW_SUM = ("requests", "failed", "rps", "vus", "vus_max", "target", "iterations", "dropped")
_ROW_SUM += ("bytes_in", "bytes_out")
_ROW_MAX = ("t", "dt", "p50", "p90", "p95", "p99", "duration_p50", "duration_p99")


@dataclass
class Hists:
    """One section's histograms (latency, http_req_duration and its expected responses'
    part), with exact sums for the mean. `expected` is None once an input lacks it (a
    format 1 report): then the merged report has no {expected_response:true} figure."""

    latency: HdrHistogram = field(default_factory=new_histogram)
    latency_sum: int = 0
    duration: HdrHistogram = field(default_factory=new_histogram)
    duration_sum: int = 0
    expected: HdrHistogram | None = field(default_factory=new_histogram)
    expected_sum: int = 0

    def add(self, other: Hists) -> None:
        for mine, theirs in ((self.latency, other.latency), (self.duration, other.duration)):
            if theirs.get_total_count():
                mine.add(theirs)
        self.latency_sum += other.latency_sum
        self.duration_sum += other.duration_sum
        if self.expected is None or other.expected is None:
            self.expected = None
        else:
            if other.expected.get_total_count():
                self.expected.add(other.expected)
            self.expected_sum += other.expected_sum

    def encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "latency": encode_histogram(self.latency),
            "http_req_duration": encode_histogram(self.duration),
            "latency_sum_us": self.latency_sum,
            "http_req_duration_sum_us": self.duration_sum,
        }
        if self.expected is not None:
            out["http_req_duration_expected"] = encode_histogram(self.expected)
            out["http_req_duration_expected_sum_us"] = self.expected_sum
        return out


@dataclass
class _Section:
    """A section (total, a step, an upstream) merged: summed counters and histograms."""

    parts: list[Mapping[str, Any]] = field(default_factory=list)
    hists: Hists = field(default_factory=Hists)


@dataclass
class _Merged:
    """Everything a threshold may look at, merged."""

    total: _Section
    steps: dict[str, _Section]
    upstreams: dict[str, _Section]
    iteration: HdrHistogram
    iteration_sum: int
    summary: dict[str, Any]
    checks: dict[str, dict[str, int]]
    timeline: list[dict[str, Any]]
    seconds: float


class _NotExact(Exception):
    """A threshold the merged report cannot judge again (a window, step x upstream)."""


def merge_reports(
    reports: Sequence[Mapping[str, Any]], sources: Sequence[str] | None = None
) -> dict[str, Any]:
    """One valid report (passes `read_report`) of runs made at the same time.

    `sources` names the inputs in `meta.merged_from` (file paths from the CLI);
    ReportError names the input whose histograms or counters are damaged.
    """
    if not reports:
        raise ReportError("nothing to merge")
    labels = list(sources) if sources is not None else [_default_label(r) for r in reports]
    if len(labels) != len(reports):
        raise ValueError("one source label per report")
    seconds = max(
        _number(_table(r, "meta", lb), "duration_s", lb) for r, lb in _pairs(reports, labels)
    )
    m = _merge(reports, labels, seconds)
    out: dict[str, Any] = {"meta": _meta(reports, labels, seconds), "summary": m.summary}
    out["thresholds"] = _thresholds(reports, m)
    out["checks"] = m.checks
    out["steps"] = {name: _figures(s, seconds) for name, s in m.steps.items()}
    out["upstreams"] = {name: _figures(s, seconds) for name, s in m.upstreams.items()}
    out["timeline"] = m.timeline
    out["histograms"] = {
        "total": m.total.hists.encode()
        | {
            "iteration_duration": encode_histogram(m.iteration),
            "iteration_duration_sum_us": m.iteration_sum,
        },
        "steps": {name: s.hists.encode() for name, s in m.steps.items()},
        "upstreams": {name: s.hists.encode() for name, s in m.upstreams.items()},
    }
    return out


def merge_warnings(reports: Sequence[Mapping[str, Any]], sources: Sequence[str]) -> list[str]:
    """What makes a merge suspect: different setups, or runs that did not overlap.

    Merging assumes parallel runs: throughput is requests over the longest run, so
    runs made one after the other would show more throughput than any of them had.
    """
    metas = [r.get("meta", {}) for r in reports]
    out: list[str] = []
    for meta, source in zip(metas[1:], sources[1:], strict=True):
        out.extend(meta_warnings(metas[0], meta, (sources[0], source)))
    spans = [_span(m) for m in metas]
    known = [s for s in spans if s is not None]
    if len(known) == len(spans) > 1:
        latest_start = max(start for start, _ in known)
        earliest_end = min(end for _, end in known)
        if latest_start > earliest_end + 1:  # starts are kept to the second
            out.append("the runs did not overlap in time: rps assumes runs made in parallel")
    return list(dict.fromkeys(out))


def _span(meta: Mapping[str, Any]) -> tuple[float, float] | None:
    """(start, end) in epoch seconds, or None when the report does not say."""
    try:
        start = datetime.fromisoformat(str(meta["start"])).timestamp()
    except (KeyError, ValueError):
        return None
    duration = meta.get("duration_s")
    return (start, start + duration) if is_number(duration) else None


def _pairs(
    reports: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> Iterable[tuple[Mapping[str, Any], str]]:
    return zip(reports, labels, strict=True)


def _default_label(report: Mapping[str, Any]) -> str:
    meta = report.get("meta", {})
    return f"{meta.get('name', '?')} @ {meta.get('start', '?')}"


def _merge(reports: Sequence[Mapping[str, Any]], labels: Sequence[str], seconds: float) -> _Merged:
    total = _Section()
    steps: dict[str, _Section] = {}
    upstreams: dict[str, _Section] = {}
    iteration, iteration_sum = new_histogram(), 0
    for report, label in _pairs(reports, labels):
        summary = _table(report, "summary", label)
        hists = _table(report, "histograms", label, hint="cannot merge exactly without them")
        total_h = _table(hists, "total", f"{label}: [histograms]")
        _add(total, summary, total_h, f"{label}: [histograms.total]")
        for kind, into in (("steps", steps), ("upstreams", upstreams)):
            tables = _table(report, kind, label, optional=True)
            hist_tables = _table(hists, kind, f"{label}: [histograms]", optional=True)
            for name, figs in tables.items():
                where = f"{label}: [histograms.{kind}.{name}]"
                _add(into.setdefault(name, _Section()), figs, hist_tables.get(name), where)
        it = _decode(total_h.get("iteration_duration"), f"{label}: iteration_duration")
        if it.get_total_count():
            iteration.add(it)
        iteration_sum += _exact_sum(
            total_h, "iteration_duration_sum_us", it, summary, "iteration_duration_ms"
        )
    checks = _merge_checks(reports, labels)
    timeline = _merge_timelines([r.get("timeline") for r in reports])
    m = _Merged(
        total=total,
        steps=dict(sorted(steps.items())),
        upstreams=dict(sorted(upstreams.items())),
        iteration=iteration,
        iteration_sum=iteration_sum,
        summary={},
        checks=checks,
        timeline=timeline,
        seconds=seconds,
    )
    m.summary = _summary(reports, labels, m)
    return m


def _add(section: _Section, figures: Any, hist_table: Any, where: str) -> None:
    if not isinstance(figures, Mapping):
        raise ReportError(f"{where}: figures are not a table")
    if not isinstance(hist_table, Mapping):
        raise ReportError(f"{where}: missing (cannot merge exactly without it)")
    hists = decode_hists(hist_table, figures, where)
    requests = figures.get("requests")
    held = hists.latency.get_total_count()
    if is_number(requests) and held != int(requests):
        # Every request is recorded in the latency histogram: a mismatch is a damaged or
        # edited report, and merging it would make percentiles that no run measured.
        raise ReportError(
            f"{where}: its latency histogram holds {held:,} values for {int(requests):,} "
            "requests (damaged or edited): cannot merge exactly"
        )
    section.parts.append(figures)
    section.hists.add(hists)


def decode_hists(table: Mapping[str, Any], figures: Mapping[str, Any], where: str) -> Hists:
    """A section's histograms as written (by a run or a merge); ReportError names `where`."""
    latency = _decode(table.get("latency"), f"{where}.latency")
    duration = _decode(table.get("http_req_duration"), f"{where}.http_req_duration")
    expected = None
    expected_sum = 0
    if "http_req_duration_expected" in table:
        key = "http_req_duration_expected"
        expected = _decode(table.get(key), f"{where}.{key}")
        expected_sum = _exact_sum(table, f"{key}_sum_us", expected, figures, f"{key}_ms")
    return Hists(
        latency=latency,
        latency_sum=_exact_sum(table, "latency_sum_us", latency, figures, "latency_ms"),
        duration=duration,
        duration_sum=_exact_sum(
            table, "http_req_duration_sum_us", duration, figures, "http_req_duration_ms"
        ),
        expected=expected,
        expected_sum=expected_sum,
    )


def _decode(text: Any, where: str) -> HdrHistogram:
    if not isinstance(text, str):
        raise ReportError(f"{where}: missing histogram")
    try:
        return decode_histogram(text)
    except Exception as exc:  # hdrh raises its own classes, binascii's and zlib's
        raise ReportError(f"{where}: damaged histogram ({type(exc).__name__})") from None


def _exact_sum(
    table: Mapping[str, Any],
    key: str,
    hist: HdrHistogram,
    figures: Mapping[str, Any],
    stats_key: str,
) -> int:
    """The exact sum of values (us) for the mean; rebuilt from the mean when absent.

    Reports written before the sums were kept carry only the mean (ms, 3 decimals),
    which gives the sum to within half a microsecond per value.
    """
    value = table.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    stats = figures.get(stats_key)
    mean = stats.get("mean") if isinstance(stats, Mapping) else None
    count = hist.get_total_count()
    if is_number(mean) and math.isfinite(mean):
        return round(mean * 1000 * count)
    return round(hist.get_mean_value() * count) if count else 0


def _table(
    data: Any, key: str, where: str, *, optional: bool = False, hint: str = ""
) -> Mapping[str, Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    if value is None and optional:
        return {}
    if not isinstance(value, Mapping):
        note = f" ({hint})" if hint else ""
        raise ReportError(f"{where}: no [{key}] table{note}")
    return value


def _number(table: Mapping[str, Any], key: str, where: str, default: float = 0) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportError(f"{where}: {key} is not a number ({value!r})")
    return value


def _count(parts: Iterable[Mapping[str, Any]], key: str) -> int:
    total = 0
    for p in parts:
        value = p.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ReportError(f"{key} is not a whole number ({value!r})")
        total += value
    return total


def _add_maps(maps: Iterable[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for mp in maps:
        if isinstance(mp, Mapping):
            for k, v in mp.items():
                if isinstance(v, int) and not isinstance(v, bool):
                    out[str(k)] = out.get(str(k), 0) + v
    return out


def _figures(section: _Section, seconds: float) -> dict[str, Any]:
    """The same keys, in the same order, as a report written by a run."""
    parts = section.parts
    requests, failed = _count(parts, "requests"), _count(parts, "failed")
    status = _add_maps(p.get("status") for p in parts)
    errors = _add_maps(p.get("errors") for p in parts)
    h = section.hists
    return {
        "requests": requests,
        "failed": failed,
        "error_rate": round(failed / requests, 6) if requests else 0.0,
        "rps": round(requests / seconds, 3) if seconds > 0 else 0.0,
        "data_received_bytes": _count(parts, "data_received_bytes"),
        "data_sent_bytes": _count(parts, "data_sent_bytes"),
        "http_req_duration_ms": LatencyStats.of(h.duration, h.duration_sum).as_dict(),
        **(
            {"http_req_duration_expected_ms": LatencyStats.of(h.expected, h.expected_sum).as_dict()}
            if h.expected is not None
            else {}
        ),
        "latency_ms": LatencyStats.of(h.latency, h.latency_sum).as_dict(),
        "status": dict(sorted(status.items(), key=lambda kv: _status_order(kv[0]))),
        "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])),
    }


def _status_order(code: str) -> tuple[int, str]:
    return (int(code), code) if code.isdigit() else (10**6, code)


def _summary(
    reports: Sequence[Mapping[str, Any]], labels: Sequence[str], m: _Merged
) -> dict[str, Any]:
    summaries = [_table(r, "summary", lb) for r, lb in _pairs(reports, labels)]
    out = _figures(m.total, m.seconds)
    out["iterations"] = _count(summaries, "iterations")
    out["interrupted_iterations"] = _count(summaries, "interrupted_iterations")
    out["dropped_iterations"] = _count(summaries, "dropped_iterations")
    out["iteration_duration_ms"] = LatencyStats.of(m.iteration, m.iteration_sum).as_dict()
    peaks = [row.get("vus_max", 0) for row in m.timeline]
    out["vus_max"] = max(peaks) if peaks else _count(summaries, "vus_max")
    passes = sum(c["passes"] for c in m.checks.values())
    fails = sum(c["fails"] for c in m.checks.values())
    if passes + fails and any("checks_rate" in s for s in summaries):
        out["checks_rate"] = round(passes / (passes + fails), 6)
    if summaries and all("breaking_point_rps" in s for s in summaries):
        # Each generator's last rate that held; together, the combined rate that held.
        points = [_number(s, "breaking_point_rps", lb) for s, lb in _pairs(summaries, labels)]
        out["breaking_point_rps"] = round(sum(points), 3)
    return out


def _merge_checks(
    reports: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for report, label in _pairs(reports, labels):
        for name, pf in _table(report, "checks", label, optional=True).items():
            if not isinstance(pf, Mapping):
                raise ReportError(f"{label}: [checks.{name}] is not a table")
            into = out.setdefault(name, {"passes": 0, "fails": 0})
            into["passes"] += _count([pf], "passes")
            into["fails"] += _count([pf], "fails")
    return dict(sorted(out.items()))


def _merge_timelines(timelines: Sequence[Any]) -> list[dict[str, Any]]:
    rows = [
        [r for r in t if isinstance(r, Mapping)] if isinstance(t, list) else [] for t in timelines
    ]
    length = max((len(r) for r in rows), default=0)
    return [_merge_rows([r[i] for r in rows if i < len(r)]) for i in range(length)]


def _merge_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Rows of the same interval of parallel runs: counts add, percentiles keep the worst."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for r in rows for k in r):
        values = [r[key] for r in rows if is_number(r.get(key))]
        if not values:
            out[key] = rows[0].get(key)
        elif key in _ROW_SUM:
            out[key] = _round(sum(values))
        elif key in _ROW_MAX:
            out[key] = _round(max(values))
        else:
            out[key] = values[0]
    if "error_rate" in out:
        req, failed = out.get("requests", 0), out.get("failed", 0)
        out["error_rate"] = _round(failed / req if req else 0.0)
    return out


def _round(value: float) -> float:
    return round(value, 4) if isinstance(value, float) else value


def _meta(
    reports: Sequence[Mapping[str, Any]], labels: Sequence[str], seconds: float
) -> dict[str, Any]:
    """The first input's meta (name, target, executor...) with what merging changes."""
    metas = [_table(r, "meta", lb) for r, lb in _pairs(reports, labels)]
    meta = dict(metas[0])
    starts = [str(m["start"]) for m in metas if m.get("start")]
    cpu = [m["cpu_percent_max"] for m in metas if is_number(m.get("cpu_percent_max"))]
    meta.update(
        format=FORMAT,
        version=__version__,
        duration_s=round(seconds, 3),
        aborted=any(bool(m.get("aborted")) for m in metas),
    )
    if starts:
        meta["start"] = min(starts)
    if cpu:
        meta["cpu_percent_max"] = max(cpu)  # per machine: the busiest generator
    workers = [m["workers"] for m in metas if is_number(m.get("workers"))]
    if len(workers) == len(metas):
        meta["workers"] = sum(workers)
    for key in ("stop_reason", "error"):
        notes = list(dict.fromkeys(str(m[key]) for m in metas if m.get(key)))
        meta.pop(key, None)
        if notes:
            meta[key] = "; ".join(notes)
    meta["merged_from"] = list(labels)
    meta.pop("steering", None)
    steered = [
        e if e.run else replace(e, run=label)
        for m, label in zip(metas, labels, strict=True)
        for e in steering_of(m, label)
    ]
    if steered:  # each input's commands, on one time axis (the runs ran together)
        meta["steering"] = steering_tables(sorted(steered, key=lambda e: e.t))
    return meta


# ------------------------------------------------------------------ thresholds


def _thresholds(reports: Sequence[Mapping[str, Any]], m: _Merged) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for report in reports:
        entries = report.get("thresholds")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, Mapping):
                key = (str(entry.get("metric", "")), str(entry.get("expression", "")))
                groups.setdefault(key, []).append(entry)
    return [_threshold(metric, expr, entries, m) for (metric, expr), entries in groups.items()]


def _threshold(
    metric: str, expression: str, entries: Sequence[Mapping[str, Any]], m: _Merged
) -> dict[str, Any]:
    out: dict[str, Any] = {"metric": metric, "expression": expression}
    th: Threshold | None = None
    try:
        th = parse_threshold(metric, expression)
        observed = _observe(th, m)
    except (ConfigError, _NotExact):
        out["ok"] = all(e.get("ok") is True for e in entries)
        out["observed"] = _worst_observed(th, entries)
        out["recomputed"] = False
    else:
        out["ok"] = th.passes(observed)
        out["observed"] = round(observed, 6) if observed is not None else "no data"
        out["recomputed"] = True
    out["abort_on_fail"] = any(bool(e.get("abort_on_fail")) for e in entries)
    return dict(sorted(out.items(), key=lambda kv: _THRESHOLD_ORDER.index(kv[0])))


_THRESHOLD_ORDER = ("metric", "expression", "ok", "observed", "abort_on_fail", "recomputed")


def _worst_observed(th: Threshold | None, entries: Sequence[Mapping[str, Any]]) -> Any:
    """The input value nearest to failing: what a reader of a kept verdict wants to see."""
    values = [e["observed"] for e in entries if is_number(e.get("observed"))]
    if not values:
        return "no data"
    if th is not None and th.op in ("<", "<="):
        return max(values)
    if th is not None and th.op in (">", ">="):
        return min(values)
    return values[0]


def _observe(th: Threshold, m: _Merged) -> float | None:
    """The threshold's value over the merged run, as the run model would compute it."""
    if th.window_s:
        raise _NotExact
    if th.metric == "iteration_duration":
        return trend_value(m.iteration, m.iteration_sum, th)
    if th.kind == GAUGE:
        return _gauge(th, m.timeline)
    if th.metric == "checks":
        return _checks_rate(th, m.checks)
    if th.metric in ("iterations", "dropped_iterations"):
        key = "iterations" if th.metric == "iterations" else "dropped_iterations"
        return _counter(th, float(m.summary.get(key, 0)), m.seconds)
    section = _select(th, m)
    if section is None or not section.parts:
        return None
    if th.kind == TREND:
        h = section.hists
        if th.metric == "latency":
            return trend_value(h.latency, h.latency_sum, th)
        if th.metric != "http_req_duration":
            raise _NotExact  # the timing breakdown has no histograms in a report
        want = th.tag_dict.get("expected_response")
        if want is None:
            return trend_value(h.duration, h.duration_sum, th)
        if want == "true" and h.expected is not None:
            return trend_value(h.expected, h.expected_sum, th)
        raise _NotExact
    if "expected_response" in th.tag_dict:
        raise _NotExact
    figs = _figures(section, m.seconds)
    if th.kind == RATE:  # http_req_failed
        return figs["failed"] / figs["requests"] if figs["requests"] else None
    if th.kind == COUNTER:
        key = {"http_reqs": "requests", "data_received": "data_received_bytes"}.get(
            th.metric, "data_sent_bytes"
        )
        return _counter(th, float(figs[key]), m.seconds)
    raise _NotExact


def _select(th: Threshold, m: _Merged) -> _Section | None:
    """A report keeps steps and upstreams apart, not their cross product."""
    tags = {k: v for k, v in th.tags if k != "expected_response"}
    if len(tags) != len([k for k, _ in th.tags if k != "expected_response"]) or len(tags) > 1:
        raise _NotExact
    if "step" in tags:
        return m.steps.get(tags["step"])
    if "upstream" in tags:
        return m.upstreams.get(tags["upstream"])
    return m.total


def _counter(th: Threshold, count: float, seconds: float) -> float | None:
    if th.aggregation == "rate":
        return count / seconds if seconds > 0 else None
    return count


def _gauge(th: Threshold, timeline: Sequence[Mapping[str, Any]]) -> float | None:
    values = [float(r[th.metric]) for r in timeline if is_number(r.get(th.metric))]
    if not values:
        return None
    if th.aggregation == "min":
        return min(values)
    if th.aggregation == "max":
        return max(values)
    return values[-1]


def _checks_rate(th: Threshold, checks: Mapping[str, Mapping[str, int]]) -> float | None:
    names = [v for n, v in th.tags if n == "check"]
    sel = [pf for name, pf in checks.items() if not names or name in names]
    passed = sum(pf["passes"] for pf in sel)
    total = passed + sum(pf["fails"] for pf in sel)
    return passed / total if total else None
