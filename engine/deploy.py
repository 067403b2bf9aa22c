"""Drive a deployment strategy from a live run, and the local blue/green stack of `surge demo`.

`DeployDriver` is the glue between three things that each know nothing of the others:
the pure strategy (engine.strategies), the run model the Controller fills (cumulative
histograms per (step, upstream)), and the proxy's admin API. It is stepped once per
snapshot, on the loop that runs the Controller, so it needs no lock with the model.

Why difference the cumulative histograms instead of summing snapshots: the app lets a
newer snapshot replace an unhandled older one, so a driver that added up what it was
shown would lose intervals and misjudge a window. The cumulative model never loses any,
so "now minus window start" is exact for counts and exact to the histogram's precision
for percentiles, however few snapshots the driver saw.

Weights go to the proxy in the background (`PUT /weights`, `PUT /instances`): a command
returns at once, and a burst of changes sends only the latest state.

`DemoStack` starts blue and green `surge sut` processes and a proxy in front of them on
free loopback ports, reading each "listening on" line (no sleeps), and stops all of them
whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from typing import Any

import httpx
from hdrh.histogram import HdrHistogram

from engine.metrics import new_histogram
from engine.strategies import (
    COLORS,
    ColorFigures,
    Decision,
    Event,
    EventKind,
    Manual,
    Phase,
    Strategy,
    Weights,
)

__all__ = [
    "FLAWS",
    "ColorLive",
    "DemoStack",
    "DeployDriver",
    "Mark",
]

HISTORY = 600  # per-color points kept for the plots (one per snapshot)
ADMIN_TIMEOUT_S = 5.0
_TEMPLATE = new_histogram()  # index <-> value arithmetic only; never recorded into


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Mark:
    """One color's cumulative counts at a moment: what a window or an interval subtracts."""

    t: float = 0.0
    requests: int = 0
    failed: int = 0
    counts: Mapping[int, int] = field(default_factory=dict)  # histogram index -> count

    def since(self, earlier: Mark) -> Mark:
        counts = {i: c - earlier.counts.get(i, 0) for i, c in self.counts.items()}
        return Mark(
            self.t - earlier.t,
            self.requests - earlier.requests,
            self.failed - earlier.failed,
            {i: c for i, c in counts.items() if c > 0},
        )

    def percentiles(self, wanted: Iterable[float]) -> dict[float, float]:
        """Milliseconds, as HdrHistogram reports them (highest equivalent value)."""
        total = sum(self.counts.values())
        out = dict.fromkeys(wanted, 0.0)
        if not total:
            return out
        targets = sorted((max(1, math.ceil(p / 100 * total)), p) for p in out)
        running = 0
        k = 0
        for index in sorted(self.counts):
            running += self.counts[index]
            while k < len(targets) and running >= targets[k][0]:
                value = _TEMPLATE.get_value_from_index(index)
                out[targets[k][1]] = _TEMPLATE.get_highest_equivalent_value(value) / 1000
                k += 1
            if k == len(targets):
                break
        return out

    def figures(self) -> ColorFigures:
        return ColorFigures(self.requests, self.failed, self.percentiles((99.0,))[99.0])


def _nonzero(h: HdrHistogram) -> Iterable[tuple[int, int]]:
    """(index, count) over the histogram's recorded range only: a few hundred, not 23k."""
    if not h.get_total_count():
        return ()
    lo = h.get_counts_array_index(h.get_min_value())
    hi = min(h.get_counts_array_index(h.get_max_value()), h.counts_len - 1)
    counts = h.counts
    return ((i, counts[i]) for i in range(lo, hi + 1) if counts[i])


def mark_of(model: Any, color: str, t: float) -> Mark:
    """A color's cumulative figures from a RunModel (duck-typed: `model.total.buckets`)."""
    requests = failed = 0
    counts: dict[int, int] = {}
    for (_step, upstream), b in model.total.buckets.items():
        if upstream != color:
            continue
        requests += b.requests
        failed += b.failed
        for i, c in _nonzero(b.latency):
            counts[i] = counts.get(i, 0) + c
    return Mark(t, requests, failed, counts)


