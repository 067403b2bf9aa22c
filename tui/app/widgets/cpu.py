"""Surge's own CPU: a saturated generator measures its own delay, so it must say so."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from engine.report.summary import CPU_WARN


class CpuIndicator(Static):
    """The busiest worker's CPU; above 90% it turns into a warning (as Locust does)."""

    def on_mount(self) -> None:
        self._width = -1
        self.show(None)

    def _put(self, text: Text) -> None:
        self.update(text, layout=text.cell_len != self._width)  # width: auto
        self._width = text.cell_len

    def show(self, cpu: float | None, workers: int = 1) -> None:
        if cpu is None:
            self._put(Text("CPU –", style="dim"))
            self.set_class(False, "-warning")
            return
        hot = cpu > CPU_WARN
        self.set_class(hot, "-warning")
        label = f"{workers} workers " if workers > 1 else ""
        if hot:
            self._put(Text(f"⚠ {label}CPU {cpu:.0f}%: generator saturated", style="bold"))
        else:
            self._put(Text(f"{label}CPU {cpu:.0f}%"))
