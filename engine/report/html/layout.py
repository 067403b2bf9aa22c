"""An HTML report's layout: its sections in the order a reader wants them.

The verdict first, then the charts over time, the histogram, the tables, the
comparison, checks, statuses, the rollout, the server side and the capacity search; a
section only where the report has something for it, a chart only where the payload
(payload.py) holds its data, since the page's script draws what the payload holds.
"""

from __future__ import annotations

from typing import Any

from engine.durations import clock
from engine.report.compare import Comparison
from engine.report.html import page
from engine.report.model import Report
from engine.report.review import executor_of

__all__ = ["body", "title"]


def title(report: Report, base_name: str | None) -> str:
    """The page's title: what ran against what, and the base it is compared with."""
    meta = report.meta
    title = f"surge {meta.name or '?'} → {meta.target or '?'}"
    return f"{title} vs {base_name}" if base_name else title


def _section(name: str, title: str, *parts: str) -> str:
    """A top-level section (a printed page break before it); empty when it has nothing."""
    content = "\n".join(p for p in parts if p)
    if not content:
        return ""
    return (
        f'<section id="{name}" aria-labelledby="{name}-h">'
        f'<h2 id="{name}-h">{page.esc(title)}</h2>\n{content}\n</section>'
    )


def _chart(name: str, title: str) -> str:
    """A chart's place: the script draws it and fills its table (its text alternative)."""
    return (
        f'<figure class="chart" data-chart="{name}" role="group" aria-labelledby="{name}-c">'
        f'<figcaption id="{name}-c">{page.esc(title)}</figcaption>'
        f'<div class="plot" aria-hidden="true"></div>'
        f"<details><summary>{page.esc(title)}: as a table</summary>"
        f'<div class="table" role="region" tabindex="0" aria-label="{page.esc(title)}">'
        f"</div></details></figure>"
    )


def _legend(data: dict[str, Any]) -> str:
    """How to read the charts over time: what is drawn on them besides the lines."""
    said = ["Drag across a chart to zoom, double-click to zoom out; hover for values."]
    if data["marks"]:
        said.append("Dashed orange lines: the load was steered by hand.")
    if data["insights"]:
        said.append("Dotted purple lines: the insights below, where each was found.")
    if data["deploy"] and data["deploy"]["windows"]:
        said.append(
            "Shaded: the rollout's judged windows (green passed, red failed, amber "
            "inconclusive), with green's weight."
        )
    return f'<p class="hint">{page.esc(" ".join(said))}</p>'


def _header(report: Report) -> str:
    meta = report.meta
    executor = executor_of(meta)
    shape = executor.describe() if executor is not None else meta.executor
    named = [n for n in report.scenarios if not n.startswith("(")]  # not setup/teardown
    if meta.executor == "scenarios" and named:
        shape = f"{len(named)} scenario{'s' if len(named) > 1 else ''}: {', '.join(named)}"
    kind = f" ({meta.test_type} test)" if meta.test_type else ""
    facts = [
        f"{shape}{kind}" if shape else "",
        f"started {meta.start or '?'}, ran {clock(meta.duration_s)} ({meta.duration_s:g}s)",
        f"{meta.workers} worker{'s' if meta.workers != 1 else ''}, busiest at "
        f"{meta.cpu_percent_max:.0f}% CPU"
        if meta.workers
        else "",
        f"surge {meta.version}" if meta.version else "",
    ]
    items = "".join(f"<li>{page.esc(f)}</li>" for f in facts if f)
    return (
        f'<header><h1><span class="brand">surge</span> {page.esc(meta.name or "?")} '
        f'<span class="arrow">→</span> <span class="target">{page.esc(meta.target or "?")}</span>'
        f'</h1><ul class="facts">{items}</ul></header>'
    )


def body(
    report: Report, data: dict[str, Any], base_name: str, comparison: Comparison | None
) -> str:
    """The page's sections in the order a reader wants them: the verdict first; a chart
    only where the payload has its data (the script draws what the payload holds)."""
    seconds = max(report.meta.duration_s, 1e-9)
    changes = page.changes_of(comparison)
    overlay = f" (dashed: {base_name})" if data["base"] is not None else ""
    timeline = [
        _chart("latency", f"Latency percentiles (ms, log scale){overlay}"),
        _chart("rps", f"Requests per second{overlay}"),
        _chart("errors", f"Errors (% of requests){overlay}"),
        _chart("vus", f"VUs and dropped iterations{overlay}"),
    ]
    sections = [
        _header(report),
        '<main id="main" tabindex="-1">',
        page.verdict_section(report, comparison, base_name),
        _section(
            "over-time",
            "Over time",
            _legend(data) if report.timeline else "",
            *(timeline if report.timeline else []),
        ),
        _section(
            "histogram",
            "Latency histogram",
            _chart("histogram", "http_req_duration: requests per latency bin (ms)")
            if data["histogram"]
            else "",
        ),
        _section(
            "tables",
            "Figures",
            page.trends_section(report, changes),
            page.sections_table("Steps", "step", report.steps, seconds, changes)
            if len(report.steps) > 1
            else "",
            page.sections_table("Upstreams", "upstream", report.upstreams, seconds, changes)
            if report.upstreams
            else "",
            page.scenarios_table(report, changes) if report.scenarios else "",
        ),
        page.comparison_section(comparison, base_name) if comparison is not None else "",
        _section(
            "checks",
            "Checks",
            page.checks_table(report),
        ),
        _section("status", "Status and errors", page.status_table(report)),
        _section(
            "rollout",
            "Rollout",
            _chart("deploy", "Green's weight (%) and each window's verdict")
            if data["deploy"] and data["deploy"]["windows"]
            else "",
            page.deploy_section(report),
        ),
        _section(
            "server",
            "Server side",
            "".join(
                _chart(f"observe-{i}", f"{s['name']} ({s['source']}){overlay}")
                for i, s in enumerate(data["observe"])
            ),
            page.observe_table(report) if report.observe else "",
            page.insights_list(report),
        ),
        _section(
            "capacity",
            "Capacity",
            _chart("capacity", "Latency against the offered rate")
            if data["capacity"] and data["capacity"]["steps"]
            else "",
            page.capacity_table(report),
        ),
        "</main>",
    ]
    return "\n".join(s for s in sections if s)
