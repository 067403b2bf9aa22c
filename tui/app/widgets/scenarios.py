"""One row per scenario of a run (k6's `options.scenarios`), and the row `all` above them.

The row the cursor is on is what `p`, `+`, `-` and `t` steer: one scenario, or every
one when `all` is selected. Rows are updated in place (cell by cell, keyed by name),
so the cursor stays where the user put it while the figures change every interval.
Only a run of several has one: a run of one has its figures beside the plots.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.actions import SkipAction
from textual.widgets import DataTable

from engine.load.model import ScenarioRow
from tui.app.widgets.figures import NO_DATA, in_ms

ALL = "all"  # the first row: every scenario at once (a scenario name never has a space)
# What a scenario's executor reads as at 80 columns; wide, its whole k6 name.
SHORT_EXECUTORS = {
    "constant-arrival-rate": "const rate",
    "ramping-arrival-rate": "ramp rate",
    "constant-vus": "const VUs",
    "ramping-vus": "ramp VUs",
    "per-vu-iterations": "per-VU iters",
    "shared-iterations": "shared iters",
}
STATE_STYLES = {"waiting": "dim", "running": "green", "done": "bold"}
COLUMNS = ("scenario", "executor", "state", "VUs", "req/s", "iters", "drop", "p95", "err")
WIDE = 100  # from this width the executor's whole name fits


def executor_label(name: str, wide: bool) -> str:
    return name if wide else SHORT_EXECUTORS.get(name, name)


def scenario_cells(row: ScenarioRow, wide: bool, color: str) -> tuple[Text | str, ...]:
    """A scenario's row: its name in its plot colour, the figures as the side panel writes
    them (`–` for a p95 nothing measured yet)."""
    name = Text(row.name, style=f"bold {color}")
    state = Text(row.state, style=STATE_STYLES.get(row.state, ""))
    measured = row.iterations > 0 or row.rps > 0
    return (
        name,
        executor_label(row.executor, wide),
        state,
        f"{row.vus:,}",
        f"{row.rps:,.1f}",
        f"{row.iterations:,}",
        f"{row.dropped:,}",
        in_ms(row.p95_ms) if measured and row.p95_ms > 0 else NO_DATA,
        f"{row.error_rate:.1%}" if measured else NO_DATA,
    )


def total_cells(rows: Sequence[ScenarioRow]) -> tuple[Text | str, ...]:
    """The row `all`: VUs, rates, iterations and drops add up; a p95 does not, so none."""
    running = sum(r.state == "running" for r in rows)
    return (
        Text(ALL, style="bold"),
        f"{len(rows)} scenarios",
        f"{running} running",
        f"{sum(r.vus for r in rows):,}",
        f"{sum(r.rps for r in rows):,.1f}",
        f"{sum(r.iterations for r in rows):,}",
        f"{sum(r.dropped for r in rows):,}",
        "",
        "",
    )


class ScenarioTable(DataTable[Text | str]):
    """The scenarios of a live run; `selected` is the one the cursor is on (None: all)."""

    DEFAULT_CSS = """
    ScenarioTable {
        height: auto;
        max-height: 8;
    }
    """

    def __init__(
        self, names: Sequence[str], colors: Sequence[str], *, id: str | None = None
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=1)
        self.names = tuple(names)
        self.scenario_colors = dict(zip(names, colors, strict=True))
        self._rows: tuple[ScenarioRow, ...] = ()

    def on_mount(self) -> None:
        for label in COLUMNS:
            self.add_column(label, key=label)
        waiting = (f"{len(self.names)} scenarios", "ready", *[""] * (len(COLUMNS) - 3))
        self.add_row(Text(ALL, style="bold"), *waiting, key=ALL)
        for name in self.names:
            self.add_row(Text(name), *([""] * (len(COLUMNS) - 1)), key=name)

    def action_select_cursor(self) -> None:
        """Enter is the screen's (it starts the run): a row is picked by the cursor alone."""
        raise SkipAction()

    @property
    def selected(self) -> str | None:
        """The scenario the cursor is on; None for the row `all` (or no scenarios)."""
        if not self.names or self.cursor_row <= 0:
            return None
        return self.names[min(self.cursor_row - 1, len(self.names) - 1)]

    def show(self, rows: Sequence[ScenarioRow]) -> None:
        """Each known scenario's cells, updated in place; the row `all` from them."""
        self._rows = tuple(rows)
        wide = self.size.width >= WIDE
        for label, cell in zip(COLUMNS, total_cells(self._rows), strict=True):
            self.update_cell(ALL, label, cell, update_width=True)
        for row in self._rows:
            cells = scenario_cells(row, wide, self.scenario_colors[row.name])
            for label, cell in zip(COLUMNS, cells, strict=True):
                self.update_cell(row.name, label, cell, update_width=True)

    def on_resize(self) -> None:
        """The executor's name, short or whole, follows the width."""
        if self._rows:
            self.show(self._rows)
