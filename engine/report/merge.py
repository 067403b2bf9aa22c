"""Merging the reports of runs made in parallel (processes, machines) into one report.

Each report is read back into the run's own types (a `Bucket` per section, an
`Interval` for the whole run, timeline `Row`s) and added as workers' intervals add
(`Interval.add`): HDR histograms add exactly, so the merged percentiles are those of
one histogram holding every run's values, never an average of percentiles. Counters
add. Throughput is the requests over the longest run, because parallel runs overlap
in time. Thresholds are judged again by the run's own evaluator (`RunModel.value`),
so a merge judges them as one run of all the requests would.

Approximate where a report does not keep enough: timeline rows are aligned by index
(runs started together with one interval) and their percentile columns keep the worst
run's, an upper bound. Window thresholds ("p(95)<500 over 10s"), the timing breakdown
(http_req_waiting...) and a step with an upstream need histograms no report keeps, so
they keep the inputs' verdicts (ok only if every input passed) and say so with
`recomputed = false`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from engine import __version__
from engine.errors import ConfigError
from engine.load.metrics import PHASES, Bucket, Interval, Key, encode_histogram
from engine.load.model import Figures, LatencyStats, Row, RunModel
from engine.load.thresholds import TREND, Threshold, parse_threshold
from engine.report.buckets import EXPECTED, exact_sum, read_bucket, read_histogram
from engine.report.compare import meta_warnings
from engine.report.document import (
    FORMAT,
    ReportError,
    _figures,
    _histograms,
    is_number,
    steering_of,
    steering_tables,
)
from engine.report.review import row_of

_ALL: Key = ("", None)  # the whole run's one bucket
# Timeline columns of parallel runs: the counters add, these keep the worst run's.
_ROW_MAX = frozenset(("t", "dt", "p50", "p90", "p95", "p99", "duration_p50", "duration_p99"))


@dataclass
class _Run:
    """Reports in the run's own types: the whole run (one bucket, iterations, checks),
    a Bucket per step and per upstream. `split` is False once an input does not keep the
    expected responses' http_req_duration (format 1): the merge has no such figure."""

    whole: Interval
    steps: dict[str, Bucket] = field(default_factory=dict)
    upstreams: dict[str, Bucket] = field(default_factory=dict)
    split: bool = True

    def add(self, other: _Run) -> None:
        """Exact, as `Interval.add` adds workers' intervals."""
        self.whole.add(other.whole)
        for mine, theirs in ((self.steps, other.steps), (self.upstreams, other.upstreams)):
            for name, b in theirs.items():
                if name in mine:
                    mine[name].add(b)
                else:
                    mine[name] = b
        self.split = self.split and other.split


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
    run, *others = (_read(r, lb) for r, lb in _pairs(reports, labels))
    for other in others:
        run.add(other)
    model = RunModel(total=run.whole, timeline=_timeline(reports), elapsed=seconds)
    out: dict[str, Any] = {"meta": _meta(reports, labels, seconds)}
    out["summary"] = _summary(run, model, reports, labels)
    out["thresholds"] = _thresholds(reports, run, model)
    out["checks"] = {name: {"passes": p, "fails": f} for name, (p, f) in model.checks().items()}
    out["steps"] = {n: _section(b, run, seconds) for n, b in sorted(run.steps.items())}
    out["upstreams"] = {n: _section(b, run, seconds) for n, b in sorted(run.upstreams.items())}
    out["timeline"] = [
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(r).items()}
        for r in model.timeline
    ]
    whole = run.whole
    out["histograms"] = {
        "total": _hist_table(whole.buckets[_ALL], run)
        | {
            "iteration_duration": encode_histogram(whole.iteration_duration),
            "iteration_duration_sum_us": whole.iteration_sum,
        },
        "steps": {n: _hist_table(b, run) for n, b in sorted(run.steps.items())},
        "upstreams": {n: _hist_table(b, run) for n, b in sorted(run.upstreams.items())},
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


def _read(report: Mapping[str, Any], label: str) -> _Run:
    """One report in the run's types; ReportError names what is missing or damaged."""
    summary = _table(report, "summary", label)
    hists = _table(report, "histograms", label, hint="cannot merge exactly without them")
    total_h = _table(hists, "total", f"{label}: [histograms]")
    it = read_histogram(total_h.get("iteration_duration"), f"{label}: iteration_duration")
    at = f"{label}: [summary]"
    whole = Interval(
        0.0,
        0.0,
        buckets={_ALL: _bucket(summary, total_h, f"{label}: [histograms.total]", at)},
        iteration_duration=it,
        iteration_sum=exact_sum(
            total_h, "iteration_duration_sum_us", it, summary, "iteration_duration_ms"
        ),
        iterations=_whole(summary, "iterations", at),
        interrupted=_whole(summary, "interrupted_iterations", at),
        dropped=_whole(summary, "dropped_iterations", at),
        checks=_checks(report, label),
        vus_max=_whole(summary, "vus_max", at),
    )
    run = _Run(whole, split=EXPECTED in total_h)
    for kind, into in (("steps", run.steps), ("upstreams", run.upstreams)):
        hist_tables = _table(hists, kind, f"{label}: [histograms]", optional=True)
        for name, figures in _table(report, kind, label, optional=True).items():
            where = f"{label}: [histograms.{kind}.{name}]"
            into[name] = _bucket(figures, hist_tables.get(name), where, f"{label}: [{kind}.{name}]")
            run.split = run.split and EXPECTED in hist_tables[name]
    return run


def _bucket(figures: Any, hist_table: Any, where: str, figures_where: str) -> Bucket:
    """A section as the run's Bucket: its histograms, and its counters from its figures."""
    if not isinstance(figures, Mapping):
        raise ReportError(f"{where}: figures are not a table")
    if not isinstance(hist_table, Mapping):
        raise ReportError(f"{where}: missing (cannot merge exactly without it)")
    b = read_bucket(hist_table, figures, where)
    b.requests = _whole(figures, "requests", figures_where)
    b.failed = _whole(figures, "failed", figures_where)
    b.bytes_in = _whole(figures, "data_received_bytes", figures_where)
    b.bytes_out = _whole(figures, "data_sent_bytes", figures_where)
    b.status = {int(k): v for k, v in _counts(figures.get("status")).items() if k.isdigit()}
    b.errors = _counts(figures.get("errors"))
    held = b.latency.get_total_count()
    if "requests" in figures and held != b.requests:
        # Every request is recorded in the latency histogram: a mismatch is a damaged or
        # edited report, and merging it would make percentiles that no run measured.
        raise ReportError(
            f"{where}: its latency histogram holds {held:,} values for {b.requests:,} "
            "requests (damaged or edited): cannot merge exactly"
        )
    return b


def _whole(table: Mapping[str, Any], key: str, where: str) -> int:
    value = table.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportError(f"{where}: {key} is not a whole number ({value!r})")
    return value


def _counts(table: Any) -> dict[str, int]:
    """A table of counts (status, errors); what is not a count is left out."""
    items = table.items() if isinstance(table, Mapping) else ()
    return {str(k): v for k, v in items if isinstance(v, int) and not isinstance(v, bool)}


def _checks(report: Mapping[str, Any], label: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for name, pf in _table(report, "checks", label, optional=True).items():
        if not isinstance(pf, Mapping):
            raise ReportError(f"{label}: [checks.{name}] is not a table")
        out[name] = [_whole(pf, "passes", label), _whole(pf, "fails", label)]
    return out


def _timeline(reports: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Rows of the same interval of parallel runs as one: counts add, percentiles keep
    the worst run's."""
    timelines = [r.get("timeline") for r in reports]
    runs = [
        [row_of(r) for r in t if isinstance(r, Mapping)] for t in timelines if isinstance(t, list)
    ]
    length = max((len(rows) for rows in runs), default=0)
    return [_beside([rows[i] for rows in runs if i < len(rows)]) for i in range(length)]


def _beside(rows: Sequence[Row]) -> Row:
    pick = {f.name: max if f.name in _ROW_MAX else sum for f in fields(Row)}
    out = Row(**{name: how(getattr(r, name) for r in rows) for name, how in pick.items()})
    return replace(out, error_rate=out.failed / out.requests if out.requests else 0.0)


def _section(b: Bucket, run: _Run, seconds: float) -> dict[str, Any]:
    """A section's figures as a run's report writes them."""
    return _unsplit(_figures(Figures.of(b, seconds)), run, f"{EXPECTED}_ms")


def _hist_table(b: Bucket, run: _Run) -> dict[str, Any]:
    return _unsplit(_histograms(b), run, EXPECTED, f"{EXPECTED}_sum_us")


def _unsplit(table: dict[str, Any], run: _Run, *keys: str) -> dict[str, Any]:
    """Without the expected responses' figures where an input did not keep them."""
    return table if run.split else {k: v for k, v in table.items() if k not in keys}


def _summary(
    run: _Run, model: RunModel, reports: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> dict[str, Any]:
    whole = run.whole
    out = _section(whole.buckets[_ALL], run, model.elapsed)
    out["iterations"] = whole.iterations
    out["interrupted_iterations"] = whole.interrupted
    out["dropped_iterations"] = whole.dropped
    out["iteration_duration_ms"] = LatencyStats.of(
        whole.iteration_duration, whole.iteration_sum
    ).as_dict()
    out["vus_max"] = max((r.vus_max for r in model.timeline), default=whole.vus_max)
    if model.checks_rate() is not None:
        out["checks_rate"] = round(model.checks_rate() or 0.0, 6)
    summaries = [(_table(r, "summary", lb), lb) for r, lb in _pairs(reports, labels)]
    if all("breaking_point_rps" in s for s, _ in summaries):
        # Each generator's last rate that held; together, the combined rate that held.
        points = [_number(s, "breaking_point_rps", lb) for s, lb in summaries]
        out["breaking_point_rps"] = round(sum(points), 3)
    return out


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


def _thresholds(
    reports: Sequence[Mapping[str, Any]], run: _Run, model: RunModel
) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for report in reports:
        entries = report.get("thresholds")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, Mapping):
                key = (str(entry.get("metric", "")), str(entry.get("expression", "")))
                groups.setdefault(key, []).append(entry)
    return [
        _threshold(metric, expr, entries, run, model) for (metric, expr), entries in groups.items()
    ]


def _threshold(
    metric: str,
    expression: str,
    entries: Sequence[Mapping[str, Any]],
    run: _Run,
    model: RunModel,
) -> dict[str, Any]:
    try:
        th: Threshold | None = parse_threshold(metric, expression)
    except ConfigError:
        th = None
    view = _view(th, run) if th is not None else None
    if th is not None and view is not None:
        value = model.value(th, view, model.elapsed)
        ok, observed = th.passes(value), round(value, 6) if value is not None else "no data"
    else:  # the inputs' verdicts: ok only if every input passed
        ok, observed = all(e.get("ok") is True for e in entries), _worst_observed(th, entries)
    return {
        "metric": metric,
        "expression": expression,
        "ok": ok,
        "observed": observed,
        "abort_on_fail": any(bool(e.get("abort_on_fail")) for e in entries),
        "recomputed": view is not None,
    }


def _view(th: Threshold, run: _Run) -> Interval | None:
    """The whole run with the buckets the threshold's tags select from, or None where a
    report does not keep what it needs: per-window or timing-breakdown histograms, a
    step with an upstream (steps and upstreams are kept apart, not crossed), the
    expected responses' durations of a format 1 report."""
    tags = th.tag_dict
    if th.window_s or th.metric in PHASES or ("step" in tags and "upstream" in tags):
        return None
    if th.kind == TREND and "expected_response" in tags and not run.split:
        return None
    if "step" in tags:
        return replace(run.whole, buckets={(n, None): b for n, b in run.steps.items()})
    if "upstream" in tags:
        return replace(run.whole, buckets={("", n): b for n, b in run.upstreams.items()})
    return run.whole


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
