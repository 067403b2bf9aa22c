"""`surge demo`: the main job on embedded defaults, with nothing outside this machine.

Starts the demo system under test on a free loopback port, runs the example
profile's average-load shape against it at a demo time scale, and stops the
server whatever happens.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROFILE = Path(__file__).resolve().parent.parent / "profiles" / "example.toml"


@contextmanager
def demo_server(*args: str) -> Iterator[str]:
    """A `surge sut` process on 127.0.0.1 with a free port; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.sut", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"the demo server did not start: {line!r}")
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(time_scale: float) -> int:
    from tui.cli import main as cli_main

    with demo_server("--latency", "2ms-8ms") as url:
        print(f"  demo: surge sut on {url}; profile {PROFILE.name}; average-load shape", flush=True)
        return cli_main(
            [
                "run",
                str(PROFILE),
                "--type",
                "average",
                "--base-url",
                url,
                "--time-scale",
                str(time_scale),
            ]
        )
