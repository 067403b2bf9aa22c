"""The console in a real terminal: `surge PROFILE --start` inside tmux, driven by its keys.

Pilot sends key events straight to the app; only a terminal shows what a user's
Ctrl+C does (Textual reads it as a key in raw mode, not as SIGINT). The test
starts a demo server, opens the console on it in a detached tmux session, sends
Ctrl+C twice and reads back the report and the exit code. Waits poll tmux's
screen for text, each with a deadline: nothing sleeps and hopes.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from time import monotonic, sleep

import psutil
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


def console_command(
    cwd: Path,
    *args: str,
    env: str = "TERM=xterm-256color",
    pid_file: Path | None = None,
    rc: Path | None = None,
) -> str:
    """The shell line tmux runs: this checkout's console in `cwd`; `pid_file` gets its pid
    (the shell execs it), `rc` its exit code."""
    q = shlex.quote
    line = f"cd {q(str(cwd))} && "
    if pid_file is not None:
        line += f"echo $$ > {q(str(pid_file))} && exec "
    line += f"env PYTHONPATH={q(str(ROOT))} {env} {q(sys.executable)} -m tui.cli "
    line += " ".join(q(a) for a in args)
    return line + (f"; echo $? > {q(str(rc))}" if rc is not None else "")


def test_ctrl_c_stops_gracefully_saves_and_a_second_quits_with_0(
    tmp_path: Path, sut: Callable[..., str], tmux: Tmux
) -> None:
    url = sut()
    profile = tmp_path / "ctrlc.toml"
    profile.write_text(PROFILE.format(url=url))
    reports = tmp_path / "reports"
    rc = tmp_path / "rc"
    command = console_command(
        tmp_path, str(profile), "--start", "--workers", "1", "--reports", str(reports), rc=rc
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


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The processes still running (not exited, not a zombie) after `timeout` seconds."""
    deadline = monotonic() + timeout
    while True:
        alive = []
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                if p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
        if not alive or monotonic() >= deadline:
            return alive
        sleep(0.05)  # polling other processes' ends: no event reaches this process


@pytest.mark.parametrize("where", ["mid-run", "at the summary after a resize"])
def test_a_killed_terminal_keeps_the_report_and_leaves_no_process(
    tmp_path: Path, sut: Callable[..., str], tmux: Tmux, where: str
) -> None:
    """An SSH drop, as a killed tmux server: the console saves the run and every process
    ends within 5 s (Textual's writer cannot write any more; the watchdog ends it)."""
    url = sut()
    profile = tmp_path / "hup.toml"
    duration = "5m" if where == "mid-run" else "2s"
    profile.write_text(PROFILE.format(url=url).replace('"5m"', f'"{duration}"'))
    reports = tmp_path / "reports"
    pid_file = tmp_path / "pid"
    command = console_command(
        tmp_path,
        str(profile),
        "--start",
        "--workers",
        "1",
        "--reports",
        str(reports),
        pid_file=pid_file,
    )
    tmux("new-session", "-d", "-s", "console", "-x", "100", "-y", "30", command)
    if where == "mid-run":
        tmux.wait_for(lambda s: "latency p50" in s and "● running  0:00" not in s, "a measure")
    else:
        tmux.wait_for(lambda s: "not saved yet" in s, "the summary")
        tmux("resize-window", "-t", "console", "-x", "80", "-y", "24")
        tmux.wait_for(lambda s: max(map(len, s.splitlines())) <= 80, "the summary at 80 columns")
    surge = psutil.Process(int(pid_file.read_text()))
    family = [surge, *surge.children(recursive=True)]

    tmux("kill-server")
    alive = wait_gone(family, timeout=5.0)
    left = [p.cmdline() for p in alive]
    for p in alive:  # a hung console is not left behind for the next test
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    assert not left, left
    saved = list(reports.glob("*.toml"))
    assert len(saved) == 1, saved
    data = read_report(saved[0])
    assert data["summary"]["requests"] > 0
    if where == "mid-run":
        assert data["meta"]["stop_reason"] == "terminal hung up (SIGHUP)"


@pytest.mark.parametrize(
    ("env", "coloured"),
    [
        ("TERM=dumb", False),
        ("NO_COLOR=1 TERM=xterm-256color", False),
        ("TERM=xterm-256color", True),
    ],
)
def test_no_color_and_a_dumb_terminal_get_no_colour(
    tmp_path: Path, tmux: Tmux, env: str, coloured: bool
) -> None:
    """Not even grey: Textual's NO_COLOR filter alone still sends 24-bit greys."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "plain.toml").write_text(PROFILE.format(url="http://127.0.0.1:9"))
    command = console_command(tmp_path, "--profiles", str(folder), env=env)
    tmux("new-session", "-d", "-s", "console", "-x", "100", "-y", "30", command)
    tmux.wait_for(lambda s: "1 profile" in s and "^q Quit" in s, "the picker")
    cells = tmux("capture-pane", "-p", "-e", "-t", "console")  # with each cell's SGR
    colours = re.findall(r"\x1b\[[0-9;]*(?:38|48);[25];[0-9;]*m", cells)
    assert bool(colours) is coloured, colours[:3]
    tmux("send-keys", "-t", "console", "C-q")
