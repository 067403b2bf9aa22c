"""The console's side of issue 28: latency against the offered rate (the "hockey stick"),
the server's observed series beside the latency (behind `o` at 80x24), and the findings
as they come.

The run is the scripted controller's (tests/scripted.py, no traffic); what the capacity
search, the observer and the findings would add to its snapshots is posted on top of
its last one, as the engine's Snapshot carries them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, TextArea

from engine.explore.model import CapacityStep, Insight, InsightKind
from engine.load.model import Row
from engine.observe.series import Series
from tests.app.screen_text import screen_text
from tests.app.test_app import NOW, SHOP, until
from tests.scripted import ScriptedFactory
from tui.app.app import SurgeApp, make_app
from tui.app.messages import SnapshotReceived
from tui.app.screens.help import HelpScreen
from tui.app.screens.picker import PickerScreen
from tui.app.screens.run import RunScreen
from tui.app.screens.summary import SummaryScreen
from tui.app.widgets.hockey import (
    HockeyPlot,
    Verdict,
    edges,
    rate_label,
    rate_ticks,
    step_points,
    timeline_points,
)
from tui.app.widgets.insights import InsightList, insight_head
from tui.app.widgets.observed import ObservedPlot, value_label

STEPS = (  # a search: up by doubling to the first failure, then bisecting (2 at 300/s)
    CapacityStep(100, True, 100, 2.0, 3.0, 4.0),
    CapacityStep(200, True, 200, 2.5, 4.0, 6.0),
    CapacityStep(400, False, 330, 40.0, 120.0, 300.0, 0.02),
    CapacityStep(300, True, 298, 4.0, 9.0, 20.0),
    CapacityStep(300, True, 299, 4.5, 10.0, 22.0),
    CapacityStep(350, False, 340, 20.0, 60.0, 150.0, 0.01),
    CapacityStep(325, True, 180, 3.0, 5.0, 8.0, dropped=40, generator_limited=True),
)
SUT = "http://127.0.0.1:9/metrics"
OBSERVED = {
    "cpu": Series("cpu", SUT, "%", (1.0, 2.0, 3.0), (20.0, 55.0, 85.0)),
    "rss": Series(
        "rss", "http://127.0.0.1:9/metrics", "bytes", (1.0, 2.0, 3.0), (1e8, 1.1e8, 1.3e8)
    ),
    "inflight": Series("inflight", SUT, "", (1.0, 2.0, 3.0), (1, 4, 12)),
}
INSIGHTS = (
    Insight(InsightKind.KNEE, 7.0, 300.0, "latency bends up past 300/s: p99 9 ms -> 60 ms"),
    Insight(InsightKind.ERRORS, 9.0, 400.0, "errors rise from 0.0% to 2.0% (http 503)"),
)


def row(t: float, target: float, p99: float, requests: int = 100) -> Row:
    return Row(
        t, 1.0, requests, 0, target, 0.0, p99 / 3, p99 / 2, p99 / 1.5, p99, p99, p99,
        1, 1, target, requests, 0, 0, 0,
    )  # fmt: skip


# ------------------------------------------------------------------ pure parts
def test_steps_become_points_by_rate_each_with_its_verdict() -> None:
    points = step_points(STEPS)
    assert [p.rate for p in points] == [100, 200, 300, 300, 325, 350, 400]
    assert [p.verdict for p in points] == [
        Verdict.HELD,
        Verdict.HELD,
        Verdict.HELD,
        Verdict.HELD,
        Verdict.LIMITED,
        Verdict.FAILED,
        Verdict.FAILED,
    ]
    assert edges(points) == (300, 350)  # the generator's 325 says nothing of the server


def test_a_ramp_is_points_of_target_against_latency_its_last_failed_when_it_broke() -> None:
    rows = [row(1, 10, 5), row(2, 20, 6), row(3, 0, 1, requests=0), row(4, 40, 90)]
    points = timeline_points(rows)
    assert [(p.rate, p.p99) for p in points] == [(10, 5), (20, 6), (40, 90)]
    assert edges(points) == (None, None)
    broke = timeline_points(rows, broke=True)
    assert [p.verdict for p in broke] == [None, None, Verdict.FAILED]
    assert edges(broke) == (None, 40)


@pytest.mark.parametrize(
    ("top", "ticks"), [(25, [0, 10, 20]), (500, [0, 200, 400]), (8, [0, 2, 4, 6, 8]),
                       (100_000, [0, 25_000, 50_000, 75_000, 100_000])],
)  # fmt: skip
def test_the_rate_axis_is_marked_at_round_rates(top: float, ticks: list[float]) -> None:
    assert rate_ticks(top) == ticks


def test_a_rate_keeps_the_fraction_a_small_one_needs() -> None:
    assert [rate_label(r) for r in (4200, 17.5, 18.75, 20.0)] == [
        "4,200/s", "17.5/s", "18.8/s", "20/s"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [(85.04, "%", "85%"), (1.3e8, "bytes", "124M"), (512, "bytes", "512B"), (2500, "/s", "2.5k/s"),
     (12, "", "12"), (0.25, "", "0.25")],
)  # fmt: skip
def test_a_series_value_reads_in_its_unit(value: float, unit: str, text: str) -> None:
    assert value_label(value, unit) == text


def test_a_finding_is_headed_by_its_time_rate_and_kind() -> None:
    assert insight_head(INSIGHTS[0]) == "0:07 300/s knee"
    assert insight_head(Insight(InsightKind.SERVER, 65.0, None, "x")) == "1:05 server"


# ------------------------------------------------------------------- on screen
@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "shop.toml").write_text(SHOP)
    return folder


# The scripted latency grows with the rate (tests/scripted.py): p95 < 7 ms holds at 10/s
# and 15/s, fails at 20/s, so a search from 10/s ends near 18/s, its edge run twice.
HALFWAY = 16  # intervals: 10/s held, 20/s failed, a drain, 15 and 17.5 held, 18.8 failed
SEARCH = 'capacity = { hold = "1s", start = 10, max = 80, precision = 0.1 }\n'


@pytest.fixture
def searching(profiles: Path) -> Path:
    """The shop with a capacity search's settings and an objective that fails past ~18/s."""
    shop = SHOP.replace("time_scale = 0.01\n", SEARCH).replace("p(95)<500", "p(95)<7")
    (profiles / "shop.toml").write_text(shop)
    return profiles


