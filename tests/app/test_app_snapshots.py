"""Snapshots of the picker, a live run, the summary and a report compared (pytest-textual-snapshot).

Everything on screen is deterministic: a scripted controller feeds fixed
intervals (no traffic, fixed CPU figures), the clock is pinned, cursors do not
blink, and nothing shows wall-clock time. Update with `--snapshot-update` after
an intended change, and look at the SVGs before committing them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from engine.deploy.driver import DeployDriver
from engine.report.review import read_review
from tests.app.test_app import NOW, SHOP, until
from tests.app.test_scenarios import SHOP3, at_second, console
from tests.conftest import ROOT
from tests.report_fixtures import BASE, NEW
from tests.scripted import ScriptedFactory
from tui.app.app import SurgeApp, make_app
from tui.app.screens.run import RunScreen
from tui.app.screens.summary import SummaryScreen

SIZE = (120, 36)
Snap = Callable[..., bool]


@pytest.fixture
def app(tmp_path: Path) -> tuple[SurgeApp, ScriptedFactory]:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "shop.toml").write_text(SHOP)
    (folder / "zz-broken.toml").write_text('name = "broken"\nbase_url = 12\n')
    factory = ScriptedFactory(intervals=12, hold=True, cpu=lambda k: 41.0)
    surge = make_app(
        search_default_dirs=False,
        profiles=[folder],
        controller_factory=factory,
        report_dir=tmp_path / "reports",
        now=lambda: NOW,
    )
    return surge, factory


async def steady(pilot: Pilot) -> None:
    """No blinking cursor; plots given time to draw (they redraw at most 4 times a second)."""
    for widget in pilot.app.screen.query("Input, TextArea"):
        assert isinstance(widget, Input | TextArea)
        widget.cursor_blink = False
    await pilot.pause(0.3)


async def to_run(pilot: Pilot, factory: ScriptedFactory, elapsed: int = 12) -> None:
    await pilot.press("ctrl+t", "down", "ctrl+r")  # average: a ramping shape
    await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and bool(factory.made))
    screen = pilot.app.screen
    assert isinstance(screen, RunScreen)
    await until(
        pilot, lambda: screen.session.last is not None and screen.session.last.elapsed == elapsed
    )


def test_picker(snap_compare: Snap, app: tuple[SurgeApp, ScriptedFactory]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("ctrl+t", "down")  # average: the preview shows the ramp
        await steady(pilot)

    assert snap_compare(app[0], terminal_size=SIZE, run_before=run_before)


def test_run_screen(snap_compare: Snap, app: tuple[SurgeApp, ScriptedFactory]) -> None:
    surge, factory = app

    async def run_before(pilot: Pilot) -> None:
        await to_run(pilot, factory)
        await steady(pilot)

    assert snap_compare(surge, terminal_size=SIZE, run_before=run_before)


def test_summary(snap_compare: Snap, app: tuple[SurgeApp, ScriptedFactory]) -> None:
    surge, factory = app

    async def run_before(pilot: Pilot) -> None:
        await to_run(pilot, factory)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen))
        await steady(pilot)

    assert snap_compare(surge, terminal_size=SIZE, run_before=run_before)


def test_summary_of_a_report_with_a_base_overlaid(
    snap_compare: Snap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`surge report open NEW --compare BASE` on the fixture reports, by relative paths
    (they are on screen): the same picture on every machine."""
    monkeypatch.chdir(ROOT)
    surge = make_app(
        search_default_dirs=False,
        review=read_review(NEW.relative_to(ROOT)),
        base=read_review(BASE.relative_to(ROOT)),
        report_dir=NEW.parent.relative_to(ROOT),
    )

    async def run_before(pilot: Pilot) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen))
        await steady(pilot)

    assert snap_compare(surge, terminal_size=SIZE, run_before=run_before)


# Beside the fixtures, not in __snapshots__, where syrupy would delete it as unused.
DEPLOY_BASELINE = Path(__file__).parents[1] / "fixtures" / "deploy_panel.svg"


def _normalized(svg: str) -> str:
    """The SVG without rich's `terminal-<hash>` id, which is not stable between processes
    for this screen (the pixels and the text are): the comparison is of what is drawn."""
    return re.sub(r"terminal-\d+", "terminal", svg)


