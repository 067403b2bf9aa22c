"""The end-of-run summary and the live progress line, as text.

The summary is rendered from a report, so the one printed at the end of `surge run`,
the app's summary screen and `surge report show` of the saved file read alike. Laid
out as k6's end summary groups it (HTTP, EXECUTION, NETWORK), with every trend as a
row of one table (avg, min, med, p90, p95, p99, p99.9, max in ms), per step and per
upstream, then oha's status distribution and response-time histogram; every line fits
77 columns, so nothing is cut at 80x24 and nothing wraps at 160x48.
"""

from __future__ import annotations

import math
import textwrap
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import replace
from urllib.parse import urlsplit

from hdrh.histogram import HdrHistogram

from engine.errors import ConfigError, in_http_req_failed
from engine.explore.model import CapacityStep
from engine.load.executors import ExecutorConfig
from engine.load.metrics import PHASES, decode_histogram
from engine.load.model import LatencyStats
from engine.load.run import RunResult, Snapshot
from engine.load.states import Ending, StopReason, state_label
from engine.report.capacity_section import capacity_line, render_capacity
from engine.report.deploy_section import render_deploy
from engine.report.document import build_report
from engine.report.insights_section import insights_section
from engine.report.model import (
    Cluster,
    GroupSection,
    Meta,
    Report,
    ScenarioSection,
    Section,
    Summary,
    ThresholdEntry,
)
from engine.report.observe_section import render_observed
from engine.report.review import executor_from, executor_of, threshold_state
from engine.report.steering_section import shape_lines, steering_section
from engine.report.text import CPU_WARN, Paint, fmt_bytes, fmt_ms, line, ms_cell, tick_label

__all__ = [
    "CPU_WARN",
    "Paint",
    "failure_banner",
    "fmt_bytes",
    "fmt_ms",
    "latency_note",
    "progress_line",
    "render_report",
    "render_summary",
    "tick_label",
    "verdict_line",
]

NAME = 25  # the name column of the tables
SCENARIO = 13  # the scenarios table's name column: with its six figures, 77 columns
CELL = 5  # a figure's column, plus one space: 8 of them and a name fit 77 columns
STATS = (("avg", "mean"), ("min", "min"), ("med", "p50"), ("p90", "p90"))
STATS += (("p95", "p95"), ("p99", "p99"), ("p99.9", "p99_9"), ("max", "max"))
HISTOGRAM_ROWS = 10
BAR = 30  # the longest bar: a status row then fits 77 columns


def render_summary(result: RunResult, *, color: bool = False) -> str:
    """The end summary of a run: its report, rendered."""
    return render_report(build_report(result), color=color)


def render_report(report: Report, *, color: bool = False) -> str:
    paint = Paint(color)
    meta, s = report.meta, report.summary
    seconds = max(meta.duration_s, 1e-9)
    out = _header(report, paint)
    if report.capacity is None and (steered := steering_section(meta.steering, _unit(meta), paint)):
        out.extend(["", *steered])
    if report.thresholds:
        out.extend(["", *_thresholds(report.thresholds, paint)])
    if capacity := render_capacity(report.capacity, paint):
        out.extend(["", *capacity])
    if found := insights_section(report.insights, paint):
        out.extend(["", *found])
    out.extend(["", f"  {paint('█ TOTAL RESULTS', '1')}"])
    if checks := _checks_lines(report, paint):
        out.extend(["", *checks])
    out.extend(["", *_http_block(s, seconds, paint)])
    out.extend(["", *_execution_block(s, seconds, paint)])
    out.extend(["", *_network_block(s, seconds, paint, meta.proto)])
    notes = [latency_note(s.latency, s.http_req_duration, s.dropped_iterations, executor_of(meta))]
    notes += [_scenario_note(name, sc) for name, sc in report.scenarios.items()]
    if notes := [n for n in notes if n]:
        out.append("")
        for n in notes:  # wrapped: every line within 77 columns
            wrapped = textwrap.wrap("⚠ " + n, 73, subsequent_indent="  ")
            out.extend(f"    {paint(text, '33')}" for text in wrapped)
    if report.scenarios:
        out.extend(["", *_scenarios_table(report.scenarios, paint)])
    if report.groups:
        out.extend(["", *_groups_table(report.groups, paint)])
    if len(report.steps) > 1:
        out.extend(["", *_sections_table("STEPS", report.steps, seconds, paint)])
    if report.upstreams:
        out.extend(["", *_sections_table("UPSTREAMS", report.upstreams, seconds, paint)])
    out.extend(["", *_status_block(s, paint)])
    if histogram := _response_histogram(report, paint):
        out.extend(["", *histogram])
    if deploy := render_deploy(report.deploy, paint):
        out.extend(["", *deploy])
    if observed := render_observed(report.observe, paint):
        out.extend(["", *observed])
    out.append("")
    return "\n".join(out)


