"""The console in a real terminal: `surge PROFILE --start` inside tmux, driven by its keys.

Pilot sends key events straight to the app; only a terminal shows what a user's
Ctrl+C does (Textual reads it as a key in raw mode, not as SIGINT). The test
starts a demo server, opens the console on it in a detached tmux session, sends
Ctrl+C twice and reads back the report and the exit code. Waits poll tmux's
screen for text, each with a deadline: nothing sleeps and hopes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from time import monotonic, sleep

import pytest

from engine.report.document import read_report
from tests.conftest import ROOT
from tests.journeys.harness import Tmux

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

PROFILE = """\
name = "ctrlc"
base_url = "{url}"
vus = 2
duration = "5m"

[[endpoints]]
path = "/"
"""


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux(f"surge-test-{os.getpid()}")
    yield t
    t("kill-server")


def test_ctrl_c_stops_gracefully_saves_and_a_second_quits_with_0(
    tmp_path: Path, sut: Callable[..., str], tmux: Tmux
) -> None:
    url = sut()
    profile = tmp_path / "ctrlc.toml"
    profile.write_text(PROFILE.format(url=url))
    reports = tmp_path / "reports"
    rc = tmp_path / "rc"
    env = f"PYTHONPATH={shlex.quote(str(ROOT))} TERM=xterm-256color"
    command = (
        f"cd {shlex.quote(str(tmp_path))} && env {env} {shlex.quote(sys.executable)} -m tui.cli "
        f"{shlex.quote(str(profile))} --start --workers 1 --reports {shlex.quote(str(reports))}"
        f"; echo $? > {shlex.quote(str(rc))}"
    )
    tmux("new-session", "-d", "-s", "console", "-x", "100", "-y", "30", command)
    tmux.wait_for(lambda s: "● running" in s and "req/s" in s, "the run to start")
    # one interval measured, so there is something to lose
    tmux.wait_for(
        lambda s: "latency p50" in s and " 0:0" in s and "● running  0:00" not in s,
        "a measured interval",
    )

    tmux("send-keys", "-t", "console", "C-c")
    screen = tmux.wait_for(lambda s: "report saved to" in s, "the summary and its report")
    assert "STOPPED" in screen.upper()
    saved = list(reports.glob("*.toml"))
    assert len(saved) == 1, saved
    data = read_report(saved[0])
    assert data["meta"]["stop_reason"] == "interrupted (Ctrl+C)"
    assert data["summary"]["requests"] > 0
    assert not rc.exists()  # the first Ctrl+C does not quit

    tmux("send-keys", "-t", "console", "C-c")
    deadline = monotonic() + 30
    while not rc.exists() or not rc.read_text().strip():
        assert monotonic() < deadline, f"the console did not quit:\n{tmux.screen()}"
        sleep(0.1)
    assert rc.read_text().strip() == "0"
    assert read_report(saved[0])["summary"]["requests"] == data["summary"]["requests"]
