"""A saved report as text: the summary in `surge run`'s look, timeline plots, comparisons.

Shared by `surge report show/compare` and the app's summary screen, so both read
a report the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotext as plt

from engine.errors import ConfigError
from engine.report.compare import Comparison, Row, format_change, format_tolerance, format_value
from engine.report.deploy_section import render_deploy
from engine.report.document import is_number, number, stats_of
from engine.report.review import executor_of, threshold_state
from engine.report.summary import Paint, fmt_bytes, fmt_ms, line, tick_label, trend

PLOT_HEIGHT = 12


LATENCY_PLOT_HEIGHT = 16  # four legend rows must leave room for the lines


_DIRECTION_COLORS = {"better": "32", "worse": "31", "changed": "33", "same": "2"}


def render_report(report: Mapping[str, Any], *, color: bool = False) -> str:
    """A saved report in the same look as the summary at the end of `surge run`."""
    paint = Paint(color)
    meta: Mapping[str, Any] = report.get("meta", {})
    out = [*_header(meta, paint), ""]
    thresholds = [t for t in report.get("thresholds", []) if isinstance(t, Mapping)]
    if thresholds:
        out.extend(_thresholds(thresholds, paint))
        out.append("")
    out.append(f"  {paint('█ TOTAL RESULTS', '1')}")
    out.append("")
    out.extend(_total_block(report, number(meta.get("duration_s")), paint))
    steps: Mapping[str, Any] = report.get("steps", {})
    upstreams: Mapping[str, Any] = report.get("upstreams", {})
    parts = [(f"step {s}", f) for s, f in steps.items() if len(steps) > 1]
    parts += [(f"upstream {u}", f) for u, f in upstreams.items()]
    for title, figs in parts:
        if isinstance(figs, Mapping):
            out.extend(["", f"  {paint('█ ' + title.upper(), '1')}", _section_line(figs)])
    if deploy := render_deploy(report.get("deploy"), paint):
        out.extend(["", *deploy])
    out.append("")
    return "\n".join(out)


def _header(meta: Mapping[str, Any], paint: Paint) -> list[str]:
    out = [f"  {paint('surge', '1')} {meta.get('name', '?')} → {meta.get('target', '?')}"]
    kind = f" ({meta['test_type']} test)" if meta.get("test_type") else ""
    out.append(f"    {_describe_executor(meta)}{kind}")
    ran = f"    started {meta.get('start', '?')}, ran {number(meta.get('duration_s')):g}s"
    out.append(ran + (", " + paint("aborted", "33") if meta.get("aborted") else ""))
    sources = meta.get("merged_from")
    if isinstance(sources, list) and sources:
        out.append(f"    merged from {len(sources)} runs: {', '.join(map(str, sources))}")
    if meta.get("stop_reason"):
        out.append(f"    {paint('stopped: ' + str(meta['stop_reason']), '33')}")
    if meta.get("error"):
        out.append(f"    {paint('error: ' + str(meta['error']), '31')}")
    return out


def _describe_executor(meta: Mapping[str, Any]) -> str:
    """The run's own words for its load; a report from elsewhere just names the executor."""
    executor = executor_of(meta)
    if executor is not None:
        return executor.describe()
    return str(meta.get("executor", "unknown executor"))


def _thresholds(entries: Sequence[Mapping[str, Any]], paint: Paint) -> list[str]:
    out = [f"  {paint('█ THRESHOLDS', '1')}"]
    for key in dict.fromkeys(str(t.get("metric", "?")) for t in entries):
        out.extend(["", f"    {key}"])
        for t in entries:
            if str(t.get("metric", "?")) != key:
                continue
            note = " (abortOnFail)" if t.get("abort_on_fail") else ""
            if t.get("recomputed") is False:
                note += " (verdict kept from the merged runs)"
            expr = t.get("expression", "?")
            ok = t.get("ok") is True
            out.append(f"    {paint.ok(ok)} '{expr}' {_observed(t)}{note}")
    return out


def _observed(entry: Mapping[str, Any]) -> str:
    """As the live summary words it (p(95)=12.3ms), by parsing the threshold again."""
    try:
        return threshold_state(entry).describe_observed()
    except ConfigError:
        return str(entry.get("observed"))


