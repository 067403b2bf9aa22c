"""The deploy driver's fleet mover: the instances a rollout over recipes moves, and when.

With a fleet, every change of the strategy's state is a move of the instances
(engine.deploy.fleet.Fleet.converge), run by the router sync (engine.deploy.router_sync)
in place of a plain weight change; the driver does not step the strategy while a move
is under way and restarts the step's wait when it is done (`Strategy.hold`), so a window
judges instances that serve. A move that fails a health check is a rollback, which is
one more move. Blue is kept `scale_down_delay` seconds after a promotion, then stopped.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.deploy.fleet import BASELINE, FLEET_COLORS, Fleet, HealthError, Wanted, wanted
from engine.deploy.router_sync import Note, Unapplied
from engine.deploy.strategies import Decision, EventKind, Phase, Strategy, Weights
from engine.report.deploy_section import FleetRow

__all__ = ["FleetMover"]

Apply = Callable[[Decision], Decision]  # the driver's: log, record and send a decision


class FleetMover:
    """Recipes' instances for one rollout: what the strategy's state wants, and moving there."""

    def __init__(
        self,
        fleet: Fleet,
        strategy: Strategy,
        *,
        clock: Callable[[], float],
        note: Note,
        apply: Apply,
        canary_instances: int = 1,
        scale_down_delay: float = 0.0,
    ) -> None:
        self.fleet = fleet
        self.strategy = strategy
        self.counts = {c: r.instances for c, r in fleet.launcher.recipes.items()}
        self.canary_instances = canary_instances
        self.scale_down_delay = scale_down_delay
        self.promoted_at: float | None = None
        self.closing = False  # Surge is ending: no more moves, every instance stops
        self._clock = clock
        self._note = note
        self._apply = apply
        fleet.on_change = note

    @property
    def active(self) -> bool:
        return not self.closing

    @property
    def baseline(self) -> bool:
        return BASELINE in self.fleet.launcher.recipes

    def saw(self, phase: Phase) -> None:
        """Each decision's phase: the first promotion starts blue's scale-down delay."""
        if self.promoted_at is None and phase is Phase.PROMOTED:
            self.promoted_at = self._clock()

    def wanted(self) -> Wanted:
        """The instances the strategy's state calls for now (engine.deploy.fleet.wanted)."""
        keep = self.promoted_at is not None and (
            self._clock() < self.promoted_at + self.scale_down_delay
        )
        return wanted(
            self.strategy,
            self.counts,
            canary_instances=self.canary_instances,
            keep_blue=keep,
            baseline=self.baseline,
        )

    def behind(self) -> bool:
        """The running instances differ from what the strategy's state wants (a switch's
        start changes no weight, yet wants the whole green set): a move is due."""
        if self.closing:
            return False
        want = self.wanted()
        return any(
            tuple(i.index for i in self.fleet.running(c)) != tuple(sorted(want.of(c)))
            for c in FLEET_COLORS
        )

    def scale_down_due(self) -> bool:
        """Promoted, the delay over, and blue still running: time to stop it."""
        return (
            self.promoted_at is not None
            and not self.wanted().blue
            and bool(self.fleet.running("blue"))
        )

    def blue_gone(self) -> bool:
        """No blue instance runs after a promotion (its scale-down delay is over)."""
        return not (self.strategy.phase is Phase.PROMOTED and self.fleet.running("blue"))

    def row(self, t0: float) -> FleetRow:
        """The rollout's resource cost for the report: peak instances, serving history."""
        moves = tuple((c.at - t0, c.blue, c.green) for c in self.fleet.history)
        return FleetRow(self.fleet.peak, moves)

    async def prepare(self, weights: Weights) -> None:
        """Before the load: start blue's instances and register them.
        Raises HealthError when one never becomes healthy."""
        commands = "; ".join(self.fleet.launcher.commands())
        self._note(EventKind.INSTANCE_STARTED, f"starting instances: {commands}")
        await self.fleet.converge(self.wanted(), weights)

    async def move(self, weights: Weights) -> bool:
        """One move to the state's instances; a failed health check rolls the rollout
        back (False: the state changed, move again), unless it is as far back as it goes."""
        try:
            await self.fleet.converge(self.wanted(), weights)
        except HealthError as exc:
            self._note(EventKind.INSTANCE_UNHEALTHY, str(exc))
            if self.strategy.phase is Phase.ROLLED_BACK:  # the last good state failed
                raise Unapplied(f"instances did not start: {exc}") from exc
            self._apply(self.strategy.rollback(self._clock(), f"health check failed: {exc}"))
            return False
        return True

    def moved(self) -> None:
        # the step's wait (and its analysis window, and a smoke run) begins now
        self._apply(self.strategy.hold(self._clock()))

    async def aclose(self) -> None:
        """Every instance stops, whatever else fails."""
        self.closing = True
        await self.fleet.aclose()
