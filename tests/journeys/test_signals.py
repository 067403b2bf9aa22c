"""The ways a console ends without its keys: the terminal killed (an SSH drop) mid-run and
at the summary after a resize, and SIGTERM or SIGHUP sent to surge at the picker and at
the summary. The run is saved; surge exits within 2 s of a signal (tui/app/watchdog.py:
Textual's writer cannot write to a terminal that is gone), no process left within 5 s."""

from __future__ import annotations

import contextlib
import signal
from time import monotonic

import psutil
import pytest

from engine.report.document import read_report
from tests.journeys.harness import LARGE, SMALL, Journey, needs_terminal

pytestmark = needs_terminal

PROFILE = """\
name = "hup"
base_url = "{url}"
vus = 2
duration = "{duration}"

[[endpoints]]
path = "/"
"""
EXIT_S = 2.0  # the promise: a stop signal ends surge within 2 s, whatever the screen


def measuring(screen: str) -> bool:
    return "latency p50" in screen and "● running" in screen and "● running  0:00" not in screen


def to_summary(journey: Journey, url: str, size: tuple[int, int]) -> None:
    """A 2 s run started at once, to its unsaved summary."""
    journey.write("hup.toml", PROFILE.format(url=url, duration="2s"))
    journey.start("hup.toml", "--start", "--workers", "1", size=size)
    journey.wait_for("not saved yet", "the summary")


def test_a_terminal_killed_mid_run_keeps_the_report_and_leaves_no_process(
    journey: Journey, shared_sut: str
) -> None:
    journey.write("hup.toml", PROFILE.format(url=shared_sut, duration="5m"))
    journey.start("hup.toml", "--start", "--workers", "1", size=SMALL)
    journey.wait_for(measuring, "a measured interval")

    journey.kill_terminal()
    assert not journey.leftovers(grace=5.0)
    [report] = journey.reports()
    data = read_report(report)
    assert data.summary.requests > 0
    assert data.meta.stop_reason == "terminal hung up (SIGHUP)"


def test_a_terminal_killed_at_the_summary_after_a_resize_keeps_the_report(
    journey: Journey, shared_sut: str
) -> None:
    to_summary(journey, shared_sut, LARGE)
    journey.resize(*SMALL)
    journey.wait_for(lambda s: max(map(len, s.splitlines())) <= 80, "the summary at 80 columns")

    journey.kill_terminal()
    assert not journey.leftovers(grace=5.0)
    [report] = journey.reports()
    assert read_report(report).summary.requests > 0


@pytest.mark.serial  # a 2 s deadline: judged on a quiet machine
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_at_the_picker_ends_surge_within_2s(
    journey: Journey, shared_sut: str, sig: signal.Signals
) -> None:
    journey.write("profiles/hup.toml", PROFILE.format(url=shared_sut, duration="2s"))
    journey.start(size=SMALL)
    journey.wait_for(lambda s: "hup" in s and "^q Quit" in s, "the picker")

    took = signalled(journey, sig)
    assert took < EXIT_S, f"{sig.name} at the picker: surge took {took:.2f}s"
    assert journey.reports() == []  # nothing ran, nothing to keep


@pytest.mark.serial  # a 2 s deadline: judged on a quiet machine
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_at_the_summary_ends_surge_within_2s_and_keeps_the_run(
    journey: Journey, shared_sut: str, sig: signal.Signals
) -> None:
    to_summary(journey, shared_sut, LARGE)

    took = signalled(journey, sig)
    assert took < EXIT_S, f"{sig.name} at the summary: surge took {took:.2f}s"
    [report] = journey.reports()  # the finished run, unsaved, is saved on the way out
    assert read_report(report).summary.requests > 0


def signalled(journey: Journey, sig: signal.Signals) -> float:
    """Sends `sig` to surge; the seconds until its process ended (psutil sees it go, not
    the pane's status file: no poll or sh in the figure)."""
    surge = psutil.Process(journey.pid())
    sent = monotonic()
    surge.send_signal(sig)
    with contextlib.suppress(psutil.TimeoutExpired):
        surge.wait(timeout=10)
    took = monotonic() - sent
    assert journey.exit_code() == 0  # the run's own code (none at the picker), as `surge run`
    return took
