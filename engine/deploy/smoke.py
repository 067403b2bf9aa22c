"""A smoke run: a short plan on the engine against green, before green takes traffic.

A Switch with `smoke` cannot be judged on the load test's traffic: blue has all the
weight, so green serves nothing. While a decision says `smoke`, the deploy driver keeps
a `SmokeRun` going: a constant-arrival-rate `RunPlan` of GETs through the router with
`x-surge-color: green`, run by the engine's own Controller (a worker process, as the
load's are), and green's entry in the window the strategy judges is its figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from engine.deploy.marks import Mark, mark_of
from engine.deploy.strategies import ColorFigures
from engine.errors import ConfigError
from engine.http.request import prepare
from engine.load.controller import Controller
from engine.load.executors import CONSTANT_ARRIVAL_RATE, ExecutorConfig
from engine.load.run import DEFAULT_SCENARIO, RunPlan, ScenarioPlan, Snapshot, WorkPlan

if TYPE_CHECKING:
    from engine.profile import Profile

__all__ = ["SMOKE_IN_FLIGHT", "SmokeRun", "SmokeTarget"]

# A smoke run is a probe, not load: enough requests for an analysis's min_requests within
# a window of seconds, few enough that a production green does not notice them.
SMOKE_RATE = 20.0  # requests per second
SMOKE_TIMEOUT_S = 5.0
SMOKE_IN_FLIGHT = 10  # a slow green gets no more than this many requests at once (max VUs)
SMOKE_MAX_REQUESTS = 2_000  # per window, whatever its length (checked once per snapshot)
SMOKE_IDLE_S = 3.0  # the run stops this long after the driver last said "smoke"
SMOKE_INTERVAL_S = 0.25  # the smoke's snapshots: a window's figures lag by no more
SMOKE_PLAN_S = 86_400.0  # the plan's length: a smoke run ends when the driver stops it
SMOKE_HEADER = "x-surge-color"


@dataclass(frozen=True)
class SmokeTarget:
    """Where a smoke run sends its requests: a URL on the router's public side.

    Only GET: a smoke run repeats its request dozens of times against what may be
    production, so it must not create or change anything.
    """

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    rate: float = SMOKE_RATE
    timeout: float = SMOKE_TIMEOUT_S
    max_requests: int = SMOKE_MAX_REQUESTS

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"smoke URL must be http(s)://HOST[:PORT]/PATH, got {self.url!r}")
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"smoke rate must be > 0 requests/s, got {self.rate!r}")
        if self.max_requests < 1:
            raise ValueError(f"smoke max_requests must be >= 1, got {self.max_requests!r}")

    @classmethod
    def for_profile(cls, profile: Profile, proxy_url: str) -> SmokeTarget:
        """The profile's first GET request (endpoint, or fixed flow step), else "/".

        The base URL's path prefix is kept and its origin replaced by the proxy's, so
        the smoke request is one the load test itself sends, routed to green.
        """
        path, headers = "/", profile.headers
        gets = [e for e in profile.endpoints if e.method == "GET"]
        steps = profile.flow.steps if profile.flow is not None else ()
        fixed = [st for st in steps if st.method == "GET" and st.path.static]
        if gets:
            path, headers = gets[0].path, _merged(profile.headers, gets[0].headers)
        elif fixed:
            path = fixed[0].path.parts[0]
        if path.startswith(("http://", "https://")):  # an absolute step URL: not behind the proxy
            path = "/"
        prefix = urlsplit(profile.base_url).path.rstrip("/")
        return cls(proxy_url.rstrip("/") + prefix + "/" + path.lstrip("/"), headers)

    def plan(self) -> RunPlan:
        """The smoke as the engine runs it: constant arrival rate, at most SMOKE_IN_FLIGHT
        at once (a slow green shows as a high p99, not as fewer requests), in a worker
        process whose stderr goes nowhere (the app draws on this one's)."""
        headers = (*self.headers, (SMOKE_HEADER, "green"))
        executor = ExecutorConfig(
            executor=CONSTANT_ARRIVAL_RATE,
            rate=self.rate,
            duration=SMOKE_PLAN_S,
            pre_allocated_vus=1,
            max_vus=SMOKE_IN_FLIGHT,
            graceful_stop=0.0,
        )
        parts = urlsplit(self.url)
        request = prepare("smoke", "GET", self.url, headers, None)
        work = WorkPlan(
            base_url=f"{parts.scheme}://{parts.netloc}",
            scenarios=(ScenarioPlan(DEFAULT_SCENARIO, executor, requests=(request,)),),
            timeout=self.timeout,
            connect_timeout=min(self.timeout, SMOKE_TIMEOUT_S),
        )
        return RunPlan(
            name="smoke",
            source=self.url,
            work=work,
            interval=SMOKE_INTERVAL_S,
            in_process=False,
            worker_log=os.devnull,
        )


def _merged(
    base: Iterable[tuple[str, str]], over: Iterable[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """Headers with `over` replacing `base` by case-insensitive name."""
    out = {name.lower(): (name, value) for name, value in base}
    out.update((name.lower(), (name, value)) for name, value in over)
    return tuple(out.values())


class SmokeRun:
    """The smoke plan, run by a Controller while the driver says "smoke".

    Timed where the load is timed (a worker process: on the app's loop, which stalls
    while it draws, a 5 ms green showed p99 260-360 ms and the smoke rolled a good green
    back), judged on the same figures (`mark_of` of its run model). Any status >= 400, a
    timeout or a refused connection is a failed request: a broken green is what the
    smoke run is there to find. `keep_alive` starts it and keeps it going; it stops
    SMOKE_IDLE_S after the last call, or at `stop`, so none outlives the rollout that
    wanted it, even in the app, which has no teardown hook for a driver.
    """

    def __init__(self, target: SmokeTarget) -> None:
        self.target = target
        self.last_failure: str | None = None
        self.error: str | None = None  # the smoke run itself failed
        self._ended: Counter[str] = Counter()  # answers of smoke runs that ended
        self._controller: Controller | None = None
        self._task: asyncio.Task[None] | None = None
        self._base = Mark()  # the current controller's figures at the window's start
        self._alive_at = 0.0
        self._failures: dict[str, int] = {}

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def upstreams(self) -> Counter[str]:
        """Who answered, over the whole smoke run (failures without an answer name none)."""
        out = Counter(self._ended)
        if self._controller is not None:
            out.update(_answers(self._controller))
        return out

    def figures(self) -> ColorFigures:
        """The current window's figures, as the analysis reads them."""
        return self.window_mark().figures()

    def window_mark(self) -> Mark:
        """The current window as a Mark (its percentiles go into the report's step rows)."""
        return self._mark().since(self._base)

    def _mark(self) -> Mark:
        c = self._controller
        return Mark() if c is None else mark_of(c.model, None, 0.0)

    def new_window(self) -> None:
        self._base = self._mark()
        if self._controller is not None:
            self._controller.resume()  # paused at a window's max_requests

    def keep_alive(self) -> None:
        """Start the run if it is not going, and keep it going SMOKE_IDLE_S more."""
        self._alive_at = monotonic()
        if self.running or self.error is not None:
            return  # a run that failed would fail again, four times a second
        try:
            loop = asyncio.get_running_loop()
            controller = Controller(self.target.plan(), on_snapshot=self._snapshot)
        except RuntimeError:  # no running loop: nothing can send
            return
        except ConfigError as exc:  # too few file descriptors for its VUs
            self.error = str(exc)
            return
        self._end()
        self._controller = controller
        self._base, self._failures = Mark(), {}
        self._task = loop.create_task(self._run(controller))

    def stop(self) -> None:
        """Abort the run: its requests in flight are cancelled."""
        c = self._controller
        if self.running and c is not None and not c.aborted:
            c.abort()

    async def aclose(self) -> None:
        self.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, controller: Controller) -> None:
        result = await controller.run()
        if result.error is not None or result.failures:
            self.error = result.error or "; ".join(result.failures)

    def _end(self) -> None:
        """The ended run's answers stay counted; its figures leave the window."""
        if self._controller is not None:
            self._ended.update(_answers(self._controller))
            self._controller = None

    def _snapshot(self, snap: Snapshot) -> None:
        """Each smoke interval: stop when the driver went quiet, pause at the window's
        max_requests, and name the newest kind of failure."""
        c = self._controller
        if c is None:
            return
        if monotonic() - self._alive_at > SMOKE_IDLE_S:
            self.stop()
        elif self.window_mark().requests >= self.target.max_requests:
            c.pause()
        failures = dict(_failures(snap))
        new = [kind for kind, n in failures.items() if n > self._failures.get(kind, 0)]
        if new:
            self.last_failure = new[-1]
        self._failures = failures


def _answers(c: Controller) -> Counter[str]:
    out: Counter[str] = Counter()
    for (_step, upstream), b in c.model.total.buckets.items():
        if upstream is not None:
            out[upstream] += b.requests
    return out


def _failures(snap: Snapshot) -> Iterable[tuple[str, int]]:
    """Failed requests by what went wrong: `HTTP 502`, or a transport error's kind."""
    for status, n in snap.totals.status.items():
        if status and not 200 <= status <= 399:  # 0: no answer (an error kind below)
            yield f"HTTP {status}", n
    for kind, n in snap.totals.errors.items():
        if not kind.startswith("http "):  # the statuses above, counted by class
            yield kind, n
