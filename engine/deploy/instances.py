"""The launcher: starts a recipe's instances as processes on free loopback ports, waits
for their health, and stops them (SIGTERM, then SIGKILL after the recipe's grace).

No process is left behind. Each instance is the leader of its own process group
(`start_new_session`), so stopping it stops whatever it forked too; every launcher
registers with one `atexit` hook, and a SIGTERM to Surge becomes a graceful stop in
`surge run` (tui.cli.run_cmd), whose `finally` closes the rollout and with it the
launcher. Ports are picked by binding port 0 and closing it: the instance then binds
it itself (a short race with other programs on the machine, accepted for loopback).

Output goes to one log file per instance (`green-2.log`), in the report's folder or
under `$XDG_STATE_HOME/surge/instances/` (~/.local/state), named in each event.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic

import httpx

from engine.deploy.recipe import HealthError, Recipe

__all__ = ["HealthError", "Instance", "Launcher", "default_log_dir", "free_port"]

HEALTH_POLL_S = 0.1
HEALTH_REQUEST_S = 2.0
_LAUNCHERS: weakref.WeakSet[Launcher] = weakref.WeakSet()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_log_dir() -> Path:
    """`$XDG_STATE_HOME/surge/instances/TIME-PID/` (~/.local/state when unset)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(state) / "surge" / "instances" / f"{stamp}-{os.getpid()}"


@dataclass
class Instance:
    """One running instance: its name (`green-2`), address and process."""

    color: str
    index: int
    port: int
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    recipe: Recipe = field(repr=False)

    @property
    def name(self) -> str:
        return f"{self.color}-{self.index}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


class Launcher:
    """Starts and stops the instances of the recipes it is given; owns every process."""

    def __init__(self, recipes: dict[str, Recipe], log_dir: Path | None = None) -> None:
        self.recipes = recipes
        self.log_dir = log_dir or default_log_dir()
        self.running: dict[str, Instance] = {}  # by name
        self.started = 0  # every start, for the peak and the record
        self._client = httpx.AsyncClient(timeout=HEALTH_REQUEST_S, trust_env=False)
        _LAUNCHERS.add(self)

    def commands(self) -> list[str]:
        """Each color's command line, as shown before the first start."""
        return [r.describe(c) for c, r in self.recipes.items()]

    def start(self, color: str, index: int) -> Instance:
        """Spawn one instance (no shell); it is not in service until `wait_healthy`."""
        recipe = self.recipes[color]
        name = f"{color}-{index}"
        port = free_port()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        env = {**os.environ, **recipe.environment(port, name)}
        with log.open("ab") as out:
            process = subprocess.Popen(
                recipe.argv(port, name),
                cwd=recipe.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a stop reaches what it forked
            )
        inst = Instance(color, index, port, log, process, recipe)
        self.running[name] = inst
        self.started += 1
        return inst

    async def wait_healthy(self, inst: Instance) -> None:
        """GET the health path until it answers 2xx/3xx; HealthError past the deadline."""
        health = inst.recipe.health
        url = f"http://{inst.address}{health.path}"
        deadline = monotonic() + health.timeout
        last = "no answer"
        while True:
            if not inst.alive:
                code = inst.process.returncode
                raise HealthError(f"{inst.name} exited with code {code} (log {inst.log})")
            try:
                resp = await self._client.get(url)
                if resp.status_code < 400:
                    return
                last = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if monotonic() >= deadline:
                raise HealthError(
                    f"{inst.name} not healthy after {health.timeout:g}s "
                    f"(GET {health.path}: {last}; log {inst.log})"
                )
            await asyncio.sleep(HEALTH_POLL_S)

    async def stop(self, inst: Instance) -> None:
        """SIGTERM to its group, SIGKILL after `stop_grace`; waits without blocking the loop."""
        self.running.pop(inst.name, None)
        if not inst.alive:
            _reap(inst)
            return
        _signal(inst, signal.SIGTERM)
        deadline = monotonic() + inst.recipe.stop_grace
        while inst.alive and monotonic() < deadline:
            await asyncio.sleep(0.05)
        if inst.alive:
            _signal(inst, signal.SIGKILL)
        await asyncio.to_thread(inst.process.wait)
        _reap(inst)

    async def aclose(self) -> None:
        """Stop every instance still running (all at once: each has its own grace)."""
        await asyncio.gather(*(self.stop(i) for i in list(self.running.values())))
        await self._client.aclose()

    def kill_all(self) -> None:
        """Synchronous last resort (atexit, a crash): SIGKILL every group still running."""
        for inst in list(self.running.values()):
            _signal(inst, signal.SIGKILL)
            with contextlib.suppress(Exception):
                inst.process.wait(timeout=1.0)
        self.running.clear()


def _signal(inst: Instance, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(inst.pid, sig)  # its pid is its group's id (start_new_session)
    with contextlib.suppress(ProcessLookupError):
        inst.process.send_signal(sig)


def _reap(inst: Instance) -> None:
    """Whatever the instance forked dies with it (its group), even if it exited first."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(inst.pid, signal.SIGKILL)


@atexit.register
def _kill_leftovers() -> None:
    for launcher in list(_LAUNCHERS):
        launcher.kill_all()
