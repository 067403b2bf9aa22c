"""A report's timeline as plots, and two reports' comparison, as text.

Shared by `surge report show/compare` and the app's summary screen, so both read
a report the same way (the summary itself is engine/report/summary.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotext as plt

from engine.load.model import Row as TimelineRow
from engine.report.compare import Comparison, Row, format_change, format_tolerance, format_value
from engine.report.text import Paint, tick_label

PLOT_HEIGHT = 12


LATENCY_PLOT_HEIGHT = 16  # four legend rows must leave room for the lines


_DIRECTION_COLORS = {"better": "32", "worse": "31", "changed": "33", "same": "2"}


def render_plots(
    timeline: Sequence[TimelineRow], *, width: int, color: bool = False, marks: Sequence[float] = ()
) -> str:
    """Four stacked charts of the timeline: latency percentiles, rate, errors, VUs; `marks`
    (when the run was steered by hand) as vertical lines on each."""
    rows = timeline
    if not rows:
        return "  (no timeline to plot)"
    t = [r.t for r in rows]
    charts = [
        _latency_chart(rows, width, color, marks),
        _chart("throughput (requests/s)", t, {"rps": _col(rows, "rps")}, width, color, marks),
        _chart(
            "errors (% of requests)",
            t,
            {"errors": _col(rows, "error_rate", 100)},
            width,
            color,
            marks,
        ),
        _chart("virtual users", t, {"vus": _col(rows, "vus")}, width, color, marks),
    ]
    text = "\n".join(charts)
    return text if color else plt.uncolorize(text)


def _col(rows: Sequence[TimelineRow], key: str, scale: float = 1.0) -> list[float]:
    return [getattr(r, key) * scale for r in rows]


def _chart(
    title: str,
    x: list[float],
    series: Mapping[str, list[float]],
    width: int,
    color: bool,
    marks: Sequence[float],
) -> str:
    _start(title, width, color, marks=marks)
    for name, y in series.items():
        plt.plot(x, y, label=name, marker="braille")
    top = max((v for y in series.values() for v in y), default=0.0)
    plt.ylim(0, top * 1.3 if top > 0 else 1)  # headroom: the legend sits in the top rows
    return plt.build()


def _latency_chart(
    rows: Sequence[TimelineRow], width: int, color: bool, marks: Sequence[float]
) -> str:
    """log10(ms) on a linear axis labelled in ms: tails and medians both stay readable.

    plotext's own log scale mislabels sub-unit values and breaks on zeros; intervals
    without requests (all percentiles 0) are left out instead.
    """
    _start("latency (log scale)", width, color, LATENCY_PLOT_HEIGHT, marks)
    live = [r for r in rows if r.requests > 0]
    values: list[float] = []
    for key in ("p50", "p90", "p95", "p99"):
        pts = [(r.t, getattr(r, key)) for r in live if getattr(r, key) > 0]
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


def _start(
    title: str,
    width: int,
    color: bool,
    height: int = PLOT_HEIGHT,
    marks: Sequence[float] = (),
) -> None:
    """A fresh plotext figure; "pro" keeps the terminal's own background, unlike the default."""
    plt.clear_figure()
    plt.theme("pro" if color else "clear")
    plt.plotsize(max(width, 40), height)
    plt.title(title)
    plt.xlabel("seconds" + (" (│ steered by hand)" if marks else ""))
    for t in dict.fromkeys(marks):
        plt.vline(t, "orange")


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
