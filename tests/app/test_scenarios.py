"""Several scenarios in the console: the picker's stacked preview, the scenario rows, the
plots' lines per scenario, steering one scenario or all, and the shipped
`shop-scenarios` profile run for real against `surge sut`."""

from __future__ import annotations

from tui.app.widgets.plots import LANE_HEIGHT, LaneShape, stacked
from tui.app.widgets.progress import scales_text
from tui.app.widgets.scenarios import executor_label


def test_the_preview_stacks_each_scenario_in_a_band_of_its_own_from_its_start_time() -> None:
    """One band per scenario, first on top, each against its own peak (VUs and rates do
    not add); a scenario that starts later is flat until its startTime."""
    browse = LaneShape("browse", 0.0, [(0.0, 20.0), (8.0, 20.0)], "iterations/s")
    buy = LaneShape("buy", 2.0, [(0.0, 0.0), (3.0, 4.0), (6.0, 0.0)], "VUs")
    (bx, by), (ux, uy) = stacked([browse, buy])
    assert bx == [0.0, 8.0] and by == [1 + LANE_HEIGHT, 1 + LANE_HEIGHT]  # the top band
    assert ux == [0.0, 2.0, 2.0, 5.0, 8.0]  # idle from 0 to 2 s, then its ramp
    assert uy == [0.0, 0.0, 0.0, LANE_HEIGHT, 0.0]  # its own peak of 4 VUs at the top


def test_steered_scales_read_per_scenario() -> None:
    assert scales_text(1.0, {}) == ""
    assert scales_text(1.1, {}) == "target ×1.10"
    assert scales_text(1.0, {"buy": 0.8, "browse": 1.0}) == "buy ×0.80"


def test_executors_read_short_at_80_columns_and_whole_when_wide() -> None:
    assert executor_label("constant-arrival-rate", wide=False) == "const rate"
    assert executor_label("constant-arrival-rate", wide=True) == "constant-arrival-rate"
