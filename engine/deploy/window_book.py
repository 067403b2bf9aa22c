"""The deploy driver's window book: each color's figures per step window, and its rows.

Each color's window is its cumulative Mark now minus at the window's start
(engine.deploy.marks says why). A judged window becomes a row of the report's
`[deploy]` at the weights it ran at, not the weights its verdict then sets.
"""

from __future__ import annotations

from collections import deque

from engine.deploy.marks import ColorLive, FiguresSource, Mark, RunFigures
from engine.deploy.record import step_row
from engine.deploy.strategies import ColorFigures, Event, Weights
from engine.deploy.strategies.traffic import MirrorCounts
from engine.report.deploy_section import StepRow

__all__ = ["HISTORY", "WindowBook"]

HISTORY = 600  # per-color points kept for the plots (one per snapshot)


class WindowBook:
    """Per color: the last snapshot's figures (`live`, for the plots), the window being
    judged (`window`), and every judged window so far (`rows`). A cohort's key
    (`green+beta`, engine.deploy.marks.selects) is a color of its own here; a mirror
    step's pairs (`mirror`, the router's counters by difference) are set by the driver."""

    def __init__(self, colors: tuple[str, ...], source: FiguresSource, weights: Weights) -> None:
        self.colors = colors
        self.source = source
        self.live: dict[str, deque[ColorLive]] = {c: deque(maxlen=HISTORY) for c in colors}
        self.window: dict[str, ColorFigures] = {c: ColorFigures() for c in colors}
        self.rows: list[StepRow] = []
        self._marks: dict[str, Mark] = {c: Mark() for c in colors}  # cumulative, last seen
        self._base: dict[str, Mark] = dict(self._marks)  # ... at the window's start
        self._window: dict[str, Mark] = dict(self._marks)  # the window so far
        self._t0 = 0.0  # when the window started (seconds since the rollout's clock start)
        self._weights = weights  # the weights the window runs at
        self.mirror: MirrorCounts | None = None  # the mirror's pairs in the window

    def observe(self, run: RunFigures | None, t: float) -> None:
        """Once per snapshot, `t` seconds in: each color's live point and window."""
        for color in self.colors:
            mark = self.source(run, color, t)
            delta = mark.since(self._marks[color])
            if delta.t > 0:
                self.live[color].append(ColorLive.of(t, delta))
            self._marks[color] = mark
            self.put(color, mark.since(self._base[color]))

    def put(self, color: str, window: Mark) -> None:
        """A color's window from elsewhere (green's, while a smoke run judges it)."""
        self._window[color] = window
        self.window[color] = window.figures()

    def new_window(self, t: float, weights: Weights) -> None:
        self._base = dict(self._marks)
        self._window = {c: Mark() for c in self.colors}
        self.window = {c: ColorFigures() for c in self.colors}
        self._t0 = t
        self._weights = weights
        self.mirror = None

    def row(self, verdict: Event, at: float) -> StepRow:
        """The window a verdict judged, `at` seconds in, on record."""
        window_s = max(0.0, at - self._t0)
        row = step_row(verdict, at, self._weights, window_s, self._window, self.mirror)
        self.rows.append(row)
        return row