# ------------------------------------------------------------------- header
def _header(report: Report, paint: Paint) -> list[str]:
    meta, s = report.meta, report.summary
    out = [f"  {paint('surge', '1')} {meta.name or '?'} → {meta.target or '?'}"]
    kind = f" ({meta.test_type} test)" if meta.test_type else ""
    shape = f"{_describe_executor(report)}{kind}"
    if (capacity := report.capacity) is not None:  # its executor is a day at one rate
        rates = [step.rate for step in capacity.steps]
        span = f": {len(rates)} steps, {min(rates):,.0f}/s to {max(rates):,.0f}/s" if rates else ""
        shape = f"capacity search, a rate held step by step{span}"
    steering = () if capacity is not None else meta.steering  # the search's steps
    out.extend(shape_lines(shape, steering))
    ran = f"    started {meta.start or '?'}, ran {meta.duration_s:g}s"
    out.append(ran + ("" if meta.ended == Ending.FINISHED else ", " + paint(meta.ended, "33")))
    if meta.merged_from:
        out.append(f"    merged from {len(meta.merged_from)} runs: {', '.join(meta.merged_from)}")
    if meta.stop_reason and meta.stop_reason != StopReason.USER_STOP:  # said once
        out.append(f"    {paint('stopped: ' + meta.stop_reason, '33')}")
    if meta.error:
        out.append(f"    {paint('error: ' + meta.error, '31')}")
    for failure in meta.worker_failures:
        out.append(f"    {paint('worker failed: ' + failure, '31')}")
    banner = failure_banner(s.requests, s.failed, s.errors, meta.target)
    if banner:
        out.append(f"    {paint('⚠ ' + banner, '1;31')}")
    workers, cpu = meta.workers, meta.cpu_percent_max
    if workers > 0:
        text = f"{workers:.0f} worker{'s' if workers > 1 else ''}"
        text += _on_cluster(meta.cluster) + f", busiest at {cpu:.0f}% CPU"
        scenarios = [
            (replace(meta, executor_options=sc.executor_options), sc)
            for sc in report.scenarios.values()
        ]
        if cpu > CPU_WARN and any(generator_limited(m, x) for m, x in [(meta, s), *scenarios]):
            text = paint(f"{text} ⚠ saturated: latency includes Surge's delay", "33")
        out.append(f"    {text}")
    return out


def generator_limited(meta: Meta, s: Summary | ScenarioSection) -> bool:
    """Did Surge itself hold the run back? Only an open model has a target rate to fall
    short of: more than 1% of its due iterations dropped (no VU free in time), or, with
    --queue, iterations that waited. A closed model at 100% CPU on a fast local target is
    just a generator going flat out."""
    executor = executor_of(meta)
    if executor is None or not executor.open_model:
        return False
    dropped, iterations = s.dropped_iterations, s.iterations
    if dropped > 0.01 * (dropped + iterations):
        return True
    return executor.queue and s.latency.p95 > s.http_req_duration.p95 * 1.1


def _scenario_note(name: str, sc: ScenarioSection) -> str | None:
    """A scenario's own latency note, as the run's (its dropped iterations, its wait)."""
    executor = executor_from(sc.executor_options)
    note = latency_note(sc.latency, sc.http_req_duration, sc.dropped_iterations, executor)
    return f"{name}: {note}" if note else None


