"""Merging the reports of runs made in parallel (processes, machines) into one report.

Each report is read back into the run's own types (a `Bucket` per section, an
`Interval` for the whole run and for each scenario, timeline `Row`s) and added as
workers' intervals add (`Interval.add`): HDR histograms add exactly, so the merged
percentiles are those of one histogram holding every run's values, never an average
of percentiles. Counters add. Throughput is the requests over the longest run,
because parallel runs overlap in time. Thresholds are judged again by the run's own
evaluator (`RunModel.value`), so a merge judges them as one run of all the requests
would; one on `{scenario:X}` or `{group:X}` is judged on that part's figures alone.

Approximate where a report does not keep enough: timeline rows are aligned by index
(runs started together with one interval) and their percentile columns keep the worst
run's, an upper bound. Window thresholds ("p(95)<500 over 10s"), the timing breakdown
(http_req_waiting...), a step with an upstream, in a scenario or in a group, and a
user's tag need figures no report keeps apart, so they keep the inputs' verdicts (ok
only if every input passed) and say so with `recomputed = false`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from hdrh.histogram import HdrHistogram

from engine import __version__
from engine.errors import ConfigError
from engine.load.metrics import PHASES, Bucket, Interval, Key
from engine.load.model import Figures, Row, RunModel
from engine.load.thresholds import GAUGE, TREND, Threshold, parse_threshold
from engine.report.buckets import exact_sum, read_bucket, read_histogram
from engine.report.compare import meta_warnings
from engine.report.document import (
    bucket_histograms,
    group_section,
    scenario_section,
    section_of,
    summary_of,
)
from engine.report.model import (
    LANE_GROUPS,
    Checks,
    Histograms,
    Meta,
    Report,
    ReportError,
    ReportHistograms,
    ScenarioSection,
    Section,
    Summary,
    ThresholdEntry,
)

_ALL: Key = ("", None)  # the whole run's one bucket
_NONE = Checks()
# Timeline columns of parallel runs: the counters add, these keep the worst run's.
_ROW_MAX = frozenset(("t", "dt", "p50", "p90", "p95", "p99", "duration_p50", "duration_p99"))


@dataclass
class _Group:
    """A group read back: its requests' Bucket, group_duration and its checks."""

    bucket: Bucket
    duration: HdrHistogram
    duration_sum: int
    checks: dict[str, Checks]

    def add(self, other: _Group) -> None:
        self.bucket.add(other.bucket)
        self.duration.add(other.duration)
        self.duration_sum += other.duration_sum
        self.checks = _added_checks(self.checks, other.checks)


@dataclass
class _Run:
    """Reports in the run's own types: the whole run (one bucket, iterations, checks),
    a Bucket per step and per upstream, an Interval per scenario (as the whole), a
    _Group per group. `split` is False once an input does not keep the expected
    responses' http_req_duration (format 1): the merge has no such figure."""

    whole: Interval
    steps: dict[str, Bucket] = field(default_factory=dict)
    upstreams: dict[str, Bucket] = field(default_factory=dict)
    scenarios: dict[str, Interval] = field(default_factory=dict)
    groups: dict[str, _Group] = field(default_factory=dict)
    split: bool = True

    def add(self, other: _Run) -> None:
        """Exact, as `Interval.add` adds workers' intervals."""
        self.whole.add(other.whole)
        pairs: tuple[tuple[dict[str, Any], dict[str, Any]], ...] = (
            (self.steps, other.steps),
            (self.upstreams, other.upstreams),
            (self.scenarios, other.scenarios),
            (self.groups, other.groups),
        )
        for mine, theirs in pairs:
            for name, b in theirs.items():
                if name in mine:
                    mine[name].add(b)
                else:
                    mine[name] = b
        self.split = self.split and other.split


def _added_checks(a: Mapping[str, Checks], b: Mapping[str, Checks]) -> dict[str, Checks]:
    return {
        n: Checks(
            a.get(n, _NONE).passes + b.get(n, _NONE).passes,
            a.get(n, _NONE).fails + b.get(n, _NONE).fails,
        )
        for n in dict.fromkeys([*a, *b])
    }