def app_of(
    profiles: Path, test_type: str = "breakpoint", intervals: int = 6
) -> tuple[SurgeApp, ScriptedFactory]:
    """The console on the shop, started; the script plays `intervals`, then holds."""
    factory = ScriptedFactory(intervals=intervals, hold=True, cpu=lambda k: 41.0)
    surge = make_app(
        profiles / "shop.toml",
        test_type=test_type,
        start=True,
        search_default_dirs=False,
        profiles=[profiles],
        controller_factory=factory,
        report_dir=profiles.parent / "reports",
        now=lambda: NOW,
    )
    return surge, factory


async def run_screen(pilot: Pilot, factory: ScriptedFactory, intervals: int = 6) -> RunScreen:
    """The run screen once the script has played all its intervals (it holds then)."""
    await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and bool(factory.made))
    screen = pilot.app.screen
    assert isinstance(screen, RunScreen)
    await until(
        pilot, lambda: screen.session.last is not None and screen.session.last.elapsed == intervals
    )
    return screen


async def post(pilot: Pilot, screen: RunScreen, **fields: object) -> None:
    """The last snapshot again, with what the explore parts of the engine add."""
    last = screen.session.last
    assert last is not None
    timeline = tuple(screen.session.model.timeline)
    screen.post_message(SnapshotReceived(replace(last, **fields), timeline))  # type: ignore[arg-type]
    await pilot.pause(0.35)  # past the plots' redraw throttle


def plot_lines(pilot: Pilot, plot: HockeyPlot | ObservedPlot) -> list[str]:
    region = plot.region
    lines = screen_text(pilot.app).splitlines()
    return [line[region.x : region.right] for line in lines[region.y : region.bottom]]


async def test_a_breakpoint_run_draws_latency_against_the_rate_it_was_offered(
    profiles: Path,
) -> None:
    surge, factory = app_of(profiles)
    async with surge.run_test(size=(120, 36)) as pilot:
        screen = await run_screen(pilot, factory)
        await pilot.pause(0.35)
        hockey = screen.query_one(HockeyPlot)
        assert hockey.display and screen.query_one("#load-plot").display  # wide: both
        drawn = "\n".join(plot_lines(pilot, hockey))
        assert "latency (log) by offered rate/s" in drawn
        assert any(c in drawn for c in "⠁⠂⠄⡀⢀⠈⠐⠠")  # braille: the curve
        assert [p.verdict for p in hockey.points()].count(None) == len(hockey.points())


async def test_capacity_steps_are_marked_held_failed_or_the_generators(profiles: Path) -> None:
    surge, factory = app_of(profiles)
    async with surge.run_test(size=(120, 36)) as pilot:
        screen = await run_screen(pilot, factory)
        await post(pilot, screen, capacity_steps=STEPS)
        hockey = screen.query_one(HockeyPlot)
        assert [p.rate for p in hockey.points()] == sorted(s.rate for s in STEPS)
        bottom = "\n".join(plot_lines(pilot, hockey)[-4:])
        assert "●" in bottom and "✗" in bottom and "?" in bottom
        assert "400" in plot_lines(pilot, hockey)[-2] or "500" in plot_lines(pilot, hockey)[-2]


