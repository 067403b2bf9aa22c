"""The deploy panel, driven by Pilot: a scripted run split by color and a driver with no proxy.

The driver's clock is the scripted run's own time, so every window, verdict and
banner happens at the same interval on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.geometry import Region

from engine.deploy.driver import DeployDriver
from engine.deploy.smoke import SmokeTarget
from engine.deploy.strategies import (
    Analysis,
    Canary,
    EventKind,
    Manual,
    Phase,
    Strategy,
    Switch,
    Weights,
)
from tests.app.test_app import SIZE, new_app, profiles, start_run, text_of, until
from tests.scripted import ScriptedFactory
from tui.app.app import SurgeApp
from tui.app.session import RunSetup
from tui.app.widgets.deploy import DeployPanel

__all__ = ["profiles"]  # the fixture, shared with tests/test_app.py


class Rig:
    """A scripted controller whose traffic follows the driver's weights, and that driver."""

    def __init__(
        self,
        strategy: Strategy,
        *,
        autostart: bool = True,
        intervals: int = 12,
        delay: float = 0.0,
        smoke_target: SmokeTarget | None = None,
    ) -> None:
        self.strategy = strategy
        self.autostart = autostart
        self.smoke_target = smoke_target
        self.driver: DeployDriver | None = None
        self.factory = ScriptedFactory(
            intervals=intervals, hold=True, cpu=lambda k: 41.0, green=self.green, delay=delay
        )

    def green(self) -> int:
        return self.driver.weights.green if self.driver is not None else 0

    def clock(self) -> float:
        return self.factory.last.model.elapsed if self.factory.made else 0.0

    def deploy(self, setup: RunSetup) -> DeployDriver:
        self.driver = DeployDriver(
            self.strategy,
            None,
            clock=self.clock,
            autostart=self.autostart,
            smoke_target=self.smoke_target,
        )
        return self.driver

    def app(self, profiles: Path, **kwargs: Any) -> SurgeApp:
        return new_app(profiles, self.factory, deploy_factory=self.deploy, **kwargs)


def canary(max_p99_ms: float | None = None) -> Canary:
    analysis = Analysis(
        interval=3.0,
        min_requests=10,
        min_success_rate=0.9,
        max_p99_ms=max_p99_ms,
        max_p99_ratio=None,
        max_success_drop=None,
    )
    return Canary(analysis, steps=[10, 50, 100])


def footer_keys(app: SurgeApp) -> set[str]:
    return {b.key for _, b, enabled, _ in app.screen.active_bindings.values() if enabled}


async def test_canary_promotes_with_a_banner_and_the_bar_follows(profiles: Path) -> None:
    rig = Rig(canary(), intervals=12)
    app = rig.app(profiles)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, rig.factory)
        panel = app.screen.query_one(DeployPanel)
        assert not app.screen.query_one("#load-plot").display
        driver = rig.driver
        assert driver is not None
        await until(pilot, lambda: driver.phase is Phase.PROMOTED)
        await pilot.pause()
        assert panel.banner is not None and panel.banner.startswith("PROMOTED")
        assert "0%" in text_of(app, "#deploy-bar") and "100% green" in text_of(app, "#deploy-bar")
        timeline = text_of(app, "#deploy-timeline")
        assert "analysis passed" in timeline and "promoted" in timeline
        assert any("Green promoted" in (n.title or "") for n in app._notifications)
        green = text_of(app, "#deploy-green-figures")
        assert "req/s" in green and "p99" in green


async def test_slow_green_rolls_back_with_a_banner(profiles: Path) -> None:
    rig = Rig(canary(max_p99_ms=1.0))  # scripted green is 3x slower than 1 ms
    app = rig.app(profiles)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, rig.factory)
        driver = rig.driver
        assert driver is not None
        await until(pilot, lambda: driver.phase is Phase.ROLLED_BACK)
        await pilot.pause()
        panel = app.screen.query_one(DeployPanel)
        assert panel.banner is not None and panel.banner.startswith("ROLLED BACK")
        assert "analysis failed" in text_of(app, "#deploy-timeline")
        assert driver.weights == Weights(100, 0)