@dataclass(frozen=True)
class ColorLive:
    """One color over the last snapshot: what its column and its plot show."""

    t: float
    rps: float
    p50: float
    p95: float
    p99: float
    error_rate: float
    requests: int

    @classmethod
    def of(cls, t: float, delta: Mark) -> ColorLive:
        pct = delta.percentiles((50.0, 95.0, 99.0))
        return cls(
            t=t,
            rps=delta.requests / delta.t if delta.t > 0 else 0.0,
            p50=pct[50.0],
            p95=pct[95.0],
            p99=pct[99.0],
            error_rate=delta.failed / delta.requests if delta.requests else 0.0,
            requests=delta.requests,
        )


# --------------------------------------------------------------------------- driver


class AdminClient:
    """The proxy's admin API over httpx; proxy environment variables are ignored on purpose."""

    def __init__(self, admin_url: str, timeout: float = ADMIN_TIMEOUT_S) -> None:
        self.admin_url = admin_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def put(self, path: str, body: Mapping[str, Any]) -> Any:
        resp = await self._client.put(self.admin_url + path, json=dict(body))
        if resp.status_code != 200:
            raise RuntimeError(f"PUT {path}: {resp.status_code} {resp.text.strip()}")
        return resp.json()

    async def get(self, path: str) -> Any:
        resp = await self._client.get(self.admin_url + path)
        resp.raise_for_status()
        return resp.json()

    async def aclose(self) -> None:
        await self._client.aclose()


class DeployDriver:
    """Owns a strategy for one run: judges windows, moves weights, keeps the log for the UI.

    Every method is synchronous and cheap so a key press or a snapshot handler can
    call it; talking to the proxy happens in a background task (`flush()` waits for
    it). A proxy that cannot be reached is reported in `error`, never raised: the load
    test goes on, and the next change tries again.
    """

    def __init__(
        self,
        strategy: Strategy,
        admin: AdminClient | str | None,
        *,
        clock: Callable[[], float] = monotonic,
        autostart: bool = False,
    ) -> None:
        self.strategy = strategy
        self.autostart = autostart  # the app starts the rollout with the run (surge demo)
        self.admin = AdminClient(admin) if isinstance(admin, str) else admin
        self.clock = clock
        self.events: list[Event] = []
        self.live: dict[str, deque[ColorLive]] = {c: deque(maxlen=HISTORY) for c in COLORS}
        self.window: dict[str, ColorFigures] = {c: ColorFigures() for c in COLORS}
        self.applied: Weights | None = None  # what the proxy last acknowledged
        self.error: str | None = None
        self._marks: dict[str, Mark] = {c: Mark() for c in COLORS}
        self._window_base: dict[str, Mark] = dict(self._marks)
        self._t0 = clock()
        self._dirty = False
        self._task: asyncio.Task[None] | None = None

    # -- what the UI reads --------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self.strategy.phase

    @property
    def weights(self) -> Weights:
        return self.strategy.weights

    @property
    def manual(self) -> bool:
        return isinstance(self.strategy, Manual)

    @property
    def remaining(self) -> float | None:
        """Seconds until the current step is judged (None when nothing is pending)."""
        due = self.strategy.due
        return None if due is None else max(0.0, due - self.clock())

    # -- stepping -----------------------------------------------------------------------

    def observe(self, model: Any) -> Decision:
        """Once per snapshot: refresh each color's figures, then let the strategy decide."""
        now = self.clock()
        t = now - self._t0
        for color in COLORS:
            mark = mark_of(model, color, t)
            delta = mark.since(self._marks[color])
            if delta.t > 0:
                self.live[color].append(ColorLive.of(t, delta))
            self._marks[color] = mark
            self.window[color] = mark.since(self._window_base[color]).figures()
        return self._apply(self.strategy.step(now, self.window))

    # -- commands -----------------------------------------------------------------------

    def start(self) -> Decision:
        return self._apply(self.strategy.start(self.clock()))

    def pause(self) -> Decision:
        return self._apply(self.strategy.pause(self.clock()))

    def resume(self) -> Decision:
        return self._apply(self.strategy.resume(self.clock()))

    def toggle(self) -> Decision:
        """One key for the rollout: start it, pause it, resume it."""
        if self.phase is Phase.READY:
            return self.start()
        if self.phase is Phase.RUNNING:
            return self.pause()
        return self.resume()

    def promote(self) -> Decision:
        return self._apply(self.strategy.promote(self.clock()))

    def rollback(self) -> Decision:
        return self._apply(self.strategy.rollback(self.clock()))

    def nudge(self, direction: int) -> Decision:
        """Manual only: green's share up or down one increment (starting the rollout if needed)."""
        s = self.strategy
        if not isinstance(s, Manual):
            return self._apply(s.step(self.clock(), None))
        if s.phase is Phase.READY:
            self.start()
        now = self.clock()
        return self._apply(s.up(now) if direction > 0 else s.down(now))

    # -- applying -----------------------------------------------------------------------

    def _apply(self, d: Decision) -> Decision:
        self.events.extend(d.events)
        if d.new_window:
            self._window_base = dict(self._marks)
            self.window = {c: ColorFigures() for c in COLORS}
        if d.changed or (self.applied is None and self.phase is not Phase.READY):
            self._schedule()
        return d

    def _schedule(self) -> None:
        self._dirty = True
        if self.admin is None:
            self.applied = self.weights
            return
        if self._task is None or self._task.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (a plain unit test): flush() sends it
            self._task = loop.create_task(self._sync())

    async def _sync(self) -> None:
        """Send the latest state until nothing changed meanwhile; the last write wins."""
        assert self.admin is not None
        while self._dirty:
            self._dirty = False
            weights = self.weights
            in_service = self.strategy.in_service
            try:
                await self.admin.put("/weights", weights.as_dict())
                if in_service is not None:
                    await self.admin.put("/instances", in_service.as_dict())
            except (httpx.HTTPError, RuntimeError, OSError) as exc:
                self.error = f"proxy admin: {exc or type(exc).__name__}"
                return
            self.applied = weights
            self.error = None

    async def flush(self) -> None:
        """Wait until the proxy has the current weights (or failed to take them)."""
        if self._dirty and (self._task is None or self._task.done()):
            self._schedule()
        if self._task is not None:
            await self._task

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.flush()
        if self.admin is not None:
            await self.admin.aclose()

    # -- for a log line -----------------------------------------------------------------

    def verdicts(self) -> list[Event]:
        kinds = (
            EventKind.ANALYSIS_PASSED,
            EventKind.ANALYSIS_FAILED,
            EventKind.ANALYSIS_INCONCLUSIVE,
        )
        return [e for e in self.events if e.kind in kinds]