async def test_a_capacity_search_is_drawn_step_by_step_and_said_in_the_status(
    searching: Path,
) -> None:
    """The engine's search over scripted intervals: each step a point as it is judged."""
    surge, factory = app_of(searching, "capacity", intervals=HALFWAY)
    async with surge.run_test(size=(120, 36)) as pilot:
        screen = await run_screen(pilot, factory, HALFWAY)
        await pilot.pause(0.35)
        last = screen.session.last
        assert last is not None
        assert [(s.rate, s.held) for s in last.capacity_steps] == [
            (10, True), (20, False), (15, True), (17.5, True), (18.8, False)
        ]  # fmt: skip
        status = " ".join(screen_text(pilot.app).splitlines()[1].split())
        assert "search step 6: 18.8/s · holds 17.5/s · fails 18.8/s" in status
        assert "left" not in status and "target ×" not in status  # no shape, not by hand
        hockey = screen.query_one(HockeyPlot)
        assert [p.rate for p in hockey.points()] == [10, 15, 17.5, 18.8, 20]
        bottom = "\n".join(plot_lines(pilot, hockey)[-3:])
        assert bottom.count("●") == 3 and bottom.count("✗") == 2


async def test_the_summary_of_a_search_draws_every_step(searching: Path) -> None:
    surge, _ = app_of(searching, "capacity", intervals=30)
    async with surge.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen), 20)
        screen = pilot.app.screen
        result = screen.review.result
        assert result is not None and result.capacity is not None
        assert result.capacity.rate is not None and 15 <= result.capacity.rate < 20
        hockey = screen.query_one(HockeyPlot)
        assert sorted(s.rate for s in result.capacity.steps) == [p.rate for p in hockey.points()]
        await pilot.pause(0.35)
        drawn = "\n".join(plot_lines(pilot, hockey))
        assert "●" in drawn and "✗" in drawn


async def test_at_80x24_the_rate_plot_takes_the_load_plots_rows(profiles: Path) -> None:
    surge, factory = app_of(profiles)
    async with surge.run_test(size=(80, 24)) as pilot:
        screen = await run_screen(pilot, factory)
        await post(pilot, screen, capacity_steps=STEPS)
        assert not screen.query_one("#load-plot").display
        hockey = screen.query_one(HockeyPlot)
        assert hockey.region.height >= 6
        assert "●" in "\n".join(plot_lines(pilot, hockey))


async def test_an_average_run_has_no_rate_plot(profiles: Path) -> None:
    surge, factory = app_of(profiles, "average")
    async with surge.run_test(size=(80, 24)) as pilot:
        screen = await run_screen(pilot, factory)
        assert not screen.query(HockeyPlot)
        assert screen.query_one("#load-plot").display


async def test_the_servers_series_show_beside_the_latency_when_wide(profiles: Path) -> None:
    surge, factory = app_of(profiles, "average")
    async with surge.run_test(size=(160, 48)) as pilot:
        screen = await run_screen(pilot, factory)
        observed = screen.query_one(ObservedPlot)
        assert not observed.display  # no series: no panel, no key
        assert "o Server" not in screen_text(pilot.app)
        await post(pilot, screen, observed=OBSERVED)
        latency = screen.query_one("#latency-plot")
        assert observed.display and latency.display
        assert observed.region.y == latency.region.y and observed.region.x > latency.region.x
        top = plot_lines(pilot, observed)[0]
        assert "cpu 85%" in top and "rss 124M" in top and "inflight 12" in top
        assert "o Server" in screen_text(pilot.app)  # the footer has room for it
        await pilot.press("o")  # hidden on request, the latency takes the row
        await until(pilot, lambda: latency.region.width > 100)
        assert not observed.display


async def test_at_80x24_the_servers_panel_is_behind_o_in_the_latencys_place(
    profiles: Path,
) -> None:
    surge, factory = app_of(profiles, "average")
    async with surge.run_test(size=(80, 24)) as pilot:
        screen = await run_screen(pilot, factory)
        await post(pilot, screen, observed=OBSERVED)
        observed, latency = screen.query_one(ObservedPlot), screen.query_one("#latency-plot")
        assert not observed.display and latency.display
        await pilot.press("o")
        await pilot.pause(0.35)
        assert observed.display and not latency.display
        assert "cpu 85%" in plot_lines(pilot, observed)[0]
        await pilot.press("o")
        assert not observed.display and latency.display
        await pilot.press("question_mark")  # the keys' help names o and says what it does
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        text = screen_text(pilot.app)
        assert "o" in text and "Server" in text
        assert "o shows the server's side" in " ".join(text.split())