def _on_cluster(cluster: Cluster | None) -> str:
    """ " on 2 Ray nodes (clock offsets within 3.9 ms)" for a run on a Ray cluster."""
    if cluster is None:
        return ""
    nodes, offset = cluster.nodes, cluster.clock_offset_ms
    return f" on {nodes} Ray node{'s' if nodes != 1 else ''} (clock offsets within {offset:.1f} ms)"


def _describe_executor(report: Report) -> str:
    """The run's own words for its load (several scenarios: their names); a report from
    elsewhere just names the executor."""
    meta = report.meta
    named = [n for n in report.scenarios if not n.startswith("(")]  # not setup/teardown
    if meta.executor == "scenarios" and named:
        names = ", ".join(named)
        names = names if len(names) <= 56 else names[:55] + "…"  # the line fits 77 columns
        return f"{len(named)} scenario{'s' if len(named) > 1 else ''}: {names}"
    executor = executor_of(meta)
    if executor is not None:
        return executor.describe()
    return meta.executor or "unknown executor"


def _unit(meta: Meta) -> str:
    executor = executor_of(meta)
    return "iters/s" if executor is not None and executor.open_model else "VUs"


def failure_banner(
    requests: float, failed: float, errors: Mapping[str, float], target: str
) -> str | None:
    """Said first when most requests failed: "all 212,988 requests failed: connection
    refused at 127.0.0.1:1" (k6 exits 0 then too, unless a threshold says otherwise)."""
    if not requests or failed < requests / 2:
        return None
    failures = {k: n for k, n in errors.items() if in_http_req_failed(k)}
    kinds = sorted(failures.items(), key=lambda kv: -kv[1])
    why = ", ".join(f"{kind} ({n:,.0f})" for kind, n in kinds[:3]) if len(kinds) > 1 else ""
    if len(kinds) == 1:
        why = kinds[0][0]
    where = urlsplit(target).netloc or target
    share = "all" if failed == requests else f"{failed / requests:.0%} of"
    return f"{share} {requests:,.0f} requests failed{': ' + why if why else ''} at {where}"


# --------------------------------------------------------------- thresholds
def _thresholds(entries: Sequence[ThresholdEntry], paint: Paint) -> list[str]:
    out = [f"  {paint('█ THRESHOLDS', '1')}"]
    for key in dict.fromkeys(t.metric for t in entries):
        out.extend(["", f"    {key}"])
        for t in entries:
            if t.metric != key:
                continue
            note = " (abortOnFail)" if t.abort_on_fail else ""
            if t.recomputed is False:
                note += " (verdict kept from the merged runs)"
            out.append(f"    {paint.ok(t.ok)} '{t.expression}' {_observed(t)}{note}")
    return out


def _observed(entry: ThresholdEntry) -> str:
    """As k6 words it (p(95)=12.3ms), by parsing the threshold again."""
    try:
        return threshold_state(entry).describe_observed()
    except ConfigError:
        return str(entry.observed if entry.observed is not None else "no data")


# ------------------------------------------------------------ total results
def _checks_lines(report: Report, paint: Paint) -> list[str]:
    if not report.checks:
        return []
    counts = {name: (c.passes, c.fails) for name, c in report.checks.items()}
    passed = sum(p for p, _ in counts.values())
    total = passed + sum(f for _, f in counts.values())
    lines = [
        line("checks", f"{passed / total if total else 0:.2%} {passed:,.0f} out of {total:,.0f}")
    ]
    for name, (ok, bad) in counts.items():
        lines.append(f"      {paint.ok(bad == 0)} {name}: {ok:,.0f}/{ok + bad:,.0f}")
    return lines


def _table_head(title: str, paint: Paint) -> str:
    cells = "".join(f"{label:>{CELL}} " for label, _ in STATS)
    return f"    {paint(title, '1')}{' (ms)'.ljust(NAME - len(title))}{cells}".rstrip()


def _trend_row(name: str, stats: LatencyStats | None, has_data: bool) -> str:
    shown = stats if has_data else None
    cells = "".join(
        f"{ms_cell(getattr(shown, key) if shown else None):>{CELL}} " for _, key in STATS
    )
    return f"    {name:<{NAME}}{cells}".rstrip()


