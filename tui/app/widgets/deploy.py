"""The deploy panel: weight bar, blue and green side by side, the rollout's steps and verdicts.

It reads one object, the run's deploy driver (engine.deploy.driver.DeployDriver or anything
with the same attributes), and is redrawn by the run screen after every snapshot and
every rollout command, so a key press shows its effect at once.

On a small terminal (80x24) the full panel does not fit under the run's plots, so it
turns compact: one line per color, no per-color plots, the last three events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from engine.deploy.strategies import Event, EventKind, Phase
from tui.app.widgets.figures import in_ms
from tui.app.widgets.panel import Panel
from tui.app.widgets.plots import BLUE, GREEN, RED, LatencyPlot

TIMELINE_LINES = 6  # the latest events; older ones scroll off
COMPACT_TIMELINE_LINES = 3
# The full panel is 20 rows, the two plots above it need 10 and the screen's chrome 3;
# below 60 columns a color's column is too narrow for its three lines of figures.
FULL_MIN_HEIGHT = 33
FULL_MIN_WIDTH = 60

_MARKS: dict[EventKind, tuple[str, str]] = {
    EventKind.STEP_STARTED: ("▶", "bold"),
    EventKind.SMOKE_STARTED: ("▶", "bold"),
    EventKind.ANALYSIS_PASSED: ("✓", "green"),
    EventKind.ANALYSIS_FAILED: ("✗", "bold red"),
    EventKind.ANALYSIS_INCONCLUSIVE: ("…", "yellow"),
    EventKind.PAUSED: ("‖", "yellow"),
    EventKind.RESUMED: ("▶", ""),
    EventKind.PROMOTED: ("★", "bold green"),
    EventKind.ROLLED_BACK: ("↩", "bold red"),
    EventKind.INSTANCE_ADDED: ("+", "green"),
    EventKind.INSTANCE_DRAINED: ("-", "yellow"),
    EventKind.REGISTRY_UNREACHABLE: ("!", "bold red"),
    EventKind.ROUTER_ERROR: ("!", "bold red"),
}


def weight_bar(blue: int, green: int, width: int, phase: str, applied: Any = None) -> Text:
    """`blue 90% ████████░ 10% green`, with the phase; `applied` differs while a PUT is out."""
    if width - 22 - len(phase) < 10:
        phase = ""  # a narrow panel: the border title says the phase already
    label_w = 22 + len(phase)
    cells = max(width - label_w, 10)
    g = round(cells * green / 100)
    text = Text()
    text.append(f"blue {blue:>3}% ", style=f"bold {BLUE}")
    text.append("█" * (cells - g), style=BLUE)
    text.append("█" * g, style=GREEN)
    text.append(f" {green:>3}% green", style=f"bold {GREEN}")
    if phase:
        text.append(f"  {phase}", style="bold")
    if applied is not None and tuple(applied) != (blue, green):
        text.append(" (sending)", style="dim")
    return text


def color_table(live: Sequence[Any], window: Any) -> Text:
    """The last snapshot's figures and the analysis window's, in three short lines.

    Plain lines rather than a table: each color has half of the plots' width, which
    a four-column table truncated to ellipses.
    """
    last = live[-1] if live else None
    win = f"window {window.requests:,} req"
    if window.requests:
        win += f", {window.failed / window.requests:.1%} err"
    if last is None or not last.requests:
        return Text(f"no traffic now\n\n{win}")
    return Text(
        f"{last.rps:>7,.1f} req/s   err {last.error_rate:.2%}\n"
        f"p50 {in_ms(last.p50)}  p95 {in_ms(last.p95)}  p99 {in_ms(last.p99)}\n"
        f"{win}"
    )


def smoke_table(driver: Any, window: Any, compact: bool) -> Text:
    """Green's figures while it is smoked: the smoke requests, not the load test's (none)."""
    smoke = driver.smoke
    if smoke is None:
        return Text("green: smoke run has no target" if compact else "smoke run: no target")
    err = window.failed / window.requests if window.requests else 0.0
    figures = f"{window.requests:,} req  err {err:.1%}  p99 {in_ms(window.p99_ms)}"
    if compact:
        return Text(f"green smoke {figures}")
    failure = smoke.last_failure
    last = f"last failure: {failure}" if failure else f"GET {urlsplit(smoke.target.url).path}"
    return Text(f"smoke → green, {smoke.target.rate:g} req/s\n{figures}\n{last}")


def mirror_table(driver: Any, compact: bool) -> Text:
    """Green's figures while a mirror step runs: the pairs the router compared, how many
    differ, each color's p99 on the same requests (the load test sends green nothing)."""
    pairs = getattr(driver, "mirror_window", None)
    head = f"mirror {driver.mirror}%"
    if compact:
        if pairs is None:
            return Text(f"green {head}: no pairs yet")
        differ = f"{pairs.requests:,} pairs, {pairs.failed:,} differ"
        return Text(f"green {head}: {differ}, p99 {in_ms(pairs.p99_ms)}")
    if pairs is None:
        return Text(f"{head} → green\nno pairs compared yet")
    return Text(
        f"{head} → green, {pairs.requests:,} pairs\n"
        f"{pairs.status_mismatch:,} status, {pairs.body_mismatch:,} body, {pairs.errors:,} errors\n"
        f"p99 blue {in_ms(pairs.blue_p99_ms)}  green {in_ms(pairs.p99_ms)}"
    )