async def test_keys_start_pause_promote_and_roll_back(profiles: Path) -> None:
    rig = Rig(canary(), autostart=False, intervals=3)
    app = rig.app(profiles)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, rig.factory)
        driver = rig.driver
        assert driver is not None and driver.phase is Phase.READY
        keys = footer_keys(app)
        assert {"D", "P", "R"} <= keys and "right_square_bracket" not in keys
        await pilot.press("D")
        assert driver.phase is Phase.RUNNING and driver.weights == Weights(90, 10)
        await pilot.press("D")
        assert driver.phase is Phase.PAUSED
        assert "paused: D resumes" in str(app.screen.query_one(DeployPanel).border_title)
        await pilot.press("D")
        assert driver.phase is Phase.RUNNING
        await pilot.press("P")
        assert driver.weights == Weights(0, 100)
        await pilot.press("R")
        assert driver.weights == Weights(100, 0) and driver.phase is Phase.ROLLED_BACK
        await pilot.pause()
        kinds = [e.kind for e in driver.events]
        assert kinds[-2:] == [EventKind.PROMOTED, EventKind.ROLLED_BACK]
        assert "ROLLED BACK" in (app.screen.query_one(DeployPanel).banner or "")


async def test_manual_brackets_move_green_by_ten_percent(profiles: Path) -> None:
    rig = Rig(Manual(10), intervals=3)
    app = rig.app(profiles)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, rig.factory)
        driver = rig.driver
        assert driver is not None
        assert "right_square_bracket" in footer_keys(app)
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        assert driver.weights == Weights(70, 30)
        await pilot.press("left_square_bracket")
        assert driver.weights == Weights(80, 20)
        await pilot.pause()
        assert "80%" in text_of(app, "#deploy-bar") and "20% green" in text_of(app, "#deploy-bar")


async def test_no_deploy_panel_or_keys_without_a_driver(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=2, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory)
        assert not app.screen.query(DeployPanel)
        assert not {"D", "P", "R"} & footer_keys(app)


async def test_a_profile_with_a_deploy_table_opens_the_panel(profiles: Path) -> None:
    deploy = (
        "\n[deploy]\nblue = ['http://127.0.0.1:9']\ngreen = ['http://127.0.0.1:10']\n"
        "admin_port = 9\nstrategy = 'manual'\n"
    )
    (profiles / "shop.toml").write_text((profiles / "shop.toml").read_text() + deploy)
    factory = ScriptedFactory(intervals=2, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory)
        assert app.screen.query(DeployPanel)
        assert {"D", "P", "R"} <= footer_keys(app)


SMALL = (80, 24)


def fits(app: SurgeApp, selector: str) -> Region:
    """The widget's region, asserted whole inside the deploy panel and above the footer."""
    panel = app.screen.query_one(DeployPanel)
    widget = app.screen.query_one(selector)
    footer = app.screen.query_one("Footer")
    assert widget.region.height >= 1, selector
    assert panel.content_region.contains_region(widget.region), selector
    assert panel.region.bottom <= footer.region.y, "the panel runs under the footer"
    return widget.region


async def test_a_smoke_run_and_its_outcome_fit_80_by_24(
    profiles: Path, sut: Callable[..., str]
) -> None:
    """Real smoke requests to a green demo server; the window is on the scripted clock."""
    green = sut("--color", "green")
    analysis = Analysis(interval=25.0, min_requests=5, max_p99_ratio=None, max_success_drop=None)
    rig = Rig(
        Switch(analysis),
        autostart=False,
        intervals=100,
        # 5 scripted seconds a second: the smoke window is 5 s, room for the smoke worker to
        # start (0.5 s, more on a loaded machine) and still be seen smoking
        delay=0.2,
        smoke_target=SmokeTarget(green, rate=50),
    )
    app = rig.app(profiles)
    async with app.run_test(size=SMALL) as pilot:
        await start_run(pilot, rig.factory)
        driver = rig.driver
        assert driver is not None
        panel = app.screen.query_one(DeployPanel)
        await pilot.press("D")
        await until(pilot, lambda: driver.smoking and driver.window["green"].requests > 0)
        assert panel.has_class("-compact")
        assert "smoking green" in str(panel.border_title)
        line = text_of(app, "#deploy-green-figures")
        assert line.startswith("green smoke") and "req" in line and "p99" in line
        assert "0% green" in text_of(app, "#deploy-bar")
        assert fits(app, "#deploy-green-figures").width >= len(line.rstrip())
        for part in ("#deploy-banner", "#deploy-bar", "#deploy-blue-figures", "#deploy-timeline"):
            fits(app, part)
        assert fits(app, "#deploy-timeline").height == 3
        assert "smoke started" in text_of(app, "#deploy-timeline")

        await until(pilot, lambda: driver.phase is Phase.PROMOTED)
        await pilot.pause()
        assert (panel.banner or "").startswith("PROMOTED")
        fits(app, "#deploy-banner")
        timeline = text_of(app, "#deploy-timeline")
        assert "analysis passed" in timeline and "promoted" in timeline
        assert text_of(app, "#deploy-green-figures").startswith("green")
        assert not driver.smoking