async def test_findings_are_listed_and_told_once_as_they_come(profiles: Path) -> None:
    surge, factory = app_of(profiles)
    async with surge.run_test(size=(120, 36)) as pilot:
        screen = await run_screen(pilot, factory)
        findings = screen.query_one(InsightList)
        assert not findings.display  # none yet: no rows taken
        await post(pilot, screen, insights=INSIGHTS[:1])
        assert findings.display
        await post(pilot, screen, insights=INSIGHTS)
        text = " ".join(screen_text(pilot.app).split())
        assert "0:07 300/s knee" in text and "0:09 400/s errors" in text
        told = [n.title for n in pilot.app._notifications]
        assert told.count("Finding: knee") == 1 and told.count("Finding: errors") == 1


async def test_v_brings_the_findings_into_view_at_80x24(profiles: Path) -> None:
    surge, factory = app_of(profiles)
    async with surge.run_test(size=(80, 24)) as pilot:
        screen = await run_screen(pilot, factory)
        await post(pilot, screen, insights=INSIGHTS)
        pilot.app.clear_notifications()
        await pilot.press("v", "v")  # thresholds, then findings at the top
        await pilot.pause(0.2)
        side = screen.query_one("#run-side")
        assert screen.query_one(InsightList).region.y == side.region.y


# ------------------------------------------------------------------- snapshots
SIZES = [(80, 24), (160, 48)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_capacity_screen_at(
    snap_compare: Callable[..., bool], searching: Path, size: tuple[int, int]
) -> None:
    """A capacity search halfway (the engine's search over the scripted intervals), the
    server's series and two findings: at 80x24 the series behind o (pressed), at 160x48
    beside the latency."""
    surge, factory = app_of(searching, "capacity", intervals=HALFWAY)

    async def run_before(pilot: Pilot) -> None:
        screen = await run_screen(pilot, factory, HALFWAY)
        await post(pilot, screen, observed=OBSERVED, insights=INSIGHTS)
        pilot.app.clear_notifications()  # toasts time out: not in a picture
        if size == (80, 24):
            await pilot.press("o")
        await pilot.pause(0.5)

    assert snap_compare(surge, terminal_size=size, run_before=run_before)


async def test_a_target_gone_is_said_once_and_marked_on_the_border(profiles: Path) -> None:
    surge, factory = app_of(profiles, "average")
    async with surge.run_test(size=(160, 48)) as pilot:
        screen = await run_screen(pilot, factory)
        down = "127.0.0.1:9 unreachable since 2s (connection refused)"
        gone = {name: replace(s, problem=down) for name, s in OBSERVED.items()}
        await post(pilot, screen, observed=gone)
        await post(pilot, screen, observed=gone)
        told = [n for n in pilot.app._notifications if n.title == "Server side"]
        assert [n.message for n in told] == [down]  # once, though every series has it
        assert "cpu ✗" in plot_lines(pilot, screen.query_one(ObservedPlot))[0]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_capacity_summary_at(
    snap_compare: Callable[..., bool], searching: Path, size: tuple[int, int]
) -> None:
    """The summary of the search to its end: at 80x24 its plots (g), the rate plot among
    them in the VUs plot's place; at 160x48 beside the text."""
    surge, _ = app_of(searching, "capacity", intervals=30)

    async def run_before(pilot: Pilot) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen), 20)
        pilot.app.clear_notifications()
        if size == (80, 24):
            await pilot.press("g")
        await pilot.pause(0.5)

    assert snap_compare(surge, terminal_size=size, run_before=run_before)


def test_capacity_in_the_picker_at_80x24(
    snap_compare: Callable[..., bool], searching: Path
) -> None:
    """The picker on capacity: its line, the preview of the search's way up."""
    surge = make_app(
        search_default_dirs=False,
        profiles=[searching],
        controller_factory=ScriptedFactory(),
        report_dir=searching.parent / "reports",
        now=lambda: NOW,
    )

    async def run_before(pilot: Pilot) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, PickerScreen)
        types = screen.query_one("#types", OptionList)
        types.focus()
        types.highlighted = types.get_option_index("capacity")
        await until(pilot, lambda: screen.test_type == "capacity")
        screen.query_one("#plan-describe").scroll_visible(animate=False)  # and the preview
        for widget in screen.query("Input, TextArea"):
            assert isinstance(widget, Input | TextArea)
            widget.cursor_blink = False
        await pilot.pause(0.3)

    assert snap_compare(surge, terminal_size=(80, 24), run_before=run_before)
