"""Several scenarios in the console: the picker's stacked preview, the scenario rows, the
plots' lines per scenario, steering one scenario or all, and the shipped
`shop-scenarios` profile run for real against `surge sut`."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from engine.profile import Profile, load_profile, parse_profile
from engine.report.document import read_report
from profiles import shipped
from tests.app.test_app import NOW, save_and_quit, until
from tests.scripted import ScriptedFactory
from tui.app.app import SurgeApp, make_app
from tui.app.screens.modals import TargetModal
from tui.app.screens.picker import PickerScreen
from tui.app.screens.run import RunScreen
from tui.app.screens.summary import SummaryScreen
from tui.app.widgets.plots import (
    LANE_HEIGHT,
    LaneShape,
    ShapePreview,
    TimePlot,
    scenario_color,
    stacked,
)
from tui.app.widgets.progress import scales_text
from tui.app.widgets.scenarios import ALL, ScenarioTable, executor_label


def test_the_preview_stacks_each_scenario_in_a_band_of_its_own_from_its_start_time() -> None:
    """One band per scenario, first on top, each against its own peak (VUs and rates do
    not add); a scenario that starts later is flat until its startTime."""
    browse = LaneShape("browse", 0.0, [(0.0, 20.0), (8.0, 20.0)], "iterations/s")
    buy = LaneShape("buy", 2.0, [(0.0, 0.0), (3.0, 4.0), (6.0, 0.0)], "VUs")
    (bx, by), (ux, uy) = stacked([browse, buy])
    assert bx == [0.0, 8.0] and by == [1 + LANE_HEIGHT, 1 + LANE_HEIGHT]  # the top band
    assert ux == [0.0, 2.0, 2.0, 5.0, 8.0]  # idle from 0 to 2 s, then its ramp
    assert uy == [0.0, 0.0, 0.0, LANE_HEIGHT, 0.0]  # its own peak of 4 VUs at the top


def test_steered_scales_read_per_scenario() -> None:
    assert scales_text(1.0, {}) == ""
    assert scales_text(1.1, {}) == "target ×1.10"
    assert scales_text(1.0, {"buy": 0.8, "browse": 1.0}) == "buy ×0.80"


def test_executors_read_short_at_80_columns_and_whole_when_wide() -> None:
    assert executor_label("constant-arrival-rate", wide=False) == "const rate"
    assert executor_label("constant-arrival-rate", wide=True) == "constant-arrival-rate"


# ------------------------------------------------------------- the console
SHOP3 = """\
name = "shop3"
base_url = "http://127.0.0.1:9"

[scenarios.browse]
executor = "constant-arrival-rate"
rate = 20
duration = "8s"
preAllocatedVUs = 2

[scenarios.buy]
executor = "ramping-vus"
startTime = "2s"
stages = [{ duration = "3s", target = 4 }, { duration = "3s", target = 0 }]

[scenarios.admin]
executor = "constant-vus"
startTime = "1s"
vus = 2
duration = "3s"

