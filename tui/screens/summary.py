"""The end of a run: the headless summary's figures, the full-run plots, and saving.

The text is engine.summary.render_summary itself, so the app and `surge run`
can never disagree about a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from engine.controller import RunResult
from engine.summary import render_summary
from tui.screens.modals import SaveModal
from tui.session import RunSession
from tui.widgets.plots import LatencyPlot, LoadPlot, ThroughputPlot


def verdict(result: RunResult) -> Text:
    states = result.model.states
    failed = sum(1 for s in states if not s.ok)
    out = Text()
    if failed:
        out.append(f"✗ FAILED: {failed} of {len(states)} thresholds", style="bold red")
    elif states:
        out.append(f"✓ PASSED: all {len(states)} thresholds held", style="bold green")
    else:
        out.append("✓ done (no thresholds)", style="bold")
    if result.stop_reason:
        reason = result.stop_reason
        if not reason.startswith(("stopped", "aborted")):
            reason = f"stopped: {reason}"
        out.append(f"  · {reason}", style="yellow")
    out.append(f"  · exit code {result.exit_code}", style="dim")
    return out


def summary_text(result: RunResult) -> Text:
    text = Text(render_summary(result, color=False))
    text.highlight_regex("✓", "green")
    text.highlight_regex("✗", "bold red")
    text.highlight_regex(r"█ [A-Z ]+", "bold")
    return text


class SummaryScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "save", "Save report", id="summary.save"),
        Binding("r", "again", "Run again", id="summary.again"),
        Binding("n", "new", "New run", id="summary.new"),
        Binding("q", "app.quit", "Quit", id="summary.quit"),
    ]

    def __init__(self, session: RunSession) -> None:
        super().__init__()
        self.session = session
        assert session.result is not None
        self.result: RunResult = session.result

    def compose(self) -> ComposeResult:
        open_model = self.session.setup.plan.work.executor.open_model
        yield Header(show_clock=False)
        yield Static(verdict(self.result), id="verdict")
        yield Static("", id="saved")
        with Container(id="summary-body"):
            with VerticalScroll(id="summary-text-box"):
                yield Static(summary_text(self.result), id="summary-text")
            with Vertical(id="summary-plots"):
                yield LatencyPlot(id="summary-latency")
                yield ThroughputPlot(id="summary-rate")
                yield LoadPlot(open_model=open_model, id="summary-load")
        yield Footer()

    def on_mount(self) -> None:
        setup = self.session.setup
        self.sub_title = f"{setup.profile.name} · {setup.type_label} · summary"
        rows = tuple(self.result.model.timeline)
        length = rows[-1].t if rows else 0.0  # the whole run, edge to edge
        for plot in self.query("#summary-plots > *"):
            plot.show(rows, length)  # type: ignore[attr-defined]
        self.show_saved()

    def show_saved(self) -> None:
        saved = self.session.saved_to
        line = self.query_one("#saved", Static)
        if saved is None:
            line.update(Text("not saved yet: w saves the report", style="yellow"))
        else:
            line.update(Text(f"report saved to {saved}", style="green"))

    def action_save(self) -> None:
        async def save(path: Path) -> str | None:
            try:
                written = await self.session.save(path, self.result)
            except OSError as exc:
                return f"cannot write {path}: {exc.strerror or exc}"
            self.notify(f"report saved to {written}", title="Saved")
            self.show_saved()
            return None

        self.app.push_screen(SaveModal(self.session.default_path, save))

    async def action_again(self) -> None:
        await self.app.run_action("new_run(True)")

    async def action_new(self) -> None:
        await self.app.run_action("new_run(False)")