def merge_reports(reports: Sequence[Report], sources: Sequence[str] | None = None) -> Report:
    """One report of runs made at the same time.

    `sources` names the inputs in `meta.merged_from` (file paths from the CLI);
    ReportError names the input whose histograms or counters are damaged.
    """
    if not reports:
        raise ReportError("nothing to merge")
    labels = list(sources) if sources is not None else [r.meta.label for r in reports]
    if len(labels) != len(reports):
        raise ValueError("one source label per report")
    seconds = max(r.meta.duration_s for r in reports)
    run, *others = (_read(r, lb) for r, lb in zip(reports, labels, strict=True))
    for other in others:
        run.add(other)
    model = RunModel(total=run.whole, timeline=_timeline(reports), elapsed=seconds)
    whole = run.whole
    scenarios = {n: _scenario(n, iv, run, reports, seconds) for n, iv in run.scenarios.items()}
    groups = {
        n: group_section(
            _section(g.bucket, run, seconds),
            _hists(g.bucket, run),
            g.duration,
            g.duration_sum,
            g.checks,
        )
        for n, g in sorted(run.groups.items())
    }
    return Report(
        meta=_meta(reports, labels, seconds),
        summary=_summary(run, model, reports),
        thresholds=_thresholds(reports, run, model),
        checks={name: Checks(p, f) for name, (p, f) in model.checks().items()},
        steps={n: _section(b, run, seconds) for n, b in sorted(run.steps.items())},
        upstreams={n: _section(b, run, seconds) for n, b in sorted(run.upstreams.items())},
        timeline=tuple(model.timeline),
        scenarios={n: section for n, (section, _) in scenarios.items()},
        groups={n: section for n, (section, _) in groups.items()},
        histograms=ReportHistograms(
            total=_hists(whole.buckets[_ALL], run, whole),
            steps={n: _hists(b, run) for n, b in sorted(run.steps.items())},
            upstreams={n: _hists(b, run) for n, b in sorted(run.upstreams.items())},
            scenarios={n: h for n, (_, h) in scenarios.items()},
            groups={n: h for n, (_, h) in groups.items()},
        ),
    )


def _scenario(
    name: str, lane: Interval, run: _Run, reports: Sequence[Report], seconds: float
) -> tuple[ScenarioSection, Histograms]:
    """A scenario of the runs as one: how the first input that has it ran it, the
    figures of all, the latest end."""
    kept = [r.scenarios[name] for r in reports if name in r.scenarios]
    section = scenario_section(
        kept[0],
        _section(lane.buckets[_ALL], run, seconds),
        lane,
        max(s.ended_s for s in kept),
        RunModel(total=lane).checks(),
    )
    return section, _hists(lane.buckets[_ALL], run, lane)


def merge_warnings(reports: Sequence[Report], sources: Sequence[str]) -> list[str]:
    """What makes a merge suspect: different setups, or runs that did not overlap.

    Merging assumes parallel runs: throughput is requests over the longest run, so
    runs made one after the other would show more throughput than any of them had.
    """
    metas = [r.meta for r in reports]
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
    for name in dict.fromkeys(n for r in reports for n in r.scenarios):
        missing = [src for r, src in zip(reports, sources, strict=True) if name not in r.scenarios]
        if missing:
            out.append(
                f"scenario {name} not in {', '.join(missing)}: its section holds the others'"
            )
    return list(dict.fromkeys(out))


def _span(meta: Meta) -> tuple[float, float] | None:
    """(start, end) in epoch seconds, or None when the report does not say."""
    try:
        start = datetime.fromisoformat(meta.start).timestamp()
    except ValueError:
        return None
    return (start, start + meta.duration_s)


def _read(report: Report, label: str) -> _Run:
    """One report in the run's types; ReportError names what is missing or damaged."""
    if report.histograms is None:
        raise ReportError(f"{label}: no [histograms] table (cannot merge exactly without them)")
    hists, summary = report.histograms, report.summary
    if hists.total is None:
        raise ReportError(f"{label}: [histograms]: no [total] table")
    whole = _whole(summary, report.checks, hists.total, f"{label}: [histograms.total]")
    whole.vus_max = summary.vus_max
    run = _Run(whole, split=hists.total.http_req_duration_expected is not None)
    for name, sc in report.scenarios.items():
        h = hists.scenarios.get(name)
        run.scenarios[name] = _whole(sc, sc.checks, h, f"{label}: [histograms.scenarios.{name}]")
        run.split = run.split and h is not None and h.http_req_duration_expected is not None
    for name, g in report.groups.items():
        where = f"{label}: [histograms.groups.{name}]"
        h = hists.groups.get(name)
        duration = read_histogram(h.group_duration if h else None, f"{where}.group_duration")
        duration_sum = exact_sum(h.group_duration_sum_us if h else None, duration, g.group_duration)
        run.groups[name] = _Group(_bucket(g, h, where), duration, duration_sum, dict(g.checks))
    for kind, into in (("steps", run.steps), ("upstreams", run.upstreams)):
        tables = hists.steps if kind == "steps" else hists.upstreams
        for name, figures in (report.steps if kind == "steps" else report.upstreams).items():
            h = tables.get(name)
            into[name] = _bucket(figures, h, f"{label}: [histograms.{kind}.{name}]")
            run.split = run.split and h is not None and h.http_req_duration_expected is not None
    return run