async def test_run_screen_with_deploy_panel(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """A canary against a scripted green that is 3x slower: mid-rollout, deterministic."""
    from tests.app.test_deploy_panel import Rig, canary

    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "shop.toml").write_text(SHOP)
    rig = Rig(canary(), intervals=5, delay=0.15)  # every snapshot handled: same plots
    surge = make_app(
        search_default_dirs=False,
        profiles=[folder],
        controller_factory=rig.factory,
        deploy_factory=rig.deploy,
        report_dir=tmp_path / "reports",
        now=lambda: NOW,
    )
    async with surge.run_test(size=SIZE) as pilot:
        await to_run(pilot, rig.factory, elapsed=5)
        await steady(pilot)
        await pilot.pause(0.5)  # every plot past its redraw throttle with the last data
        svg = _normalized(surge.export_screenshot())
    if request.config.getoption("--snapshot-update", default=False):
        DEPLOY_BASELINE.write_text(svg, encoding="utf-8")
    assert svg == DEPLOY_BASELINE.read_text(encoding="utf-8"), (
        f"the deploy panel changed: look at it, then --snapshot-update ({DEPLOY_BASELINE})"
    )


# 80x24 (the project's smallest) and 160x48: every screen must be usable at both.
SIZES = [(80, 24), (160, 48)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_screen_at(
    snap_compare: Snap, app: tuple[SurgeApp, ScriptedFactory], size: tuple[int, int]
) -> None:
    surge, factory = app

    async def run_before(pilot: Pilot) -> None:
        await to_run(pilot, factory)
        await steady(pilot)

    assert snap_compare(surge, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_summary_at(
    snap_compare: Snap, app: tuple[SurgeApp, ScriptedFactory], size: tuple[int, int]
) -> None:
    """At 80x24 the text pane scrolled to the HTTP table: every figure of it in the picture."""
    surge, factory = app

    async def run_before(pilot: Pilot) -> None:
        await to_run(pilot, factory)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen))
        if size == (80, 24):
            pilot.app.screen.query_one("#summary-text-box").scroll_to(y=16, animate=False)
        await steady(pilot)

    assert snap_compare(surge, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_demo_screen_at(
    tmp_path: Path, request: pytest.FixtureRequest, size: tuple[int, int]
) -> None:
    """The run screen with a rollout (the demo's screen), mid-rollout, at both sizes."""
    from tests.app.test_deploy_panel import Rig, canary

    baseline = DEPLOY_BASELINE.with_name(f"deploy_panel_{size[0]}x{size[1]}.svg")
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "shop.toml").write_text(SHOP)
    rig = Rig(canary(), intervals=5, delay=0.15)
    surge = make_app(
        search_default_dirs=False,
        profiles=[folder],
        controller_factory=rig.factory,
        deploy_factory=rig.deploy,
        report_dir=tmp_path / "reports",
        now=lambda: NOW,
    )
    async with surge.run_test(size=size) as pilot:
        await to_run(pilot, rig.factory, elapsed=5)
        await steady(pilot)
        await pilot.pause(0.5)
        svg = _normalized(surge.export_screenshot())
    if request.config.getoption("--snapshot-update", default=False) or not baseline.exists():
        baseline.write_text(svg, encoding="utf-8")
    assert svg == baseline.read_text(encoding="utf-8"), (
        f"the demo screen changed: look at it, then --snapshot-update ({baseline})"
    )


RECIPES = """
[deploy]
strategy = "rolling"
admin_port = 9  # never asked: the dialog only shows what would start

[deploy.blue]
command = ["my-app", "--port", "{port}", "--name", "{instance}"]
instances = 3

[deploy.green]
command = ["my-app", "--port", "{port}", "--name", "{instance}", "--version", "2"]
instances = 3
"""


def test_start_instances_dialog_at_80x24(snap_compare: Snap, tmp_path: Path) -> None:
    """A profile whose colors are recipes: the commands, where their logs go, Start/Cancel."""
    from engine.deploy.setup import profile_driver
    from tui.app.screens.start_instances import StartInstancesModal
    from tui.app.session import RunSetup

    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "shop.toml").write_text(SHOP + RECIPES)

    def deploy(setup: RunSetup) -> DeployDriver:
        return profile_driver(setup.profile, log_dir=Path("/var/tmp/surge/instances"))

    surge = make_app(
        search_default_dirs=False,
        profiles=[folder],
        controller_factory=ScriptedFactory(intervals=1, hold=True),
        deploy_factory=deploy,
        report_dir=tmp_path / "reports",
        now=lambda: NOW,
    )

    async def run_before(pilot: Pilot) -> None:
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(pilot.app.screen, StartInstancesModal))
        await steady(pilot)

    assert snap_compare(surge, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_screen_with_scenarios_at(
    snap_compare: Snap, tmp_path: Path, size: tuple[int, int]
) -> None:
    """Three scenarios 6 s in: a row each (buy from 2 s, admin done), lines per scenario
    in the latency and rate plots with their names and start and end lines."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "shop3.toml").write_text(SHOP3)
    factory = ScriptedFactory(intervals=6, hold=True, cpu=lambda k: 41.0)
    surge = console(folder, factory)

    async def run_before(pilot: Pilot) -> None:
        await at_second(pilot, factory, 6)
        await steady(pilot)

    assert snap_compare(surge, terminal_size=size, run_before=run_before)
