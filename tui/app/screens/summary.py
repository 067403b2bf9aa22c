"""The end of a run, or a saved report: the summary's figures, the full-run plots, comparing.

A run just finished here shows its report as engine.report.summary renders it, so the
app, `surge run` and `surge report show` can never disagree about a run. Both come as
an engine Review, so the plots, the verdict and a comparison with a base report work
the same for either.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from engine.load.states import Ending, StopCause, StopReason
from engine.report.compare import compare
from engine.report.deploy_section import DeployRecord
from engine.report.model import Report
from engine.report.review import Review
from engine.report.summary import render_report
from tui.app.layout import fit_footer
from tui.app.screens.modals import SaveModal
from tui.app.screens.open_report import ReportModal
from tui.app.session import REPORT_DIR, ConsoleSession, slug
from tui.app.widgets.comparison import ComparisonPanel
from tui.app.widgets.figures import ms_or_none
from tui.app.widgets.hockey import CAPACITY, RATE_TYPES, HockeyPlot, broke
from tui.app.widgets.phrases import Phrases
from tui.app.widgets.plots import LatencyPlot, LoadPlot, ThroughputPlot, TimePlot


def verdict(review: Review) -> list[Text]:
    """Pass or fail, then the headline figures, as phrases: alike for a run and its report.
    Latency in ms, labelled, as the summary's tables below it (one unit on the screen)."""
    states = review.thresholds
    failed = sum(1 for s in states if not s.ok)
    finished = review.ended == Ending.FINISHED
    n = len(states)
    if failed:
        head = Text(f"✗ FAILED: {failed} of {plural(n, 'threshold')}", style="bold red")
        if not finished:
            head.append(f" · {review.ended.upper()}", style="bold yellow")
    elif not finished:
        held = f": {held_words(n)} so far" if states else ""
        head = Text(f"■ {review.ended.upper()}{held}", style="bold yellow")
    elif states:
        head = Text(f"✓ PASSED: {held_words(n)}", style="bold green")
    else:
        head = Text("✓ done (no thresholds)", style="bold")
    t = review.totals
    out = [
        head,
        Text(f"{t.requests:,} req"),
        Text(
            f"latency p95 {ms_or_none(t.latency.p95, t.requests)}, "
            f"p99 {ms_or_none(t.latency.p99, t.requests)}"
        ),
        Text(f"{t.error_rate:.2%} errors"),
    ]
    # "STOPPED BY YOU · stopped by user" said it twice: a reason the ending says is left out
    if review.stop_reason and not finished and review.stop_reason != StopReason.USER_STOP:
        out.append(Text(review.stop_reason, style="yellow"))
    if review.exit_code is not None:
        out.append(Text(f"exit code {review.exit_code}", style="dim"))
    return out


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def held_words(n: int) -> str:
    """`the 1 threshold held`, `all 3 thresholds held` (not `all 1 thresholds`)."""
    return "the 1 threshold held" if n == 1 else f"all {n} thresholds held"


def with_rollout(review: Review, deploy: DeployRecord | None) -> Report:
    """The review's report; with the rollout that went with it (`[deploy]`), its record."""
    return replace(review.report, deploy=deploy) if deploy is not None else review.report


def summary_text(review: Review, deploy: DeployRecord | None = None) -> Text:
    """The run's summary; with the rollout that went with it (`[deploy]`), its section."""
    text = Text(render_report(with_rollout(review, deploy), color=False))
    text.highlight_regex("✓", "green")
    text.highlight_regex("✗", "bold red")
    text.highlight_regex(r"█ [A-Z ]+", "bold")
    return text


def label(review: Review) -> str:
    """How a report names itself in titles: its file, or the run's name."""
    return review.source.name if review.source is not None else review.name


