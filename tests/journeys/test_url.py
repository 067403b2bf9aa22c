"""`surge URL`, oha's main mode: the live console on an ad-hoc test of that URL (the same
profile and flags as `surge run URL`), run to its summary and saved."""

from __future__ import annotations

from engine.report.document import read_report
from tests.journeys.harness import SMALL, Journey, needs_terminal

pytestmark = needs_terminal


def test_surge_url_opens_the_console_on_it_runs_and_saves(
    journey: Journey, shared_sut: str
) -> None:
    url = shared_sut + "/"
    journey.start(url, "-u", "3", "-d", "2s", size=SMALL)
    screen = journey.wait_for("ready: constant-vus: 3 VUs for 2s", "the run, ready to start")
    assert url.rstrip("/") in screen.splitlines()[0]  # the header names the target

    journey.keys("Enter")
    screen = journey.wait_for("not saved yet: w saves the report", "the run's summary")
    assert "✓ done" in screen and "exit code 0" in screen
    journey.save()
    journey.keys("q")
    assert journey.exit_code() == 0

    [report] = journey.reports()
    data = read_report(report)
    assert data.summary.requests > 0
    assert data.meta.exit_code == 0
    assert journey.files() == [
        "home/.local/state/surge/workers.log",
        f"work/reports/{report.name}",
    ]
