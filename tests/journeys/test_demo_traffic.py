"""`surge demo --mirror` and `surge demo --cohort` in a terminal: the step before the
canary's weights in the deploy panel, green's figures for it (the mirror's pairs, the
cohort's row), its verdict, and `q` ending every process the demo started (the journey
fixture fails on any left). An erroring green fails either step, whatever the machine's
load, so each verdict is certain: green is rolled back before any weight moved."""

from __future__ import annotations

import re

from engine.report.document import read_report
from tests.journeys.harness import LARGE, SMALL, Journey, needs_terminal

pytestmark = needs_terminal

BAR_ALL_BLUE = re.compile(r"blue +100% +█+ +0% green")


def quit_and_read(journey: Journey) -> None:
    journey.keys("q")
    journey.wait_for("Quit Surge?", "the quit dialog")
    journey.keys("q")
    assert journey.exit_code(timeout=20) == 0
    [report] = journey.reports()
    data = read_report(report)
    assert data.deploy is not None and data.deploy.outcome == "rolled_back"
    assert (data.deploy.blue_weight, data.deploy.green_weight) == (100, 0)


def test_demo_mirror_at_80x24_shows_the_pairs_and_rolls_back(journey: Journey) -> None:
    journey.start("demo", "--mirror", "--green-flaw", "errors", size=SMALL)
    screen = journey.wait_for(
        lambda s: "mirror 100% 5s" in s and re.search(r"green mirror 100%: [\d,]+ pairs", s),
        "the mirror step and green's pairs",
    )
    assert BAR_ALL_BLUE.search(screen), screen  # nobody is sent to green meanwhile
    screen = journey.wait_for("mirror: pairs alike", "the mirror step's verdict", timeout=40)
    assert "ROLLED BACK" in screen
    quit_and_read(journey)


def test_demo_cohort_at_160x48_shows_the_cohort_under_green_and_rolls_back(
    journey: Journey,
) -> None:
    journey.start("demo", "--cohort", "--green-flaw", "errors", size=LARGE)
    screen = journey.wait_for(
        lambda s: "cohort (routes on, green 0%)" in s and re.search(r"· beta [\d,]+ req", s),
        "the cohort step and its row under green",
    )
    assert BAR_ALL_BLUE.search(screen), screen
    screen = journey.wait_for("cohort: success rate", "the cohort step's verdict", timeout=40)
    assert "ROLLED BACK" in screen
    quit_and_read(journey)
