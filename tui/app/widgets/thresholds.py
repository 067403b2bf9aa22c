"""Thresholds, live: ✓/✗ and the observed value, so the goal is judged as the run goes."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from engine.load.model import ThresholdState
from tui.app.widgets.panel import Panel


def thresholds_text(states: Sequence[ThresholdState]) -> Text:
    if not states:
        return Text("no thresholds: the run cannot fail", style="dim")
    out = Text()
    for key in dict.fromkeys(s.threshold.key for s in states):
        if out:
            out.append("\n")
        out.append(key, style="bold")
        for s in states:
            if s.threshold.key != key:
                continue
            if s.observed is None and s.ok:
                mark, style = "·", "dim"  # not judged yet: no data for this metric
            else:
                mark, style = ("✓", "green") if s.ok else ("✗", "bold red")
            out.append("\n ")
            out.append(mark, style=style)
            out.append(f" {s.threshold.expression}")
            if s.threshold.abort_on_fail:
                out.append(" ⚑", style="yellow")
            out.append(f"  {s.describe_observed()}", style="dim" if s.ok else "red")
    return out


class ThresholdList(Panel):
    """The run's pass/fail criteria; ⚑ marks abortOnFail (the run stops when it fails)."""

    def on_mount(self) -> None:
        self.border_title = "thresholds"
        self.show(())

    def show(self, states: Sequence[ThresholdState]) -> None:
        text = thresholds_text(states)
        self.set_content(text, text.plain.count("\n") + 1)
        self.set_class(any(not s.ok for s in states), "-failing")
