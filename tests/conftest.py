"""Shared fixtures: real servers on free loopback ports, started as their own processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def spawn_sut(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start `surge sut` on a free port; return the process and its base URL.

    Reads the one "listening on" line instead of sleeping, so it waits exactly as long
    as the server takes to bind.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli.sut_cmd", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(
            f"sut did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        )
    return proc, line.rsplit(" ", 1)[-1].strip()


@pytest.fixture
def sut() -> Iterator[Callable[..., str]]:
    """A factory: `url = sut("--latency", "20ms")`; every server is stopped afterwards."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        proc, url = spawn_sut(*args)
        procs.append(proc)
        return url

    yield start
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.fixture(scope="session")
def shared_sut() -> Iterator[str]:
    """One plain demo server for the tests that only need something fast that answers."""
    proc, url = spawn_sut()
    yield url
    proc.terminate()
    proc.wait(timeout=5)


def surge_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", *args]


def run_surge(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        surge_cmd(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )
