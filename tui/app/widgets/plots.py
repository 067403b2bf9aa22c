"""Time plots of a run (latency, throughput and errors, load) and the load-shape preview.

Building a plotext figure costs tens of milliseconds, so a plot never redraws per
message: `show()` stores the data and the figure is rebuilt at most every
REDRAW_S (4 Hz), or less often when the caller asks (the run screen backs off while
the generator is saturated: the display then competes with the load for a core).
A pending redraw is one timer, not a polling interval: an idle plot costs no
wake-ups. Axes are fixed or only ever widen, so the picture does not jump
between redraws; latency is plotted as log10(ms) on a linear axis labelled in
ms, because plotext's own log scale breaks on repeated builds.

A plot may also draw a base run (`set_base`, a saved report to compare with) on
the same axes, time aligned from each run's start: dotted and dimmed in colour,
with markers of its own without, and named "(base)" on the bottom border.

Steering by hand (a pause, a new target) is marked by a vertical line at its time
(`show(..., marks=...)`), so a bend in the lines reads as the user's, not the system's.

A run of several scenarios (`show(..., lanes=...)`, each scenario's own timeline) draws
the latency (p95), rate and VU plots one line per scenario, in the scenario's colour
and named in the legend, with a vertical line of that colour where it starts and where
it ends (`spans`): whose load a bend is reads off the plot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from time import monotonic

from textual.timer import Timer
from textual_plotext import PlotextPlot

from engine.durations import clock
from engine.load.model import Row
from engine.report.summary import tick_label

REDRAW_S = 0.25

# In colour each series has its colour; without (NO_COLOR) its own marker.
# Colours are RGB, not ANSI names: named colours go through the terminal's (and
# the theme's) ANSI palette and came out differently from run to run.
GREEN = "#50c878"
CYAN = "#5ab4e6"
YELLOW = "#e6be3c"
RED = "#eb5a5a"
BLUE = "#6496ff"
MAGENTA = "#c86ee6"
GREY = "#c8c8c8"
ORANGE = "#e68c3c"  # steering marks: no series has it
_COLOR_MARKER = "braille"
_MONO_MARKERS = ("•", "+", "x", "#")
_BASE_COLOR_MARKER = "·"  # character resolution: a dotted line beside the braille ones
_BASE_MONO_MARKERS = ("o", "*", "%", "@")
_BASE_SHADE = 0.6  # a base series' colour: this much of its own, the rest dark grey
# One colour per scenario, in the plan's order (the scenario table names them in it too):
# never red (errors) or orange (steering).
SCENARIO_COLORS = (CYAN, GREEN, YELLOW, MAGENTA, BLUE, GREY)


def scenario_color(index: int) -> str:
    return SCENARIO_COLORS[index % len(SCENARIO_COLORS)]


_STEPS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def rgb(hex_color: str) -> tuple[int, int, int]:
    """plotext takes RGB tuples; the legend (Textual markup) takes the same colour as hex."""
    value = int(hex_color.lstrip("#"), 16)
    return (value >> 16 & 255, value >> 8 & 255, value & 255)


def dimmed(hex_color: str) -> str:
    """The base run's shade of a series colour: the same hue, plainly the older line."""
    r, g, b = (round(c * _BASE_SHADE + 0x30 * (1 - _BASE_SHADE)) for c in rgb(hex_color))
    return f"#{r:02x}{g:02x}{b:02x}"


def nice_ceiling(value: float) -> float:
    """The next round step at or above value, so an axis grows in steps, not every tick."""
    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for m in _STEPS:
        if value <= m * 10**exp + 1e-12:
            return m * 10**exp
    return 10 ** (exp + 1)


# Steps of a time axis, in seconds: each reads as a round clock time (0:05, 0:30, 2:00).
_TIME_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)


