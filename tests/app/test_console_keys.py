"""Every key a screen answers is in its footer or in `?` help at 80x24; the rollout's
keys no longer push `w Save` out of the footer; `v` reaches what the side panel hides."""

from __future__ import annotations

from pathlib import Path

from tests.app.screen_text import screen_lines, screen_text
from tests.app.test_app import new_app, profiles, start_run, until
from tests.app.test_deploy_panel import Rig, canary
from tests.scripted import ScriptedFactory
from tui.app.app import SurgeApp
from tui.app.screens.help import HelpScreen, answered_keys
from tui.app.screens.summary import SummaryScreen

__all__ = ["profiles"]
SMALL = (80, 24)


def footer(app: SurgeApp) -> str:
    return screen_lines(app)[-1].rstrip()


async def keys_said(app: SurgeApp, pilot: object) -> None:
    """Each key the screen answers, in the footer or else in the `?` help on screen."""
    screen = app.screen
    keys = answered_keys(screen)
    line = footer(app)
    assert "? Keys" in line
    await pilot.press("question_mark")  # type: ignore[attr-defined]
    await until(pilot, lambda: isinstance(app.screen, HelpScreen))  # type: ignore[arg-type]
    shown = screen_text(app)
    for key, what, _ in keys:
        assert f"{key} {what}" in line or (key in shown and what in shown), (key, what)
    await pilot.press("escape")  # type: ignore[attr-defined]
    await until(pilot, lambda: app.screen is screen)  # type: ignore[arg-type]


async def test_with_a_rollout_the_footer_keeps_w_save_and_says_where_the_rest_is(
    profiles: Path,
) -> None:
    rig = Rig(canary(), intervals=30)
    app = rig.app(profiles)
    async with app.run_test(size=SMALL) as pilot:
        await start_run(pilot, rig.factory, snapshots=2)
        line = footer(app)
        for entry in ("w Save", "D Rollout", "P Promote", "R Rollback", "q Quit", "? Keys"):
            assert entry in line, line
        assert len(line) <= 80 and "…" not in line
        await keys_said(app, pilot)
        await pilot.press("question_mark")
        assert "x" in screen_text(app) and "Abort" in screen_text(app)  # spared, not lost


async def test_every_screen_says_every_key_at_80_by_24(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=3, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await keys_said(app, pilot)  # the picker
        await start_run(pilot, factory, snapshots=1)
        await keys_said(app, pilot)  # the run
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        await keys_said(app, pilot)  # the summary


async def test_v_brings_checks_statuses_and_steps_into_view_at_80_by_24(profiles: Path) -> None:
    """At 80x24 they were below the side panel's fold, reachable only by Tab+PageDown."""
    factory = ScriptedFactory(intervals=3, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SMALL) as pilot:
        await start_run(pilot, factory, snapshots=2)
        side = app.screen.query_one("#run-side")
        assert "v Panels" in footer(app)
        for part in ("#thresholds", "#checks", "#statuses", "#steps"):
            widget = app.screen.query_one(part)
            await pilot.press("v")
            await pilot.pause()
            top = widget.region.y
            assert side.region.y <= top < side.region.bottom, (part, widget.region, side.region)
        steps = app.screen.query_one("#steps")
        assert steps.region.y > 0 and side.scroll_y > 0  # it scrolled to get there
