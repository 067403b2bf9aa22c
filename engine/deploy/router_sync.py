"""The deploy driver's router sync: applying the rollout's weights, and what the router confirmed.

Weights go to the router in the background (`Router.set_weights`, `set_in_service`): a
command returns at once, and a burst of changes sends only the latest state. A router
that cannot be reached is in `error`, never raised: the load test goes on, and the next
change tries again. With a fleet, a `Mover` moves the instances (and with them the
weights) instead. The router's per-instance counters are read here too, so the record
gives a run's own counts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from engine.deploy.routers import InstanceCounts, Router, RouterError
from engine.deploy.strategies import EventKind, InService, Weights
from engine.deploy.strategies.traffic import Mirror, Route

__all__ = ["NO_TRAFFIC", "Mover", "Note", "RouterSync", "Traffic", "Unapplied"]

Note = Callable[[EventKind, str], None]  # an event of the rollout's own, on record
Want = Callable[[], tuple[Weights, InService | None]]  # the weights and in-service set now
Traffic = tuple[tuple[Route, ...], Mirror]  # the cohort routes and the mirror wanted now
NO_TRAFFIC: Traffic = ((), Mirror())


class Unapplied(Exception):
    """A state that cannot be applied, and why (no retry: the rollout is as far back as it goes)."""


class Mover(Protocol):
    """Moves instances with the weights (engine.deploy.fleet_mover.FleetMover).

    `move` brings the instances and the router to `weights`, False when the state
    changed meanwhile (a rollback: go again), or raises RouterError, OSError or
    Unapplied; `moved` says every move is done; `active`: moves are still wanted.
    """

    @property
    def active(self) -> bool: ...

    async def move(self, weights: Weights) -> bool: ...

    def moved(self) -> None: ...


class RouterSync:
    """The latest wanted state, sent until the router took it; the last write wins."""

    def __init__(
        self,
        router: Router | None,
        want: Want,
        note: Note,
        clock: Callable[[], float],
        mover: Mover | None = None,
        traffic: Callable[[], Traffic] = lambda: NO_TRAFFIC,
    ) -> None:
        self.router = router
        self.mover = mover
        self.applied: Weights | None = None  # the weights the router last acknowledged
        self.applied_at = -1.0  # the clock then
        self.error: str | None = None
        self.moving = False  # the mover is at work: the strategy waits for it
        self.instances: dict[str, dict[str, int]] = {}  # this run's per-instance counts
        self.traffic: Traffic = NO_TRAFFIC  # the routes and mirror the router last took
        self.traffic_error: str | None = None  # the router refused them (weights: `error`)
        self._want = want
        self._traffic = traffic
        self._note = note
        self._clock = clock
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._base: dict[str, InstanceCounts] | None = None  # the router's at the start
        self._base_task: asyncio.Task[None] | None = None

    def took(self, weights: Weights) -> None:
        self.applied = weights
        self.applied_at = self._clock()

    def confirmed(self, weights: Weights) -> bool:
        """The router has `weights` (without a router: nothing to ask)."""
        return self.router is None or self.applied == weights

    @property
    def traffic_behind(self) -> bool:
        """The routes or the mirror wanted differ from what the router took."""
        return self._traffic() != self.traffic

    def schedule(self) -> None:
        self._dirty = True
        if self.router is None:
            self.took(self._want()[0])
            self.traffic = self._traffic()
            return
        if self._task is None or self._task.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (a plain unit test): flush() sends it
            self.moving = self.mover is not None and self.mover.active
            self._task = loop.create_task(self._sync())

    async def _sync(self) -> None:
        """Send the latest state until nothing changed meanwhile."""
        mover = self.mover if self.mover is not None and self.mover.active else None
        try:
            while self._dirty:
                self._dirty = False
                weights, in_service = self._want()
                try:
                    if mover is not None:
                        if not await mover.move(weights):
                            continue
                    else:
                        await self._send(weights, in_service)
                except Unapplied as exc:
                    self.error = str(exc)
                    self._dirty = False
                    return
                except (RouterError, OSError) as exc:
                    error = str(exc) or type(exc).__name__
                    if error != self.error:  # once per new error, not per retry
                        self._note(
                            EventKind.ROUTER_ERROR, f"weights {weights} not applied: {error}"
                        )
                    self.error = error
                    return
                if self.error is not None and mover is None:  # a move says its own events
                    self._note(EventKind.ROUTER_BACK, f"router took weights {weights}")
                self.took(weights)
                self.error = None
                if not await self._send_traffic():
                    return
        finally:
            self.moving = False
        if mover is not None:
            mover.moved()

    async def _send(self, weights: Weights, in_service: InService | None) -> None:
        assert self.router is not None
        await self.router.set_weights(weights)
        if in_service is not None and self.mover is None:  # a fleet registers its own
            await self.router.set_in_service(in_service)

    async def _send_traffic(self) -> bool:
        """The routes, then the mirror, each only when it changed; what the router took is
        kept (`traffic`), never what it was asked; False (and `traffic_error`) when it
        refused (noted once per new error)."""
        assert self.router is not None
        routes, mirror = self._traffic()
        what = "cohort routes"
        try:
            if routes != self.traffic[0]:
                await self.router.set_routes(routes)
                self.traffic = (routes, self.traffic[1])
            what = f"mirror {mirror.percent}%"
            if mirror != self.traffic[1]:
                await self.router.set_mirror(mirror)
                self.traffic = (self.traffic[0], mirror)
        except (RouterError, OSError) as exc:
            error = f"{what} not applied: {str(exc) or type(exc).__name__}"
            if error != self.traffic_error:
                self._note(EventKind.ROUTER_ERROR, error)
            self.traffic_error = error
            return False
        if self.traffic_error is not None:
            self._note(EventKind.ROUTER_BACK, "router took the routes and the mirror")
        self.traffic_error = None
        return True

    async def flush(self) -> None:
        """Wait until the router has the current weights (or failed to take them), and the
        instances' counts at the rollout's start are read."""
        if self._dirty and (self._task is None or self._task.done()):
            self.schedule()
        if self._task is not None:
            await self._task
        if self._base_task is not None:
            await self._base_task

    async def halt(self) -> None:
        """Surge is ending: a sync under way (a move) is cancelled."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    # -- the router's per-instance counters ---------------------------------------------

    async def read_base(self) -> None:
        """The counters now, so the record gives this run's counts only."""
        self._base = {}
        if self.router is not None:
            with contextlib.suppress(RouterError, OSError):
                self._base = await self.router.instance_stats()

    def read_base_soon(self) -> None:
        """Without `read_base()` before the load (the console): read at the rollout's start."""
        if self._base is None and self._base_task is None:
            with contextlib.suppress(RuntimeError):  # no running loop: a plain unit test
                self._base_task = asyncio.get_running_loop().create_task(self.read_base())

    async def read_instances(self) -> None:
        """Each instance's counts since the base, for the record."""
        if self.router is None:
            return
        with contextlib.suppress(Exception):
            base = self._base or {}
            self.instances = {
                name: now.since(base.get(name, InstanceCounts())).as_dict()
                for name, now in (await self.router.instance_stats()).items()
            }

    async def aclose(self) -> None:
        if self._base_task is not None:
            self._base_task.cancel()  # not awaited: flush() would raise its cancellation
            self._base_task = None
        with contextlib.suppress(Exception):
            await self.flush()
        if self.router is not None:
            await self.router.aclose()
