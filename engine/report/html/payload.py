"""The chart data of an HTML report: a typed Report as a JSON-able dict (pure).

Every number is the report's own (the timeline's rows, the histogram's bins as
`report show` draws them, the rollout's windows, the server-side series); the page's
script only draws them. Floats are rounded to what a chart can show, which keeps a
10-minute run's page small.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from engine.load.metrics import decode_histogram
from engine.load.model import Row
from engine.observe.series import Series
from engine.report.model import Report
from engine.report.summary import histogram_bins

__all__ = ["HISTOGRAM_BINS", "TIMELINE_COLUMNS", "build_payload", "histogram", "timeline"]

HISTOGRAM_BINS = 40
# The timeline's columns the charts draw; error_rate is a share (0..1), as in the report.
TIMELINE_COLUMNS = ("t", "rps", "error_rate", "p50", "p90", "p95", "p99", "vus", "dropped")


def build_payload(report: Report, base: Report | None = None) -> dict[str, Any]:
    """What the page's charts draw; `base` (a comparison) adds its timeline beside."""
    return {
        "timeline": timeline(report.timeline),
        "base": None if base is None else {"timeline": timeline(base.timeline)},
        "marks": [_round(e.t) for e in report.meta.steering if e.bends],
        "insights": [{"at": _round(f.at), "kind": f.kind.value} for f in report.insights],
        "histogram": histogram(report),
        "deploy": _deploy(report),
        "observe": [
            {
                "name": name,
                **(_series(s) or {}),
                "base": _series(base.observe.get(name) if base else None),
            }
            for name, s in report.observe.items()
            if s.values
        ],
        "capacity": _capacity(report),
    }


def timeline(rows: Sequence[Row]) -> dict[str, list[float | None]]:
    """The timeline by column (one list a column: half the size of a list of rows)."""
    return {key: [_round(getattr(r, key)) for r in rows] for key in TIMELINE_COLUMNS}


def histogram(report: Report) -> dict[str, list[Any]] | None:
    """http_req_duration's histogram as `report show` bins it (upper bound ms, count);
    None when the report holds none or it is damaged (the tables still stand)."""
    total = report.histograms.total if report.histograms is not None else None
    text = total.http_req_duration if total is not None else None
    if text is None:
        return None
    try:
        h = decode_histogram(text)
    except Exception:  # a damaged histogram, as report show skips it
        return None
    if not h.get_total_count():
        return None
    bins = histogram_bins(h, HISTOGRAM_BINS)
    return {"upper_ms": [_round(ms) for ms, _ in bins], "count": [n for _, n in bins]}


def rollout_offset(report: Report) -> float:
    """Seconds from the run's start to the rollout's (its windows' `at_s` count from
    there), to the second both are written in; 0 when either is missing or unreadable."""
    if report.deploy is None:
        return 0.0
    try:
        run = dt.datetime.fromisoformat(report.meta.start)
        rollout = dt.datetime.fromisoformat(report.deploy.start)
    except ValueError:
        return 0.0
    if (run.tzinfo is None) != (rollout.tzinfo is None):
        return 0.0
    return (rollout - run).total_seconds()


def _series(s: Series | None) -> dict[str, Any] | None:
    """A server-side series' points (its unit and source with them)."""
    if s is None or not s.values:
        return None
    return {
        "unit": s.unit,
        "source": s.source,
        "t": [_round(t) for t in s.times],
        "v": [_round(v) for v in s.values],
    }


def _deploy(report: Report) -> dict[str, Any] | None:
    record = report.deploy
    if record is None:
        return None
    offset = rollout_offset(report)
    return {
        "outcome": record.outcome.value,
        "windows": [
            {
                "start": _round(offset + s.at_s - s.window_s),
                "end": _round(offset + s.at_s),
                "green": s.green_weight,
                "verdict": s.verdict,
                "step": s.step,
            }
            for s in record.steps
        ],
    }


def _capacity(report: Report) -> dict[str, Any] | None:
    c = report.capacity
    if c is None:
        return None
    return {
        "rate": c.rate,
        "failed_at": c.failed_at,
        "steps": [
            {
                "rate": _round(s.rate),
                "achieved": _round(s.achieved_rate),
                "p95": _round(s.p95),
                "p99": _round(s.p99),
                "error_rate": _round(s.error_rate),
                "held": s.held,
            }
            for s in c.steps
        ],
    }


def _round(value: float) -> float | None:
    """Three decimals (six below 1), whole numbers kept whole; None (JSON null, a gap in
    a chart) for what is not finite."""
    if isinstance(value, int):
        return value
    if not math.isfinite(value):
        return None
    if value == int(value) and abs(value) < 1e15:
        return int(value)
    return round(value, 3 if abs(value) >= 1 else 6)
