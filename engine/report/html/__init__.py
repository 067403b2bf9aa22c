"""One self-contained HTML file of a report: a run, a rollout, or a comparison with a base.

`render_html` is pure (a typed Report in, a string out: no network, no run); the
page's figures and tables are written here from the report (page.py), its charts
drawn in the browser by the vendored uPlot from a JSON payload (payload.py). Scripts,
styles and the payload are all inline, so the file opens anywhere, offline.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from engine.durations import clock
from engine.report.compare import compare
from engine.report.document import current_umask
from engine.report.html import page
from engine.report.html.payload import build_payload
from engine.report.model import Report
from engine.report.review import executor_of

__all__ = ["ASSETS", "render_html", "write_html"]

# The package data the page is made of: the template, its style and script, and uPlot.
ASSETS = ("report.html", "report.css", "report.js", "uplot/uPlot.iife.min.js")
ASSETS += ("uplot/uPlot.min.css", "uplot/LICENSE")
_SLOT = re.compile(r"<!--surge:(\w+)-->")
# Inside <script>, "</script" or "<!--" in a report's string would end or bend it.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


@cache
def asset(name: str) -> str:
    return (files(__package__) / "assets" / name).read_text(encoding="utf-8")


def render_html(report: Report, *, base: Report | None = None, base_name: str = "base") -> str:
    """The report as one HTML page; with `base`, a comparison (base overlaid on every
    time chart, each figure with its change, as `surge report compare` judges it)."""
    comparison = compare(base, report) if base is not None else None
    payload = json.dumps(build_payload(report, base), separators=(",", ":"))
    slots = {
        "title": page._e(_title(report, base_name if base is not None else None)),
        "style": asset("uplot/uPlot.min.css") + "\n" + asset("report.css"),
        "body": _body(report, base, base_name, comparison),
        "data": payload.translate(_SCRIPT_SAFE),
        "script": asset("uplot/uPlot.iife.min.js") + "\n" + asset("report.js"),
    }
    # One pass over the template: text put into a slot is never read as a slot itself.
    return _SLOT.sub(lambda m: slots[m[1]], asset("report.html"))


def write_html(
    report: Report, path: str | Path, *, base: Report | None = None, base_name: str = "base"
) -> Path:
    """Atomically, as write_toml: a temp file beside the target, fsync, rename."""
    path = Path(path)
    text = render_html(report, base=base, base_name=base_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _title(report: Report, base_name: str | None) -> str:
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
        f'<h2 id="{name}-h">{page._e(title)}</h2>\n{content}\n</section>'
    )


def _chart(name: str, title: str, note: str = "") -> str:
    """A chart's place: the script draws it and fills its table (its text alternative)."""
    aside = f'<p class="note">{page._e(note)}</p>' if note else ""
    return (
        f'<figure class="chart" data-chart="{name}" role="group" aria-labelledby="{name}-c">'
        f'<figcaption id="{name}-c">{page._e(title)}</figcaption>{aside}'
        f'<div class="plot" aria-hidden="true"></div>'
        f"<details><summary>{page._e(title)}: as a table</summary>"
        f'<div class="table" role="region" tabindex="0" aria-label="{page._e(title)}">'
        f"</div></details></figure>"
    )


def _header(report: Report) -> str:
    meta = report.meta
    executor = executor_of(meta)
    shape = executor.describe() if executor is not None else meta.executor
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
    items = "".join(f"<li>{page._e(f)}</li>" for f in facts if f)
    return (
        f'<header><h1><span class="brand">surge</span> {page._e(meta.name or "?")} '
        f'<span class="arrow">→</span> <span class="target">{page._e(meta.target or "?")}</span>'
        f'</h1><ul class="facts">{items}</ul></header>'
    )


def _body(report: Report, base: Report | None, base_name: str, comparison: Any) -> str:
    seconds = max(report.meta.duration_s, 1e-9)
    changes = page._changes(comparison)
    overlay = f" (dashed: {base_name})" if base is not None else ""
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
            '<p class="hint">Drag across a chart to zoom, double-click to zoom out; '
            "hover for values.</p>"
            if report.timeline
            else "",
            *(timeline if report.timeline else []),
        ),
        _section(
            "histogram",
            "Latency histogram",
            _chart("histogram", "http_req_duration: requests per latency bin (ms)")
            if report.histograms is not None and report.histograms.total is not None
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
            page.checks_table(report) if report.checks or report.scenarios else "",
        ),
        _section("status", "Status and errors", page.status_table(report)),
        _section(
            "rollout",
            "Rollout",
            _chart("deploy", "Green's weight (%) and each window's verdict")
            if report.deploy is not None and report.deploy.steps
            else "",
            page.deploy_section(report),
        ),
        _section(
            "server",
            "Server side",
            "".join(
                _chart(f"observe-{i}", f"{name} ({s.source})")
                for i, (name, s) in enumerate(report.observe.items())
                if s.values
            ),
            page.observe_table(report) if report.observe else "",
            page.insights_list(report),
        ),
        _section(
            "capacity",
            "Capacity",
            _chart("capacity", "Latency against the offered rate")
            if report.capacity is not None and report.capacity.steps
            else "",
            page.capacity_table(report),
        ),
        "</main>",
    ]
    return "\n".join(s for s in sections if s)
