"""The small things a new user trips on: visible focus, `–` for no data, the achieved rate
where it belongs in time."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.widget import Widget

from tests.app.test_app import SIZE, new_app, profiles
from tui.app.screens.picker import PickerScreen
from tui.app.widgets.figures import NO_DATA, ms_or_none
from tui.app.widgets.plots import LoadPlot

__all__ = ["profiles"]


def drawn(app: object, widget: Widget) -> list[object]:
    """The segments (text and style) drawn where the widget's field or pane is."""
    region = (widget.parent if isinstance(widget.parent, Widget) else widget).region
    strips = app.screen._compositor.render_strips()  # type: ignore[attr-defined]
    rows = strips[region.y : region.bottom]
    return [list(row.crop(region.x, region.right)) for row in rows]


async def test_every_focus_stop_shows_that_it_has_the_focus(profiles: Path) -> None:
    app = new_app(profiles)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PickerScreen)
        await pilot.press("ctrl+g", "tab")  # Tab from the goal box
        assert app.focused is not None and app.focused.id == "types"
        chain = list(screen.focus_chain)
        assert "picker-right" not in [w.id for w in chain]  # no stop with nothing to show
        for widget in chain:
            for w in (widget, *chain):  # focus elsewhere, then on it
                if w is not widget:
                    w.focus()
                    break
            await pilot.pause()
            before = drawn(app, widget)
            widget.focus()
            await pilot.pause()
            assert drawn(app, widget) != before, f"{widget!r} shows no focus"


def test_a_figure_with_no_data_reads_a_dash() -> None:
    assert ms_or_none(0.0, 0) == NO_DATA == "–"
    assert ms_or_none(4.2, 10) == "4.20ms"


def test_the_achieved_rate_is_drawn_mid_interval_where_its_mean_belongs() -> None:
    rows = [SimpleNamespace(t=1.0, dt=1.0), SimpleNamespace(t=2.0, dt=1.0)]
    assert LoadPlot(open_model=True).achieved_at(rows) == [0.5, 1.5]  # type: ignore[arg-type]
    assert LoadPlot(open_model=False).achieved_at(rows) == [1.0, 2.0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("right", "ticks"),
    [
        (10, [0, 5, 10]),
        (15, [0, 5, 10, 15]),
        (24, [0, 10, 20]),
        (48, [0, 15, 30, 45]),
        (100, [0, 30, 60, 90]),
        (3600, [0, 900, 1800, 2700, 3600]),
    ],
)
def test_time_ticks_are_round_clock_times(right: float, ticks: list[float]) -> None:
    from engine.durations import clock
    from tui.app.widgets.plots import time_ticks

    assert time_ticks(right) == ticks
    assert all(clock(t).endswith(("0", "5")) for t in ticks)  # 0:15, never 0:11
