"""Choosing a saved report: a path to edit, and the folder's reports, newest first.

The report is read here, off the UI thread, and only a report that reads is
returned: a missing, damaged or future-format file is said (inline, and as a
notification) with ReportError's one line, and the dialog stays for another try.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static

from engine.report.document import ReportError
from engine.report.review import Review, read_review

RECENT = 10


def recent_reports(folder: Path, limit: int = RECENT) -> list[Path]:
    """The folder's reports, newest first: the one just saved is the likeliest choice."""
    found = [p for p in folder.glob("*.toml") if p.is_file()]
    found.sort(key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    return found[:limit]


class ReportModal(ModalScreen[Review | None]):
    """Enter opens the typed path; down goes to the list, where enter opens the highlighted."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="report.cancel"),
        Binding("down", "focus_recent", "Recent", show=False, id="report.recent"),
    ]

    def __init__(self, title: str, folder: Path, shown: Path | None = None) -> None:
        """`shown`: the report on screen, offered last rather than first."""
        super().__init__()
        self.title_text = title
        self.folder = folder
        recent = recent_reports(folder)
        self.recent = [p for p in recent if p != shown] + [p for p in recent if p == shown]

    def compose(self) -> ComposeResult:
        default = str(self.recent[0]) if self.recent else f"{self.folder}/"
        with Vertical(id="dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Label("TOML report path (enter opens, esc cancels):")
            yield Input(default, id="report-path")
            yield Static("", id="report-error", classes="field-error", markup=False)
            if self.recent:
                yield Label(f"in {self.folder}, newest first:", id="recent-label")
                yield OptionList(*(str(p) for p in self.recent), id="recent")

    def on_mount(self) -> None:
        self.query_one("#report-path", Input).focus()

    def action_focus_recent(self) -> None:
        if self.recent:
            self.query_one("#recent", OptionList).focus()

    @on(OptionList.OptionHighlighted, "#recent")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#report-path", Input).value = str(self.recent[event.option_index])

    @on(OptionList.OptionSelected, "#recent")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.read(self.recent[event.option_index])

    @on(Input.Submitted, "#report-path")
    def _submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            error = self.query_one("#report-error", Static)
            error.update("give a report path, e.g. reports/run.toml")
            return
        self.read(Path(text).expanduser())

    @work(group="read-report", exclusive=True)
    async def read(self, path: Path) -> None:
        try:
            review = await asyncio.to_thread(read_review, path)
        except ReportError as exc:
            self.query_one("#report-error", Static).update(str(exc))
            self.notify(str(exc), title="Cannot open the report", severity="error", timeout=10)
            return
        self.dismiss(review)

    def action_cancel(self) -> None:
        self.dismiss(None)
