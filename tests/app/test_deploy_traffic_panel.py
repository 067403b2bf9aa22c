"""The deploy panel with cohort and mirror steps, driven by Pilot: the steps in the
timeline, the cohort's row under green's figures, the mirror's counters while it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.deploy.driver import DeployDriver
from engine.deploy.strategies import Analysis, Canary, CohortStep, MirrorStep
from engine.deploy.strategies.traffic import MirrorCounts, Route, RouteKind
from tests.app.test_app import SIZE, profiles, start_run, text_of, until
from tests.app.test_deploy_panel import Rig
from tui.app.session import RunSetup

__all__ = ["profiles"]

SMALL = (80, 24)
BETA = Route(RouteKind.HEADER, "x-beta", "green", value="1", cohort="beta")
A = Analysis(interval=60.0, min_requests=10, max_p99_ratio=None, max_success_drop=None)


class TrafficRig(Rig):
    """The rig's driver with the profile's routes."""

    def deploy(self, setup: RunSetup) -> DeployDriver:
        self.driver = DeployDriver(
            self.strategy, None, clock=self.clock, autostart=True, routes=(BETA,)
        )
        return self.driver


async def test_a_cohort_step_is_in_the_timeline_and_its_row_under_green_until_the_end(
    profiles: Path,
) -> None:
    rig = TrafficRig(Canary(A, steps=[CohortStep(), 50]), intervals=30)
    app = rig.app(profiles)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, rig.factory)
        driver = rig.driver
        assert driver is not None
        await until(pilot, lambda: driver.routes_on)
        await pilot.pause()
        assert "step 1/2: cohort (routes on, green 0%)" in text_of(app, "#deploy-timeline")
        assert "· beta 0 req" in text_of(app, "#deploy-green-figures")
        driver.rollback()
        redraw(app)
        await pilot.pause()
        assert not driver.routes_on and "beta" not in text_of(app, "#deploy-green-figures")


def redraw(app: Any) -> None:
    app.screen.query_one("DeployPanel").refresh_from_driver()


async def test_a_mirror_step_shows_its_counters_in_greens_place_at_any_size(
    profiles: Path,
) -> None:
    rig = TrafficRig(Canary(A, steps=[MirrorStep(100, 30.0), 50]), intervals=30)
    app = rig.app(profiles)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, rig.factory)
        driver = rig.driver
        assert driver is not None
        await until(pilot, lambda: driver.mirror == 100)
        await pilot.pause()
        before = text_of(app, "#deploy-green-figures")
        assert "mirror 100% → green" in before and "no pairs compared yet" in before
        assert "step 1/2: mirror 100% 30s" in text_of(app, "#deploy-timeline")
        driver.book.mirror = MirrorCounts(120, 2, 1, 0, {10: 120}, {12: 120})
        redraw(app)
        await pilot.pause()
        after = text_of(app, "#deploy-green-figures")
        assert "mirror 100% → green, 120 pairs" in after
        assert "2 status, 1 body, 0 errors" in after and "p99 blue" in after
        await pilot.resize_terminal(*SMALL)
        await pilot.pause()
        redraw(app)
        await pilot.pause()
        # small: green's box names the step (the timeline's lines go to the latest verdict)
        assert "green mirror 100%: 120 pairs, 3 differ" in text_of(app, "#deploy-green-figures")
