"""Drive a deployment strategy from a live run.

`DeployDriver` is the glue between things that each know nothing of the others: the
pure strategy (engine.deploy.strategies), the run's figures (`RunFigures`: what the run
model offers, cumulative histograms per (step, upstream)) and a router
(engine.deploy.routers: Surge's proxy, HAProxy or Envoy). It is stepped once per
snapshot, on the loop that runs the Controller, so it needs no lock with the model.

Its parts have narrow interfaces: the window book (engine.deploy.window_book: each
color's figures per step window, a row per judged window), the router sync
(engine.deploy.router_sync: weights applied in the background and confirmed), and with
a `fleet` (colors given as recipes) the fleet mover (engine.deploy.fleet_mover:
instances up and down with every change). While a decision says `smoke`, green is judged
on a smoke run's requests (engine.deploy.smoke: a plan on the engine), since the load
test sends green nothing then. The driver keeps the events, and at the end (`finish`)
the record of the report's `[deploy]` (engine.deploy.record) after `on_exit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import deque
from collections.abc import Callable
from time import monotonic

from engine.deploy.discovery import DiscoverySync
from engine.deploy.fleet import BASELINE, Fleet
from engine.deploy.fleet_mover import FleetMover
from engine.deploy.gates.rollout import RolloutGates
from engine.deploy.marks import ColorLive, FiguresSource, ModelFigures, RunFigures
from engine.deploy.mirror_book import MirrorBook, mirror_figures
from engine.deploy.record import VERDICTS, build_record, outcome_of
from engine.deploy.router_sync import RouterSync, Traffic
from engine.deploy.routers import Router
from engine.deploy.smoke import SmokeRun, SmokeTarget
from engine.deploy.strategies import (
    COHORT,
    COLORS,
    MIRROR,
    ColorFigures,
    Decision,
    Event,
    EventKind,
    InService,
    Manual,
    OnExit,
    Phase,
    Strategy,
    Weights,
)
from engine.deploy.strategies.traffic import IDEMPOTENT, Mirror, Route, split_upstream
from engine.deploy.window_book import WindowBook
from engine.report.deploy_section import DeployRecord, FleetRow, StepRow

__all__ = ["DeployDriver"]

EventHook = Callable[[float, Event, StepRow | None], None]


class DeployDriver:
    """Owns a strategy for one run: judges windows, moves weights, keeps the log for the UI.

    Every method is synchronous and cheap so a key press or a snapshot handler can
    call it; talking to the router happens in the background (`flush()` waits for it).

    While the strategy smokes green (`Decision.smoke`), `smoke` (a SmokeRun, started by
    the first such decision) sends requests to `smoke_target`, and green's window
    figures are those requests' figures. Without a target the smoke run cannot send
    anything: `error` says so for as long as it lasts, and green's window stays what the
    load test sent green (requests that carry `x-surge-color: green` themselves), so the
    smoke is judged inconclusive, window after window, until the operator promotes or
    rolls back (P / R): nothing switches on no evidence.
    """

    def __init__(
        self,
        strategy: Strategy,
        router: Router | None,
        *,
        clock: Callable[[], float] = monotonic,
        autostart: bool = False,
        smoke_target: SmokeTarget | None = None,
        on_exit: OnExit = OnExit.ROLLBACK,
        on_event: EventHook | None = None,
        figures_of: FiguresSource | None = None,
        fleet: Fleet | None = None,
        canary_instances: int = 1,
        scale_down_delay: float = 0.0,
        routes: tuple[Route, ...] = (),
        mirror_methods: tuple[str, ...] = IDEMPOTENT,
    ) -> None:
        self.strategy = strategy
        # issue 30: the profile's cohort routes, on from a cohort step (`Decision.routes_on`),
        # and a mirror step's share of requests copied to green (`Decision.mirror`)
        self.routes = routes
        self.mirror_methods = mirror_methods
        self.routes_on = False
        self.mirror = 0
        self.autostart = autostart  # the app starts the rollout with the run (surge demo)
        self.on_exit = OnExit(on_exit)  # ValueError if not one
        self.on_event = on_event  # `surge run` prints each event (and judged window) as it comes
        self.clock = clock
        self.events: list[Event] = []
        self.exited = False  # Surge ended mid-rollout and applied on_exit
        self.load_ended = False  # ... because the load ran out before the verdict
        self.final: DeployRecord | None = None  # the record `finish()` made
        self.discovery: list[DiscoverySync] = []  # registries keeping the router's pools
        self.smoke = SmokeRun(smoke_target) if smoke_target is not None else None
        self.smoking = False  # the last decision asked for a smoke run
        self.mover = (
            None
            if fleet is None
            else FleetMover(
                fleet,
                strategy,
                clock=clock,
                note=self.note,
                apply=self._apply,
                canary_instances=canary_instances,
                scale_down_delay=scale_down_delay,
            )
        )
        # the colors judged: blue and green, and a canary's baseline when it has one
        colors = (*COLORS, BASELINE) if self.mover is not None and self.mover.baseline else COLORS
        # and each cohort's, green's cohorts together (what a cohort step judges) first
        cohorts = (COHORT, *(f"{r.color}+{r.cohort}" for r in routes)) if routes else ()
        colors = (*colors, *dict.fromkeys(cohorts))
        self.book = WindowBook(colors, figures_of or ModelFigures(), strategy.weights)
        self.sync = RouterSync(
            router, self._wanted, self.note, clock, self.mover, traffic=self._traffic
        )
        self.mirror_book = MirrorBook(router)
        self._t0 = clock()
        self._started_at = dt.datetime.now(dt.UTC)
        self._discovery_tasks: list[asyncio.Task[None]] = []
        self.gates: RolloutGates | None = None  # [[deploy.metrics]], [deploy.hooks] (attach_gates)

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
        return self.sync.applied

    @property
    def router(self) -> Router | None:
        return self.sync.router

    @property
    def fleet(self) -> Fleet | None:
        return None if self.mover is None else self.mover.fleet

    @property
    def promoted_at(self) -> float | None:
        return None if self.mover is None else self.mover.promoted_at

    @property
    def live(self) -> dict[str, deque[ColorLive]]:
        return self.book.live

    @property
    def window(self) -> dict[str, ColorFigures]:
        return self.book.window

    @property
    def manual(self) -> bool:
        return isinstance(self.strategy, Manual)

    @property
    def moving(self) -> bool:
        """Instances are starting or stopping: the step waits for them."""
        return self.sync.moving

    @property
    def error(self) -> str | None:
        """What the panel shows in red: the router refusing weights, or a smoke run gone astray."""
        if self.sync.error is not None:
            return self.sync.error
        if self.sync.traffic_error is not None:
            return self.sync.traffic_error
        if not self.smoking:
            return None
        if self.smoke is None:
            return "smoke run has no target URL: green is not being smoked"
        if self.smoke.error is not None:
            return f"smoke: {self.smoke.error}"
        astray = sum(
            n for tag, n in self.smoke.upstreams.items() if split_upstream(tag)[0] != "green"
        )
        if astray:
            return f"smoke: {astray} answers not from green (is {self.smoke.target.url} the proxy?)"
        return None

    @property
    def remaining(self) -> float | None:
        """Seconds until the current step is judged (None when nothing is pending)."""
        due = self.strategy.due
        return None if due is None else max(0.0, due - self.clock())

    @property
    def settled(self) -> bool:
        """The rollout is over and so are its moves: promoted or rolled back, no instance
        starting or stopping, and blue gone after a promotion (its scale-down delay)."""
        if not self.strategy.done or self.moving:
            return False
        return self.mover is None or self.mover.blue_gone()

    def attach_gates(self, gates: RolloutGates) -> None:
        """The rollout's metrics and hooks (engine.deploy.gates), judged and run with it."""
        self.gates = gates
        gates.attach(self.strategy, self._t0, lambda: self._apply(self.strategy.step(self.clock())))

    def state(self) -> dict[str, str]:
        """The rollout as a webhook hook tells it (Flagger's metadata: strings)."""
        return {
            "strategy": self.strategy.name,
            "phase": self.phase.value,
            "weights": str(self.weights),
            "step": str(self.strategy.step_index),
        }

    def fleet_row(self) -> FleetRow | None:
        """The rollout's resource cost for the report (recipes only)."""
        return None if self.mover is None else self.mover.row(self._t0)

    # -- stepping -----------------------------------------------------------------------

    def observe(self, figures: RunFigures | None) -> Decision:
        """Once per snapshot: refresh each color's figures, then let the strategy decide."""
        now = self.clock()
        self.book.observe(figures, now - self._t0)
        if self.smoking and self.smoke is not None:
            self.book.put("green", self.smoke.window_mark())
        if self.mover is not None:
            if self.moving:  # instances starting or stopping: the step waits for them
                return Decision(self.weights, self.phase, in_service=self.strategy.in_service)
            if self.mover.scale_down_due():
                self.sync.schedule()
        return self._apply(self.strategy.step(now, self._figures()))

    def _figures(self) -> dict[str, ColorFigures]:
        """The window's figures by color and cohort; while a mirror is on, its pairs too
        (MIRROR; a router that cannot compare pairs gives none: green's own are judged,
        from the router's counters)."""
        if self.mirror:
            self.mirror_book.poll()
            own = self.mirror_book.green_window(self.clock() - self._t0)
            if own is not None:  # the router's counters: green's answers to the copies
                self.book.put("green", own)
        figures = dict(self.book.window)
        if self.mirror:
            pairs = self.mirror_book.window()
            self.book.mirror = pairs
            if pairs is not None:
                figures[MIRROR] = mirror_figures(pairs)
        return figures

    @property
    def mirror_window(self) -> ColorFigures | None:
        """The mirror step's pairs so far, for the panel (None: no mirror, or no pairs)."""
        pairs = self.book.mirror if self.mirror else None
        return None if pairs is None else mirror_figures(pairs)

    # -- commands -----------------------------------------------------------------------

    async def prepare(self) -> None:
        """Before the load: recipes' instances start (raises HealthError when one never
        becomes healthy), and the router's per-instance counters are read, so the record
        gives this run's counts only."""
        if self.mover is not None:
            await self.mover.prepare(self.weights)
            self.sync.took(self.weights)
        await self.sync.read_base()

    def start(self) -> Decision:
        if self.gates is not None and self.gates.hold_start(self._start):
            return Decision(self.weights, self.phase)  # the pre_rollout hook answers first
        return self._start()

    def _start(self) -> Decision:
        self._start_discovery()
        self.sync.read_base_soon()  # without prepare() (the console): the rollout's own counts
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
        """An event of the rollout's own (discovery, the router, instances), logged and
        hooked like the strategy's."""
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

    def _wanted(self) -> tuple[Weights, InService | None]:
        return self.weights, self.strategy.in_service

    def _traffic(self) -> Traffic:
        """The routes and the mirror the last decision wants (off once Surge leaves)."""
        routes = self.routes if self.routes_on and not self.exited else ()
        mirror = self.mirror if not self.exited else 0
        return routes, Mirror(mirror, self.mirror_methods) if mirror else Mirror()

    def _apply(self, d: Decision) -> Decision:
        self.events.extend(d.events)
        self._record(d.events)
        self.routes_on, self.mirror = d.routes_on, d.mirror
        if self.gates is not None:
            self.gates.saw(d)
        if self.mover is not None:
            self.mover.saw(d.phase)
        if d.new_window:
            self.book.new_window(self.clock() - self._t0, self.weights)
            self.mirror_book.new_window()
            if self.smoke is not None:
                self.smoke.new_window()
        if (
            d.changed
            or (self.applied is None and self.phase is not Phase.READY)
            or (self.mover is not None and self.mover.behind())
            or self.sync.traffic_behind
        ):
            self.sync.schedule()
        self._follow_smoke(d.smoke and not self.moving)
        return d

    def _record(self, events: tuple[Event, ...]) -> None:
        """A row per judged window; hook each event."""
        for e in events:
            at = e.at - self._t0
            row = self.book.row(e, at) if e.kind in VERDICTS else None
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

    async def flush(self) -> None:
        """Wait until the router has the current weights (or failed to take them), and the
        instances' counts at the rollout's start are read."""
        await self.sync.flush()

    async def _stop_moves(self) -> None:
        """Surge is ending: a move under way is cancelled (its instances stop with the rest)."""
        if self.mover is not None:
            self.mover.closing = True
            await self.sync.halt()

    async def aclose(self) -> None:
        if self.mover is not None:  # every instance stops, whatever else fails
            await self._stop_moves()
            await self.mover.aclose()
        await self.book.source.aclose()
        for d in self.discovery:
            await d.aclose()
        for t in self._discovery_tasks:
            t.cancel()
        if self.smoke is not None:
            await self.smoke.aclose()
        await self.mirror_book.aclose()
        await self.sync.aclose()
        if self.gates is not None:
            await self.gates.aclose()

    # -- the end, and the record ----------------------------------------------------------

    @property
    def router_name(self) -> str:
        return "none" if self.router is None else self.router.kind

    def describe_router(self) -> str:
        r = self.router
        return "no router (weights are only shown)" if r is None else r.describe()

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
        if self.sync.traffic_behind:  # routes and mirror off, whatever on_exit says
            self.sync.schedule()
        if self.on_exit is OnExit.ROLLBACK:
            reason = f"{self._why_exited} mid-rollout: back to 100% blue (on_exit = rollback)"
            return self._apply(self.strategy.rollback(self.clock(), reason))
        return None

    @property
    def _why_exited(self) -> str:
        return "the load ended before the verdict" if self.load_ended else "surge exited"

    async def finish(self, *, load_ended: bool = False) -> DeployRecord | None:
        """`leave()`, wait for the router to take it, close; the record for the report.
        With a fleet, the instances are not moved any more: they all stop."""
        await self._stop_moves()
        self.leave(load_ended=load_ended)
        if self.gates is not None:
            await self.gates.settle()
        if self.router is not None:
            with contextlib.suppress(Exception):
                await self.flush()
            if not self.confirmed and self.phase is not Phase.READY:
                last = self.applied if self.applied is not None else "none"
                self.note(
                    EventKind.ROUTER_ERROR,
                    f"the end's weights {self.weights} not applied "
                    f"({self.sync.error or 'no answer'}); last confirmed: {last}",
                )
            await self.sync.read_instances()
        await self.aclose()
        self.final = self.record()
        return self.final

    @property
    def confirmed(self) -> bool:
        """The router has the weights the rollout is at (without a router: nothing to ask)."""
        return self.sync.confirmed(self.weights)

    def record(self) -> DeployRecord | None:
        """The rollout so far for the report's [deploy] (None if it never started)."""
        if self.phase is Phase.READY and not self.events:
            return None
        notes = [self.book.source.note]
        if self.exited and self.on_exit is OnExit.KEEP:
            notes.append(
                f"{self._why_exited} mid-rollout: router left at {self.weights} (on_exit = keep)"
                if self.confirmed
                else f"{self._why_exited} mid-rollout (on_exit = keep)"
            )
        if self.sync.error:
            notes.append(f"router error: {self.sync.error}")
        if self.sync.traffic_error:
            notes.append(f"router error: {self.sync.traffic_error}")
        metrics, hooks = self.gates.rows() if self.gates is not None else ((), ())
        refused = self.gates is not None and self.gates.refused
        return build_record(
            strategy=self.strategy.name,
            router=self.describe_router(),
            started=self._started_at,
            ended=dt.datetime.now(dt.UTC),
            outcome=outcome_of(
                self.phase, self.exited, self.load_ended, self.confirmed, refused=refused
            ),
            weights=self.weights if self.router is None else self.applied,
            on_exit=self.on_exit,
            steps=self.book.rows,
            events=((e.at - self._t0, e) for e in self.events),
            notes=notes,
            instances=self.sync.instances,
            fleet=self.fleet_row(),
            unconfirmed_after=None if self.confirmed else self.sync.applied_at - self._t0,
            metrics=metrics,
            hooks=hooks,
        )

    # -- for a log line -----------------------------------------------------------------

    def verdicts(self) -> list[Event]:
        return [e for e in self.events if e.kind in VERDICTS]
