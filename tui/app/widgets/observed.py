"""The server's side, live: the observed series (`Snapshot.observed`) over run time.

Beside the latency, on the same time axis, so a bend in one reads against the other.
The series have units of their own (a CPU share, bytes, a rate), so each is drawn
against its own peak (0 at the bottom, its peak at the top) and the legend names
its last value in its unit: what moves together shows, and what it is reads off the
border. A series whose source stopped answering is marked ✗ there (the run goes on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engine.load.model import Row
from engine.observe.series import Series
from tui.app.widgets.plots import BLUE, CYAN, GREEN, GREY, MAGENTA, YELLOW, TimePlot, count_label

# Never red (errors) or orange (steering marks), as the scenarios' colours.
SERIES_COLORS = (CYAN, YELLOW, MAGENTA, GREEN, BLUE, GREY)
MOST = len(SERIES_COLORS)  # more are named as "+N" on the border, not drawn

_BINARY = (("T", 2**40), ("G", 2**30), ("M", 2**20), ("k", 2**10))


def value_label(value: float, unit: str) -> str:
    """A series' value in its unit, in a few characters: 85%, 1.2G, 340/s, 12."""
    if unit == "bytes":
        for prefix, size in _BINARY:
            if abs(value) >= size:
                return f"{value / size:.3g}{prefix}"
        return f"{value:.3g}B"
    if unit == "%":
        return f"{value:.3g}%"
    text = count_label(round(value, 1)) if abs(value) >= 1 else f"{value:.2g}"
    return f"{text}{unit}"


class ObservedPlot(TimePlot):
    """Each observed series against its own peak, over the run's time axis."""

    TITLE = "server (each to its peak)"
    SHORT_TITLE = "server"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.observed: dict[str, Series] = {}

    def set_series(self, observed: Mapping[str, Series]) -> None:
        """The series so far (drawn at the next show); the legend's values now."""
        self.observed = dict(observed)
        self.border_title = self.legend_title()

    def legend(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        keys = []
        for (name, s), color in zip(self.observed.items(), SERIES_COLORS, strict=False):
            last = f" {value_label(s.values[-1], s.unit)}" if s.values else ""
            keys.append((f"{name}{' ✗' if s.problem else last}", color))  # ✗: its source is down
        if len(self.observed) > MOST:
            keys.append((f"+{len(self.observed) - MOST}", GREY))
        return self.TITLE, tuple(keys)

    def draw_rows(self, rows: Sequence[Row]) -> None:
        plt = self.plt
        plt.ylim(0, 1.0)
        plt.yticks([0.0, 1.0], ["0", "peak"])
        for i, (s, color) in enumerate(zip(self.observed.values(), SERIES_COLORS, strict=False)):
            peak = max((abs(v) for v in s.values), default=0.0) or 1.0
            self.series(i, s.times, [v / peak for v in s.values], color, worst=False)