def _whole(
    s: Summary | ScenarioSection, checks: Mapping[str, Checks], h: Histograms | None, where: str
) -> Interval:
    """The whole run's or a scenario's figures as one Interval: one bucket, iterations."""
    it = read_histogram(h.iteration_duration if h else None, f"{where}.iteration_duration")
    return Interval(
        0.0,
        0.0,
        buckets={_ALL: _bucket(s, h, where)},
        iteration_duration=it,
        iteration_sum=exact_sum(
            h.iteration_duration_sum_us if h else None, it, s.iteration_duration
        ),
        iterations=s.iterations,
        interrupted=s.interrupted_iterations,
        dropped=s.dropped_iterations,
        checks={("", name): [c.passes, c.fails] for name, c in checks.items()},
    )


def _bucket(figures: Section, h: Histograms | None, where: str) -> Bucket:
    """A section as the run's Bucket: its histograms, and its counters from its figures."""
    b = read_bucket(h, figures, where)
    b.requests, b.failed = figures.requests, figures.failed
    b.bytes_in, b.bytes_out = figures.data_received_bytes, figures.data_sent_bytes
    b.status = {int(k): v for k, v in figures.status.items() if k.isdigit()}
    b.errors = dict(figures.errors)
    held = b.latency.get_total_count()
    if held != b.requests:
        # Every request is recorded in the latency histogram: a mismatch is a damaged or
        # edited report, and merging it would make percentiles that no run measured.
        raise ReportError(
            f"{where}: its latency histogram holds {held:,} values for {b.requests:,} "
            "requests (damaged or edited): cannot merge exactly"
        )
    return b


def _timeline(reports: Sequence[Report]) -> list[Row]:
    """Rows of the same interval of parallel runs as one: counts add, percentiles keep
    the worst run's."""
    length = max((len(r.timeline) for r in reports), default=0)
    return [_beside([r.timeline[i] for r in reports if i < len(r.timeline)]) for i in range(length)]


def _beside(rows: Sequence[Row]) -> Row:
    pick = {f.name: max if f.name in _ROW_MAX else sum for f in fields(Row)}
    out = Row(**{name: how(getattr(r, name) for r in rows) for name, how in pick.items()})
    return replace(out, error_rate=out.failed / out.requests if out.requests else 0.0)


def _section(b: Bucket, run: _Run, seconds: float) -> Section:
    """A section's figures as a run's report writes them; without the expected
    responses' figures where an input did not keep them."""
    section = section_of(Figures.of(b, seconds))
    return section if run.split else replace(section, http_req_duration_expected=None)


def _hists(b: Bucket, run: _Run, whole: Interval | None = None) -> Histograms:
    h = bucket_histograms(b, whole)
    if run.split:
        return h
    return replace(h, http_req_duration_expected=None, http_req_duration_expected_sum_us=None)


def _summary(run: _Run, model: RunModel, reports: Sequence[Report]) -> Summary:
    whole = run.whole
    section = _section(whole.buckets[_ALL], run, model.elapsed)
    # Each generator's last rate that held; together, the combined rate that held.
    points = [r.summary.breaking_point_rps for r in reports]
    point = sum(p for p in points if p is not None) if None not in points else None
    return summary_of(section, whole, model, whole.vus_max, point)


def _meta(reports: Sequence[Report], labels: Sequence[str], seconds: float) -> Meta:
    """The first input's meta (name, target, executor...) with what merging changes."""
    metas = [r.meta for r in reports]
    steered = [
        e if e.run else replace(e, run=label)
        for m, label in zip(metas, labels, strict=True)
        for e in m.steering
    ]
    starts = [m.start for m in metas if m.start]
    workers = [m.workers for m in metas]
    return replace(
        metas[0],
        version=__version__,
        start=min(starts) if starts else metas[0].start,
        duration_s=round(seconds, 3),
        aborted=any(m.aborted for m in metas),
        cpu_percent_max=max(m.cpu_percent_max for m in metas),  # the busiest generator
        workers=sum(workers) if all(workers) else metas[0].workers,
        stop_reason="; ".join(dict.fromkeys(m.stop_reason for m in metas if m.stop_reason)) or None,
        error="; ".join(dict.fromkeys(m.error for m in metas if m.error)) or None,
        merged_from=tuple(labels),
        # each input's commands, on one time axis (the runs ran together)
        steering=tuple(sorted(steered, key=lambda e: e.t)),
    )


