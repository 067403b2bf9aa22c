"""`surge report show|compare|merge|export|html|open`: reports people keep, and compare.

A load test is worth most when compared with the last one; these commands work
on saved TOML reports only, never on a live run, so they are safe in CI and on a
laptop long after the run. Every damaged or unknown-format report is a
ReportError, which `surge` turns into exit code 2 and one line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from engine.exit_codes import EXIT_OK, EXIT_REGRESSION
from engine.outputs.html import html_unwritable
from engine.report.compare import (
    DEFAULT_TOLERANCE,
    compare,
    comparison_json,
    parse_tolerance,
    significance_lines,
)
from engine.report.deploy_section import render_deploy_pair
from engine.report.document import ReportError, read_report, write_toml
from engine.report.export import summary_json, timeline_csv
from engine.report.k6_summary import summary_export
from engine.report.merge import merge_reports, merge_warnings
from engine.report.observe_section import render_observed_pair
from engine.report.review import read_review
from engine.report.show import render_comparison, render_plots
from engine.report.summary import fmt_ms, render_report
from tui.cli.argtypes import WithDefaults, said

MAX_PLOT_WIDTH = 160


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
    cmp.add_argument(
        "--significant",
        action="store_true",
        help="an error-rate regression counts only when significant at 0.99 (a "
        "two-proportion z-test); p95/p99 latency and rps stay judged by the tolerance "
        "(the Mann-Whitney U on the histograms tests the median, not the tail)",
    )
    cmp.add_argument(
        "--json", action="store_true", help="the rows, tests, p-values and verdict as JSON"
    )
    cmp.set_defaults(func=cmd_compare)

    merge = actions.add_parser("merge", help="one exact report of runs made in parallel")
    merge.add_argument("files", nargs="+", metavar="FILE", help="two or more reports")
    merge.add_argument("-o", "--output", required=True, metavar="OUT", help="the merged report")
    merge.set_defaults(func=cmd_merge)

    export = actions.add_parser(
        "export",
        help="the summary as JSON (Surge's or k6's summary-export) or the timeline as CSV",
        epilog="example: surge report export run.toml --format k6 -o summary.json",
        formatter_class=WithDefaults,
    )
    export.add_argument("file", help="a report written by `surge run --report`")
    export.add_argument(
        "--format",
        choices=("json", "k6", "csv"),
        default="json",
        help="json: Surge's summary; k6: k6's --summary-export; csv: the timeline",
    )
    export.add_argument("-o", "--output", metavar="OUT", help="a file instead of stdout")
    export.set_defaults(func=cmd_export)

    html = actions.add_parser(
        "html",
        help="one self-contained HTML page of a report (open it anywhere, print it to PDF)",
        description="The report as one HTML file: scripts, styles and the chart library "
        "inside it, no network fetch when opened. With --compare, the base run overlaid and "
        "each figure with its change, as `surge report compare BASE REPORT` judges it.",
        epilog="example: surge report html run.toml --compare last.toml -o run.html",
    )
    html.add_argument("file", metavar="REPORT", help="a report written by `surge run --report`")
    html.add_argument("--compare", metavar="BASE", help="a base report, overlaid and compared")
    html.add_argument(
        "-o", "--output", metavar="FILE", help="where the page goes (default: REPORT with .html)"
    )
    html.set_defaults(func=cmd_html)

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
    report = read_report(args.file)
    color = use_color()
    print(render_report(report, color=color))
    if not args.no_plots:
        width = min(shutil.get_terminal_size((100, 24)).columns, MAX_PLOT_WIDTH)
        marks = [e.t for e in report.meta.steering if e.bends]
        print(render_plots(report.timeline, width=width, color=color, marks=marks))
    return EXIT_OK


# ------------------------------------------------------------------- compare


def cmd_compare(args: argparse.Namespace) -> int:
    base, new = read_report(args.base), read_report(args.new)
    result = compare(base, new, args.tolerance, only_significant=args.significant)
    if args.json:
        print(json.dumps(comparison_json(result), indent=2))
        return EXIT_REGRESSION if args.fail_on_regression and result.regressed else EXIT_OK
    print(render_comparison(result, args.base, args.new, color=use_color()))
    if significance := significance_lines(result):
        print("\n  " + "\n  ".join(significance))
    if rollouts := render_deploy_pair(base.deploy, new.deploy):
        print("\n" + "\n".join(rollouts))
    if observed := render_observed_pair(base.observe, new.observe):
        print("\n" + "\n".join(observed))
    if args.fail_on_regression and result.regressed:
        return EXIT_REGRESSION
    return EXIT_OK


# --------------------------------------------------------------------- merge


def cmd_merge(args: argparse.Namespace) -> int:
    if len(args.files) < 2:
        raise ReportError("merge needs two or more reports (runs made at the same time)")
    reports = [read_report(f) for f in args.files]
    for warning in merge_warnings(reports, args.files):
        print(said(args, "warning", warning), file=sys.stderr)
    merged = merge_reports(reports, args.files)
    try:
        path = write_toml(merged, args.output)
    except OSError as exc:
        raise ReportError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    s = merged.summary
    print(
        f"  merged {len(reports)} reports into {path}: {s.requests:,} requests, "
        f"{s.rps:,.1f}/s, p95 {fmt_ms(s.latency.p95)}, "
        f"p99 {fmt_ms(s.latency.p99)}, errors {s.error_rate:.2%}"
    )
    return EXIT_OK


# -------------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace) -> int:
    report = read_report(args.file)
    if args.format == "json":
        text = summary_json(report)
    elif args.format == "k6":
        text = json.dumps(summary_export(report), indent=2) + "\n"
    else:
        text = timeline_csv(report)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ReportError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    else:
        sys.stdout.write(text)
    return EXIT_OK


# ---------------------------------------------------------------------- html


def cmd_html(args: argparse.Namespace) -> int:
    """Both reports are read, and the target checked, before anything is written."""
    report = read_report(args.file)
    base = read_report(args.compare) if args.compare else None
    path = Path(args.output) if args.output else Path(args.file).with_suffix(".html")
    if why := html_unwritable(path):
        raise ReportError(f"{path}: {why}")
    from engine.report.html import write_html  # the page's assets load only for this command

    try:
        name = Path(args.compare).name if args.compare else "base"
        written = write_html(report, path, base=base, base_name=name)
    except OSError as exc:
        raise ReportError(f"{path}: cannot write ({exc.strerror or exc})") from None
    print(f"  html report written to {written}")
    return EXIT_OK


# ---------------------------------------------------------------------- open


def cmd_open(args: argparse.Namespace) -> int:
    """Both reports are read before the terminal is taken over: a bad one is one line."""
    review = read_review(args.file)
    base = read_review(args.compare) if args.compare else None
    from tui.cli.app_cmd import open_review  # Textual loads only when the console opens

    return open_review(review, base, args.reports)
