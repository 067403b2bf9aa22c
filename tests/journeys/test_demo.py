"""`surge demo`, the README's first command: blue and green behind the proxy, the deploy
panel with both figures and the weight bar, the canary rolled back for green's latency
(the default flaw), and `q` ending every process the demo started (the proxy and both
servers included: the journey fixture fails on any left)."""

from __future__ import annotations

import re

import pytest

from engine.report.document import read_report
from tests.journeys.harness import LARGE, SIZES, SMALL, Journey, needs_terminal

pytestmark = needs_terminal

# The deploy panel's lines a user needs, at any size (80x24 included).
WEIGHT_BAR = re.compile(r"blue +(\d+)% +█+.* (\d+)% green")
# each colour's rate and errors: `blue  112/s  err 0.0%` at 80 columns, columns under
# the bar (`2.6 req/s   err 0.00%`) at 160
FIGURE = re.compile(r"[\d.]+ ?(?:req)?/s +err [\d.]+%")
DEPLOY_KEYS = ("D Rollout", "P Promote", "R Rollback", "w Save", "q Quit", "? Keys")


def canary_on(screen: str) -> bool:
    """Green takes some of the traffic and both have figures."""
    bar = WEIGHT_BAR.search(screen)
    return bar is not None and int(bar.group(2)) > 0 and len(FIGURE.findall(screen)) == 2


def rolled_back(screen: str) -> bool:
    """The verdict, and why in the user's words: green's latency over the demo's limit."""
    return (
        "ROLLED BACK" in screen
        and re.search(r"analysis failed:? +(step 1: )?p99 [\d.]+ ms > 35 ms", screen) is not None
        and re.search(r"rolled back:? +(step 1: )?1 failed analysis", screen) is not None
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_demo_shows_blue_and_green_rolls_the_canary_back_and_q_ends_it_all(
    journey: Journey, size: tuple[int, int]
) -> None:
    journey.start("demo", size=size)
    screen = journey.wait_for(canary_on, "green's canary step with both figures")
    assert "deploy: canary" in screen
    if size == LARGE:
        assert "blue latency" in screen and "green latency" in screen
    assert all(key in screen.splitlines()[-1] for key in DEPLOY_KEYS), screen

    screen = journey.wait_for(rolled_back, "the canary's verdict and why", timeout=40)
    bar = WEIGHT_BAR.search(screen)
    assert bar is not None and bar.groups() == ("100", "0"), screen

    journey.keys("q")  # the run is on: quit asks, q saves and quits
    journey.wait_for("Quit Surge?", "the quit dialog")
    journey.keys("q")
    assert journey.exit_code(timeout=20) == 0  # the user quit, whatever the rollout did
    [report] = journey.reports()
    data = read_report(report)
    assert data.deploy is not None and data.deploy.strategy == "canary"
    assert data.deploy.outcome == "rolled_back"
    assert (data.deploy.blue_weight, data.deploy.green_weight) == (100, 0)
    assert data.meta.exit_code == 3  # the rollback on record, as `surge run` exits


def test_demo_with_its_terminal_killed_leaves_no_process(journey: Journey) -> None:
    """An SSH drop during the demo: the proxy and both demo servers end with the console."""
    journey.start("demo", size=SMALL)
    journey.wait_for(canary_on, "green's canary step with both figures")
    journey.kill_terminal()
    assert not journey.leftovers(grace=5.0)
