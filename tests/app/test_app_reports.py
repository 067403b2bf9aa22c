"""Saved reports in the console: opened on the summary screen, and one overlaid on another.

The reports are tests/fixtures/reports (tests/report_fixtures.py makes them): one
profile run twice, the second with 30% more load, slower and failing its p95.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from engine.report.review import read_review
from tests.app.test_app import NOW, SIZE, exited, new_app, profiles, start_run, text_of, until
from tests.report_fixtures import BASE, NEW
from tests.scripted import ScriptedFactory
from tui.app.app import SurgeApp, make_app
from tui.app.screens.open_report import ReportModal
from tui.app.screens.picker import PickerScreen
from tui.app.screens.summary import SummaryScreen
from tui.app.widgets.comparison import ComparisonPanel
from tui.app.widgets.plots import TimePlot
from tui.cli import main as cli

__all__ = ["profiles"]  # the fixture, shared with test_app


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """Both reports in a reports folder, the new one newer (as it would be on disk)."""
    folder = tmp_path / "reports"
    folder.mkdir()
    for age, source in ((100, BASE), (10, NEW)):
        target = folder / source.name
        shutil.copy(source, target)
        stamp = 1_700_000_000 - age
        os.utime(target, (stamp, stamp))
    return folder


def report_app(folder: Path, file: str | None = None, base: str | None = None) -> SurgeApp:
    return make_app(
        search_default_dirs=False,
        report_dir=folder,
        now=lambda: NOW,
        review=read_review(folder / file) if file else None,
        base=read_review(folder / base) if base else None,
    )


def summary(pilot: Pilot) -> SummaryScreen:
    screen = pilot.app.screen
    assert isinstance(screen, SummaryScreen)
    return screen


def plots(screen: SummaryScreen) -> list[TimePlot]:
    return list(screen.query("#summary-plots > TimePlot").results(TimePlot))


async def dialog(pilot: Pilot, key: str) -> ReportModal:
    """`key` (o or c) pressed on the summary screen, once it is up: its report dialog."""
    await until(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen))
    await pilot.press(key)
    modal = pilot.app.screen
    assert isinstance(modal, ReportModal)
    return modal


def notified(app: SurgeApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_report_opens_on_the_summary_screen_over_the_picker(reports: Path) -> None:
    app = report_app(reports, NEW.name)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        screen = summary(pilot)
        assert screen.review.source == reports / NEW.name
        assert "FAILED: 1 of 2 thresholds" in text_of(app, "#verdict")
        figures = "671 req · latency p95 6.46ms, p99 6.61ms · 0.75% errors"
        assert figures in text_of(app, "#verdict")
        assert "exit code" not in text_of(app, "#verdict")  # a report keeps none
        text = text_of(app, "#summary-text")
        assert "shop → http://127.0.0.1:9" in text and "✗ 'p(95)<6' p(95)=6.459ms" in text
        assert f"report {reports / NEW.name}" in text_of(app, "#saved")
        assert all(len(plot._rows) == 12 and not plot.base for plot in plots(screen))
        assert not screen.query_one(ComparisonPanel).display
        keys = {b.binding.action for b in screen.active_bindings.values()}
        assert {"open", "compare", "new"} <= keys and not {"save", "again"} & keys
        await pilot.press("n")  # nothing unsaved: straight to the picker beneath
        assert isinstance(app.screen, PickerScreen)


async def test_o_opens_another_report_from_the_recent_list(reports: Path) -> None:
    app = report_app(reports, NEW.name)
    async with app.run_test(size=SIZE) as pilot:
        modal = await dialog(pilot, "o")
        # Newest first, but the report on screen goes last: the base is the likely pick.
        assert modal.recent == [reports / BASE.name, reports / NEW.name]
        assert modal.query_one("#report-path", Input).value == str(reports / BASE.name)
        await pilot.press("down", "down")  # into the list, onto the second report
        assert modal.query_one("#recent", OptionList).has_focus
        assert modal.query_one("#report-path", Input).value == str(reports / NEW.name)
        await pilot.press("up", "enter")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, SummaryScreen)
                and app.screen.review.source == reports / BASE.name
            ),
        )
        assert "PASSED: all 2 thresholds held" in text_of(app, "#verdict")
        assert len(app.screen_stack) == 3  # default, picker, summary: replaced, not piled


async def test_c_overlays_a_base_report_and_compares_the_headline_figures(reports: Path) -> None:
    app = report_app(reports, NEW.name)
    async with app.run_test(size=SIZE) as pilot:
        await dialog(pilot, "c")
        screen = app.screen_stack[-2]
        assert isinstance(screen, SummaryScreen)
        await pilot.press("enter")  # the default: the base report
        await until(pilot, lambda: app.screen is screen and screen.base is not None)
        base = read_review(BASE)
        latency, rate, load = plots(screen)
        for plot in (latency, rate, load):
            assert plot.base == base.timeline
        assert "p95 (base)" in latency.border_subtitle and "p99 (base)" in latency.border_subtitle
        assert "p50 (base)" not in latency.border_subtitle
        assert "req/s (base)" in rate.border_subtitle and "errors (base)" in rate.border_subtitle
        assert "achieved (base)" in load.border_subtitle
        panel = screen.query_one(ComparisonPanel)
        assert panel.display and panel.border_title == "against base shop-base.toml"
        table = text_of(app, "#comparison")
        for line in ("rps", "43.0/s", "55.9/s", "+30.0%", "better"):
            assert line in table
        assert "p95" in table and "+18.8%" in table and "worse ✗" in table
        assert "p99" in table and "error rate" in table and "+0.16pp" in table
        assert "✗ regression beyond 10%: 5 figures" in table
        # whitespace evened: a long tmp path (xdist adds popen-gwN/) wraps the line
        assert f"base {reports / BASE.name}" in " ".join(text_of(app, "#saved").split())


async def test_report_open_compare_starts_overlaid_in_80_by_24_without_colour(
    reports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = report_app(reports, NEW.name, base=BASE.name)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        screen = summary(pilot)
        assert screen.query_one(ComparisonPanel).region.height >= 7
        # with a base overlaid the text keeps its pane (it used to vanish); g: the plots
        assert screen.query_one("#summary-text-box").region.height >= 5
        await pilot.press("g")
        await pilot.pause()
        assert all(plot.region.height >= 5 and plot.region.width >= 78 for plot in plots(screen))
        latency = plots(screen)[0]
        assert latency.border_title == "latency (log)  •p50 +p90 xp95 #p99"
        assert latency.border_subtitle == "%p95 (base) @p99 (base)"  # markers of their own


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("[meta\nbroken", "damaged TOML"),
        ("[meta]\nformat = 9\n[summary]\nrequests = 1\n", "report format 9 is not supported"),
    ],
)
async def test_a_bad_report_is_a_notification_and_the_dialog_stays(
    reports: Path, content: str | None, message: str
) -> None:
    bad = reports.parent / "bad.toml"
    if content is not None:
        bad.write_text(content)
    app = report_app(reports, NEW.name)
    async with app.run_test(size=SIZE) as pilot:
        modal = await dialog(pilot, "c")
        modal.query_one("#report-path", Input).value = str(bad)
        await pilot.press("enter")
        await until(pilot, lambda: any(message in m for m in notified(app)))
        assert app.screen is modal and app.is_running
        assert message in text_of(app, "#report-error")
        await pilot.press("escape")
        assert summary(pilot).base is None


async def test_o_on_an_unsaved_run_asks_first_then_the_report_takes_its_place(
    profiles: Path, reports: Path
) -> None:
    """`o` asks before an unsaved run's summary gives way (escape keeps it; d discards)."""
    factory = ScriptedFactory(intervals=2, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        run_summary = app.screen
        await pilot.press("o", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "UnsavedModal")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is run_summary)
        await pilot.press("o", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "UnsavedModal")
        await pilot.press("d")
        await until(
            pilot, lambda: isinstance(app.screen, SummaryScreen) and app.screen is not run_summary
        )
        assert summary(pilot).review.source is not None and app.session is None
        await pilot.press("q")  # discarded: nothing to ask about
        await exited(app)