def _total_block(report: Mapping[str, Any], seconds: float, paint: Paint) -> list[str]:
    s: Mapping[str, Any] = report["summary"]
    per_s = max(seconds, 1e-9)
    lines = _checks_lines(report.get("checks", {}), paint)
    lines.append(line("http_req_duration (latency)", trend(stats_of(s.get("latency_ms")))))
    lines.append(line("service_time", trend(stats_of(s.get("service_time_ms")))))
    requests, failed = number(s.get("requests")), number(s.get("failed"))
    rate = number(s.get("error_rate"))
    lines.append(line("http_req_failed", f"{rate:.2%} {failed:.0f} out of {requests:.0f}"))
    lines.append(line("http_reqs", f"{requests:.0f} {number(s.get('rps')):.1f}/s"))
    if "iteration_duration_ms" in s:
        lines.append(line("iteration_duration", trend(stats_of(s.get("iteration_duration_ms")))))
    iterations = number(s.get("iterations"))
    lines.append(line("iterations", f"{iterations:.0f} {iterations / per_s:.1f}/s"))
    for key in ("dropped_iterations", "interrupted_iterations"):
        if number(s.get(key)):
            lines.append(line(key, f"{number(s.get(key)):.0f}"))
    lines.append(line("vus_max", f"{number(s.get('vus_max')):.0f}"))
    for name, key in (("data_received", "data_received_bytes"), ("data_sent", "data_sent_bytes")):
        n = number(s.get(key))
        lines.append(line(name, f"{fmt_bytes(n)} {fmt_bytes(n / per_s)}/s"))
    for key in ("status", "errors"):
        table = s.get(key)
        if isinstance(table, Mapping) and table:
            lines.append(line(key, "  ".join(f"{k}: {v}" for k, v in table.items())))
    if is_number(s.get("breaking_point_rps")):
        lines.append(line("breaking_point_rps", f"{number(s.get('breaking_point_rps')):.1f}/s"))
    return lines


def _checks_lines(checks: Any, paint: Paint) -> list[str]:
    if not isinstance(checks, Mapping) or not checks:
        return []
    counts = {
        name: (number(pf.get("passes")), number(pf.get("fails")))
        for name, pf in checks.items()
        if isinstance(pf, Mapping)
    }
    passed = sum(p for p, _ in counts.values())
    total = passed + sum(f for _, f in counts.values())
    lines = [
        line("checks", f"{passed / total if total else 0:.2%} {passed:.0f} out of {total:.0f}")
    ]
    for name, (ok, bad) in counts.items():
        lines.append(f"      {paint.ok(bad == 0)} {name}: {ok:.0f}/{ok + bad:.0f}")
    return lines


def _section_line(f: Mapping[str, Any]) -> str:
    lat = stats_of(f.get("latency_ms"))
    return line(
        "http_reqs",
        f"{number(f.get('requests')):.0f} {number(f.get('rps')):.1f}/s  "
        f"failed {number(f.get('error_rate')):.2%}  "
        f"p50={fmt_ms(lat.p50)} p95={fmt_ms(lat.p95)} p99={fmt_ms(lat.p99)}",
    )


def render_plots(timeline: Sequence[Any], *, width: int, color: bool = False) -> str:
    """Four stacked charts of the timeline: latency percentiles, rate, errors, VUs."""
    rows = [r for r in timeline if isinstance(r, Mapping) and is_number(r.get("t"))]
    if not rows:
        return "  (no timeline to plot)"
    t = [number(r["t"]) for r in rows]
    charts = [
        _latency_chart(rows, width, color),
        _chart("throughput (requests/s)", t, {"rps": _col(rows, "rps")}, width, color),
        _chart(
            "errors (% of requests)", t, {"errors": _col(rows, "error_rate", 100)}, width, color
        ),
        _chart("virtual users", t, {"vus": _col(rows, "vus")}, width, color),
    ]
    text = "\n".join(charts)
    return text if color else plt.uncolorize(text)


