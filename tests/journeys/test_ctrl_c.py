"""Ctrl+C in the console, as in k6: once stops the run gracefully and saves its report,
twice quits at once (saving what was measured); at the summary it quits. From the
picker, as a user starts. (Textual reads Ctrl+C as a key in raw mode, not as SIGINT: only
a terminal shows what a user's Ctrl+C does.)"""

from __future__ import annotations

from collections.abc import Callable

from engine.report.document import read_report
from tests.journeys.harness import LARGE, SMALL, Journey, needs_terminal

pytestmark = needs_terminal

# smoke: one minute, far longer than either journey
PROFILE = """\
name = "walk"
base_url = "{url}"
vus = 2

[[endpoints]]
path = "/"
weight = 9
"""
SLOW_ENDPOINT = """
[[endpoints]]
path = "/api/items"
weight = 1
"""


def measuring(screen: str) -> bool:
    """The run is on and one interval is measured: there is something to lose."""
    return "● running" in screen and "latency p50" in screen and "● running  0:00" not in screen


def test_ctrl_c_once_stops_gracefully_and_saves_the_report(
    journey: Journey, shared_sut: str
) -> None:
    journey.write("profiles/walk.toml", PROFILE.format(url=shared_sut))
    journey.start(size=SMALL)
    journey.wait_for("walk", "the picker")
    journey.keys("C-r")
    journey.wait_for(measuring, "a measured interval")

    journey.keys("C-c")
    screen = journey.wait_for("report saved to", "the summary, saved")
    assert "summary" in screen and "STOPPED" in screen.upper()
    [report] = journey.reports()
    data = read_report(report)
    assert data.meta.stop_reason == "interrupted (Ctrl+C)"
    assert data.summary.requests > 0
    assert journey.processes(), "the first Ctrl+C does not quit"

    journey.keys("C-c")  # at the summary, Ctrl+C quits: the saved run as it was
    assert journey.exit_code() == 0
    assert read_report(report).summary.requests == data.summary.requests
    assert journey.files() == [
        "home/.local/state/surge/workers.log",
        "work/profiles/walk.toml",
        f"work/reports/{report.name}",
    ]


def test_ctrl_c_twice_quits_at_once_and_saves_what_was_measured(
    journey: Journey, sut: Callable[..., str]
) -> None:
    # /api/items answers in 60 s: the graceful stop would wait for the VUs stuck on it
    url = sut("--endpoint-latency", "items=60s")
    journey.write("profiles/walk.toml", PROFILE.format(url=url) + SLOW_ENDPOINT)
    journey.start(size=LARGE)
    journey.wait_for("walk", "the picker")
    journey.keys("C-r")
    journey.wait_for(measuring, "a measured interval")

    journey.keys("C-c")
    journey.wait_for("stopping gracefully", "the first Ctrl+C's notice")
    journey.keys("C-c")
    assert journey.exit_code(timeout=20) == 0  # gracefulStop would wait 30 s
    [report] = journey.reports()
    data = read_report(report)
    assert "Ctrl+C" in data.meta.stop_reason
    assert data.summary.requests > 0