# ------------------------------------------------------------------ thresholds


def _thresholds(
    reports: Sequence[Report], run: _Run, model: RunModel
) -> tuple[ThresholdEntry, ...]:
    groups: dict[tuple[str, str], list[ThresholdEntry]] = {}
    for report in reports:
        for entry in report.thresholds:
            groups.setdefault((entry.metric, entry.expression), []).append(entry)
    return tuple(
        _threshold(metric, expr, entries, run, model) for (metric, expr), entries in groups.items()
    )


def _threshold(
    metric: str, expression: str, entries: Sequence[ThresholdEntry], run: _Run, model: RunModel
) -> ThresholdEntry:
    try:
        th: Threshold | None = parse_threshold(metric, expression)
    except ConfigError:
        th = None
    view = _view(th, run) if th is not None else None
    if th is not None and view is not None:
        value = model.value(view[0], view[1], model.elapsed, final=True)
        ok, observed = th.passes(value), round(value, 6) if value is not None else None
    else:  # the inputs' verdicts: ok only if every input passed
        ok, observed = all(e.ok for e in entries), _worst_observed(th, entries)
    return ThresholdEntry(
        metric=metric,
        expression=expression,
        ok=ok,
        observed=observed,
        abort_on_fail=any(e.abort_on_fail for e in entries),
        recomputed=view is not None,
    )


def _view(th: Threshold, run: _Run) -> tuple[Threshold, Interval] | None:
    """The threshold and the whole run with the buckets its tags select from (a
    scenario's or a group's: that part alone, judged without the tag), or None where a
    report does not keep what it needs: per-window or timing-breakdown histograms, a
    step with an upstream, in a scenario or a group (kept apart, not crossed), a
    user's tag, the expected responses' durations of a format 1 report."""
    tags = th.tag_dict
    if th.window_s or th.metric in PHASES or ("step" in tags and "upstream" in tags):
        return None
    if th.metric == "checks" and "step" in tags:  # a report keeps checks by name only
        return None
    if th.kind == TREND and "expected_response" in tags and not run.split:
        return None
    if set(tags) - {"step", "upstream", "expected_response", "check", "scenario", "group"}:
        return None
    if "scenario" in tags or "group" in tags:
        part = _part(th, run, tags)
        if part is None or th.kind == GAUGE or {"step", "upstream"} & set(tags):
            return None
        return replace(
            th, tags=tuple(t for t in th.tags if t[0] not in ("scenario", "group"))
        ), part
    if "step" in tags:
        return th, replace(run.whole, buckets={(n, None): b for n, b in run.steps.items()})
    if "upstream" in tags:
        return th, replace(run.whole, buckets={("", n): b for n, b in run.upstreams.items()})
    return th, run.whole


def _part(th: Threshold, run: _Run, tags: Mapping[str, str]) -> Interval | None:
    """The one scenario or group a threshold names, as an Interval of its own (setup's
    and teardown's lanes are k6's groups ::setup and ::teardown); None if the reports
    have no such part, or it does not carry the metric (a group's iterations)."""
    if "scenario" in tags and "group" in tags:
        return None
    if "scenario" in tags:
        return run.scenarios.get(tags["scenario"])
    path = tags["group"]
    if path in LANE_GROUPS and path not in run.groups:
        return run.scenarios.get(LANE_GROUPS[path])
    g = run.groups.get(path)
    if g is None or th.metric in ("iterations", "dropped_iterations", "iteration_duration"):
        return None
    return Interval(
        0.0,
        0.0,
        buckets={_ALL: g.bucket},
        checks={("", name): [c.passes, c.fails] for name, c in g.checks.items()},
        groups={path: g.duration},
        group_sums={path: g.duration_sum},
    )


def _worst_observed(th: Threshold | None, entries: Sequence[ThresholdEntry]) -> float | None:
    """The input value nearest to failing: what a reader of a kept verdict wants to see."""
    values = [e.observed for e in entries if e.observed is not None]
    if not values:
        return None
    if th is not None and th.op in ("<", "<="):
        return max(values)
    if th is not None and th.op in (">", ">="):
        return min(values)
    return values[0]
