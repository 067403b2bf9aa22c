"""The journey harness: the installed `surge` in a real terminal, walked as a user walks it.

A journey runs the console script installed next to the interpreter (`.venv/bin/surge`,
what `make demo` and a user run) inside tmux, on a tmux server of its own (`-L`, a
unique name per test, so parallel workers and a user's sessions never meet). It asserts
on what is on the screen, then on what the walk left behind: processes and files.

The API, for a test that takes the `journey` fixture (tests/journeys/conftest.py):

    journey.write("profiles/walk.toml", text)     # a file in the journey's folder
    journey.start("--profiles", "p", size=SMALL)  # `surge ARGS` in a fresh 80x24 terminal
    journey.start("p.toml", env={"NO_COLOR": "1"})  # ... with more environment
    journey.wait_for("● running")                 # screen text (or a predicate), deadline
    journey.keys("C-r")                           # tmux key names: "C-c", "Enter", "q"
    journey.save()                                # on the summary: w, enter; saved
    journey.type("reports/a.toml")                # literal text, as typed
    journey.screen()                              # the screen now, one string
    journey.resize(160, 48)                       # the terminal resized
    journey.kill_terminal()                       # the terminal gone (an SSH drop: SIGHUP)
    journey.pid()                                 # surge's own pid (not its sh's)
    journey.exit_code(timeout=10)                 # waits for surge to exit; its code
    journey.surge("report", "compare", a, b)      # the installed surge headless, same env
    journey.files()                               # every file left, relative paths
    journey.reports()                             # the .toml files in reports/
    journey.processes()                           # this journey's processes still alive
    journey.leftovers(grace=5)                    # those still alive after the grace

The exit code comes from a file the pane's sh writes when surge ends (128+N: killed by
signal N); a killed terminal takes sh with it, so after `kill_terminal()` assert with
`leftovers()` instead.

Each journey has its own folder (`journey.folder`, surge's working directory) with HOME
and the XDG folders inside it, so everything surge writes is found by `files()`. Every
process started in the terminal carries `SURGE_JOURNEY=<tag>` in its environment,
inherited by whatever it spawns (workers, demo servers, the proxy). After each journey
the fixture fails the test if any such process is still alive 5 s after the walk ended,
then kills the tmux server and SIGKILLs what was left, so no journey leaks into the next.

Waits poll the screen with a deadline (`capture-pane`): there is no event to await
across processes, and nothing sleeps and hopes. Sizes: `SMALL` (80x24) and `LARGE`
(160x48); `SIZES` parametrizes a journey over both.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from time import monotonic, sleep
from uuid import uuid4

import psutil
import pytest

SURGE = Path(sys.executable).with_name("surge")
SMALL = (80, 24)
LARGE = (160, 48)
SIZES = [SMALL, LARGE]
SESSION = "console"
TAG = "SURGE_JOURNEY"
POLL_S = 0.1  # how often a wait reads the screen
LEFTOVER_GRACE_S = 5.0  # processes still alive this long after a journey are leaks

# Every journey module: `pytestmark = needs_terminal`.
needs_terminal = pytest.mark.skipif(
    shutil.which("tmux") is None or not SURGE.exists(),
    reason=f"needs tmux and the installed console script {SURGE}",
)

# remain-on-exit keeps the pane and its last screen after surge exits; tmux-256color
# is what a user inside tmux has.
CONFIG = """\
set -g remain-on-exit on
set -g default-terminal tmux-256color
set -g history-limit 0
"""


# The pane runs surge under sh, which writes its exit status to a file: tmux's own
# pane_dead_status was seen missing for good under load (the pane process left a zombie,
# unreaped). `trap : INT` lets sh outlive a Ctrl+C that reaches the process group, and,
# being a handler rather than an ignore, is not inherited by surge.
WRAPPER = 'trap : INT; status="$1"; shift; "$0" "$@"; echo $? > "$status"'


class Tmux:
    """One tmux server of its own (-L), so no user session is ever touched."""

    def __init__(self, socket: str, config: str = "/dev/null", session: str = SESSION) -> None:
        self.socket = socket
        self.config = config
        self.session = session

    def __call__(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, "-f", self.config, *args],
            env=terminal_env(),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.session)

    def wait_for(
        self, ok: Callable[[str], bool] | str, what: str = "", timeout: float = 30.0
    ) -> str:
        """The screen once `ok` holds (a predicate, or text that must be on it)."""
        test = (lambda s: ok in s) if isinstance(ok, str) else ok
        deadline = monotonic() + timeout
        while True:
            text = self.screen()
            if test(text):
                return text
            assert monotonic() < deadline, (
                f"timed out after {timeout:.0f}s waiting for {what or ok!r}; screen:\n{text}"
            )
            sleep(POLL_S)  # polling tmux's screen: there is no event to await across processes

    def kill_server(self) -> None:
        """The server and its socket file (tmux leaves the file in /tmp/tmux-UID)."""
        socket = self("display-message", "-p", "#{socket_path}").strip()
        self("kill-server")
        if socket:
            Path(socket).unlink(missing_ok=True)


class Journey:
    """One walk through the installed surge: its folder, its terminal, its processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / "work"
        self.home = root / "home"
        self.folder.mkdir()
        self.home.mkdir()
        self.tag = uuid4().hex
        config = root / "tmux.conf"
        config.write_text(CONFIG)
        self.tmux = Tmux(f"surge-journey-{os.getpid()}-{self.tag[:8]}", str(config))
        self.starts = 0
        self.status = root / "status-0"

    @property
    def env(self) -> dict[str, str]:
        """What surge runs with: the tag, and HOME and XDG inside the journey's folder
        (TERM is the tmux server's default-terminal)."""
        return {
            TAG: self.tag,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_STATE_HOME": str(self.home / ".local/state"),
            "XDG_DATA_HOME": str(self.home / ".local/share"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
        }

    def write(self, relative: str, text: str) -> Path:
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def start(
        self, *args: str, size: tuple[int, int] = SMALL, env: dict[str, str] | None = None
    ) -> None:
        """`surge ARGS` in a new terminal of `size` (columns, rows), in the journey folder.

        Each start opens a session of its own on the same tmux server (the last surge
        must have exited): killing the last session would end the server under the next.
        `env` adds to the environment; its TERM goes through env(1), since tmux sets the
        pane's own TERM from default-terminal whatever `-e` says."""
        cols, rows = size
        more = dict(env or {})
        term = more.pop("TERM", None)
        program = [str(SURGE)] if term is None else ["env", f"TERM={term}", str(SURGE)]
        env_flags = [f"-e{key}={value}" for key, value in {**self.env, **more}.items()]
        self.starts += 1
        previous, self.tmux.session = self.tmux.session, f"{SESSION}{self.starts}"
        self.status = self.root / f"status-{self.starts}"
        self.tmux(
            "new-session", "-d", "-s", self.tmux.session, "-x", str(cols), "-y", str(rows),
            "-c", str(self.folder), *env_flags,
            "sh", "-c", WRAPPER, program[0], str(self.status), *program[1:], *args,
        )  # fmt: skip
        if self.starts > 1:
            self.tmux("kill-session", "-t", previous)

    def keys(self, *keys: str) -> None:
        """Keys by tmux's names ("C-c", "Enter", "Escape", "Tab", "q"), one after another."""
        for key in keys:
            self.tmux("send-keys", "-t", self.tmux.session, key)

    def save(self) -> str:
        """On the summary: w, then enter (the default path); the screen once it is saved."""
        self.keys("w")
        self.wait_for("enter saves", "the save dialog")
        self.keys("Enter")
        return self.wait_for("report saved to", "the report saved")

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.tmux.session, "-l", text)

    def screen(self) -> str:
        return self.tmux.screen()

    def wait_for(
        self, ok: Callable[[str], bool] | str, what: str = "", timeout: float = 30.0
    ) -> str:
        return self.tmux.wait_for(ok, what, timeout)

    def resize(self, cols: int, rows: int) -> None:
        self.tmux("resize-window", "-t", self.tmux.session, "-x", str(cols), "-y", str(rows))

    def kill_terminal(self) -> None:
        """The terminal gone, as when an SSH session drops: tmux hangs up on surge."""
        self.tmux("kill-session", "-t", self.tmux.session)

    def pid(self, timeout: float = 10.0) -> int:
        """surge's pid: the child of the pane's sh (sh stays, to write the exit status)."""
        deadline = monotonic() + timeout
        while True:
            pane = self.tmux("display-message", "-p", "-t", self.tmux.session, "#{pane_pid}")
            with contextlib.suppress(ValueError, psutil.Error):
                [surge] = psutil.Process(int(pane)).children()
                return surge.pid
            assert monotonic() < deadline, f"no surge under the pane's sh (pid {pane.strip()})"
            sleep(POLL_S)

    def exit_code(self, timeout: float = 15.0) -> int:
        """Waits for surge to exit and returns its code (128+N: killed by signal N)."""
        deadline = monotonic() + timeout
        while not (code := read_status(self.status)):
            if monotonic() > deadline:
                pid = self.tmux("display-message", "-p", "-t", self.tmux.session, "#{pane_pid}")
                raise AssertionError(
                    f"surge did not exit in {timeout:.0f}s ({state(pid)}):\n{self.screen()}"
                )
            sleep(POLL_S)
        return int(code)

    def surge(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """The installed surge headless, in the journey's folder and environment."""
        return subprocess.run(
            [str(SURGE), *args],
            cwd=self.folder,
            env={**os.environ, **self.env, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def files(self) -> list[str]:
        """Every file the journey's folder and HOME hold, relative to the folder's parent."""
        found = [*self.folder.rglob("*"), *self.home.rglob("*")]
        return sorted(str(p.relative_to(self.root)) for p in found if p.is_file())

    def reports(self, folder: str = "reports") -> list[Path]:
        return sorted((self.folder / folder).glob("*.toml"))

    def processes(self) -> list[psutil.Process]:
        """This journey's processes still alive: every one carrying its tag."""
        left = []
        for proc in psutil.process_iter():
            try:
                if proc.environ().get(TAG) == self.tag and proc.status() != "zombie":
                    left.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return left

    def leftovers(self, grace: float = LEFTOVER_GRACE_S) -> list[str]:
        """The processes still alive after `grace` seconds, described; [] when none."""
        deadline = monotonic() + grace
        while (left := self.processes()) and monotonic() < deadline:
            sleep(POLL_S)
        return [describe(p) for p in left]

    def close(self) -> None:
        """The terminal and whatever the journey left running, gone."""
        self.tmux.kill_server()
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


def terminal_env() -> dict[str, str]:
    """The tmux server's environment (its panes inherit it): this process's, without the
    COLUMNS and LINES that a library may have set underneath os.environ (seen under
    pytest), which would pin every app in the terminal to 80x24 whatever its size."""
    return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}


def read_status(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def state(pid: str) -> str:
    """A process's state, for a failure's message."""
    try:
        proc = psutil.Process(int(pid))
        parent = proc.parent()
        return (
            f"pid {pid} {proc.status()}, {proc.num_threads()} threads, parent "
            f"{describe(parent) if parent else None}"
        )
    except (ValueError, psutil.Error) as exc:
        return f"pid {pid.strip()}: {exc!r}"


def describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {shlex.join(proc.cmdline())}"
    except psutil.Error:
        return str(proc.pid)
