"""The shipped multi-scenario profile (`shop-scenarios`) in the console, as a user starts
it: each scenario a row that goes waiting -> running -> done, the run ending by itself,
the report holding a `[scenarios.NAME]` section each, and no process left."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.journeys.harness import SIZES, Journey, needs_terminal

pytestmark = needs_terminal

SCENARIOS = ("browse", "buy", "admin")


def row(screen: str, name: str) -> str:
    """The scenario table's line of `name` (it starts with the name, the state in it)."""
    for line in screen.splitlines():
        if re.search(rf"(^|[│ ]){name} ", line) and re.search(r"waiting|running|done", line):
            return line
    return ""


def all_rows(screen: str) -> bool:
    return all(row(screen, name) for name in SCENARIOS)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_shop_scenarios_shows_a_row_per_scenario_and_reports_each(
    journey: Journey, shared_sut: str, size: tuple[int, int]
) -> None:
    journey.start("shop-scenarios", "--start", "--base-url", shared_sut, size=size)
    screen = journey.wait_for(all_rows, "a row per scenario")
    assert "running" in row(screen, "browse"), screen  # from 0 s
    screen = journey.wait_for(
        lambda s: all_rows(s) and "running" in row(s, "buy"), "buy running from its 2 s"
    )
    for name in SCENARIOS:  # the plots name each one in their legends
        assert len(re.findall(rf"━ {name}\b", screen)) >= 2 or size[0] < 100, screen

    journey.wait_for("not saved yet: w saves the report", "the run's end, on its own", 40)
    saved = journey.save()
    found = re.search(r"report saved to (reports/\S+\.toml)", saved)
    assert found, saved
    journey.keys("q")
    assert journey.exit_code() == 0

    report = tomllib.loads((journey.folder / found.group(1)).read_text())
    assert set(SCENARIOS) <= set(report["scenarios"])
    assert report["scenarios"]["admin"]["iterations"] == 8  # 2 VUs x 4, as k6 counts
