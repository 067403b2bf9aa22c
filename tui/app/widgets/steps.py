"""Per-step figures, for profiles with several endpoints or a flow of steps."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table

from engine.load.model import Figures
from tui.app.widgets.figures import ms_or_none
from tui.app.widgets.panel import Panel


def steps_table(steps: Mapping[str, Figures]) -> Table:
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
    table.add_column("step", ratio=1, overflow="ellipsis", no_wrap=True)
    table.add_column("req/s", justify="right", no_wrap=True)
    table.add_column("p95", justify="right", no_wrap=True)
    table.add_column("err", justify="right", no_wrap=True)
    for name, f in steps.items():
        p95 = ms_or_none(f.latency.p95, f.requests)
        table.add_row(name, f"{f.rps:,.1f}", p95, f"{f.error_rate:.1%}")
    return table


class StepTable(Panel):
    """Hidden until there is more than one step to tell apart."""

    def on_mount(self) -> None:
        self.border_title = "steps"
        self.show({})

    def show(self, steps: Mapping[str, Figures]) -> None:
        self.set_shown(len(steps) > 1)
        if len(steps) > 1:
            self.set_content(steps_table(steps), len(steps) + 1)
