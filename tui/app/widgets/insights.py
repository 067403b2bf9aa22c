"""Findings, live: why the run is breaking, each at its time and rate, as they come.

Hidden until the first one: most runs have none, and the side panel's rows are dear
at 80x24. The newest is last, as the report lists them.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from engine.durations import clock
from engine.explore.model import Insight, InsightKind
from tui.app.widgets.hockey import rate_label
from tui.app.widgets.panel import Panel

# A finding about Surge itself is not the server's: said in another colour.
STYLES = {InsightKind.GENERATOR: "yellow", InsightKind.ERRORS: "red"}


def insight_head(insight: Insight) -> str:
    """`0:42 420/s knee`: when, at what rate, what kind."""
    rate = f" {rate_label(insight.rate)}" if insight.rate is not None else ""
    return f"{clock(insight.at)}{rate} {insight.kind}"


def insights_text(insights: Sequence[Insight]) -> Text:
    out = Text()
    for insight in insights:
        if out:
            out.append("\n")
        out.append(insight_head(insight), style=f"bold {STYLES.get(insight.kind, '')}".strip())
        out.append(f"\n {insight.text}", style="dim")
    return out


class InsightList(Panel):
    """The run's findings so far (`Snapshot.insights`)."""

    def on_mount(self) -> None:
        self.border_title = "findings"
        self.show(())

    def show(self, insights: Sequence[Insight]) -> None:
        self.set_shown(bool(insights))
        if insights:
            text = insights_text(insights)
            self.set_content(text, text.plain.count("\n") + 1)
