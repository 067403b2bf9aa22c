"""The current figures: this interval next to the whole run so far."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from engine.load.model import Row
from engine.load.run import Snapshot
from engine.report.summary import fmt_bytes
from tui.app.widgets.panel import Panel

NO_DATA = "–"  # as the end summary writes a figure with no data


def in_ms(ms: float) -> str:
    """A latency always in ms, as the thresholds and the summary's tables write it: one
    unit on a screen (`p95 71µs` beside `p(95)=0.071ms` read as two figures)."""
    if ms >= 100:
        return f"{ms:,.0f}ms"
    return f"{ms:.2f}ms" if ms >= 1 else f"{ms:.3f}ms"


def ms_or_none(ms: float, measured: int) -> str:
    """A latency, or `–` when nothing was measured (paused: `p50 0ms` read as a latency)."""
    return in_ms(ms) if measured else NO_DATA


def figures_table(snapshot: Snapshot | None, timeline: Sequence[Row]) -> Table:
    # One space left of each column, none right: at 80 columns the side panel has 34,
    # which `latency p99  16.72ms  16.72ms` needs without an ellipsis.
    table = Table(box=None, padding=(0, 0, 0, 1), expand=True, show_edge=False)
    table.add_column("", no_wrap=True, style="bold")
    table.add_column("now", justify="right", no_wrap=True)
    table.add_column("run", justify="right", no_wrap=True)
    if snapshot is None:
        table.add_row("waiting", "…", "…")
        return table
    r, f = snapshot.row, snapshot.totals
    iterations = sum(x.iterations for x in timeline)
    dropped = sum(x.dropped for x in timeline)
    vus_max = max((x.vus_max for x in timeline), default=r.vus_max)
    dt = max(r.dt, 1e-9)
    table.add_row("req/s", f"{r.rps:,.1f}", f"{f.rps:,.1f}")
    # Surge's latency (from the due time), then k6's http_req_duration (from the send).
    now, run = r.requests, f.requests
    table.add_row("latency p50", ms_or_none(r.p50, now), ms_or_none(f.latency.p50, run))
    table.add_row("latency p95", ms_or_none(r.p95, now), ms_or_none(f.latency.p95, run))
    table.add_row("latency p99", ms_or_none(r.p99, now), ms_or_none(f.latency.p99, run))
    table.add_row("duration p99", ms_or_none(r.duration_p99, now), ms_or_none(f.duration.p99, run))
    table.add_row(
        "errors",
        f"{r.error_rate:.2%}" if now else NO_DATA,
        f"{f.error_rate:.2%}" if run else NO_DATA,
    )
    table.add_row("requests", f"{r.requests:,}", f"{f.requests:,}")
    table.add_row("iterations", f"{r.iterations:,}", f"{iterations:,}")
    table.add_row("dropped", f"{r.dropped:,}", f"{dropped:,}")
    table.add_row("VUs", f"{r.vus}/{r.vus_max}", f"max {vus_max}")
    table.add_row("data in", f"{fmt_bytes(r.bytes_in / dt)}/s", fmt_bytes(f.bytes_in))
    table.add_row("data out", f"{fmt_bytes(r.bytes_out / dt)}/s", fmt_bytes(f.bytes_out))
    return table


class FiguresPanel(Panel):
    """Rate, latency percentiles and http_req_duration's p99, errors, iterations, dropped,
    data in/out."""

    def on_mount(self) -> None:
        self.border_title = "figures"
        self.show(None, ())

    def show(self, snapshot: Snapshot | None, timeline: Sequence[Row]) -> None:
        table = figures_table(snapshot, timeline)
        self.set_content(table, table.row_count + 1)
