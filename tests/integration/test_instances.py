"""The launcher on 127.0.0.1: instances from commands start on free ports, answer their
health check, write their own log, and leave no process behind when stopped."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import psutil
import pytest

from engine.deploy.instances import HealthError, Launcher
from engine.deploy.recipe import Health, Recipe
from tests.conftest import ROOT

SUT = (sys.executable, "-m", "tui.cli.sut_cmd", "--port", "{port}", "--color", "green")
# Forks a child and never listens: health fails, and the child must go with its parent.
FORKER = (
    sys.executable,
    "-c",
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "print('port {port}', flush=True); time.sleep(60)",
)


def launcher(tmp_path: Path, command: tuple[str, ...], **kw: object) -> Launcher:
    recipe = Recipe(command, workdir=str(ROOT), **kw)  # type: ignore[arg-type]
    return Launcher({"green": recipe}, tmp_path)


async def test_an_instance_starts_answers_its_health_and_stops(tmp_path: Path) -> None:
    fleet = launcher(tmp_path, SUT)
    inst = fleet.start("green", 0)
    try:
        await fleet.wait_healthy(inst)
        assert psutil.pid_exists(inst.pid) and inst.name == "green-0"
        assert "listening on" in (tmp_path / "green-0.log").read_text()
    finally:
        await fleet.aclose()
    assert not inst.alive and fleet.running == {}


async def test_a_never_healthy_instance_fails_and_its_children_go_too(tmp_path: Path) -> None:
    fleet = launcher(tmp_path, FORKER, health=Health("/health", 0.5), stop_grace=0.5)
    inst = fleet.start("green", 0)
    try:
        with pytest.raises(HealthError, match=r"not healthy after 0\.5s"):
            await fleet.wait_healthy(inst)
        children = psutil.Process(inst.pid).children(recursive=True)
        assert children
    finally:
        await fleet.aclose()
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    assert f"port {inst.port}" in inst.log.read_text()


async def test_an_instance_that_ignores_sigterm_is_killed_after_its_grace(tmp_path: Path) -> None:
    stubborn = (
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print({port}, flush=True); time.sleep(60)",
    )
    fleet = launcher(tmp_path, stubborn, stop_grace=0.3)
    inst = fleet.start("green", 0)
    deadline = time.monotonic() + 10
    while not inst.log.read_text() and time.monotonic() < deadline:  # SIGTERM now ignored
        await asyncio.sleep(0.02)
    began = time.monotonic()
    await fleet.stop(inst)
    assert time.monotonic() - began >= 0.3
    assert inst.process.returncode == -9