async def test_a_run_s_summary_opens_a_report_and_quit_still_asks_about_the_run(
    profiles: Path, reports: Path
) -> None:
    """Saved first when `o` asks, the run's summary gives way to the report."""
    factory = ScriptedFactory(intervals=2, hold=True)
    app = new_app(profiles, factory)  # its reports folder is `reports`
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        await pilot.press("c", "enter")  # the newest report as the base of this run
        screen = summary(pilot)
        await until(pilot, lambda: screen.base is not None)
        assert screen.base.source == reports / NEW.name and screen.session is not None
        assert screen.query_one(ComparisonPanel).border_title == "against base shop-new.toml"
        await pilot.press("o", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "UnsavedModal")
        await pilot.press("w")  # save it first, then the report
        await until(
            pilot, lambda: isinstance(app.screen, SummaryScreen) and app.screen is not screen
        )
        assert summary(pilot).session is None
        assert app.session is not None and app.session.saved_to is not None


def test_report_open_reads_both_reports_before_taking_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[tuple[object, ...]] = []
    monkeypatch.setattr("tui.cli.app_cmd.open_review", lambda *args: opened.append(args) or 0)
    assert cli.main(["report", "open", str(NEW), "--compare", str(BASE)]) == 0
    ((review, base, folder),) = opened
    assert review.source == NEW and base.source == BASE and folder == "reports"

    missing = tmp_path / "missing.toml"
    assert cli.main(["report", "open", str(NEW), "--compare", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"surge report: error: {missing}: no such file\n"
    assert len(opened) == 1