# --------------------------------------------------------------------------- demo stack

FLAWS: dict[str, tuple[str, ...]] = {
    "none": ("--latency", "5ms"),
    "latency": ("--latency", "40ms"),
    "errors": ("--latency", "5ms", "--error-rate", "0.1"),
}
BLUE_ARGS = ("--latency", "5ms")
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
ROOT = Path(__file__).resolve().parent.parent


class DemoStack:
    """Blue and green `surge sut` and a `surge proxy` in front, on free loopback ports.

    A context manager, so the processes go whatever happens: terminate, wait, then
    kill. Started with the module entry points (`python -m engine.sut`), so it needs
    neither the `surge` script on PATH nor the tui package.
    """

    def __init__(self, green_flaw: str = "latency", *, weights: str = "100:0") -> None:
        if green_flaw not in FLAWS:
            raise ValueError(f"green flaw must be one of {', '.join(FLAWS)}, got {green_flaw!r}")
        self.green_flaw = green_flaw
        self.weights = weights
        self.procs: list[subprocess.Popen[str]] = []
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
        self.blue_url = self._spawn("engine.sut", "--color", "blue", *BLUE_ARGS).split()[-1]
        green = ("--color", "green", *FLAWS[self.green_flaw])
        self.green_url = self._spawn("engine.sut", *green).split()[-1]
        line = self._spawn(
            "engine.proxy",
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

    def _spawn(self, module: str, *args: str) -> str:
        port = ("--port", "0") if module == "engine.sut" else ()
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *port, *args],
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
            raise RuntimeError(f"{module} did not start: {line.strip()!r}")
        return line.strip()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
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


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line, or "" if the process says nothing in time (or dies)."""
    import threading

    out: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: out.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return out[0] if out else ""