def _http_block(s: Summary, seconds: float, paint: Paint) -> list[str]:
    requests, failed = s.requests, s.failed
    rows = [_table_head("HTTP", paint)]
    rows.append(_trend_row("http_req_duration", s.http_req_duration, requests > 0))
    if s.http_req_duration_expected is not None:
        ok = requests - failed > 0
        rows.append(_trend_row("{expected_response:true}", s.http_req_duration_expected, ok))
    for name in PHASES:
        if name in s.phases:
            rows.append(_trend_row(name, s.phases[name], requests > 0))
    rows.append(_trend_row("latency (from due time)", s.latency, requests > 0))
    rate = failed / requests if requests else 0.0
    rows.append(line("http_req_failed", f"{rate:.2%} {failed:,.0f} out of {requests:,.0f}"))
    rows.append(line("http_reqs", f"{requests:,.0f} {requests / seconds:,.1f}/s"))
    return rows


def _execution_block(s: Summary, seconds: float, paint: Paint) -> list[str]:
    iterations = s.iterations
    rows = [_table_head("EXECUTION", paint)]
    rows.append(_trend_row("iteration_duration", s.iteration_duration, iterations > 0))
    rows.append(line("iterations", f"{iterations:,.0f} {iterations / seconds:,.1f}/s"))
    for key, n in (
        ("dropped_iterations", s.dropped_iterations),
        ("interrupted_iterations", s.interrupted_iterations),
    ):
        if n:
            rows.append(line(key, f"{n:,.0f}"))
    rows.append(line("vus_max", f"{s.vus_max:,.0f}"))
    if s.breaking_point_rps is not None:
        rows.append(line("breaking_point_rps", f"{s.breaking_point_rps:,.1f}/s"))
    return rows


def _network_block(s: Summary, seconds: float, paint: Paint, proto: str | None) -> list[str]:
    rows = [f"    {paint('NETWORK', '1')}"]
    for name, n in (("data_received", s.data_received_bytes), ("data_sent", s.data_sent_bytes)):
        rows.append(line(name, f"{fmt_bytes(n)} {fmt_bytes(n / seconds)}/s"))
    if proto and proto != "HTTP/1.1":  # said when HTTP/2 was spoken; 1.1 goes without saying
        rows.append(line("proto", proto))
    return rows


def _sections_table(
    title: str, sections: Mapping[str, Section], seconds: float, paint: Paint
) -> list[str]:
    """Per step or per upstream: requests, rate, failures and latency percentiles."""
    head = f"{'reqs':>8} {'req/s':>7} {'failed':>7} " + "".join(
        f"{label:>{CELL}} " for label in ("p50", "p95", "p99", "max")
    )
    rows = [f"  {paint('█ ' + title, '1')}", "", f"    {'(ms)':<{NAME}}{head}".rstrip()]
    for name, f in sections.items():
        requests = f.requests
        lat = f.latency if requests else None
        cells = "".join(
            f"{ms_cell(getattr(lat, k) if lat else None):>{CELL}} "
            for k in ("p50", "p95", "p99", "max")
        )
        rows.append(
            f"    {_cut(name, NAME)}{requests:>8,.0f} {requests / seconds:>7,.1f} "
            f"{f.error_rate:>7.2%} {cells}".rstrip()
        )
    return rows


def _scenarios_table(scenarios: Mapping[str, ScenarioSection], paint: Paint) -> list[str]:
    """One row per scenario (setup and teardown too): how it ran and what it measured."""
    head = f"{'executor':<22}{'iters':>8}{'dropped':>8}{'req/s':>9}{'p95':>6}{'err%':>7}"
    rows = [
        f"  {paint('█ SCENARIOS', '1')} (p95 of http_req_duration, ms)",
        "",
        f"    {'':<{SCENARIO}}{head}",
    ]
    for name, sc in scenarios.items():
        p95 = ms_cell(sc.http_req_duration.p95 if sc.requests else None)
        rate = f"{sc.rps:,.1f}" if sc.rps < 100_000 else f"{sc.rps:,.0f}"
        rows.append(
            f"    {_cut(name, SCENARIO)}{_cut(sc.executor or '–', 22)}"
            f"{_count(sc.iterations):>8}{_count(sc.dropped_iterations):>8}{rate:>9}{p95:>6}"
            f"{sc.error_rate:>7.1%}"
        )
    return rows


