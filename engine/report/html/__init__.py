"""One self-contained HTML file of a report: a run, a rollout, or a comparison with a base.

`render_html` is pure (a typed Report in, a string out: no network, no run); the
page's figures and tables are written here from the report (page.py), its charts
drawn in the browser by the vendored uPlot from a JSON payload (payload.py). Scripts,
styles and the payload are all inline, so the file opens anywhere, offline.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from pathlib import Path

from engine.report.compare import compare
from engine.report.document import write_atomic
from engine.report.html import layout, page
from engine.report.html.payload import build_payload
from engine.report.model import Report

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
    data = build_payload(report, base)
    payload = json.dumps(data, separators=(",", ":"))
    slots = {
        "title": page.esc(layout.title(report, base_name if base is not None else None)),
        "style": asset("uplot/uPlot.min.css") + "\n" + asset("report.css"),
        "body": layout.body(report, data, base_name, comparison),
        "data": payload.translate(_SCRIPT_SAFE),
        "script": asset("uplot/uPlot.iife.min.js") + "\n" + asset("report.js"),
    }
    # One pass over the template: text put into a slot is never read as a slot itself.
    return _SLOT.sub(lambda m: slots[m[1]], asset("report.html"))


def write_html(
    report: Report, path: str | Path, *, base: Report | None = None, base_name: str = "base"
) -> Path:
    """Atomically, as write_toml: a temp file beside the target, fsync, rename."""
    text = render_html(report, base=base, base_name=base_name)
    return write_atomic(text.encode(), path)
