"""The instances a rollout wants, and bringing the running ones there (recipes only).

`wanted` is a pure function from a strategy's state to the instance indexes of each
color that should run; the strategies themselves stay pure state machines that know
nothing of processes. `Fleet.converge` then moves the running set there in the one
order that keeps the router honest:

1. start the missing instances (engine.deploy.instances) and wait for their health;
   one that fails is stopped and the whole move fails (`HealthError`), before the
   router ever sees it;
2. register the new ones with the router (`Router.add_instance`), then set the weights:
   a color never gets a share before an instance of it serves;
3. drain the ones no longer wanted (`Router.drain_instance`: no new requests), wait
   until the router counts none of their requests in flight (`Router.in_flight`, at
   most `drain_timeout`; `drain_s` for a router that cannot count), remove them, stop
   their processes.

So a plain rolling step that takes a blue batch out only drains (capacity dips by a
batch), the additional batch's first move only starts, and a rollback restarts blue
before it stops green.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import monotonic

from engine.deploy.instances import HealthError, Instance, Launcher
from engine.deploy.routers import Router
from engine.deploy.routers.base import wait_drained
from engine.deploy.strategies import COLORS, EventKind, Phase, Strategy, Switch, Weights

__all__ = ["DRAIN_S", "Capacity", "Fleet", "HealthError", "Wanted", "wanted"]

DRAIN_S = 0.5  # the wait after a drain when the router cannot count requests in flight
DRAIN_TIMEOUT_S = 30.0  # the longest a drained instance's requests in flight are waited for


@dataclass(frozen=True)
class Wanted:
    """Instance indexes of each color that should run (and serve)."""

    blue: tuple[int, ...]
    green: tuple[int, ...]

    def of(self, color: str) -> tuple[int, ...]:
        return self.blue if color == "blue" else self.green


@dataclass(frozen=True)
class Capacity:
    """How many instances of each color served, from `at` (the driver's clock) on."""

    at: float
    blue: int
    green: int

    @property
    def serving(self) -> int:
        return self.blue + self.green


def wanted(
    strategy: Strategy,
    counts: Mapping[str, int],
    *,
    canary_instances: int = 1,
    keep_blue: bool = False,
) -> Wanted:
    """What should run now. Rolling: exactly the in-service sets. Before the start and
    after a rollback: all of blue. Promoted: all of green, and blue too while
    `keep_blue` (scale_down_delay). A switch in progress (its smoke run): both full
    sets. A canary, linear or manual rollout: all of blue, and green grown with its
    weight, never below `canary_instances`."""
    blue, green = range(counts["blue"]), range(counts["green"])
    if strategy.in_service is not None:
        return Wanted(strategy.in_service.blue, strategy.in_service.green)
    phase = strategy.phase
    if phase in (Phase.READY, Phase.ROLLED_BACK):
        return Wanted(tuple(blue), ())
    if phase is Phase.PROMOTED:
        return Wanted(tuple(blue) if keep_blue else (), tuple(green))
    if isinstance(strategy, Switch):
        return Wanted(tuple(blue), tuple(green))
    share = math.ceil(len(green) * strategy.weights.green / 100)
    n = max(min(canary_instances, len(green)), min(share, len(green)))
    return Wanted(tuple(blue), tuple(range(n)))


class Fleet:
    """The running instances of a rollout and the router they are registered with."""

    def __init__(
        self,
        launcher: Launcher,
        router: Router,
        *,
        drain_s: float = DRAIN_S,
        drain_timeout: float = DRAIN_TIMEOUT_S,
        clock: Callable[[], float] = monotonic,
        on_change: Callable[[EventKind, str], None] | None = None,
    ) -> None:
        self.launcher = launcher
        self.router = router
        self.drain_s = drain_s
        self.drain_timeout = drain_timeout
        self.clock = clock
        self.on_change = on_change  # one line per instance started or stopped, for the log
        self.serving: dict[str, Instance] = {}  # registered with the router, in service
        self.history: list[Capacity] = []  # every change of the serving set, in order
        self.peak = 0  # most instances running at once (the rollout's resource cost)

    def running(self, color: str) -> list[Instance]:
        return sorted(
            (i for i in self.launcher.running.values() if i.color == color), key=lambda i: i.index
        )

    async def converge(self, want: Wanted, weights: Weights) -> bool:
        """Start, register, weigh, drain, stop (the module docstring says why in that
        order). True when instances were started; HealthError when one failed."""
        running = self.launcher.running
        starts = [
            self.launcher.start(c, i)
            for c in COLORS
            for i in want.of(c)
            if f"{c}-{i}" not in running
        ]
        self.peak = max(self.peak, len(running))
        if starts:
            await self._await_health(starts)
        # the new ones, and any a router error kept from registering last time
        joining = [
            i
            for i in list(running.values())
            if i.index in want.of(i.color) and i.name not in self.serving
        ]
        for inst in joining:
            await self.router.add_instance(inst.color, inst.name, inst.address)
            self.serving[inst.name] = inst
            self._say(
                EventKind.INSTANCE_STARTED,
                f"{inst.name} serving on {inst.address} (pid {inst.pid}, log {inst.log})",
            )
        if joining:
            self._note()
        await self.router.set_weights(weights)
        stops = [i for i in list(running.values()) if i.index not in want.of(i.color)]
        drained = []
        for inst in stops:
            if self.serving.pop(inst.name, None) is not None:
                await self.router.drain_instance(inst.color, inst.name)
                drained.append(inst.name)
        if stops:
            self._note()
        if drained:
            await wait_drained(self.router, drained, self.drain_timeout, self.drain_s)
        for inst in stops:
            await self.router.remove_instance(inst.color, inst.name)
            await self.launcher.stop(inst)
            self._say(EventKind.INSTANCE_STOPPED, f"{inst.name} stopped (pid {inst.pid})")
        return bool(starts)

    async def _await_health(self, starts: list[Instance]) -> None:
        results = await asyncio.gather(
            *(self.launcher.wait_healthy(i) for i in starts), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if not failed:
            return
        # the batch never took traffic: all of it goes (a rollback follows)
        await asyncio.gather(*(self.launcher.stop(i) for i in starts))
        for problem in failed:
            if not isinstance(problem, HealthError):
                raise problem
        raise failed[0]

    def _note(self) -> None:
        counts = {c: sum(1 for i in self.serving.values() if i.color == c) for c in COLORS}
        self.history.append(Capacity(self.clock(), counts["blue"], counts["green"]))

    def _say(self, kind: EventKind, text: str) -> None:
        if self.on_change is not None:
            self.on_change(kind, text)

    async def aclose(self) -> None:
        """Every instance stops, whatever state the rollout is in."""
        self.serving.clear()
        await self.launcher.aclose()
