"""`surge report show|compare|merge|export|open`: reports people keep, and compare.

A load test is worth most when compared with the last one; these commands work
on saved TOML reports only, never on a live run, so they are safe in CI and on a
laptop long after the run. Every damaged or unknown-format report is a
ReportError, which `surge` turns into exit code 2 and one line.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import plotext as plt

from engine.compare import (
    DEFAULT_TOLERANCE,
    Comparison,
    Row,
    compare,
    format_change,
    format_tolerance,
    format_value,
    parse_tolerance,
)
from engine.errors import ConfigError
from engine.export import summary_json, timeline_csv
from engine.merge import merge_reports, merge_warnings
from engine.report import ReportError, is_number, load_report, number, stats_of, write_toml
from engine.review import executor_of, read_review, threshold_state
from engine.summary import Paint, fmt_bytes, fmt_ms, line, trend

EXIT_OK, EXIT_REGRESSION = 0, 1
PLOT_HEIGHT = 12
LATENCY_PLOT_HEIGHT = 16  # four legend rows must leave room for the lines
MAX_PLOT_WIDTH = 160

# Colors of a comparison row, by direction (ANSI SGR codes).
_DIRECTION_COLORS = {"better": "32", "worse": "31", "changed": "33", "same": "2"}


def register(sub: Any) -> None:
    """Add `report` and its actions to `surge`'s subparsers."""
    report = sub.add_parser("report", help="show, compare, merge and export saved reports")
    actions = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)

    show = actions.add_parser("show", help="the end-of-run summary and timeline plots")
    show.add_argument("file", help="a report written by `surge run --report`")
    show.add_argument("--no-plots", action="store_true", help="the summary only")
    show.set_defaults(func=cmd_show)

    cmp = actions.add_parser("compare", help="every figure of NEW against BASE, and a verdict")
    cmp.add_argument("base", help="the reference report (e.g. the last release)")
    cmp.add_argument("new", help="the report under judgement")
    cmp.add_argument(
        "--tolerance",
        type=_tolerance,
        default=DEFAULT_TOLERANCE,
        help="change treated as noise: 10%% or 0.1 (default 10%%)",
    )
    cmp.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when p95/p99 latency, error rate or rps got worse beyond the tolerance",
    )
    cmp.set_defaults(func=cmd_compare)

    merge = actions.add_parser("merge", help="one exact report of runs made in parallel")
    merge.add_argument("files", nargs="+", metavar="FILE", help="two or more reports")
    merge.add_argument("-o", "--output", required=True, metavar="OUT", help="the merged report")
    merge.set_defaults(func=cmd_merge)

    export = actions.add_parser("export", help="the summary as JSON or the timeline as CSV")
    export.add_argument("file")
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("-o", "--output", metavar="OUT", help="a file instead of stdout")
    export.set_defaults(func=cmd_export)

    opened = actions.add_parser(
        "open", help="the console's summary screen for a report, with a base report overlaid"
    )
    opened.add_argument("file", help="the report to show")
    opened.add_argument(
        "--compare", metavar="BASE", help="a base report: its plots overlaid, figures compared"
    )
    opened.add_argument(
        "--reports", default="reports", metavar="DIR", help="where o and c list reports"
    )
    opened.set_defaults(func=cmd_open)


def _tolerance(text: str) -> float:
    try:
        return parse_tolerance(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


# ---------------------------------------------------------------------- show


def cmd_show(args: argparse.Namespace) -> int:
    report = load_report(args.file)
    color = use_color()
    print(render_report(report, color=color))
    if not args.no_plots:
        width = min(shutil.get_terminal_size((100, 24)).columns, MAX_PLOT_WIDTH)
        print(render_plots(report.get("timeline", []), width=width, color=color))
    return EXIT_OK


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


# --------------------------------------------------------------------- plots


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


def tick_label(ms: float) -> str:
    """Round tick values need no decimals: 1ms, 20ms, 500µs, 2s."""
    if ms >= 1000:
        return f"{ms / 1000:g}s"
    if ms >= 1:
        return f"{ms:g}ms"
    return f"{ms * 1000:g}µs"


def _start(title: str, width: int, color: bool, height: int = PLOT_HEIGHT) -> None:
    """A fresh plotext figure; "pro" keeps the terminal's own background, unlike the default."""
    plt.clear_figure()
    plt.theme("pro" if color else "clear")
    plt.plotsize(max(width, 40), height)
    plt.title(title)
    plt.xlabel("seconds")


# ------------------------------------------------------------------- compare


def cmd_compare(args: argparse.Namespace) -> int:
    base, new = load_report(args.base), load_report(args.new)
    result = compare(base, new, args.tolerance)
    print(render_comparison(result, args.base, args.new, color=use_color()))
    if args.fail_on_regression and result.regressed:
        return EXIT_REGRESSION
    return EXIT_OK


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


# --------------------------------------------------------------------- merge


def cmd_merge(args: argparse.Namespace) -> int:
    if len(args.files) < 2:
        raise ReportError("merge needs two or more reports (runs made at the same time)")
    reports = [load_report(f) for f in args.files]
    for warning in merge_warnings(reports, args.files):
        print(f"surge: warning: {warning}", file=sys.stderr)
    merged = merge_reports(reports, args.files)
    try:
        path = write_toml(merged, args.output)
    except OSError as exc:
        raise ReportError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    s = merged["summary"]
    print(
        f"  merged {len(reports)} reports into {path}: {s['requests']} requests, "
        f"{s['rps']:.1f}/s, p95 {fmt_ms(s['latency_ms']['p95'])}, "
        f"p99 {fmt_ms(s['latency_ms']['p99'])}, errors {s['error_rate']:.2%}"
    )
    return EXIT_OK


# -------------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace) -> int:
    report = load_report(args.file)
    text = summary_json(report) if args.format == "json" else timeline_csv(report)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ReportError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    else:
        sys.stdout.write(text)
    return EXIT_OK


# ---------------------------------------------------------------------- open


def cmd_open(args: argparse.Namespace) -> int:
    """Both reports are read before the terminal is taken over: a bad one is one line."""
    review = read_review(args.file)
    base = read_review(args.compare) if args.compare else None
    from tui.app_cmd import open_review  # Textual loads only when the console opens

    return open_review(review, base, args.reports)