[[endpoints]]
path = "/"
"""
SMALL = (80, 24)


@pytest.fixture
def shop3(tmp_path: Path) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "shop3.toml").write_text(SHOP3)
    return folder


def console(profiles: Path, factory: ScriptedFactory, *, start: bool = True) -> SurgeApp:
    return make_app(
        profiles / "shop3.toml",
        start=start,
        search_default_dirs=False,
        profiles=[profiles],
        controller_factory=factory,
        report_dir=profiles.parent / "reports",
        now=lambda: NOW,
    )


async def at_second(pilot: Pilot, factory: ScriptedFactory, elapsed: int) -> RunScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and bool(factory.made))
    screen = pilot.app.screen
    assert isinstance(screen, RunScreen)
    await until(
        pilot, lambda: screen.session.last is not None and screen.session.last.elapsed >= elapsed
    )
    return screen


def cells(screen: RunScreen, name: str) -> list[str]:
    table = screen.query_one(ScenarioTable)
    return [str(c) for c in table.get_row(name)]


async def test_each_scenario_is_a_row_with_its_state_and_the_plots_name_each(
    shop3: Path,
) -> None:
    """At 80x24, 6 s in: browse runs from 0 s, buy from its startTime of 2 s, admin
    (1 s + 3 s) is done; the rate plot's legend names each, with their start lines."""
    factory = ScriptedFactory(intervals=6, hold=True)
    app = console(shop3, factory)
    async with app.run_test(size=SMALL) as pilot:
        screen = await at_second(pilot, factory, 6)
        await pilot.pause(0.3)  # the plots redraw at most 4 times a second
        table = screen.query_one(ScenarioTable)
        assert table.display and table.row_count == 4  # all, then the three
        assert [cells(screen, n)[2] for n in ("browse", "buy", "admin")] == [
            "running",
            "running",
            "done",
        ]
        assert cells(screen, "buy")[1] == "ramp VUs"  # short at 80 columns
        assert int(cells(screen, "admin")[5]) > 0  # its iterations
        assert cells(screen, ALL)[1] == "3 scenarios"
        plot = screen.query_one("#rate-plot", TimePlot)
        legend = plot.border_title or ""
        assert all(name in legend for name in ("browse", "buy", "admin")), legend
        assert (2.0, scenario_color(1)) in plot.spans  # buy's start, in buy's colour
        assert (4.0, scenario_color(2)) in plot.spans  # admin's end: 1 s + 3 s
        assert "2 of 3 scenarios running" in str(screen.query_one("#progress", Static).content)


async def test_enter_starts_a_run_of_several_while_the_scenario_table_has_the_focus(
    shop3: Path,
) -> None:
    """The table takes the focus (the arrows pick a scenario), yet enter is the screen's:
    a DataTable's own enter (select the row) swallowed it, and the run never started."""
    factory = ScriptedFactory(intervals=1, hold=True)
    app = console(shop3, factory, start=False)
    async with app.run_test(size=SMALL) as pilot:
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
        screen = pilot.app.screen
        assert isinstance(screen, RunScreen)
        table = screen.query_one(ScenarioTable)
        assert table.has_focus and not factory.made
        assert cells(screen, ALL)[1:3] == ["3 scenarios", "ready"]
        await pilot.press("enter")
        await until(pilot, lambda: bool(factory.made))


async def test_pause_and_scale_apply_to_the_selected_scenario_or_to_all(shop3: Path) -> None:
    factory = ScriptedFactory(intervals=1, hold=True)
    app = console(shop3, factory)
    async with app.run_test(size=SMALL) as pilot:
        screen = await at_second(pilot, factory, 1)
        assert cells(screen, "buy")[2] == "waiting"  # its startTime is 2 s
        assert screen.selected is None  # the row `all` first
        await pilot.press("down", "down")  # buy
        assert screen.selected == "buy"
        await pilot.press("p")
        assert factory.last.calls[-1] == ("pause", "buy")
        assert factory.last.state == "running"  # the others go on
        assert "resume" in footer(screen)  # p on buy's row resumes it
        await pilot.press("plus")
        assert factory.last.calls[-1] == ("set_scale", 1.1, "buy")
        assert "buy ×1.10" in str(screen.query_one("#progress", Static).content)
        await pilot.press("p")
        assert factory.last.calls[-1] == ("resume", "buy")
        await pilot.press("up", "t")  # browse's own target, in its unit
        assert isinstance(app.screen, TargetModal) and app.screen.unit == "iterations/s"
        await pilot.press("3", "0", "enter")
        assert factory.last.calls[-1] == ("set_target", 30.0, "browse")
        await pilot.press("down")
        await pilot.press("up", "up")  # all
        await pilot.press("minus")
        assert factory.last.calls[-1] == ("set_scale", 0.9)
        await pilot.press("t")  # a typed target wants one scenario: VUs and rates do not add
        assert not isinstance(app.screen, TargetModal)
        await pilot.press("p")
        assert factory.last.calls[-1] == ("pause",)
        assert factory.last.state == "paused"


