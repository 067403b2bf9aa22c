"""A console rollout's end: quitting mid-rollout leaves the router as `on_exit` says and
the report keeps it (`stopped`); the load's own end makes it `unfinished`; a signal exits
with the rollout's code, as `surge run` does."""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from engine.deploy.strategies import Analysis, Canary, Phase, Weights
from engine.exit_codes import EXIT_ROLLED_BACK
from engine.report.document import read_report
from tests.app.test_app import SIZE, exited, profiles, start_run, until
from tests.app.test_deploy_panel import Rig, canary
from tui.app.app import SurgeApp
from tui.app.screens.summary import SummaryScreen

__all__ = ["profiles"]  # the fixture


async def cut_short(
    profiles: Path, end: Callable[[Pilot[int], Rig], Awaitable[object]]
) -> tuple[Rig, SurgeApp]:
    """A slow canary at its first step (90/10), then `end` cuts the run short."""
    slow = Canary(Analysis(interval=1000.0, min_requests=10), steps=[10, 100])
    rig = Rig(slow, intervals=3)
    app = rig.app(profiles)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, rig.factory)
        driver = rig.driver
        assert driver is not None
        await until(pilot, lambda: driver.weights == Weights(90, 10))
        await end(pilot, rig)
        await until(pilot, lambda: driver.final is not None)
        # the summary screen may still be mounting: let its header take its title before
        # the test app closes (Textual's header cannot set a title on a torn-down one)
        if app.is_running:
            await pilot.pause()
            await pilot.pause()
    return rig, app


async def save_and_quit(pilot: Pilot[int], _: Rig) -> None:
    await pilot.press("q")
    await pilot.press("q")  # save and quit


async def test_quit_mid_rollout_rolls_back_and_the_report_says_stopped(profiles: Path) -> None:
    rig, app = await cut_short(profiles, save_and_quit)
    driver = rig.driver
    assert driver is not None
    assert driver.phase is Phase.ROLLED_BACK and driver.weights == Weights(100, 0)
    assert driver.exited and app.return_code in (0, None)
    saved = sorted((profiles.parent / "reports").glob("*.toml"))
    assert saved, "the run was not saved"
    deploy = read_report(saved[-1]).deploy
    assert deploy is not None and deploy.outcome == "stopped"
    assert (deploy.blue_weight, deploy.green_weight) == (100, 0)
    assert deploy.on_exit == "rollback"


async def test_a_rollout_the_load_ran_out_on_is_unfinished_not_stopped(profiles: Path) -> None:
    """The run's shape ends before the verdict: the console's record says `unfinished`
    (exit code 4, as `surge run`), not `stopped` (which is for q, Ctrl+C, a signal)."""

    async def shape_ends(_: Pilot[int], rig: Rig) -> None:
        rig.factory.last.finish()  # the shape's end, not a stop

    rig, _ = await cut_short(profiles, shape_ends)
    driver = rig.driver
    assert driver is not None and driver.final is not None
    assert driver.final.outcome.value == "unfinished"
    assert driver.weights == Weights(100, 0)  # on_exit = rollback all the same


async def test_an_engine_crash_mid_rollout_still_leaves_the_router_at_blue(profiles: Path) -> None:
    from tests.scripted import ScriptedFactory

    slow = Canary(Analysis(interval=1000.0, min_requests=10), steps=[10, 100])
    rig = Rig(slow, intervals=3)
    rig.factory = ScriptedFactory(intervals=3, fail="engine broke", green=rig.green)
    app = rig.app(profiles)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")  # the run crashes at once: the error dialog, no run screen
        await until(pilot, lambda: rig.driver is not None and rig.driver.final is not None)
    driver = rig.driver
    assert driver is not None and driver.final is not None
    assert driver.weights == Weights(100, 0)
    assert driver.final.outcome.value == "stopped"


async def test_a_signal_after_a_rolled_back_run_exits_as_surge_run_does(profiles: Path) -> None:
    """SIGTERM on the summary of a run whose green rolled back: exit code 3 (the rollout's,
    by rollout_exit_code, as `surge run`'s), not the load's 0."""
    rig = Rig(canary(max_p99_ms=1.0), intervals=12)  # scripted green is 3x slower than 1 ms
    app = rig.app(profiles)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, rig.factory)
        driver = rig.driver
        assert driver is not None
        await until(pilot, lambda: driver.phase is Phase.ROLLED_BACK)
        rig.factory.last.finish()  # the shape's end
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        os.kill(os.getpid(), signal.SIGTERM)  # the loop's handler, as a real SIGTERM arrives
        await exited(app)
    assert app.return_value == EXIT_ROLLED_BACK
