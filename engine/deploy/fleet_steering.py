"""The deploy driver's part for recipes: the instances a rollout moves, and when.

A mixin of `DeployDriver` (engine.deploy.driver), kept apart so the driver reads as it
did for rollouts over instances someone else runs. With a fleet, every change of the
strategy's state is a move of the instances (engine.deploy.fleet.Fleet.converge); the
driver does not step the strategy while a move is under way and restarts the step's
wait when it is done (`Strategy.hold`), so a window judges instances that serve. A move
that fails a health check is a rollback, which is one more move. Blue is kept
`scale_down_delay` seconds after a promotion, then stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.deploy.fleet import Fleet, HealthError, Wanted, wanted
from engine.deploy.routers import RouterError
from engine.deploy.strategies import COLORS, Decision, EventKind, Phase, Strategy, Weights
from engine.report.deploy_section import FleetRow

__all__ = ["FleetSteering"]


class FleetSteering:
    """Recipes' moves for `DeployDriver`; inert (`fleet` None) for URL pools."""

    fleet: Fleet | None
    counts: dict[str, int]
    canary_instances: int
    scale_down_delay: float
    promoted_at: float | None
    _converging: bool  # a move is under way: the strategy waits for it
    _closing: bool  # Surge is ending: no more moves, every instance stops

    if TYPE_CHECKING:  # the driver's, used here
        strategy: Strategy
        clock: Callable[[], float]
        _t0: float
        applied: Weights | None
        _dirty: bool
        _admin_error: str | None
        _task: asyncio.Task[None] | None

        @property
        def weights(self) -> Weights: ...

        @property
        def phase(self) -> Phase: ...

        def note(self, kind: EventKind, message: str) -> None: ...

        def _apply(self, d: Decision) -> Decision: ...

    def _init_fleet(
        self, fleet: Fleet | None, canary_instances: int, scale_down_delay: float
    ) -> None:
        self.fleet = fleet
        self.counts = {c: 0 for c in COLORS}
        self.canary_instances = canary_instances
        self.scale_down_delay = scale_down_delay
        self.promoted_at = None
        self._converging = False
        self._closing = False
        if fleet is not None:
            fleet.on_change = self.note
            self.counts = {c: r.instances for c, r in fleet.launcher.recipes.items()}

    def wanted(self) -> Wanted:
        """The instances the strategy's state calls for now (engine.deploy.fleet.wanted)."""
        keep = self.promoted_at is not None and (
            self.clock() < self.promoted_at + self.scale_down_delay
        )
        return wanted(
            self.strategy, self.counts, canary_instances=self.canary_instances, keep_blue=keep
        )

    def _fleet_behind(self) -> bool:
        """The running instances differ from what the strategy's state wants (a switch's
        start changes no weight, yet wants the whole green set): a move is due."""
        if self.fleet is None or self._closing:
            return False
        want = self.wanted()
        return any(
            tuple(i.index for i in self.fleet.running(c)) != tuple(sorted(want.of(c)))
            for c in COLORS
        )

    def _scale_down_due(self) -> bool:
        """Promoted, the delay over, and blue still running: time to stop it."""
        assert self.fleet is not None
        return (
            self.promoted_at is not None
            and not self.wanted().blue
            and bool(self.fleet.running("blue"))
        )

    @property
    def settled(self) -> bool:
        """The rollout is over and so are its moves: promoted or rolled back, no instance
        starting or stopping, and blue gone after a promotion (its scale-down delay)."""
        if not self.strategy.done or self._converging:
            return False
        if self.fleet is None:
            return True
        return not (self.phase is Phase.PROMOTED and self.fleet.running("blue"))

    def fleet_row(self) -> FleetRow | None:
        """The rollout's resource cost for the report: peak instances, serving history."""
        if self.fleet is None:
            return None
        t0 = self._t0
        moves = tuple((c.at - t0, c.blue, c.green) for c in self.fleet.history)
        return FleetRow(self.fleet.peak, moves)

    async def prepare(self) -> None:
        """Before the load: start blue's instances and register them (recipes only).
        Raises HealthError when one never becomes healthy."""
        if self.fleet is None:
            return
        commands = "; ".join(self.fleet.launcher.commands())
        self.note(EventKind.INSTANCE_STARTED, f"starting instances: {commands}")
        await self.fleet.converge(self.wanted(), self.weights)
        self.applied = self.weights

    async def _sync_fleet(self) -> None:
        """Move the instances (and with them the weights) until the state stops changing;
        a failed health check rolls the rollout back, which moves them again."""
        assert self.fleet is not None
        self._converging = True
        try:
            while self._dirty:
                self._dirty = False
                weights = self.weights
                try:
                    await self.fleet.converge(self.wanted(), weights)
                except HealthError as exc:
                    self.note(EventKind.INSTANCE_UNHEALTHY, str(exc))
                    if self.strategy.phase is Phase.ROLLED_BACK:  # the last good state failed
                        self._admin_error = f"instances did not start: {exc}"
                        self._dirty = False
                        return
                    self._apply(self.strategy.rollback(self.clock(), f"health check failed: {exc}"))
                    continue
                except (RouterError, OSError) as exc:
                    error = str(exc) or type(exc).__name__
                    if error != self._admin_error:
                        self.note(EventKind.ROUTER_ERROR, f"weights {weights} not applied: {error}")
                    self._admin_error = error
                    return
                self.applied = weights
                self._admin_error = None
        finally:
            self._converging = False
        # the step's wait (and its analysis window, and a smoke run) begins now
        self._apply(self.strategy.hold(self.clock()))

    async def _stop_moves(self) -> None:
        """Surge is ending: a move under way is cancelled (its instances stop with the rest)."""
        self._closing = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
