"""`h` on the summary screen: the report as one HTML page, beside the report it shows (a
run's own: where `w` saves it), the base overlaid when one is; the path said in a
notification."""

from __future__ import annotations

from pathlib import Path

from tests.app.screen_text import screen_lines
from tests.app.test_app import SIZE, new_app, profiles, start_run, until
from tests.app.test_app_reports import dialog, notified, report_app, reports, summary
from tests.report_fixtures import NEW
from tests.scripted import ScriptedFactory
from tui.app.screens.summary import SummaryScreen

__all__ = ["profiles", "reports"]  # the fixtures


async def written(pilot: object, app: object, path: Path) -> str:
    """Press h; the page at `path` once the notification says so."""
    await pilot.press("h")  # type: ignore[attr-defined]
    said = f"HTML report written to {path}"
    await until(pilot, lambda: said in notified(app))  # type: ignore[arg-type]
    return path.read_text(encoding="utf-8")


async def test_h_writes_a_saved_reports_page_beside_it_with_the_base_compared(
    reports: Path,
) -> None:
    app = report_app(reports, NEW.name)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert "h HTML" in screen_lines(app)[-1]
        page = await written(pilot, app, reports / "shop-new.html")
        assert 'data-figure="p99"' in page and "data-change=" not in page
        await dialog(pilot, "c")
        await pilot.press("enter")  # the default: the base report
        await until(pilot, lambda: summary(pilot).base is not None)
        compared = await written(pilot, app, reports / "shop-new.html")
        assert "data-change=" in compared  # each figure with its change against the base


async def test_h_on_a_runs_summary_writes_where_w_saves_then_beside_the_saved_report(
    profiles: Path,
) -> None:
    factory = ScriptedFactory(intervals=3, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory, snapshots=2)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        session = summary(pilot).session
        assert session is not None and session.saved_to is None
        unsaved = session.default_path.with_suffix(".html")
        assert unsaved.parent == profiles.parent / "reports"
        assert 'data-figure="requests"' in await written(pilot, app, unsaved)
        saved = await session.save(profiles.parent / "kept" / "run.toml", session.result)
        assert 'data-figure="requests"' in await written(pilot, app, saved.with_suffix(".html"))