def _col(rows: Sequence[Mapping[str, Any]], key: str, scale: float = 1.0) -> list[float]:
    return [number(r.get(key)) * scale for r in rows]


def _chart(
    title: str, x: list[float], series: Mapping[str, list[float]], width: int, color: bool
) -> str:
    _start(title, width, color)
    for name, y in series.items():
        plt.plot(x, y, label=name, marker="braille")
    top = max((v for y in series.values() for v in y), default=0.0)
    plt.ylim(0, top * 1.3 if top > 0 else 1)  # headroom: the legend sits in the top rows
    return plt.build()


def _latency_chart(rows: Sequence[Mapping[str, Any]], width: int, color: bool) -> str:
    """log10(ms) on a linear axis labelled in ms: tails and medians both stay readable.

    plotext's own log scale mislabels sub-unit values and breaks on zeros; intervals
    without requests (all percentiles 0) are left out instead.
    """
    _start("latency (log scale)", width, color, LATENCY_PLOT_HEIGHT)
    live = [r for r in rows if number(r.get("requests")) > 0]
    values: list[float] = []
    for key in ("p50", "p90", "p95", "p99"):
        pts = [(number(r["t"]), number(r.get(key))) for r in live if number(r.get(key)) > 0]
        if pts:
            plt.plot(
                [p[0] for p in pts],
                [math.log10(p[1]) for p in pts],
                label=key,
                marker="braille",
            )
            values.extend(p[1] for p in pts)
    if values:
        ticks = log_ticks(min(values), max(values))
        plt.yticks([math.log10(v) for v in ticks], [tick_label(v) for v in ticks])
        plt.ylim(math.log10(ticks[0]), math.log10(ticks[-1]))
    return plt.build()


def log_ticks(lo: float, hi: float) -> list[float]:
    """Round values (1, 2, 5 x 10^n ms) spanning lo..hi; decades only when that is plenty."""
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if last == first:
        last += 1
    steps = (1,) if last - first > 2 else (1, 2, 5)
    ticks = [k * 10.0**e for e in range(first, last) for k in steps]
    ticks.append(10.0**last)
    inside = [v for v in ticks if lo <= v <= hi]
    below = [v for v in ticks if v < lo]
    above = [v for v in ticks if v > hi]
    return [*below[-1:], *inside, *above[:1]]


def _start(title: str, width: int, color: bool, height: int = PLOT_HEIGHT) -> None:
    """A fresh plotext figure; "pro" keeps the terminal's own background, unlike the default."""
    plt.clear_figure()
    plt.theme("pro" if color else "clear")
    plt.plotsize(max(width, 40), height)
    plt.title(title)
    plt.xlabel("seconds")


def render_comparison(
    result: Comparison, base_name: str, new_name: str, *, color: bool = False
) -> str:
    paint = Paint(color)
    tol = format_tolerance(result.tolerance)
    out = [
        f"  {paint('surge compare', '1')}  BASE {base_name}  →  NEW {new_name}  (tolerance {tol})"
    ]
    out.extend(f"  {paint('warning:', '33')} {w}" for w in result.warnings)
    section = None
    for row in result.rows:
        if row.section != section:
            section = row.section
            out.append("")
            out.append(f"  {paint('█ ' + section.upper(), '1')}")
            out.append(f"    {'':<22}{'base':>12}{'new':>12}{'change':>11}")
        out.append(_row_line(row, paint))
    out.append("")
    verdict_color = "31" if result.regressed else "32"
    out.append(f"  {paint('verdict:', '1')} {paint(result.verdict, verdict_color)}")
    return "\n".join(out)


def _row_line(row: Row, paint: Paint) -> str:
    change = format_change(row) if row.new != row.base else ""
    mark = {"better": "better", "worse": "worse", "changed": "", "same": ""}[row.direction]
    if row.regression:
        mark = "worse  ✗ regression"
    elif row.note:
        mark = f"{mark}  ({row.note})".lstrip()
    text = (
        f"    {row.figure:<22}{format_value(row.base, row.unit):>12}"
        f"{format_value(row.new, row.unit):>12}{change:>11}  {mark}"
    )
    return paint(text.rstrip(), _DIRECTION_COLORS[row.direction])
