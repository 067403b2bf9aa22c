"""Status codes and named error kinds, counted (a SUT failure is data, not a traceback)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from engine.load.model import Figures
from tui.app.widgets.panel import Panel


def status_table(totals: Figures | None) -> Table | Text:
    if totals is None or (not totals.status and not totals.errors):
        return Text("no responses yet", style="dim")
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
    table.add_column("response", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("share", justify="right", no_wrap=True)
    total = max(totals.requests, 1)
    for code, n in totals.status.items():
        ok = 200 <= code < 400
        table.add_row(
            Text(f"{'✓' if ok else '✗'} {code}", style="" if ok else "bold red"),
            f"{n:,}",
            f"{n / total:.1%}",
        )
    for kind, n in totals.errors.items():
        table.add_row(Text(f"✗ {kind}", style="red"), f"{n:,}", f"{n / total:.1%}")
    return table


class StatusTable(Panel):
    """Status codes first, then error kinds (http 5xx, connection refused, timeout...)."""

    def on_mount(self) -> None:
        self.border_title = "status & errors"
        self.show(None)

    def show(self, totals: Figures | None) -> None:
        content = status_table(totals)
        self.set_content(content, content.row_count + 1 if isinstance(content, Table) else 1)