def footer(screen: RunScreen) -> set[str]:
    """The actions the footer offers now."""
    return {b.binding.action for b in screen.active_bindings.values() if b.enabled}


async def test_the_picker_stacks_the_scenarios_in_its_preview(shop3: Path) -> None:
    factory = ScriptedFactory(intervals=2, hold=True)
    app = make_app(
        search_default_dirs=False,
        profiles=[shop3],
        controller_factory=factory,
        report_dir=shop3.parent / "reports",
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, PickerScreen))
        screen = app.screen
        assert isinstance(screen, PickerScreen)
        await until(pilot, lambda: screen.plan is not None)
        preview = screen.query_one("#preview", ShapePreview)
        title = preview.border_title or ""
        assert "scenarios over time" in title and "20/s" in title and "4 VUs" in title
        describe = str(screen.query_one("#plan-describe", Static).content)
        assert describe == "3 scenarios: browse, buy from 0:02, admin from 0:01"
        assert screen.test_type == "custom"  # the scenarios as written


async def test_the_shipped_shop_scenarios_runs_for_real_and_reports_each(
    shared_sut: str, tmp_path: Path
) -> None:
    """`surge shop-scenarios --start` against `surge sut`, at 80x24: three scenarios,
    setup's token in two of them, one scaled and one paused and resumed from its row,
    the run ending on its own in about 10 s, the report with a section per scenario,
    the admins' 2 x 4 iterations exactly and the steering on record per scenario."""
    app = make_app(
        shipped("shop-scenarios"),
        start=True,
        base_url=shared_sut,
        search_default_dirs=False,
        report_dir=tmp_path / "reports",
    )
    async with app.run_test(size=SMALL) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen), timeout=15)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await until(pilot, lambda: screen.snapshots_seen >= 1, timeout=15)
        assert screen.query_one(ScenarioTable).row_count == 4
        await pilot.press("down", "plus")  # browse: +10%, on the real engine
        await pilot.press("down", "p")  # buy paused, the others go on
        assert app.screen is screen and screen.state == "running"
        await pilot.press("p")  # buy resumed
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen), timeout=40)
        target = tmp_path / "reports" / "shop.toml"
        await save_and_quit(pilot, target)
    data = read_report(target)
    assert {"admin", "browse", "buy"} <= set(data.scenarios)
    assert data.scenarios["admin"].iterations == 8
    steered = [(e.what, e.scenario) for e in data.meta.steering]
    assert steered == [("target", "browse"), ("pause", "buy"), ("resume", "buy")], steered
    assert data.summary.error_rate == 0
    assert all(t.ok for t in data.thresholds), data.thresholds


def test_the_readme_k6_section_shows_the_shipped_profile() -> None:
    """The profile beside the k6 script in the README runs what the shipped one does
    (its step names and headers aside): the same scenarios, steps and thresholds."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Several scenarios: a k6 script and its profile")[1]
    shown = parse_profile(section.split("```toml\n")[1].split("```")[0], "README.md")
    ours = load_profile(shipped("shop-scenarios") or "")
    assert workloads(shown) == workloads(ours)
    assert shown.thresholds == ours.thresholds
    assert [(s.method, s.path) for s in shown.setup.steps] == [  # type: ignore[union-attr]
        (s.method, s.path)
        for s in ours.setup.steps  # type: ignore[union-attr]
    ]


def workloads(p: Profile) -> list[tuple[object, ...]]:
    """Each scenario's executor, start, flow name, tags and its steps' methods and paths."""
    return [
        (s.name, s.executor, s.start_time, s.exec, s.tags,
         [(st.method, st.path, st.think) for st in (s.flow.steps if s.flow else ())])
        for s in p.scenarios
    ]  # fmt: skip
