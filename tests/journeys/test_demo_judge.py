"""`surge demo --judge statistical --green-flaw slower` at 80x24: a green 15% slower,
inside the demo's fixed bounds, rolled back by the statistical judge, and the deploy
panel shows the verdict's reason in full (wrapped at words, not cut), then `q` ends it
all (the journey fixture fails on any process left)."""

from __future__ import annotations

import re

from tests.journeys.harness import SMALL, Journey, needs_terminal

pytestmark = needs_terminal

# The verdict as the panel wraps it: "✗ analysis failed: p50 +18% (6.43 vs" then
# "5.45 ms), significant at 0.99: fail", each line inside the panel's border.
VERDICT = re.compile(
    r"✗ analysis failed: p50 \+\d+% \([\d.]+ vs +[\d.]+ ms\), significant at 0\.99: fail"
)


def deploy_panel(screen: str) -> str:
    """The deploy panel's lines (the left column at 80x24), joined as one text."""
    rows = [line[1:43].rstrip("│ ") for line in screen.splitlines() if line.startswith("│")]
    return " ".join(rows)


def rolled_back_with_why(screen: str) -> bool:
    return "ROLLED BACK" in screen and VERDICT.search(deploy_panel(screen)) is not None


def test_the_statistical_judge_rolls_back_a_slower_green_and_says_why(journey: Journey) -> None:
    args = ("--judge", "statistical", "--green-flaw", "slower", "--time-scale", "0.01")
    journey.start("demo", *args, size=SMALL)
    screen = journey.wait_for(rolled_back_with_why, "the statistical verdict, in full", timeout=60)
    assert "…" not in VERDICT.search(deploy_panel(screen)).group(0)  # type: ignore[union-attr]
    journey.keys("q")
    journey.wait_for("Quit Surge?", "the quit dialog")
    journey.keys("q")
    assert journey.exit_code(timeout=20) == 0
