"""The "hockey stick": latency percentiles and the error rate against the offered rate.

A plot over time shows when a run went wrong; this one shows at what load. A capacity
search's steps (`Snapshot.capacity_steps`) are its points, each marked on the bottom row
as held (●), failed (✗) or driven short by the generator (?), with a line at the highest
rate that held and one at the lowest that failed; a breakpoint run's points are its
timeline's intervals (the target rate then against their latency), the rate where a
threshold stopped it marked failed. Steps come in search order (up, then bisecting), so
the points are sorted by rate: the curve reads left to right whatever order found them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from engine.explore.model import CapacityStep
from engine.load.model import Row
from engine.load.states import StopCause, StopReason
from tui.app.widgets.plots import (
    GREEN,
    GREY,
    MAGENTA,
    RED,
    YELLOW,
    TimePlot,
    count_label,
    nice_ceiling,
    plain_len,
    rgb,
)

CAPACITY = "capacity"  # the test type that searches: its steps are this plot's points
RATE_TYPES = (CAPACITY, "breakpoint")  # test types whose question is a rate: this plot
_BROKE = frozenset({StopReason.THRESHOLD, StopReason.BREAKING_POINT})


def broke(cause: StopCause | None) -> bool:
    """Whether a threshold stopped the run (a breakpoint's end): its last rate failed."""
    return cause is not None and cause.kind in _BROKE


def rate_label(rate: float) -> str:
    """A rate in words: `4,200/s`, and `17.5/s` where a small one has a fraction."""
    whole = rate >= 100 or rate == round(rate)
    return f"{rate:,.0f}/s" if whole else f"{rate:.3g}/s"


def rate_ticks(top: float, most: int = 5) -> list[float]:
    """Round rates from 0 to `top`, at most `most` of them: a step of 1, 2, 2.5 or 5 times a
    power of ten (quarters of 25 read 6.25 and 18.75)."""
    exp = 10 ** math.floor(math.log10(max(top / (most - 1), 1e-9)))
    step = next(m * exp for m in (1, 2, 2.5, 5, 10) if top / (m * exp) <= most - 1)
    return [k * step for k in range(int(top / step + 1e-9) + 1)]


class Verdict(StrEnum):
    """How a point of the curve was judged."""

    HELD = "held"
    FAILED = "failed"
    LIMITED = "generator"  # the generator could not drive it: not the server's limit


@dataclass(frozen=True)
class RatePoint:
    """One point of the curve (latency in ms, error rate a fraction)."""

    rate: float  # offered iterations/s
    p50: float
    p95: float
    p99: float
    error_rate: float
    verdict: Verdict | None = None  # None: not judged on its own (a breakpoint's interval)


def step_points(steps: Sequence[CapacityStep]) -> list[RatePoint]:
    """A capacity search's steps as points, by rate (a repeated rate keeps each step)."""
    points = [
        RatePoint(
            s.rate,
            s.p50,
            s.p95,
            s.p99,
            s.error_rate,
            Verdict.LIMITED if s.generator_limited else Verdict.HELD if s.held else Verdict.FAILED,
        )
        for s in steps
    ]
    return sorted(points, key=lambda p: p.rate)


def timeline_points(rows: Sequence[Row], *, broke: bool = False) -> list[RatePoint]:
    """A ramp's intervals as points: the offered rate (the target) against their latency.
    `broke`: a threshold stopped the run, so its last interval is where it failed."""
    points = [
        RatePoint(r.target, r.p50, r.p95, r.p99, r.error_rate)
        for r in rows
        if r.requests and r.target > 0
    ]
    points.sort(key=lambda p: p.rate)
    if broke and points:
        last = max((r for r in rows if r.requests and r.target > 0), key=lambda r: r.t)
        at = max(i for i, p in enumerate(points) if p.rate == last.target)
        points[at] = RatePoint(
            last.target, last.p50, last.p95, last.p99, last.error_rate, Verdict.FAILED
        )
    return points


def edges(points: Sequence[RatePoint]) -> tuple[float | None, float | None]:
    """The highest rate that held and the lowest that failed (the generator's steps are
    neither: they say nothing of the server)."""
    held = [p.rate for p in points if p.verdict is Verdict.HELD]
    failed = [p.rate for p in points if p.verdict is Verdict.FAILED]
    return (max(held) if held else None, min(failed) if failed else None)


# How each verdict is marked on the bottom row: in colour, and without (NO_COLOR).
MARKS = {
    Verdict.HELD: ("●", "o", GREEN),
    Verdict.FAILED: ("✗", "x", RED),
    Verdict.LIMITED: ("?", "?", YELLOW),
}


class HockeyPlot(TimePlot):
    """Latency (log, left) and errors (%, right) against the offered rate, live: from the
    capacity steps given (`show_steps`), else from the timeline rows (a breakpoint run)."""

    TITLE = "latency (log) by offered rate/s"
    SHORT_TITLE = "by rate/s"
    LEGEND = (("p50", GREEN), ("p95", YELLOW), ("p99", RED), ("err %", MAGENTA))

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.steps: tuple[CapacityStep, ...] = ()
        self.broke = False  # a breakpoint run stopped by its threshold
        self.offered: float | None = None  # the rate offered now: a line while it runs

    def show_steps(self, steps: Sequence[CapacityStep], offered: float | None = None) -> None:
        """A capacity search's steps so far and the rate it offers now (None: done)."""
        self.steps = tuple(steps)
        self.offered = offered

    def points(self) -> list[RatePoint]:
        if self.steps:
            return step_points(self.steps)
        return timeline_points(self._rows, broke=self.broke)

    def legend_title(self) -> str:
        keys = super().legend_title()
        marks = " ".join(f"{self._mark(v)} {v}" for v in Verdict)
        room = self.size.width - 4
        both = f"{keys}  {marks}"
        return both if room <= 0 or plain_len(both) <= room else keys

    def _mark(self, verdict: Verdict) -> str:
        char, mono, color = MARKS[verdict]
        return mono if self.mono else f"[{color}]{char}[/]"

    def draw_axis(self) -> None:
        """The x axis is the offered rate, set with the points (draw_rows)."""

    def draw_rows(self, rows: Sequence[Row]) -> None:
        plt = self.plt
        points = self.points()
        right = max([p.rate for p in points] + [self.offered or 0.0, 1.0])
        top = nice_ceiling(right * 1.05)
        plt.xlim(0, top)
        ticks = rate_ticks(top)
        plt.xticks(ticks, [count_label(t) for t in ticks])
        self.latency_axis([v for p in points for v in (p.p50, p.p99)])
        worst = max((p.error_rate * 100 for p in points), default=0.0)
        err_top = self.sticky_max("err", worst, 5.0)
        plt.ylim(0, err_top, yside="right")
        plt.yticks([0.0, err_top], ["0%", f"{err_top:g}%"], yside="right")
        held, failed = edges(points)
        for rate, color in ((held, GREEN), (failed, RED), (self.offered, GREY)):
            if rate is not None:
                plt.vline(rate, color=rgb(color))
        xs = [p.rate for p in points]
        for i, (label, color) in enumerate(self.LEGEND[:3]):
            self.series(i, xs, [math.log10(max(getattr(p, label), 1e-3)) for p in points], color)
        self.series(3, xs, [p.error_rate * 100 for p in points], MAGENTA, yside="right")
        for verdict, (char, mono, color) in MARKS.items():
            marked = [p.rate for p in points if p.verdict is verdict]
            if marked:
                floor = [self._lo] * len(marked)
                plt.scatter(marked, floor, marker=mono if self.mono else char, color=rgb(color))