def cohort_text(driver: Any) -> str:
    """` · beta 40 req 0.0% err`: each green cohort's window, while the routes are on."""
    if not getattr(driver, "routes_on", False):
        return ""
    parts = []
    for key, figures in driver.window.items():
        color, _, cohort = key.partition("+")
        if color == "green" and cohort:
            err = figures.failed / figures.requests if figures.requests else 0.0
            parts.append(f"{cohort} {figures.requests:,} req {err:.1%} err")
    return "".join(f" · {p}" for p in parts)


def color_line(color: str, live: Sequence[Any], window: Any) -> Text:
    """The compact panel's one line for a color: the last snapshot's figures."""
    last = live[-1] if live else None
    if last is None or not last.requests:
        return Text(f"{color:<5} no traffic now  window {window.requests:,} req")
    return Text(f"{color:<5} {last.rps:>6,.0f}/s  err {last.error_rate:.1%}  p99 {in_ms(last.p99)}")


def clipped(text: Text, width: int) -> Text:
    """Each line cut to `width` with an ellipsis: a wrapped line would push the last out."""
    if width <= 0:
        return text
    lines = text.split("\n")
    for line in lines:
        line.truncate(width, overflow="ellipsis")
    return Text("\n").join(lines)


_MEASURE = Console(width=1000)  # measures cells for wrapping; never prints
_VERDICTS = (
    EventKind.ANALYSIS_PASSED,
    EventKind.ANALYSIS_FAILED,
    EventKind.ANALYSIS_INCONCLUSIVE,
)


def timeline_view(events: Sequence[Event], width: int, lines: int, *, compact: bool) -> Text:
    """The latest events, a line each cut to `width`, but the latest verdict wrapped at
    words: its reason says why (the statistical judge's are long), and the older
    events scroll off to make room for it."""
    shown = list(events)[-lines:]
    rows = clipped(timeline_text(shown, lines, compact=compact), 0).split("\n")
    last = max((i for i, e in enumerate(shown) if e.kind in _VERDICTS), default=None)
    if width <= 0 or last is None:
        return clipped(Text("\n").join(rows), width)
    after = [clipped(r, width) for r in rows[last + 1 :]]
    room = max(1, lines - len(after))
    why = list(rows[last].wrap(_MEASURE, width))
    for line in why:
        line.rstrip()
    if len(why) > room:
        why = [*why[: room - 1], clipped(Text(" ").join(why[room - 1 :]), width)]
    spare = room - len(why)
    before = [clipped(r, width) for r in rows[:last]][-spare:] if spare > 0 else []
    return Text("\n").join([*before, *why, *after][-lines:])


def timeline_text(
    events: Sequence[Event], lines: int = TIMELINE_LINES, *, compact: bool = False
) -> Text:
    """One event a line; compact drops the aligned kind column and the step for the reason."""
    text = Text()
    shown = list(events)[-lines:]
    if not shown:
        text.append("not started: D starts the rollout", style="dim")
        return text
    for i, e in enumerate(shown):
        mark, style = _MARKS.get(e.kind, ("·", ""))
        # A step's own message names it already (`step 1/4: green 10%`): not twice.
        named = e.message.startswith("step ")
        step = "" if e.step is None or compact or named else f"step {e.step + 1}: "
        text.append(f"{mark} ", style=style)
        text.append(f"{e.kind.value}: " if compact else f"{e.kind.value:<21} ", style=style)
        text.append(f"{step}{e.message}")
        if i < len(shown) - 1:
            text.append("\n")
    return text


def status_line(driver: Any) -> str:
    """What the rollout is doing now, and which keys act on it."""
    phase = driver.phase
    if phase is Phase.READY:
        return "ready: D starts"
    if phase is Phase.PAUSED:
        return "paused: D resumes"
    if phase in (Phase.PROMOTED, Phase.ROLLED_BACK):
        return str(phase.value)
    remaining = driver.remaining
    if driver.manual:
        return "manual: [ ] move green by 10%"
    judging = "running" if remaining is None else f"judging in {remaining:.0f}s"
    return f"smoking green, {judging}" if getattr(driver, "smoking", False) else judging