def _count(n: int) -> str:
    """A count in at most 7 characters: 999,999 then 1.2M."""
    return f"{n:,}" if n < 1_000_000 else f"{n / 1e6:,.1f}M"


def _groups_table(groups: Mapping[str, GroupSection], paint: Paint) -> list[str]:
    """k6's group_duration of each group, as the trends above."""
    rows = [_table_head("GROUPS", paint)]
    for name, g in groups.items():
        rows.append(_trend_row(_cut(name, NAME), g.group_duration, g.group_duration.max > 0))
    return rows


def _cut(name: str, width: int) -> str:
    """`name` in a column of `width` (one space kept before the next): cut with an ellipsis."""
    return (name if len(name) < width else name[: width - 2] + "…").ljust(width)


def _status_block(s: Summary, paint: Paint) -> list[str]:
    """oha's status code distribution, then the named errors, largest first."""
    status, errors, total = s.status, s.errors, s.requests
    rows = [f"  {paint('█ STATUS AND ERRORS', '1')}", ""]
    if not status and not errors:
        rows.append("    –")
        return rows
    for code, n in status.items():
        bar = _bar(n, total)
        ok = code.startswith(("2", "3"))
        rows.append(f"    {paint(code.ljust(NAME), '32' if ok else '31')}{n:>8,.0f} "
                    f"{n / total if total else 0:>7.1%}  {bar}".rstrip())  # fmt: skip
    for kind, n in sorted(errors.items(), key=lambda kv: -kv[1]):
        label = kind if len(kind) < NAME else kind[: NAME - 2] + "…"
        share = f"{n / total:>7.1%}" if total else ""
        aside = "" if in_http_req_failed(kind) else "  (not in http_req_failed)"
        rows.append(f"    {paint(label.ljust(NAME), '31')}{n:>8,.0f} {share}{aside}".rstrip())
    return rows


def _bar(n: float, most: float) -> str:
    share = n / most if most else 0.0
    return "■" * round(BAR * share) if math.isfinite(share) and share > 0 else ""


def _response_histogram(report: Report, paint: Paint) -> list[str]:
    """oha's response-time histogram of http_req_duration: ten bins, linear, or
    logarithmic when the slowest is over ten times the fastest."""
    total = report.histograms.total if report.histograms is not None else None
    text = total.http_req_duration if total is not None else None
    if text is None:
        return []
    try:
        h = decode_histogram(text)
    except Exception:  # a damaged histogram: the tables above still stand
        return []
    if not h.get_total_count():
        return []
    rows = [f"  {paint('█ RESPONSE TIME HISTOGRAM', '1')} (http_req_duration, ms)", ""]
    counts = histogram_bins(h, HISTOGRAM_ROWS)
    most = max(n for _, n in counts) or 1
    for upper_ms, n in counts:
        rows.append(f"    {ms_cell(upper_ms):>6} [{n:>8,}] {_bar(n, most)}".rstrip())
    return rows


def histogram_bins(h: HdrHistogram, bins: int) -> list[tuple[float, int]]:
    """(upper bound in ms, count) for `bins` bins from the fastest to the slowest."""
    lo, hi = h.get_min_value(), h.get_max_value()
    if hi <= lo:
        return [(hi / 1000, h.get_total_count())]
    if lo > 0 and hi / lo > 10:
        edges = [lo * (hi / lo) ** ((i + 1) / bins) for i in range(bins)]
    else:
        edges = [lo + (hi - lo) * (i + 1) / bins for i in range(bins)]
    out = [0] * bins
    for value, count in recorded_values(h):
        out[min(bisect_left(edges, value), bins - 1)] += count
    return [(edge / 1000, n) for edge, n in zip(edges, out, strict=True)]


