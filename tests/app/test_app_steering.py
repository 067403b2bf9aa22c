"""Steering by hand through the console, on a real run: the summary and the report keep it."""

from __future__ import annotations

import re
from pathlib import Path

from textual.widgets import Label

from engine.profile.plan import Overrides
from engine.report.document import read_report
from tests.app.test_app import SIZE, save_and_quit, text_of, until
from tui.app.app import make_app
from tui.app.screens.modals import TargetModal
from tui.app.screens.run import RUN_PLOTS, RunScreen
from tui.app.screens.summary import SummaryScreen
from tui.app.widgets.plots import TimePlot

CLOCK = r"\d:\d\d"


async def test_pause_and_two_new_targets_are_in_the_summary_the_plots_and_the_report(
    shared_sut: str, tmp_path: Path
) -> None:
    """The issue's walk: pause, set the target to 240, then 50 (a 200 iters/s plan)."""
    profile = tmp_path / "steer.toml"
    profile.write_text(
        f'name = "steer"\nbase_url = "{shared_sut}"\n\n[[endpoints]]\nname = "home"\npath = "/"\n'
    )
    # Long enough never to end by itself on a busy machine: `s` ends it.
    overrides = Overrides(executor="constant-arrival-rate", rate=200.0, duration=60.0, workers=1)
    app = make_app(
        profile,
        start=True,
        search_default_dirs=False,
        overrides=overrides,
        report_dir=tmp_path / "reports",
    )
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await until(pilot, lambda: screen.snapshots_seen >= 1, timeout=15)

        await pilot.press("p")
        paused_at = screen.snapshots_seen
        await until(pilot, lambda: screen.snapshots_seen >= paused_at + 2)  # 2 s
        await pilot.press("p")
        for value in ("240", "50"):
            await pilot.press("t")
            assert isinstance(app.screen, TargetModal)
            now = str(app.screen.query(Label)[1].content)
            assert re.match(r"Now [\d,]+(\.\d)? iterations/s;", now), now  # never 66.7355
            await pilot.press(*value, "enter")
            assert isinstance(app.screen, RunScreen)
            seen = screen.snapshots_seen  # the plots draw the new mark with the next one
            await until(pilot, lambda seen=seen: screen.snapshots_seen > seen)
        marks = [len(p.marks) for p in screen.query(RUN_PLOTS).results(TimePlot)]
        assert len(marks) >= 3 and set(marks) == {4}  # pause, resume, 240, 50 on every plot

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen), timeout=30)
        summary = " ".join(text_of(app, "#summary-text").split())
        said = rf"up to 200 iters/s .*, steered by hand: paused {CLOCK}-{CLOCK}, 240 at {CLOCK}, "
        assert re.search(said + rf"50 at {CLOCK}", summary), summary[:400]
        assert "STEERED BY HAND" in summary and "target 240 → 50 iters/s" in summary
        plots = app.screen.query("#summary-plots > TimePlot").results(TimePlot)
        assert [len(p.marks) for p in plots] == [4, 4, 4]

        target = tmp_path / "reports" / "steer.toml"
        await save_and_quit(pilot, target)

    steering = read_report(target).meta.steering
    assert [e.what for e in steering] == ["pause", "resume", "target", "target", "stop"]
    assert [(e.from_, e.to) for e in steering[2:4]] == [(200, 240), (240, 50)]
    t = [e.t for e in steering]
    assert t == sorted(t) and t[1] - t[0] >= 1.5  # paused for two intervals