class ColorLatency(LatencyPlot):
    """One color's own latency (p50, p99) per snapshot."""

    LEGEND = (("p50", GREEN), ("p99", RED))

    def __init__(self, color: str, *, id: str | None = None) -> None:
        self.color = color
        super().__init__(id=id, classes="color-plot")

    def legend(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return f"{self.color} latency", self.LEGEND


class DeployPanel(Vertical):
    """Shown on the run screen when the run has a deploy driver."""

    # Fixed heights: the panel never changes size as events arrive, so the plots above it
    # keep their size (and their axes) however the rollout goes.
    DEFAULT_CSS = """
    DeployPanel {
        height: auto;
        border: round $panel;
        border-title-color: $text-muted;
        border-subtitle-color: $error;
    }
    DeployPanel #deploy-banner {
        height: 1;
        padding: 0 1;
        text-style: bold;
    }
    DeployPanel #deploy-banner.-promoted {
        background: $success 40%;
    }
    DeployPanel #deploy-banner.-rolled-back {
        background: $error 40%;
    }
    DeployPanel #deploy-bar {
        height: 1;
    }
    DeployPanel #deploy-colors {
        height: 10;
    }
    DeployPanel .deploy-color {
        width: 1fr;
        height: 10;
    }
    DeployPanel .deploy-color Panel {
        height: 3;
    }
    DeployPanel .color-plot {
        height: 7;
        border: none;
    }
    DeployPanel #deploy-timeline {
        height: 6;
    }
    DeployPanel.-compact #deploy-colors {
        layout: vertical;
        height: 2;
    }
    DeployPanel.-compact .deploy-color, DeployPanel.-compact .deploy-color Panel {
        height: 1;
    }
    DeployPanel.-compact .color-plot {
        display: none;
    }
    DeployPanel.-compact #deploy-timeline {
        height: 3;
    }
    DeployPanel.-compact #deploy-banner {
        height: auto;  /* the outcome wraps rather than lose its reason */
    }
    """

    def __init__(self, driver: Any, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.driver = driver
        self.banner: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="deploy-banner")
        yield Static("", id="deploy-bar")
        with Horizontal(id="deploy-colors"):
            for color in ("blue", "green"):
                with Vertical(classes="deploy-color", id=f"deploy-{color}"):
                    yield Panel(id=f"deploy-{color}-figures")
                    yield ColorLatency(color, id=f"deploy-{color}-plot")
        yield Panel(id="deploy-timeline")

    def on_mount(self) -> None:
        self.refresh_from_driver()

    def on_resize(self) -> None:
        self.refresh_from_driver()

    def refresh_from_driver(self) -> None:
        d = self.driver
        # Checked on every redraw (a few a second while the run goes), not only on a resize
        # of the panel: a terminal that only gets shorter does not resize the panel.
        compact = self.screen.size.height < FULL_MIN_HEIGHT or 0 < self.size.width < FULL_MIN_WIDTH
        self.set_class(compact, "-compact")
        inner = self.size.width  # the content's width, inside the border
        strategy = getattr(d.strategy, "name", "rollout")
        router = getattr(d, "router_name", "surge")  # Surge's own proxy is the default: unnamed
        via = f" via {router}" if router not in ("surge", "none") else ""
        self.border_title = f"deploy: {strategy}{via} · {status_line(d)}"
        bar = self.query_one("#deploy-bar", Static)
        width = max(inner - 2, 20)
        phase = str(d.phase.value)
        bar.update(weight_bar(d.weights.blue, d.weights.green, width, phase, d.applied))
        self.border_subtitle = d.error or ""
        smoking = getattr(d, "smoking", False)
        for color in ("blue", "green"):
            figures = self.query_one(f"#deploy-{color}-figures", Panel)
            live, window = d.live[color], d.window[color]
            if color == "green" and smoking:
                text = smoke_table(d, window, compact)
            elif color == "green" and getattr(d, "mirror", 0):
                text = mirror_table(d, compact)
            elif compact:
                text = color_line(color, live, window)
            else:
                text = color_table(live, window)
            if color == "green":  # a cohort row under green's figures
                text.append(cohort_text(d))
            figures.set_content(clipped(text, inner // (1 if compact else 2)), 1 if compact else 3)
            figures.border_title = color
            self.query_one(f"#deploy-{color}-plot", ColorLatency).show(list(live))
        timeline = self.query_one("#deploy-timeline", Panel)
        lines = COMPACT_TIMELINE_LINES if compact else TIMELINE_LINES
        text = timeline_view(d.events, inner, lines, compact=compact)
        timeline.set_content(text, len(text.plain.splitlines()))
        self._banner()

    def _banner(self) -> None:
        """Promotion and rollback stay on screen: they are the outcome of the rollout."""
        d = self.driver
        ends = (EventKind.PROMOTED, EventKind.ROLLED_BACK)
        last = next((e for e in reversed(d.events) if e.kind in ends), None)
        banner = self.query_one("#deploy-banner", Static)
        if last is None or d.phase not in (Phase.PROMOTED, Phase.ROLLED_BACK):
            banner.set_classes("")
            banner.update(Text(""))
            self.banner = None
            return
        promoted = last.kind is EventKind.PROMOTED
        self.banner = (
            f"PROMOTED: green takes 100% · {last.message}"
            if promoted
            else f"ROLLED BACK: blue takes 100% · {last.message}"
        )
        banner.update(Text(self.banner))
        banner.set_classes("-promoted" if promoted else "-rolled-back")
