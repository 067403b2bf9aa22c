"""A side panel updated every interval: relayout only when its height changes.

A Static relayouts the whole screen on each update by default; with a dozen
updates a second on a screen of plots, that was most of the UI's time. These
panels know their line count, so an update that keeps it only repaints.
"""

from __future__ import annotations

from rich.console import RenderableType
from textual.widgets import Static


class Panel(Static):
    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._lines = -1

    def set_content(self, content: RenderableType, lines: int) -> None:
        """`lines`: the content's height; a different one from last time relayouts."""
        self.update(content, layout=lines != self._lines)
        self._lines = lines

    def set_shown(self, shown: bool) -> None:
        if self.display != shown:
            self.display = shown