def time_ticks(right: float, most: int = 5) -> list[float]:
    """Round clock times from 0 to `right`, at most `most` of them (quarters of 48 s read
    0:12 0:24 0:36 but quarters of 15 s read 0:04 0:08 0:11): a step from _TIME_STEPS."""
    if right <= 0:
        return [0.0]
    step = next((s for s in _TIME_STEPS if right / s <= most - 1), None)
    if step is None:
        step = math.ceil(right / (most - 1) / 3600) * 3600
    return [float(k * step) for k in range(int(right // step) + 1)]


def count_label(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def thin(
    xs: Sequence[float], ys: Sequence[float], n: int, worst: bool = True
) -> tuple[list[float], list[float]]:
    """At most n points, one per group of neighbours: the group's worst (max) or mean.

    A figure costs ~0.15 ms per plotted point and a plot has only about two
    braille dots per column, so points past its width cost time and show nothing;
    keeping each group's maximum keeps spikes visible.
    """
    if len(xs) <= n or n < 1:
        return list(xs), list(ys)
    out_x: list[float] = []
    out_y: list[float] = []
    step = len(xs) / n
    for i in range(n):
        lo, hi = int(i * step), max(int((i + 1) * step), int(i * step) + 1)
        group = ys[lo:hi]
        out_x.append(xs[hi - 1])
        out_y.append(max(group) if worst else sum(group) / len(group))
    return out_x, out_y


class TimePlot(PlotextPlot):
    """A plot of timeline rows against run time, redrawn on a throttle."""

    DEFAULT_CSS = """
    TimePlot {
        height: 1fr;
        min-height: 5;
    }
    """

    LEGEND: tuple[tuple[str, str], ...] = ()  # (label, colour) per series, in plot order
    BASE_LABELS: tuple[str, ...] = ()  # the series a base run also draws
    TITLE = ""
    SHORT_TITLE = ""  # the title when the whole legend would not fit on the border

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._rows: Sequence[Row] = ()
        self._x_max = 10.0
        self._planned = 0.0
        self._drawn_at = -math.inf
        self._pending: Timer | None = None
        self._y_max: dict[str, float] = {}
        self.base: Sequence[Row] = ()
        self.marks: Sequence[float] = ()  # run times of steering by hand
        self.lanes: Mapping[str, Sequence[Row]] = {}  # each scenario's timeline, by name
        self.scenario_colors: Mapping[str, str] = {}  # each scenario's colour
        self.spans: Sequence[tuple[float, str]] = ()  # (run time, colour): starts and ends
        self._lo = 0.0  # a latency axis (latency_axis): log10 of 1 ms
        self._hi = 2.0  # log10 of 100 ms

    def set_scenarios(self, names: Sequence[str]) -> None:
        """The run's scenarios, in the plan's order: their colours, for lines and legends."""
        self.scenario_colors = {name: scenario_color(i) for i, name in enumerate(names)}

    @property
    def by_scenario(self) -> bool:
        """Lines per scenario: a run of more than one, once their timelines arrive."""
        return len(self.scenario_colors) > 1 and bool(self.lanes)

    def on_mount(self) -> None:
        self.border_title = self.legend_title()
        self.border_subtitle = self.base_legend_title()
        self._draw()
        if not self._rows:
            self._drawn_at = -math.inf  # empty axes: the first data still draws at once

    def on_resize(self) -> None:
        """Thinning depends on the width: redraw at the new size (soon, not per event).

        The legend too: on a narrow plot it takes its short words, so every series
        keeps its name (`p50 p90 p95 p99`, never `p5…`)."""
        self.border_title = self.legend_title()
        self.border_subtitle = self.base_legend_title()
        self._redraw_within(REDRAW_S)

    @property
    def mono(self) -> bool:
        return bool(getattr(self.app, "no_color", False))

    def marker(self, index: int, base: bool = False) -> str:
        if not self.mono:
            return _BASE_COLOR_MARKER if base else _COLOR_MARKER
        markers = _BASE_MONO_MARKERS if base else _MONO_MARKERS
        return markers[index % len(markers)]

    def legend(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The title and the (label, colour) of each series, in plot order."""
        return self.TITLE, self.LEGEND

    def short_title(self) -> str:
        return self.SHORT_TITLE or self.legend()[0]

    def legend_title(self) -> str:
        """The title and every series' key; on a narrow border the short title, or none."""
        title, series = self.legend()
        parts = [self._key(i, label, color) for i, (label, color) in enumerate(series)]
        keys = " ".join(parts)
        room = self.size.width - 4  # the corners and a space each side
        for head in (title, self.short_title(), ""):
            text = f"{head}  {keys}" if head and keys else head or keys
            if room <= 0 or plain_len(text) <= room:
                return text
        return keys

    def base_legend_title(self) -> str:
        """The base run's series, on the bottom border: the top one is full already."""
        if not self.base:
            return ""
        _, series = self.legend()
        return " ".join(
            self._key(i, f"{label} (base)", color, base=True)
            for i, (label, color) in enumerate(series)
            if label in self.BASE_LABELS
        )

    def _key(self, index: int, label: str, color: str, base: bool = False) -> str:
        if self.mono:
            return f"{self.marker(index, base)}{label}"
        line = "┄" if base else "━"
        return f"[{dimmed(color) if base else color}]{line}[/] {label}"

    def show(
        self,
        rows: Sequence[Row],
        planned: float = 0.0,
        every: float = REDRAW_S,
        marks: Sequence[float] = (),
        lanes: Mapping[str, Sequence[Row]] | None = None,
        spans: Sequence[tuple[float, str]] = (),
    ) -> None:
        """New data; drawn now if the last draw is `every` seconds old, else then.
        `lanes`: each scenario's timeline; `spans`: where each starts and ends."""
        self._rows = rows
        self._planned = planned
        self.marks = marks
        self.spans = spans
        if lanes is not None:
            had = self.by_scenario
            self.lanes = {name: lanes[name] for name in self.scenario_colors if name in lanes}
            if self.by_scenario != had:
                self.border_title = self.legend_title()
        self._redraw_within(every)

    def _redraw_within(self, every: float) -> None:
        wait = every - (monotonic() - self._drawn_at)
        if wait <= 0:
            self._draw()
        elif self._pending is None:
            self._pending = self.set_timer(wait, self._draw)

    def set_base(self, rows: Sequence[Row]) -> None:
        """A base run to draw beside this one (no rows: none); axes widen to fit both."""
        self.base = rows
        self._y_max.clear()
        self.border_subtitle = self.base_legend_title()
        self._draw()

    def series(
        self,
        index: int,
        xs: Sequence[float],
        ys: Sequence[float],
        color: str,
        *,
        worst: bool = True,
        yside: str | None = None,
        base: bool = False,
    ) -> None:
        """Plot one series, thinned to the plot's width (groups keep their worst or mean)."""
        if not xs:
            return
        px, py = thin(xs, ys, max(self.size.width - 8, 20), worst=worst)
        shade = rgb(dimmed(color) if base else color)
        self.plt.plot(px, py, marker=self.marker(index, base), color=shade, yside=yside)

    def sticky_max(self, key: str, value: float, floor: float = 1.0) -> float:
        """An upper limit that only grows (in round steps)."""
        top = max(self._y_max.get(key, floor), nice_ceiling(value))
        self._y_max[key] = top
        return top

    def _draw(self) -> None:
        if self._pending is not None:
            self._pending.stop()
            self._pending = None
        self._drawn_at = monotonic()
        plt = self.plt
        plt.clear_data()
        plt.frame(False)
        plt.xfrequency(5)
        self.draw_axis()
        self.draw_rows(self._rows)
        self.refresh()

    def draw_axis(self) -> None:
        """The time axis, planned or widening, with the scenarios' spans and the steering
        marks on it (under the series, which draw over them)."""
        plt = self.plt
        last_t = max(rows[-1].t if rows else 0.0 for rows in (self._rows, self.base))
        if self._planned > 0 and last_t <= self._planned * 1.05:
            self._x_max = max(self._planned, 1.0)
        else:
            self._x_max = max(self._x_max, nice_ceiling(max(last_t, 10.0)))
        plt.xlim(0, self._x_max)
        ticks = time_ticks(self._x_max)
        plt.xticks(ticks, [clock(t) for t in ticks])
        for t, color in dict.fromkeys(self.spans):  # a scenario's start and end
            if 0 < t < self._x_max:
                plt.vline(t, color=rgb(color))
        for t in dict.fromkeys(self.marks):
            plt.vline(t, color=rgb(ORANGE))

    def draw_rows(self, rows: Sequence[Row]) -> None:
        raise NotImplementedError

    def latency_axis(self, values: Sequence[float]) -> None:
        """A y axis of log10(ms) that only widens, in decades (with 2x and 5x while few
        decades show and each label gets a row of its own)."""
        plt = self.plt
        shown = [v for v in values if v > 0]
        if shown:
            self._lo = min(self._lo, math.floor(math.log10(min(shown))))
            self._hi = max(self._hi, math.ceil(math.log10(max(shown))))
        plt.ylim(self._lo, self._hi)
        ticks = [float(k) for k in range(int(self._lo), int(self._hi) + 1)]
        if len(ticks) <= 3:  # few decades: add 2x and 5x so the axis still reads
            finer = sorted(
                {
                    t + math.log10(m)
                    for t in ticks
                    for m in (1, 2, 5)
                    if t + math.log10(m) <= self._hi
                }
            )
            # ...if each gets a row of its own: plotext picks among labels that share a
            # row arbitrarily (differently from one process to the next), which at 80x24
            # (a plot of 4 rows) made the run screen differ between two runs.
            if len(finer) <= max(self.size.height - 3, 1):
                ticks = finer
        plt.yticks(ticks, [tick_label(10**t) for t in ticks])


class LatencyPlot(TimePlot):
    TITLE = "latency (log)"
    SHORT_TITLE = "latency"
    LEGEND = (("p50", GREEN), ("p90", CYAN), ("p95", YELLOW), ("p99", RED))
    BASE_LABELS = ("p95", "p99")  # the tails a comparison judges; eight lines would blur

    def legend(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        if self.by_scenario:
            return "p95 (log)", tuple(self.scenario_colors.items())
        return self.TITLE, self.LEGEND

    def short_title(self) -> str:
        return "p95" if self.by_scenario else self.SHORT_TITLE

    def draw_rows(self, rows: Sequence[Row]) -> None:
        live = [r for r in rows if r.requests]
        base = [r for r in self.base if r.requests]
        lanes = {name: [r for r in lane if r.requests] for name, lane in self.lanes.items()}
        self.latency_axis([v for r in (*live, *base) for v in (r.p50, r.p99)])
        if self.by_scenario:
            for i, (name, lane) in enumerate(lanes.items()):
                self.series(
                    i, [r.t for r in lane], _log_ms(lane, "p95"), self.scenario_colors[name]
                )
            return
        for i, (label, color) in enumerate(self.LEGEND):
            self.series(i, [r.t for r in live], _log_ms(live, label), color)
            if label in self.BASE_LABELS:
                self.series(i, [r.t for r in base], _log_ms(base, label), color, base=True)


def plain_len(markup: str) -> int:
    """A border title's width on screen: its Textual markup tags take no columns."""
    return len(re.sub(r"\[[^\]]*\]", "", markup))


def _log_ms(rows: Sequence[Row], column: str) -> list[float]:
    return [math.log10(max(getattr(r, column), 1e-3)) for r in rows]


class ThroughputPlot(TimePlot):
    TITLE = "requests/s, errors % (right)"
    SHORT_TITLE = "req/s, err % (right)"
    LEGEND = (("req/s", BLUE), ("errors", RED))
    BASE_LABELS = ("req/s", "errors")

    def legend(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        if self.by_scenario:
            return "req/s, err % (right)", (*self.scenario_colors.items(), ("errors", RED))
        return self.TITLE, self.LEGEND

    def short_title(self) -> str:
        return "req/s" if self.by_scenario else self.SHORT_TITLE

    def draw_rows(self, rows: Sequence[Row]) -> None:
        plt = self.plt
        both = (*rows, *self.base)
        rps_top = self.sticky_max("rps", max((r.rps for r in both), default=0.0), 10.0)
        err_top = self.sticky_max("err", max((r.error_rate * 100 for r in both), default=0.0), 5.0)
        plt.ylim(0, rps_top)
        plt.ylim(0, err_top, yside="right")
        ticks = [0.0, rps_top / 2, rps_top]
        plt.yticks(ticks, [count_label(t) for t in ticks])
        eticks = [0.0, err_top]
        plt.yticks(eticks, [f"{t:g}%" for t in eticks], yside="right")
        if self.by_scenario:
            for i, (name, lane) in enumerate(self.lanes.items()):
                rps = [r.rps for r in lane]
                self.series(i, [r.t for r in lane], rps, self.scenario_colors[name], worst=False)
            errors = [r.error_rate * 100 for r in rows]
            self.series(len(self.lanes), [r.t for r in rows], errors, RED, yside="right")
            return
        for run, base in ((rows, False), (self.base, True)):
            xs = [r.t for r in run]
            self.series(0, xs, [r.rps for r in run], BLUE, worst=False, base=base)
            errors = [r.error_rate * 100 for r in run]
            self.series(1, xs, errors, RED, yside="right", base=base)


class LoadPlot(TimePlot):
    """Active VUs against their target, or, open model, achieved against target rate."""

    TITLE = "VUs"
    LEGEND = (("active", MAGENTA), ("target", GREY))
    BASE_LABELS = ("active", "achieved")  # what the run did; its target was only a plan

    def __init__(
        self, *, open_model: bool = False, id: str | None = None, classes: str | None = None
    ) -> None:
        self.open_model = open_model
        super().__init__(id=id, classes=classes)

    def legend(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        if self.by_scenario:  # each one's VUs: targets in VUs and rates do not add
            return self.TITLE, tuple(self.scenario_colors.items())
        if self.open_model:
            return "iterations/s", (("achieved", MAGENTA), ("target", GREY))
        return self.TITLE, self.LEGEND

    def short_title(self) -> str:
        return "iter/s" if self.open_model else self.TITLE

    def achieved(self, rows: Sequence[Row]) -> list[float]:
        if self.open_model:
            return [r.iterations / r.dt if r.dt > 0 else 0.0 for r in rows]
        return [float(r.vus) for r in rows]

    def achieved_at(self, rows: Sequence[Row]) -> list[float]:
        """Where an achieved figure belongs in time. A rate is the interval's mean and the
        target is read at its end: the mean belongs at the interval's middle (on a ramp
        it equals the target there); at the end it trailed the target by an interval's
        climb. A VU count is read at the end, like its target."""
        if self.open_model:
            return [max(r.t - r.dt / 2, 0.0) for r in rows]
        return [r.t for r in rows]

    def draw_rows(self, rows: Sequence[Row]) -> None:
        plt = self.plt
        if self.by_scenario:
            top = self.sticky_max("load", max((r.vus for r in rows), default=0), 10.0)
            plt.ylim(0, top)
            plt.yticks([0.0, top / 2, top], [count_label(t) for t in (0.0, top / 2, top)])
            for i, (name, lane) in enumerate(self.lanes.items()):
                vus = [float(r.vus) for r in lane]
                self.series(i, [r.t for r in lane], vus, self.scenario_colors[name], worst=False)
            return
        xs = [r.t for r in rows]
        achieved = self.achieved(rows)
        base = self.achieved(self.base)
        targets = [r.target for r in rows]
        top = self.sticky_max("load", max([*achieved, *base, *targets, 0.0]), 10.0)
        plt.ylim(0, top)
        ticks = [0.0, top / 2, top]
        plt.yticks(ticks, [count_label(t) for t in ticks])
        self.series(0, self.achieved_at(rows), achieved, MAGENTA, worst=False)
        self.series(1, xs, targets, GREY, worst=False)
        self.series(0, self.achieved_at(self.base), base, MAGENTA, worst=False, base=True)


@dataclass(frozen=True)
class LaneShape:
    """One scenario's shape for the preview: from its startTime, in its own unit."""

    name: str
    start: float
    points: Sequence[tuple[float, float]]  # (time since its start, target)
    unit: str  # "VUs" or "iterations/s"


LANE_HEIGHT = 0.8  # of a band of 1: a gap between the scenarios' bands


def stacked(lanes: Sequence[LaneShape]) -> list[tuple[list[float], list[float]]]:
    """Each scenario's (xs, ys) in a band of its own, the first on top: y = its band's
    floor + target / its peak x LANE_HEIGHT. One band each, not one sum: VUs and
    iterations/s do not add, and each shape reads against its own peak."""
    out = []
    for i, lane in enumerate(lanes):
        floor = len(lanes) - 1 - i
        peak = max((v for _, v in lane.points), default=0.0) or 1.0
        xs = [lane.start + t for t, _ in lane.points]
        ys = [floor + v / peak * LANE_HEIGHT for _, v in lane.points]
        if lane.start > 0 and xs:  # idle until its startTime: a flat line from 0
            xs, ys = [0.0, lane.start, *xs], [float(floor), float(floor), *ys]
        out.append((xs, ys))
    return out


def lane_peak(lane: LaneShape) -> str:
    peak = max((v for _, v in lane.points), default=0.0)
    return f"{count_label(peak)}/s" if lane.unit == "iterations/s" else f"{count_label(peak)} VUs"


class ShapePreview(PlotextPlot):
    """The load shape a test type will run, before it runs: (t, target) points; or the
    scenarios of a profile with several, stacked over time (`show_lanes`)."""

    DEFAULT_CSS = """
    ShapePreview {
        height: 1fr;
        min-height: 6;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._points: Sequence[tuple[float, float]] = ()
        self._unit = "VUs"
        self._lanes: tuple[LaneShape, ...] = ()

    def on_mount(self) -> None:
        self._draw()

    def show(self, points: Sequence[tuple[float, float]], unit: str) -> None:
        """Called on a highlight or a form edit (human speed): drawn at once."""
        self._points = points
        self._unit = unit
        self._lanes = ()
        self._draw()

    def show_lanes(self, lanes: Sequence[LaneShape]) -> None:
        """The scenarios of a run, each in a band of its own over one time axis."""
        self._points = ()
        self._lanes = tuple(lanes)
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.frame(False)
        plt.xfrequency(5)
        if self._lanes:
            self._draw_lanes()
            self.refresh()
            return
        self.border_title = f"load shape: {self._unit} over time"
        if not self._points:
            self.refresh()
            return
        xs = [p[0] for p in self._points]
        ys = [p[1] for p in self._points]
        top = nice_ceiling(max(max(ys), 1.0) * 1.05)
        right = max(xs[-1], 1.0)
        plt.xlim(0, right)
        xticks = time_ticks(right)
        plt.xticks(xticks, [clock(t) for t in xticks])
        plt.ylim(0, top)
        ticks = [0.0, top / 2, top]
        plt.yticks(ticks, [count_label(t) for t in ticks])
        mono = bool(getattr(self.app, "no_color", False))
        plt.plot(xs, ys, marker="•" if mono else "braille", color=rgb(CYAN), fillx=False)
        self.refresh()

    def _draw_lanes(self) -> None:
        """A band per scenario, named on the y axis, its peak in the legend."""
        plt = self.plt
        mono = bool(getattr(self.app, "no_color", False))
        keys = []
        shapes = stacked(self._lanes)
        right = max((max(xs, default=0.0) for xs, _ in shapes), default=0.0)
        right = max(right, 1.0)
        plt.xlim(0, right)
        xticks = time_ticks(right)
        plt.xticks(xticks, [clock(t) for t in xticks])
        n = len(self._lanes)
        plt.ylim(0, n)
        floors = [n - 1 - i + LANE_HEIGHT / 2 for i in range(n)]
        plt.yticks(floors, [lane.name for lane in self._lanes])
        for i, (lane, (xs, ys)) in enumerate(zip(self._lanes, shapes, strict=True)):
            color = scenario_color(i)
            marker = _MONO_MARKERS[i % len(_MONO_MARKERS)] if mono else "braille"
            plt.plot(xs, ys, marker=marker, color=rgb(color))
            key = f"{marker}{lane.name}" if mono else f"[{color}]━[/] {lane.name}"
            keys.append(f"{key} {lane_peak(lane)}")
        self.border_title = "scenarios over time  " + " ".join(keys)
