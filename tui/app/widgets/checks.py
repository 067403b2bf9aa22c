"""Checks with their pass rates (a check never fails a run by itself)."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table
from rich.text import Text

from tui.app.widgets.panel import Panel


def checks_table(checks: Mapping[str, tuple[int, int]]) -> Table | Text:
    if not checks:
        return Text("no checks", style="dim")
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False, show_header=False)
    table.add_column("check", ratio=1, overflow="ellipsis", no_wrap=True)
    table.add_column("rate", justify="right", no_wrap=True)
    for name, (passed, failed) in checks.items():
        total = passed + failed
        ok = failed == 0
        table.add_row(
            Text(f"{'✓' if ok else '✗'} {name}", style="" if ok else "red"),
            f"{passed / total:.2%}" if total else "–",
        )
    return table


class ChecksList(Panel):
    def on_mount(self) -> None:
        self.border_title = "checks"
        self.show({})

    def show(self, checks: Mapping[str, tuple[int, int]]) -> None:
        content = checks_table(checks)
        self.set_content(content, content.row_count if isinstance(content, Table) else 1)
