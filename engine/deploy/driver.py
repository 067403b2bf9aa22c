"""Drive a deployment strategy from a live run.

`DeployDriver` is the glue between three things that each know nothing of the others:
the pure strategy (engine.deploy.strategies), the run model the Controller fills (cumulative
histograms per (step, upstream)), and the proxy's admin API. It is stepped once per
snapshot, on the loop that runs the Controller, so it needs no lock with the model.

Each color's window is the cumulative model now minus at the window's start
(engine.deploy.marks says why).

Weights go to the proxy in the background (`PUT /weights`, `PUT /instances`): a command
returns at once, and a burst of changes sends only the latest state.

While a decision says `smoke`, green is judged on a smoke run's requests
(engine.deploy.smoke), since the load test sends green nothing then.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Callable, Mapping
from time import monotonic
from typing import Any

import httpx

from engine.deploy.marks import ColorLive, Mark, mark_of
from engine.deploy.smoke import SmokeRun, SmokeTarget
from engine.deploy.strategies import (
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

__all__ = ["DeployDriver"]

HISTORY = 600  # per-color points kept for the plots (one per snapshot)
ADMIN_TIMEOUT_S = 5.0
ADMIN_TOKEN_ENV = "SURGE_ADMIN_TOKEN"


# --------------------------------------------------------------------------- driver


class AdminClient:
    """The proxy's admin API over httpx; proxy environment variables are ignored on purpose.

    The bearer token is `token`, else SURGE_ADMIN_TOKEN (what `surge proxy` reads too).
    """

    def __init__(
        self, admin_url: str, timeout: float = ADMIN_TIMEOUT_S, token: str | None = None
    ) -> None:
        self.admin_url = admin_url.rstrip("/")
        token = token if token is not None else os.environ.get(ADMIN_TOKEN_ENV) or None
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False, headers=headers)

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

    While the strategy smokes green (`Decision.smoke`), `smoke` (a SmokeRun: a sender
    process, started by the first such decision) sends requests to `smoke_target`, and
    green's window figures are those requests' figures, because the
    load test sends green nothing then. Without a target the smoke run cannot send
    anything: `error` says so for as long as it lasts, and green's window stays what the
    load test sent green (requests that carry `x-surge-color: green` themselves), so the
    smoke is judged inconclusive, window after window, until the operator promotes or
    rolls back (P / R): nothing switches on no evidence.
    """

    def __init__(
        self,
        strategy: Strategy,
        admin: AdminClient | str | None,
        *,
        clock: Callable[[], float] = monotonic,
        autostart: bool = False,
        smoke_target: SmokeTarget | None = None,
    ) -> None:
        self.strategy = strategy
        self.autostart = autostart  # the app starts the rollout with the run (surge demo)
        self.admin = AdminClient(admin) if isinstance(admin, str) else admin
        self.clock = clock
        self.events: list[Event] = []
        self.live: dict[str, deque[ColorLive]] = {c: deque(maxlen=HISTORY) for c in COLORS}
        self.window: dict[str, ColorFigures] = {c: ColorFigures() for c in COLORS}
        self.applied: Weights | None = None  # what the proxy last acknowledged
        self.smoke = SmokeRun(smoke_target) if smoke_target is not None else None
        self.smoking = False  # the last decision asked for a smoke run
        self._admin_error: str | None = None
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
    def error(self) -> str | None:
        """What the panel shows in red: the proxy refusing weights, or a smoke run gone astray."""
        if self._admin_error is not None:
            return self._admin_error
        if not self.smoking:
            return None
        if self.smoke is None:
            return "smoke run has no target URL: green is not being smoked"
        if self.smoke.error is not None:
            return f"smoke: {self.smoke.error}"
        astray = sum(n for color, n in self.smoke.upstreams.items() if color != "green")
        if astray:
            return f"smoke: {astray} answers not from green (is {self.smoke.target.url} the proxy?)"
        return None

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
        if self.smoking and self.smoke is not None:
            self.window["green"] = self.smoke.figures()
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
            if self.smoke is not None:
                self.smoke.new_window()
        self._follow_smoke(d.smoke)
        if d.changed or (self.applied is None and self.phase is not Phase.READY):
            self._schedule()
        return d

    def _follow_smoke(self, wanted: bool) -> None:
        """Every decision while smoking is a heartbeat for the sender; any other stops it."""
        self.smoking = wanted
        if self.smoke is None:
            return
        if wanted:
            self.smoke.keep_alive()
        else:
            self.smoke.stop()

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
                self._admin_error = f"proxy admin: {exc or type(exc).__name__}"
                return
            self.applied = weights
            self._admin_error = None

    async def flush(self) -> None:
        """Wait until the proxy has the current weights (or failed to take them)."""
        if self._dirty and (self._task is None or self._task.done()):
            self._schedule()
        if self._task is not None:
            await self._task

    async def aclose(self) -> None:
        if self.smoke is not None:
            await self.smoke.aclose()
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
