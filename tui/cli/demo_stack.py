"""The local blue/green stack of `surge demo`: two demo servers and the proxy, as processes.

`DemoStack` starts blue and green `surge sut` from recipes, with the launcher every
recipe's instances go through (engine.deploy.instances: a free loopback port, a health
wait, SIGTERM then SIGKILL, a log file each), and a proxy in front of them, reading its
"listening on" line (no sleeps); it stops all of them whatever happens.

The launcher is async and the stack is entered both from plain code (`surge demo`,
before the app's loop exists) and from a running loop (scripts/screenshots.py), so
the launcher runs on a loop of the stack's own, in a thread.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from engine.deploy.recipe import Health, Recipe
from engine.deploy.strategies.traffic import IDEMPOTENT, Route

if TYPE_CHECKING:  # httpx and the routers load when a stack starts, not with the CLI
    from engine.deploy.instances import Instance, Launcher
    from engine.deploy.routers import Router

__all__ = ["FLAWS", "ROUTERS", "DemoStack"]

ROUTERS = ("surge", "haproxy", "envoy")

#: What is wrong with green in the demo: the `surge sut` flags that make it so.
FLAWS: dict[str, tuple[str, ...]] = {
    "none": ("--latency", "5ms"),
    "slower": ("--latency", "5.75ms"),  # 15% slower than blue: inside the bounds
    "latency": ("--latency", "40ms"),
    "errors": ("--latency", "5ms", "--error-rate", "0.1"),
}
BLUE_ARGS = ("--latency", "5ms")
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def sut_recipe(color: str, flags: tuple[str, ...]) -> Recipe:
    """One demo server of `color`: `surge sut` with `flags`, as the launcher starts it."""
    command = (sys.executable, "-m", "tui.cli.sut_cmd", "--port", "{port}", "--color", color)
    return Recipe(
        (*command, *flags),
        health=Health("/health", START_TIMEOUT_S),
        workdir=str(ROOT),
        stop_grace=STOP_TIMEOUT_S,
    )


class DemoStack:
    """Blue and green `surge sut` and a `surge proxy` in front, on free loopback ports.

    A context manager, so the processes go whatever happens: terminate, wait, then
    kill. Started as `python -m tui.cli.sut_cmd|proxy_cmd`, so it does not need the `surge`
    script on PATH.
    """

    def __init__(
        self,
        green_flaw: str = "latency",
        *,
        weights: str = "100:0",
        router: str = "surge",
        routes: tuple[Route, ...] = (),
        mirror: tuple[str, ...] = IDEMPOTENT,
    ) -> None:
        if green_flaw not in FLAWS:
            raise ValueError(f"green flaw must be one of {', '.join(FLAWS)}, got {green_flaw!r}")
        if router not in ROUTERS:
            raise ValueError(f"router must be one of {', '.join(ROUTERS)}, got {router!r}")
        self.router_kind = router
        self.routes = routes  # the profile's cohort routes, in HAProxy's and Envoy's configs
        self.mirror_methods = mirror  # what Envoy's mirror policy copies
        self.router_process: Any = None  # HaproxyProcess / EnvoyProcess for those routers
        self._router: Router | None = None
        self.green_flaw = green_flaw
        self.weights = weights
        self.procs: list[subprocess.Popen[str]] = []
        self._stop_lock = threading.Lock()
        self.launcher: Launcher | None = None
        self.instances: list[Instance] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.blue_url = self.green_url = self.proxy_url = self.admin_url = ""

    def __enter__(self) -> DemoStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        recipes = {
            "blue": sut_recipe("blue", BLUE_ARGS),
            "green": sut_recipe("green", FLAWS[self.green_flaw]),
        }
        from engine.deploy.instances import Launcher

        self.launcher = Launcher(recipes)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.instances = self._call(self._start_suts(self.launcher))
        self.blue_url, self.green_url = (f"http://{i.address}" for i in self.instances)
        if self.router_kind != "surge":
            self._start_router()
            return
        line = self._spawn(
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--blue",
            self.blue_url,
            "--green",
            self.green_url,
            "--weights",
            self.weights,
        )
        # "surge proxy listening on URL (admin ADMIN_URL)"
        words = line.replace("(", " ").replace(")", " ").split()
        self.proxy_url = words[words.index("on") + 1]
        self.admin_url = words[words.index("admin") + 1]

    @staticmethod
    async def _start_suts(launcher: Launcher) -> list[Instance]:
        """Blue and green at once, each answering its health check (HealthError if not)."""
        started = [launcher.start(color, 0) for color in ("blue", "green")]
        await asyncio.gather(*(launcher.wait_healthy(i) for i in started))
        return started

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run on the stack's loop and wait (its launcher's client lives on that loop)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _start_router(self) -> None:
        """HAProxy or Envoy in front, with the config `surge router start` writes."""
        from engine.deploy.routers import launch

        port = launch.free_port()
        if self.router_kind == "haproxy":
            setup = launch.haproxy_setup(
                [self.blue_url], [self.green_url], listen_port=port, routes=self.routes
            )
            self.router_process, self._router = launch.start_haproxy(setup)
            self.admin_url = f"unix:{setup.socket}"
        else:
            esetup = launch.envoy_setup(
                [self.blue_url],
                [self.green_url],
                listen_port=port,
                routes=self.routes,
                mirror_methods=self.mirror_methods,
            )
            self.router_process, self._router = launch.start_envoy(esetup)
            self.admin_url = f"unix:{esetup.admin_socket}"
        self.proxy_url = f"http://127.0.0.1:{port}"

    def router(self) -> Router:
        """A client for the stack's router (a new one each time: each driver closes its own)."""
        if self.router_kind == "surge":
            from engine.deploy.routers import SurgeProxyRouter

            return SurgeProxyRouter(self.admin_url)
        assert self._router is not None
        return self._router.fresh()

    def _spawn(self, command: str, *args: str) -> str:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"tui.cli.{command}_cmd", *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        line = _readline(proc, START_TIMEOUT_S)
        if "listening on" not in line:
            raise RuntimeError(f"surge {command} did not start: {line.strip()!r}")
        return line.strip()

    @property
    def pids(self) -> list[int]:
        return [i.pid for i in self.instances] + [p.pid for p in self.procs]

    def stop(self) -> None:
        """Idempotent and thread-safe: the console's exit watchdog may stop the stack while
        the main thread does (the second caller waits, then finds nothing left)."""
        with self._stop_lock:
            self._stop()

    def _stop(self) -> None:
        if self.router_process is not None:
            self.router_process.stop()
            self.router_process = None
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout is not None:
                p.stdout.close()
        self.procs.clear()
        if self._loop is not None:
            if self.launcher is not None:  # SIGTERM, then SIGKILL after the grace
                self._call(self.launcher.aclose())
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join()
            self._loop.close()
            self._loop = None


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line, or "" if the process says nothing in time (or dies)."""
    out: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: out.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return out[0] if out else ""
