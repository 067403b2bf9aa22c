"""Regenerate screenshots/*.svg from the real commands, as a user runs them.

Each shot is the installed `surge` (the console script beside this interpreter) in a
real terminal (tmux, on a server of its own), saved by Textual's own screenshot
switch (`TEXTUAL_SCREENSHOT=SECONDS`: the app writes an SVG that many seconds after it
is ready, then exits). Nothing is staged through a test harness: what the SVG shows
is what that command shows a user at that moment.

- picker.svg: `surge` in this repository (its ./profiles and the shipped ones).
- run.svg, summary.svg: `surge profiles/example.toml --type average --start` against
  `surge sut` on a free loopback port, the 40-minute shape compressed to about 12 s.
- demo.svg, demo-80x24.svg: `surge demo` (a slow green, the canary rolling back).
- scenarios.svg: `surge shop-scenarios --start` against `surge sut`, its three scenarios
  running at once (the buyers' ramp from 2 s).
- capacity.svg: `surge PROFILE --type capacity --start --observe URL/metrics` against
  `surge sut --capacity 300`, its search half way: latency by offered rate, the SUT's
  own series beside the latency.
- report-compare.svg: two headless `surge run` reports of the example profile (the
  second against a slower, failing server), then `surge report open AFTER --compare BEFORE`.

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--only demo]
"""

from __future__ import annotations

import argparse
import shlex
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import monotonic, sleep

ROOT = Path(__file__).resolve().parent.parent
SURGE = Path(sys.executable).with_name("surge")
SIZE = (120, 36)
EXAMPLE = ROOT / "profiles" / "example.toml"
TIME_SCALE = "0.005"  # the 40-minute average shape in about 12 s
COMPARE_TIME_SCALE = "0.003"  # about 7 s a run


@dataclass(frozen=True)
class Shot:
    """One command in a terminal of `size`, saved `delay` s after the app is ready."""

    name: str
    args: tuple[str, ...]
    delay: int
    size: tuple[int, int] = SIZE


def terminal(shot: Shot, out: Path, cwd: Path) -> None:
    """Run the shot's command in tmux until Textual has saved the SVG and the app exited."""
    socket_name = f"surge-shots-{shot.name}"
    tmux = ["tmux", "-L", socket_name, "-f", "/dev/null"]
    env = {
        "TEXTUAL_SCREENSHOT": str(shot.delay),
        "TEXTUAL_SCREENSHOT_LOCATION": str(out),
        "TEXTUAL_SCREENSHOT_FILENAME": f"{shot.name}.svg",
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
    }
    command = " ".join(
        [*(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.quote(str(SURGE))]
        + [shlex.quote(a) for a in shot.args]
    )
    cols, rows = shot.size
    target = out / f"{shot.name}.svg"
    target.unlink(missing_ok=True)
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", str(cols), "-y", str(rows), "-c", str(cwd), command],
        check=True,
    )
    try:
        wait(target.exists, f"{shot.name}.svg", shot.delay + 60)
        wait(lambda: not alive(tmux), f"{shot.name}: surge to exit", 30)
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)


def alive(tmux: list[str]) -> bool:
    """tmux's session lives while surge does (no remain-on-exit)."""
    return subprocess.run([*tmux, "has-session"], capture_output=True).returncode == 0


def wait(ok: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = monotonic() + timeout
    while not ok():
        if monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        sleep(0.2)  # polling another process's terminal: there is no event to await


@contextmanager
def demo_server(*flags: str) -> Iterator[str]:
    """`surge sut` on a free loopback port (or the `--port` in flags)."""
    args = flags if "--port" in flags else ("--port", "0", *flags)
    proc = subprocess.Popen([str(SURGE), "sut", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"the demo server did not start: {line!r}")
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def picker(out: Path, _work: Path) -> None:
    terminal(Shot("picker", (), delay=4), out, ROOT)


def run_and_summary(out: Path, work: Path) -> None:
    with demo_server("--latency", "2ms-8ms") as url:
        args = (str(EXAMPLE), "--type", "average", "--start", "--base-url", url)
        args += ("--time-scale", TIME_SCALE, "--reports", str(work / "reports"))
        terminal(Shot("run", args, delay=9), out, work)
        terminal(Shot("summary", args, delay=20), out, work)


def scenarios(out: Path, work: Path) -> None:
    with demo_server("--latency", "2ms-8ms") as url:
        args = ("shop-scenarios", "--start", "--base-url", url, "--reports", str(work / "reports"))
        terminal(Shot("scenarios", args, delay=6), out, work)


def demo(out: Path, work: Path) -> None:
    terminal(Shot("demo", ("demo",), delay=16), out, work)
    terminal(Shot("demo-80x24", ("demo",), delay=16, size=(80, 24)), out, work)


CAPACITY_PROFILE = """\
name = "capacity"
base_url = "{url}"
capacity = {{ hold = "1s", start = 50, max = 5000, precision = 0.05 }}

[thresholds]
http_req_duration = ["p(95)<50"]

[[endpoints]]
name = "home"
path = "/"
"""


def capacity(out: Path, work: Path) -> None:
    with demo_server("--capacity", "300") as url:
        profile = work / "capacity.toml"
        profile.write_text(CAPACITY_PROFILE.format(url=url))
        args = (str(profile), "--type", "capacity", "--start", "--observe", f"{url}/metrics")
        args += ("--reports", str(work / "reports"))
        terminal(Shot("capacity", args, delay=12), out, work)


COMPARED = {  # report name -> the demo server's flags for that run
    "example-average-before": ("--latency", "2ms-8ms"),
    "example-average-after": ("--latency", "3ms-12ms", "--error-rate", "0.004"),
}


def report_compare(out: Path, work: Path) -> None:
    """The reports are written under work/reports: their relative paths are on screen."""
    with socket.socket() as probe:  # one port for both servers: the same target, twice
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    for name, flags in COMPARED.items():
        with demo_server("--port", port, *flags) as url:
            subprocess.run(
                [str(SURGE), "run", str(EXAMPLE), "--type", "average", "--base-url", url,
                 "--time-scale", COMPARE_TIME_SCALE, "--report", f"reports/{name}.toml"],
                cwd=work, check=False, capture_output=True,
            )  # fmt: skip
    before, after = (f"reports/{name}.toml" for name in COMPARED)
    shot = Shot("report-compare", ("report", "open", after, "--compare", before), delay=3)
    terminal(shot, out, work)


SHOTS: dict[str, Callable[[Path, Path], None]] = {
    "picker": picker,
    "summary": run_and_summary,  # run.svg too
    "demo": demo,  # demo-80x24.svg too
    "scenarios": scenarios,
    "capacity": capacity,
    "report-compare": report_compare,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--only", choices=SHOTS, help="one shot (summary makes run.svg too)")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="surge-shots-") as work:
        for name in [args.only] if args.only else SHOTS:
            SHOTS[name](out, Path(work))
    for svg in sorted(out.glob("*.svg")):
        print(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
