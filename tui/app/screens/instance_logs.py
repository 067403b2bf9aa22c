"""The instances Surge started from recipes (`L` on the run screen): each one's address,
pid and state, and the tail of the highlighted one's log file, refreshed while open.

The table and the log are read again twice a second (tui.app.instances); the log is
redrawn only when its file changed, so a quiet instance costs a `stat`.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Log, Static

from engine.deploy.fleet import Fleet
from tui.app.instances import TAIL_LINES, InstanceRow, instance_rows, tail

__all__ = ["InstanceLogScreen"]

REFRESH_S = 0.5


class InstanceLogScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,L", "close", "Back", id="logs.back"),
    ]

    def __init__(self, fleet: Fleet) -> None:
        super().__init__()
        self.fleet = fleet
        self.rows: list[InstanceRow] = []
        self.selected: str | None = None
        self._shown: tuple[Path, float, int] | None = None  # the log drawn: path, mtime, size

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield DataTable(id="instances", cursor_type="row", zebra_stripes=True)
        yield Static("", id="instance-log-title", markup=False)
        yield Log(id="instance-log", max_lines=TAIL_LINES, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"instances · logs in {self.fleet.launcher.log_dir}"
        table = self.query_one(DataTable)
        table.add_columns("instance", "address", "pid", "state")
        self.refresh_rows()
        self.set_interval(REFRESH_S, self.refresh_rows)
        table.focus()

    def refresh_rows(self) -> None:
        rows = instance_rows(self.fleet)
        if rows != self.rows:
            self.rows = rows
            table = self.query_one(DataTable)
            table.clear()
            for r in rows:
                pid = "" if r.pid is None else str(r.pid)
                table.add_row(r.name, r.address or "-", pid, r.state, key=r.name)
            names = [r.name for r in rows]
            if self.selected in names:
                table.move_cursor(row=names.index(self.selected))
            elif rows:
                self.selected = rows[0].name
        self._show_log()

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value
        if name is not None and name != self.selected:
            self.selected = name
            self._show_log()

    def _show_log(self) -> None:
        row = next((r for r in self.rows if r.name == self.selected), None)
        title = self.query_one("#instance-log-title", Static)
        if row is None:
            title.update("no instance has started yet")
            return
        try:
            st = row.log.stat()
            seen = (row.log, st.st_mtime, st.st_size)
        except OSError:
            seen = (row.log, 0.0, 0)
        if seen == self._shown:
            return
        self._shown = seen
        title.update(f"{row.name}, last {TAIL_LINES} lines of {row.log}")
        log = self.query_one(Log)
        log.clear()
        log.write_lines(tail(row.log) or ["(nothing written yet)"])

    def action_close(self) -> None:
        self.app.pop_screen()