class SummaryScreen(Screen[None]):
    """`session` is the app's run when this is its summary: only then can it be saved or rerun.

    `report_dir` is where `o` and `c` look for reports first.
    """

    @dataclass
    class ReportOpened(Message):
        """A report chosen with `o`: the app shows it in place of this summary."""

        review: Review

    # Short words: at 80 columns every key must fit in the footer beside ^p palette.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "save", "Save", id="summary.save"),
        Binding("r", "again", "Again", id="summary.again"),
        Binding("n", "new", "New", id="summary.new"),
        Binding("o", "open", "Open", id="summary.open"),
        Binding("c", "compare", "Compare", id="summary.compare"),
        Binding("g", "plots", "Plots", id="summary.plots"),
        Binding("h", "html", "HTML", id="summary.html"),
        Binding("q", "app.quit", "Quit", id="summary.quit"),
    ]

    def __init__(
        self,
        review: Review,
        session: ConsoleSession | None = None,
        base: Review | None = None,
        report_dir: Path = REPORT_DIR,
    ) -> None:
        super().__init__()
        self.review = review
        self.session = session
        self.base = base
        self.report_dir = report_dir

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Phrases(verdict(self.review), id="verdict")
        yield Static("", id="saved")
        with Container(id="summary-body"):
            with Vertical(id="summary-left"):
                yield ComparisonPanel(id="comparison")
                with VerticalScroll(id="summary-text-box"):
                    deploy = self.session.deploy_record() if self.session is not None else None
                    yield Static(summary_text(self.review, deploy), id="summary-text")
            with Vertical(id="summary-plots"):
                yield LatencyPlot(id="summary-latency")
                yield ThroughputPlot(id="summary-rate")
                yield LoadPlot(open_model=self.review.open_model, id="summary-load")
                if self.review.type_label in RATE_TYPES:
                    yield HockeyPlot(id="summary-hockey")
        yield Footer()

    def on_resize(self) -> None:
        fit_footer(self)  # at 80 columns `? Keys` must not be cut by `^p palette`

    def on_mount(self) -> None:
        review = self.review
        where = "summary" if review.source is None else str(review.source)
        self.sub_title = f"{review.name} · {review.type_label} · {where}"
        self.set_class(review.type_label in RATE_TYPES, "-rate")
        for hockey in self.query(HockeyPlot).results(HockeyPlot):
            capacity = review.report.capacity
            hockey.show_steps(capacity.steps if capacity is not None else ())
            hockey.broke = broke(StopCause.parse(review.stop_reason or ""))
        if self.base is not None:
            self.show_base(self.base)
        else:
            self._plot()
        self.show_saved()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("save", "again"):
            return self.session is not None
        return True

    def _plot(self) -> None:
        """Both runs edge to edge: the x axis ends where the longer one does."""
        length = max(self.review.length, self.base.length if self.base is not None else 0.0)
        searched = self.review.type_label == CAPACITY  # its steps: on the rate plot
        marks = [e.t for e in self.review.steering if e.bends and not searched]  # by hand
        for plot in self.query("#summary-plots > TimePlot").results(TimePlot):
            plot.show(self.review.timeline, length, marks=marks)

    def show_base(self, base: Review) -> None:
        """Overlay `base` on the plots and judge this run against it as `surge report
        compare BASE THIS` would."""
        self.base = base
        self.add_class("-compare")
        for plot in self.query("#summary-plots > TimePlot").results(TimePlot):
            plot.set_base(base.timeline)
        self._plot()
        self.query_one(ComparisonPanel).show(compare(base.report, self.review.report), label(base))
        self.show_saved()

    def show_saved(self) -> None:
        line = self.query_one("#saved", Static)
        if self.session is None:
            text = Text(f"report {self.review.source}", style="green")
        elif self.session.saved_to is None:
            text = Text("not saved yet: w saves the report", style="yellow")
        else:
            text = Text(f"report saved to {self.session.saved_to}", style="green")
        if self.base is not None:
            text.append(f"  · base {self.base.source or self.base.name}", style="dim")
        line.update(text)

    def action_save(self) -> None:
        session = self.session
        if session is None:
            return

        async def save(path: Path) -> str | None:
            try:
                written = await session.save(path, session.result)
            except OSError as exc:
                return f"cannot write {path}: {exc.strerror or exc}"
            self.notify(f"report saved to {written}", title="Saved")
            self.show_saved()
            return None

        self.app.push_screen(SaveModal(session.default_path, save))

    def html_path(self) -> Path:
        """Beside the report (`run.toml` -> `run.html`); a run not saved yet: where `w`
        would save it, in the reports folder."""
        session = self.session
        saved = self.review.source if session is None else session.saved_to or session.default_path
        if saved is None:
            return self.report_dir / f"{slug(self.review.name)}.html"
        return saved.with_suffix(".html")

    async def action_html(self) -> None:
        """The report as one HTML page (the base overlaid, when one is): `surge report html`."""
        from engine.report.html import write_html  # the page's assets load only when asked

        deploy = self.session.deploy_record() if self.session is not None else None
        report = with_rollout(self.review, deploy)
        base, name = (self.base.report, label(self.base)) if self.base else (None, "base")
        path = self.html_path()
        try:
            written = await asyncio.to_thread(write_html, report, path, base=base, base_name=name)
        except OSError as exc:
            self.notify(f"cannot write {path}: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"HTML report written to {written}", title="HTML")

    def action_open(self) -> None:
        def opened(review: Review | None) -> None:
            if review is not None:
                self.post_message(self.ReportOpened(review))

        modal = ReportModal("Open a report", self.report_dir, self.review.source)
        self.app.push_screen(modal, opened)

    def action_compare(self) -> None:
        def chosen(base: Review | None) -> None:
            if base is not None:
                self.show_base(base)

        title = f"Compare {label(self.review)} with a base report"
        self.app.push_screen(ReportModal(title, self.report_dir, self.review.source), chosen)

    def action_plots(self) -> None:
        """Narrow: the text or the plots, each on the whole body; wide: plots shown or not.

        At 80x24 the plots beside or under the summary left it five rows; each gets the
        whole body instead, and `g` switches."""
        self.toggle_class("-plots")

    async def action_again(self) -> None:
        await self.app.run_action("new_run(True)")

    async def action_new(self) -> None:
        await self.app.run_action("new_run(False)")