def recorded_values(h: HdrHistogram) -> list[tuple[int, int]]:
    """(value, count) of every bucket that holds a count, as hdrh's recorded iterator
    gives them, from the counts array at once: the iterator steps through every bucket
    in Python (0.4 s for one summary of a seconds-long run)."""
    counts = h.counts[: min(h.counts_len, h.encoder.payload.counts_len)]
    return [
        (h.get_highest_equivalent_value(h.get_value_from_index(index)), count)
        for index, count in enumerate(counts)
        if count
    ]


# ---------------------------------------------------------------- plain words
def latency_note(
    latency: LatencyStats, duration: LatencyStats, dropped: float, executor: ExecutorConfig | None
) -> str | None:
    """Why `latency` and http_req_duration differ, or what was dropped, in plain words."""
    if executor is None or not executor.open_model:
        return None  # a closed model: the two are one figure
    max_vus = executor.max_vus
    if executor.queue:
        if latency.p95 > duration.p95 * 1.1 + 1:
            return (
                f"iterations waited for a free VU (queue, maxVUs {max_vus}): latency p95 "
                f"{fmt_ms(latency.p95)} counts the wait, http_req_duration p95 "
                f"{fmt_ms(duration.p95)} does not"
            )
        return None
    if dropped:
        return (
            f"{dropped:,.0f} iterations dropped: no free VU at their due time (maxVUs "
            f"{max_vus}); raise maxVUs, or queue them (--queue) to measure the wait"
        )
    return None


def verdict_line(report: Report, exit_code: int, paint: Paint | None = None) -> str:
    """The headless output's last line, as k6 ends with its thresholds: what held or
    failed, the rollout's outcome, how the run ended if not by itself, the exit code."""
    paint = paint or Paint(False)
    thresholds = report.thresholds
    failed = [t for t in thresholds if not t.ok]
    if report.capacity is not None:  # the steps past it failed them by design
        parts = [capacity_line(report.capacity)]
    elif failed:
        metrics = ", ".join(dict.fromkeys(t.metric for t in failed))
        parts = [f"{len(failed)} of {len(thresholds)} thresholds failed ({metrics})"]
    else:
        n = len(thresholds)
        held = f"all {n} thresholds held" if n > 1 else "the threshold held"
        parts = [held if thresholds else "no thresholds"]
    if report.deploy is not None:
        parts.append(f"rollout {report.deploy.outcome.replace('_', ' ')}")
    ended = report.meta.ended
    if ended != Ending.FINISHED:
        parts.append(f"run {ended}")
    words = f"{', '.join(parts)}; exit code {exit_code}"
    return f"{paint('verdict:', '1')} {paint(words, '32' if exit_code == 0 else '31')}"


def progress_line(s: Snapshot, width: int = 200) -> str:
    """One line, rewritten in place each interval on a terminal: at most `width - 1`
    columns (a line that wraps cannot be rewritten in place, and piles up), the least
    needed parts dropped first. The finished run's line shows no CPU (its workers are
    gone: 0% would mislead)."""
    r = s.row
    bad = sum(1 for t in s.thresholds if not t.ok)
    state = "" if s.state == "running" else f" [{state_label(s.state, s.stop_reason)}]"
    parts = [
        f"{s.elapsed:6.1f}s {s.progress:4.0%}{state}",
        f"{r.rps:9,.1f} req/s",
        f"p95 {fmt_ms(r.p95):>8}",
        f"errors {r.error_rate:6.2%}",
        _search(s.capacity_steps) or (f"thresholds ✗{bad}" if bad else ""),
        f"VUs {r.vus:>4}/{r.vus_max:<4}",
        ""
        if s.state == "finished"
        else f"cpu {s.cpu_percent:3.0f}%{' ⚠' if s.cpu_percent > CPU_WARN else ''}",
    ]
    parts = [p for p in parts if p]
    while len(parts) > 1 and len("  ".join(parts)) > width - 1:
        parts.pop()  # the least needed is last
    return "  ".join(parts)[: max(width - 1, 1)]


def _search(steps: Sequence[CapacityStep]) -> str:
    """A capacity search so far (its steps fail the thresholds by design, so not those)."""
    held = max((x.rate for x in steps if x.held), default=None)
    if not steps:
        return ""
    return f"step {len(steps) + 1}" + (f", holds {held:,.0f}/s" if held is not None else "")
