"""Drive a deployment strategy from a live run.

`DeployDriver` is the glue between three things that each know nothing of the others:
the pure strategy (engine.deploy.strategies), the run model the Controller fills (cumulative
histograms per (step, upstream)), and a router (engine.deploy.routers: Surge's proxy,
HAProxy or Envoy). It is stepped once per snapshot, on the loop that runs the
Controller, so it needs no lock with the model.

Each color's window is the cumulative model now minus at the window's start
(engine.deploy.marks says why).

Weights go to the router in the background (`Router.set_weights`, `set_in_service`): a
command returns at once, and a burst of changes sends only the latest state.

It also keeps what the report's `[deploy]` holds (engine.deploy.record): a row per
judged window at the weights that window ran at, every event (the registries' too,
through `note`), and at the end (`finish`) the outcome after `on_exit`.

While a decision says `smoke`, green is judged on a smoke run's requests
(engine.deploy.smoke: a plan on the engine), since the load test sends green nothing then.

With a `fleet` (colors given as recipes), every change also moves the instances
Surge runs (engine.deploy.fleet): the strategy is held while they start, a batch that
fails its health check rolls the rollout back, and blue is kept `scale_down_delay`
seconds after a promotion.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import Any

from engine.deploy.discovery import DiscoverySync
from engine.deploy.fleet import BASELINE, Fleet
from engine.deploy.fleet_steering import FleetSteering
from engine.deploy.marks import ColorLive, Mark, mark_of
from engine.deploy.record import VERDICTS, build_record, outcome_of, step_row
from engine.deploy.routers import InstanceCounts, Router, RouterError, SurgeProxyRouter
from engine.deploy.routers.surge import ADMIN_TOKEN_ENV, AdminClient
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
from engine.report.deploy_section import DeployRecord, StepRow

__all__ = ["ADMIN_TOKEN_ENV", "ON_EXIT", "AdminClient", "DeployDriver"]

HISTORY = 600  # per-color points kept for the plots (one per snapshot)
ON_EXIT = ("rollback", "keep")
PERCENTILE_NOTE = "per-color percentiles from Surge's own load (the x-surge-upstream header)"

EventHook = Callable[[float, Event, StepRow | None], None]
FiguresOf = Callable[[Any, str, float], Mark]


class DeployDriver(FleetSteering):
    """Owns a strategy for one run: judges windows, moves weights, keeps the log for the UI.

    Every method is synchronous and cheap so a key press or a snapshot handler can
    call it; talking to the proxy happens in a background task (`flush()` waits for
    it). A proxy that cannot be reached is reported in `error`, never raised: the load
    test goes on, and the next change tries again.

    While the strategy smokes green (`Decision.smoke`), `smoke` (a SmokeRun: a plan
    on the engine's Controller, started by the first such decision) sends requests to
    `smoke_target`, and green's window figures are those requests' figures, because the
    load test sends green nothing then. Without a target the smoke run cannot send
    anything: `error` says so for as long as it lasts, and green's window stays what the
    load test sent green (requests that carry `x-surge-color: green` themselves), so the
    smoke is judged inconclusive, window after window, until the operator promotes or
    rolls back (P / R): nothing switches on no evidence.
    """

    def __init__(
        self,
        strategy: Strategy,
        router: Router | AdminClient | str | None,
        *,
        clock: Callable[[], float] = monotonic,
        autostart: bool = False,
        smoke_target: SmokeTarget | None = None,
        on_exit: str = "rollback",
        on_event: EventHook | None = None,
        figures_of: FiguresOf = mark_of,
        fleet: Fleet | None = None,
        canary_instances: int = 1,
        scale_down_delay: float = 0.0,
    ) -> None:
        if on_exit not in ON_EXIT:
            raise ValueError(f"on_exit must be one of {', '.join(ON_EXIT)}, got {on_exit!r}")
        self.strategy = strategy
        self.autostart = autostart  # the app starts the rollout with the run (surge demo)
        if isinstance(router, str | AdminClient):
            router = SurgeProxyRouter(router)
        self.router: Router | None = router
        self.on_exit = on_exit
        self.on_event = on_event  # `surge run` prints each event (and judged window) as it comes
        self.figures_of = (
            figures_of  # each color's cumulative Mark: the run model's, or the router's
        )
        self.rows: list[StepRow] = []  # every judged window, for the report's [deploy]
        self.exited = False  # Surge ended mid-rollout and applied on_exit
        self.load_ended = False  # ... because the load ran out before the verdict
        self.final: DeployRecord | None = None  # the record `finish()` made
        self.discovery: list[DiscoverySync] = []  # registries keeping the router's pools
        self.instances: dict[str, dict[str, int]] = {}  # this run's per-instance counts
        self._instances_base: dict[str, InstanceCounts] | None = None  # the router's at start
        self._base_task: asyncio.Task[None] | None = None
        self.clock = clock
        self.events: list[Event] = []
        # the colors judged: blue and green, and a canary's baseline when it has one
        self.judged = (*COLORS, BASELINE) if _has_baseline(fleet) else COLORS
        self.live: dict[str, deque[ColorLive]] = {c: deque(maxlen=HISTORY) for c in self.judged}
        self.window: dict[str, ColorFigures] = {c: ColorFigures() for c in self.judged}
        self._applied: Weights | None = None
        self._applied_at = -1.0  # the clock when the router last acknowledged weights
        self.smoke = SmokeRun(smoke_target) if smoke_target is not None else None
        self.smoking = False  # the last decision asked for a smoke run
        self._admin_error: str | None = None
        self._marks: dict[str, Mark] = {c: Mark() for c in self.judged}
        self._window_base: dict[str, Mark] = dict(self._marks)
        self._t0 = clock()
        self._started_at = dt.datetime.now(dt.UTC)
        self._window_marks: dict[str, Mark] = dict(self._marks)
        self._window_t0 = 0.0
        self._window_weights = self.strategy.weights
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._discovery_tasks: list[asyncio.Task[None]] = []
        self._init_fleet(fleet, canary_instances, scale_down_delay)

    # -- what the UI reads --------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self.strategy.phase

    @property
    def weights(self) -> Weights:
        return self.strategy.weights

    @property
    def applied(self) -> Weights | None:
        """The weights the router last acknowledged (None: none yet)."""
        return self._applied

    @applied.setter
    def applied(self, weights: Weights | None) -> None:
        self._applied = weights
        self._applied_at = self.clock()

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
        for color in self.judged:
            mark = self.figures_of(model, color, t)
            delta = mark.since(self._marks[color])
            if delta.t > 0:
                self.live[color].append(ColorLive.of(t, delta))
            self._marks[color] = mark
            self._window_marks[color] = mark.since(self._window_base[color])
            self.window[color] = self._window_marks[color].figures()
        if self.smoking and self.smoke is not None:
            self._window_marks["green"] = self.smoke.window_mark()
            self.window["green"] = self._window_marks["green"].figures()
        if self.fleet is not None:
            if self._converging:  # instances starting or stopping: the step waits for them
                return Decision(self.weights, self.phase, in_service=self.strategy.in_service)
            if self._scale_down_due():
                self._schedule()
        return self._apply(self.strategy.step(now, self.window))

    # -- commands -----------------------------------------------------------------------

    async def prepare(self) -> None:
        """Before the load: recipes' instances start (FleetSteering), and the router's
        per-instance counters are read, so the record gives this run's counts only."""
        await super().prepare()
        await self._snapshot_instances()

    async def _snapshot_instances(self) -> None:
        self._instances_base = {}
        if self.router is not None:
            with contextlib.suppress(RouterError, OSError):
                self._instances_base = await self.router.instance_stats()

    def start(self) -> Decision:
        self._start_discovery()
        # without prepare() (the console), the instances' counts are the rollout's own
        if self._instances_base is None and self._base_task is None:
            with contextlib.suppress(RuntimeError):  # no running loop: a plain unit test
                self._base_task = asyncio.get_running_loop().create_task(self._snapshot_instances())
        return self._apply(self.strategy.start(self.clock()))

    def _start_discovery(self) -> None:
        """Registries are watched from the rollout's start (needs the running loop)."""
        if not self.discovery or self._discovery_tasks:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._discovery_tasks = [loop.create_task(d.start()) for d in self.discovery]

    def note(self, kind: EventKind, message: str) -> None:
        """An event of the pool's own (discovery), logged and hooked like the strategy's."""
        event = Event(kind, self.clock(), message)
        self.events.append(event)
        self._record((event,))

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
        self._record(d.events)
        if self.promoted_at is None and d.phase is Phase.PROMOTED:
            self.promoted_at = self.clock()
        if d.new_window:
            self._window_base = dict(self._marks)
            self._window_marks = {c: Mark() for c in self.judged}
            self._window_t0 = self.clock() - self._t0
            self.window = {c: ColorFigures() for c in self.judged}
            if self.smoke is not None:
                self.smoke.new_window()
        if (
            d.changed
            or (self.applied is None and self.phase is not Phase.READY)
            or self._fleet_behind()
        ):
            self._schedule()
        self._follow_smoke(d.smoke and not self._converging)
        if d.new_window:
            self._window_weights = self.weights
        return d

    def _record(self, events: tuple[Event, ...]) -> None:
        """A row per judged window (its figures, at the weights it ran at); hook each event."""
        for e in events:
            at = e.at - self._t0
            row = None
            if e.kind in VERDICTS:
                window = max(0.0, at - self._window_t0)
                row = step_row(e, at, self._window_weights, window, self._window_marks)
                self.rows.append(row)
            if self.on_event is not None:
                self.on_event(at, e, row)

    def _follow_smoke(self, wanted: bool) -> None:
        """Every decision while smoking keeps the smoke run going; any other stops it."""
        self.smoking = wanted
        if self.smoke is None:
            return
        if wanted:
            self.smoke.keep_alive()
        else:
            self.smoke.stop()

    def _schedule(self) -> None:
        self._dirty = True
        if self.router is None:
            self.applied = self.weights
            return
        if self._task is None or self._task.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (a plain unit test): flush() sends it
            self._converging = self.fleet is not None and not self._closing
            self._task = loop.create_task(self._sync())

    async def _sync(self) -> None:
        """Send the latest state until nothing changed meanwhile; the last write wins."""
        assert self.router is not None
        if self.fleet is not None and not self._closing:
            await self._sync_fleet()
            return
        while self._dirty:
            self._dirty = False
            weights = self.weights
            in_service = self.strategy.in_service
            try:
                await self.router.set_weights(weights)
                if in_service is not None and self.fleet is None:  # a fleet registers its own
                    await self.router.set_in_service(in_service)
            except (RouterError, OSError) as exc:
                error = str(exc) or type(exc).__name__
                if error != self._admin_error:  # once per new error, not per retry
                    self.note(EventKind.ROUTER_ERROR, f"weights {weights} not applied: {error}")
                self._admin_error = error
                return
            if self._admin_error is not None:
                self.note(EventKind.ROUTER_BACK, f"router took weights {weights}")
            self.applied = weights
            self._admin_error = None

    async def flush(self) -> None:
        """Wait until the proxy has the current weights (or failed to take them), and the
        instances' counts at the rollout's start are read."""
        if self._dirty and (self._task is None or self._task.done()):
            self._schedule()
        if self._task is not None:
            await self._task
        if self._base_task is not None:
            await self._base_task

    async def aclose(self) -> None:
        if self.fleet is not None:  # every instance stops, whatever else fails
            await self._stop_moves()
            await self.fleet.aclose()
        if hasattr(self.figures_of, "aclose"):
            await self.figures_of.aclose()
        for d in self.discovery:
            await d.aclose()
        for t in (*self._discovery_tasks, self._base_task):
            if t is not None:
                t.cancel()
        if self.smoke is not None:
            await self.smoke.aclose()
        with contextlib.suppress(Exception):
            await self.flush()
        if self.router is not None:
            await self.router.aclose()

    # -- the end, and the record ----------------------------------------------------------

    @property
    def router_name(self) -> str:
        return "none" if self.router is None else self.router.kind

    def describe_router(self) -> str:
        return (
            "no router (weights are only shown)" if self.router is None else self.router.describe()
        )

    def leave(self, *, load_ended: bool = False) -> Decision | None:
        """Surge is ending (the run's end, q, Ctrl+C, SIGTERM, a crash): a rollout still
        going leaves the router as `on_exit` says: 100% blue (rollback) or as it is (keep).
        `load_ended`: the load ran to its end first (the rollout is `unfinished`, not
        `stopped`). Returns the decision taken (the weights still have to reach the
        router: `finish`)."""
        if self.exited or self.strategy.done or self.phase is Phase.READY:
            return None
        self.exited = True
        self.load_ended = load_ended
        if self.smoke is not None:
            self.smoke.stop()
        if self.on_exit == "rollback":
            return self.rollback_for_exit()
        return None

    @property
    def _why_exited(self) -> str:
        return "the load ended before the verdict" if self.load_ended else "surge exited"

    def rollback_for_exit(self) -> Decision:
        reason = f"{self._why_exited} mid-rollout: back to 100% blue (on_exit = rollback)"
        return self._apply(self.strategy.rollback(self.clock(), reason))

    async def finish(self, *, load_ended: bool = False) -> DeployRecord | None:
        """`leave()`, wait for the router to take it, close; the record for the report.
        With a fleet, the instances are not moved any more: they all stop."""
        if self.fleet is not None:
            await self._stop_moves()
        self.leave(load_ended=load_ended)
        if self.router is not None:
            with contextlib.suppress(Exception):
                await self.flush()
            if not self.confirmed and self.phase is not Phase.READY:
                last = self.applied if self.applied is not None else "none"
                self.note(
                    EventKind.ROUTER_ERROR,
                    f"the end's weights {self.weights} not applied "
                    f"({self._admin_error or 'no answer'}); last confirmed: {last}",
                )
            with contextlib.suppress(Exception):
                base = self._instances_base or {}
                self.instances = {
                    name: now.since(base.get(name, InstanceCounts())).as_dict()
                    for name, now in (await self.router.instance_stats()).items()
                }
        await self.aclose()
        self.final = self.record()
        return self.final

    @property
    def confirmed(self) -> bool:
        """The router has the weights the rollout is at (without a router: nothing to ask)."""
        return self.router is None or self.applied == self.weights

    def record(self) -> DeployRecord | None:
        """The rollout so far for the report's [deploy] (None if it never started)."""
        if self.phase is Phase.READY and not self.events:
            return None
        notes = [getattr(self.figures_of, "note", PERCENTILE_NOTE)]
        if self.exited and self.on_exit == "keep":
            notes.append(
                f"{self._why_exited} mid-rollout: router left at {self.weights} (on_exit = keep)"
                if self.confirmed
                else f"{self._why_exited} mid-rollout (on_exit = keep)"
            )
        if self._admin_error:
            notes.append(f"router error: {self._admin_error}")
        return build_record(
            strategy=self.strategy.name,
            router=self.describe_router(),
            started=self._started_at,
            ended=dt.datetime.now(dt.UTC),
            outcome=outcome_of(self.phase, self.exited, self.load_ended, self.confirmed),
            weights=self.weights if self.router is None else self.applied,
            on_exit=self.on_exit,
            steps=self.rows,
            events=((e.at - self._t0, e) for e in self.events),
            notes=notes,
            instances=self.instances,
            fleet=self.fleet_row(),
            unconfirmed_after=None if self.confirmed else self._applied_at - self._t0,
        )

    # -- for a log line -----------------------------------------------------------------

    def verdicts(self) -> list[Event]:
        kinds = (
            EventKind.ANALYSIS_PASSED,
            EventKind.ANALYSIS_FAILED,
            EventKind.ANALYSIS_INCONCLUSIVE,
        )
        return [e for e in self.events if e.kind in kinds]


def _has_baseline(fleet: Fleet | None) -> bool:
    return fleet is not None and BASELINE in fleet.launcher.recipes
