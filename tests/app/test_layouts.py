"""The run, demo and summary screens at 80x24 and 160x48, read off the rendered screen.

A snapshot says that something changed; these say that a user can read it: every
figure of the summary table on screen (not cut at the pane's edge), every key in the
footer, legends whole, the rollout's outcome whole and no toast over its log.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from engine.report.summary import render_summary
from tests.app.screen_text import screen_lines
from tests.app.test_app import new_app, profiles, until
from tests.app.test_deploy_panel import Rig, canary
from tests.scripted import ScriptedFactory
from tui.app.app import SurgeApp
from tui.app.screens.run import RunScreen
from tui.app.screens.summary import SummaryScreen
from tui.app.widgets.deploy import DeployPanel
from tui.app.widgets.plots import TimePlot

__all__ = ["profiles"]
SIZES = [(80, 24), (160, 48)]
NUMBER = re.compile(r"\d+(?:\.\d+)?")
ROWS = ("http_req_duration", "{expected_response:true}", "iteration_duration")


async def to_run(pilot: Pilot, factory: ScriptedFactory, snapshots: int) -> RunScreen:
    await pilot.press("ctrl+t", "down", "ctrl+r")  # average: a ramping arrival rate
    await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and bool(factory.made))
    screen = pilot.app.screen
    assert isinstance(screen, RunScreen)
    # snapshots collapse when the UI is behind: wait for the last one's time, not a count
    await until(
        pilot,
        lambda: screen.session.last is not None and screen.session.last.elapsed >= snapshots,
    )
    await pilot.pause(0.3)  # past the plots' redraw throttle
    return screen


def footer(app: SurgeApp) -> str:
    return screen_lines(app)[-1]


def legends_whole(app: SurgeApp) -> None:
    """Every plot's border names every series (p50 … p99), never `p5…`."""
    for plot in app.screen.query(TimePlot).results(TimePlot):
        if not plot.display or plot.region.height == 0:
            continue
        _, series = plot.legend()
        top = screen_lines(app)[plot.region.y]
        for label, _ in series:
            assert f" {label}" in top, f"{label!r} cut from {top!r}"
        assert "…" not in top, top


def row_numbers(text: str, name: str) -> list[str]:
    """The figures of the table row `name` (not the thresholds' line of the same name)."""
    for line in text.splitlines():
        if line.strip(" │").startswith(f"{name} "):
            numbers = NUMBER.findall(line.split(name, 1)[1])
            if len(numbers) >= 8:
                return numbers
    return []


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_summary_shows_every_figure_of_its_table(
    profiles: Path, size: tuple[int, int]
) -> None:
    factory = ScriptedFactory(intervals=12, hold=True, cpu=lambda k: 41.0)
    app = new_app(profiles, factory)
    async with app.run_test(size=size) as pilot:
        await to_run(pilot, factory, 12)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        screen = app.screen
        assert isinstance(screen, SummaryScreen) and screen.session is not None
        assert screen.session.result is not None
        plain = render_summary(screen.session.result, color=False)
        box = screen.query_one("#summary-text-box")
        assert box.region.width >= 78  # the 77-column table and the pane's border
        assert box.region.height >= (15 if size == (80, 24) else 40)
        # the table's rows brought into view (at 80x24 the pane scrolls), then read off
        top = next(i for i, line in enumerate(plain.splitlines()) if "HTTP (ms)" in line)
        box.scroll_to(y=top, animate=False)
        await pilot.pause()
        lines = screen_lines(app)
        pane = [line[box.region.x : box.region.right] for line in lines]
        for name in ROWS:
            wanted = row_numbers(plain, name)
            assert len(wanted) == 8, (name, wanted)  # avg min med p90 p95 p99 p99.9 max
            shown = [row_numbers(line, name) for line in pane if f" {name} " in line]
            assert wanted in shown, f"{name} {wanted} is not on screen:\n" + "\n".join(lines)
        head = next(line for line in pane if "HTTP (ms)" in line)
        for column in ("avg", "min", "med", "p90", "p95", "p99", "p99.9", "max"):
            assert f" {column}" in head
        keys = footer(app)
        for key in ("w Save", "r Again", "n New", "o Open", "c Compare", "g Plots", "q Quit"):
            assert key in keys, keys
        legends_whole(app)
        if size == (80, 24):
            await pilot.press("g")  # the plots, on the whole body: whole legends
            await pilot.pause(0.3)
            legends_whole(app)
            assert all(p.region.height >= 5 for p in screen.query(TimePlot).results(TimePlot))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_run_screen_shows_its_figures_keys_and_legends(
    profiles: Path, size: tuple[int, int]
) -> None:
    factory = ScriptedFactory(intervals=12, hold=True, cpu=lambda k: 41.0)
    app = new_app(profiles, factory)
    async with app.run_test(size=size) as pilot:
        await to_run(pilot, factory, 12)
        legends_whole(app)
        figures = app.screen.query_one("#figures")
        lines = screen_lines(app)
        inside = [line[figures.region.x : figures.region.right] for line in lines]
        inside = inside[figures.region.y : figures.region.bottom]
        for label in ("req/s", "latency p50", "latency p99", "duration p99", "data in"):
            row = next(line for line in inside if label in line)
            assert "…" not in row, row
        keys = footer(app)
        for key in ("p Pause", "±10%", "t Target", "s Stop", "x Abort", "w Save", "q Quit"):
            assert key in keys, keys


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_demo_keeps_every_key_its_banner_and_its_log_in_view(
    profiles: Path, size: tuple[int, int]
) -> None:
    rig = Rig(canary(max_p99_ms=1.0), intervals=12)  # green rolls back
    app = rig.app(profiles)
    async with app.run_test(size=size, notifications=True) as pilot:
        await to_run(pilot, rig.factory, 12)
        driver = rig.driver
        assert driver is not None
        await until(pilot, lambda: (app.screen.query_one(DeployPanel).banner or "") != "")
        await pilot.pause(0.3)
        keys = footer(app)
        for key in ("p Pause", "q Quit", "D Rollout", "P Promote", "R Rollback"):
            assert key in keys, keys
        banner = app.screen.query_one("#deploy-banner", Static)
        lines = screen_lines(app)
        shown = " ".join(
            line[banner.region.x : banner.region.right].strip()
            for line in lines[banner.region.y : banner.region.bottom]
        )
        assert "ROLLED BACK: blue takes 100%" in shown and "(limit 1)" in shown, shown
        assert "1 failed analysis (limit 1)" in shown
        log = app.screen.query_one("#deploy-timeline")
        assert log.region.height >= 3
        assert any(n.title == "Rolled back" for n in app._notifications)
        await until(pilot, lambda: bool(app.screen.query("Toast")))
        toasts = [t for t in app.screen.query("Toast") if t.region.area]
        assert toasts, "the rollback is announced"
        for toast in toasts:
            assert not toast.region.overlaps(log.region), (toast.region, log.region)
        text = "\n".join(lines)
        assert "step 1 step" not in text and "analyses" not in text
        legends_whole(app)
