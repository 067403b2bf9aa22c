"""Surge's own CPU: a saturated generator measures its own delay, so it must say so."""

from __future__ import annotations

from collections.abc import Sequence

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

    def show(
        self,
        cpu: float | None,
        workers: int = 1,
        nodes: Sequence[str] = (),
        per_worker: Sequence[float] = (),
    ) -> None:
        """`nodes` (a Ray cluster's, one per worker) adds the busiest CPU of each machine."""
        if cpu is None:
            self._put(Text("CPU –", style="dim"))
            self.set_class(False, "-warning")
            return
        hot = cpu > CPU_WARN
        self.set_class(hot, "-warning")
        label = f"{workers} workers " if workers > 1 else ""
        if nodes:
            busiest: dict[str, float] = {}
            for node, c in zip(nodes, per_worker, strict=False):
                busiest[node] = max(busiest.get(node, 0.0), c)
            each = ", ".join(f"{node} {c:.0f}%" for node, c in busiest.items())
            label = f"{workers} workers on {len(busiest)} nodes ({each}) "
        if hot:
            self._put(Text(f"⚠ {label}CPU {cpu:.0f}%: generator saturated", style="bold"))
        else:
            self._put(Text(f"{label}CPU {cpu:.0f}%"))
