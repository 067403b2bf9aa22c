"""The picker offers `capacity` beside breakpoint, saying what it does, and previews the
search it will run (its first steps, from the profile's `capacity`), not a shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, OptionList

from engine.explore.capacity import CapacitySettings
from tests.app.test_app import SHOP, new_app, text_of, until
from tui.app.screens.picker import PickerScreen, search_line, search_preview
from tui.app.widgets.plots import ShapePreview

SIZE = (120, 36)
SEARCH = 'capacity = { hold = "2s", start = 40, max = 500, precision = 0.1 }\n'


def test_the_preview_is_the_searchs_way_up_each_step_held() -> None:
    points = search_preview(CapacitySettings(hold=2.0, start=40, max=500), steps=6)
    steps = points[::2]
    assert [rate for _, rate in steps] == [40, 80, 160, 320, 500]  # doubling, to max
    assert [t for t, _ in steps] == [0, 2, 4, 6, 8]
    assert len(search_preview(CapacitySettings(start=10), steps=6)) == 12  # six steps


def test_the_line_under_the_preview_says_how_it_searches() -> None:
    line = search_line(CapacitySettings(hold=2.0, start=40, max=500, precision=0.1))
    assert line == (
        "a search from 40/s, doubling each 2s step until one fails the thresholds, "
        "then bisecting to 10% (at most 500/s)"
    )


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "shop.toml").write_text(SHOP.replace("time_scale = 0.01\n", SEARCH))
    return folder


async def test_capacity_is_offered_after_breakpoint_with_its_search(profiles: Path) -> None:
    app = new_app(profiles)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PickerScreen)
        types = screen.query_one("#types", OptionList)
        ids = [types.get_option_at_index(i).id for i in range(types.option_count)]
        assert ids.index("capacity") == ids.index("breakpoint") + 1
        prompt = str(types.get_option_at_index(ids.index("capacity")).prompt)
        assert "the highest arrival rate that holds the thresholds" in prompt
        await pilot.press("ctrl+t", *["down"] * ids.index("capacity"))
        await until(pilot, lambda: screen.test_type == "capacity")
        assert text_of(app, "#plan-describe").startswith("a search from 40/s, doubling each 2s")
        preview = screen.query_one(ShapePreview)
        assert preview._points == search_preview(CapacitySettings(2.0, 40, 500, 0.1))
        rate = screen.query_one("#f-rate", Input)
        rate.value = "25"  # --rate N: the search starts there
        await until(pilot, lambda: text_of(app, "#plan-describe").startswith("a search from 25/s"))
        assert preview._points[0] == (0.0, 25.0)
