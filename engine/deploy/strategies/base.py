"""The one interface every strategy implements, and the values it deals in.

`Strategy` owns the lifecycle shared by all variants (start, step, pause/resume,
promote/rollback at any time); each variant lives in its own module and supplies
`_begin` and `_tick`, as k6's executors share `base_executor.go`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, NamedTuple, Protocol

if TYPE_CHECKING:
    from engine.deploy.strategies.analysis import FiguresByColor, Verdict


COLORS: tuple[str, str] = ("blue", "green")


class Weights(NamedTuple):
    """Relative traffic weights; strategies always emit percentages summing to 100."""

    blue: int
    green: int

    @classmethod
    def green_percent(cls, percent: int) -> Weights:
        return cls(100 - percent, percent)

    def as_dict(self) -> dict[str, int]:
        return {"blue": self.blue, "green": self.green}

    def __str__(self) -> str:
        return f"{self.blue}:{self.green}"


ALL_BLUE = Weights(100, 0)
ALL_GREEN = Weights(0, 100)


class EventKind(StrEnum):
    STEP_STARTED = "step started"
    SMOKE_STARTED = "smoke started"
    ANALYSIS_PASSED = "analysis passed"
    ANALYSIS_FAILED = "analysis failed"
    ANALYSIS_INCONCLUSIVE = "analysis inconclusive"
    PAUSED = "paused"
    RESUMED = "resumed"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled back"
    # the pool's own events (service discovery), logged beside the strategy's
    POOL_FOUND = "pool found"
    INSTANCE_ADDED = "instance added"
    INSTANCE_DRAINED = "instance drained"
    INSTANCE_REMOVED = "instance removed"
    REGISTRY_UNREACHABLE = "registry unreachable"
    REGISTRY_BACK = "registry back"
    # instances Surge starts from a recipe (engine.deploy.fleet)
    INSTANCE_STARTED = "instance started"
    INSTANCE_STOPPED = "instance stopped"
    INSTANCE_UNHEALTHY = "instance unhealthy"
    ROUTER_ERROR = "router error"  # the router refused weights or could not be reached
    ROUTER_BACK = "router back"
    HOOK = "hook"  # a [deploy.hooks] hook ran (engine.deploy.gates): its result


@dataclass(frozen=True)
class Event:
    kind: EventKind
    at: float
    message: str
    step: int | None = None


class Phase(StrEnum):
    READY = "ready"
    RUNNING = "running"
    PAUSED = "paused"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled back"


class OnExit(StrEnum):
    """What a router is left at when Surge ends mid-rollout."""

    ROLLBACK = "rollback"  # 100% blue
    KEEP = "keep"  # as it is


@dataclass(frozen=True)
class InService:
    """Which instance indexes of each color take traffic; order is replacement order."""

    blue: tuple[int, ...]
    green: tuple[int, ...]

    @property
    def capacity(self) -> int:
        return len(self.blue) + len(self.green)

    def weights(self) -> Weights:
        """Traffic in proportion to instances, so each in-service instance gets an equal share."""
        total = self.capacity
        if total == 0:
            return ALL_BLUE
        green = round(100 * len(self.green) / total)
        return Weights.green_percent(green)

    def as_dict(self) -> dict[str, list[int]]:
        return {"blue": list(self.blue), "green": list(self.green)}


@dataclass(frozen=True)
class Decision:
    """What the driver should do now. `weights` is always the full current target."""

    weights: Weights
    phase: Phase
    events: tuple[Event, ...] = ()
    changed: bool = False
    new_window: bool = False
    smoke: bool = False
    in_service: InService | None = None
    # issue 30 (engine.deploy.strategies.traffic): the profile's routes are on (a cohort
    # step and every step after it), and the share of requests mirrored to green
    routes_on: bool = False
    mirror: int = 0


BY_OPERATOR = "by the operator"  # a promotion by hand: no gate asked


class GateAnswer(StrEnum):
    """A promotion gate's answer (engine.deploy.gates: the `pre_promotion` hook)."""

    WAIT = "wait"  # still asking: the strategy holds where it is
    ALLOW = "allow"
    ROLLBACK = "rollback"  # refused: back to blue
    PAUSE = "pause"  # refused: paused (`on_refuse = "pause"`); resuming asks again


class PromotionGate(Protocol):
    def ask(self, now: float) -> tuple[GateAnswer, str]: ...


class Strategy:
    """Common lifecycle: start, step, pause/resume, promote/rollback at any time.

    Subclasses implement `_begin` (the first decision) and `_tick` (what happens when
    the current wait is over). Resuming restarts the current wait in full, because the
    driver restarts its analysis window then too (`new_window`).
    """

    name: ClassVar[str] = "strategy"
    # set by the driver (engine.deploy.gates): each judged window's verdict through the
    # rollout's metrics, and a promotion (not by hand) through the pre_promotion gate
    window_gate: Callable[[Verdict], Verdict] | None = None
    promotion_gate: PromotionGate | None = None
    _promoting: str | None = None  # a promotion waiting for its gate (its reason)

    def __init__(self) -> None:
        self.phase = Phase.READY
        self.weights = ALL_BLUE
        self.in_service: InService | None = None
        self.step_index = 0
        self._due: float | None = None
        self._wait = 0.0

    # -- driver API ---------------------------------------------------------------------

    def start(self, now: float) -> Decision:
        if self.phase is not Phase.READY:
            return self._decision(())
        self.phase = Phase.RUNNING
        return self._begin(now)

    def step(self, now: float, figures: FiguresByColor | None = None) -> Decision:
        if self.phase is Phase.RUNNING and self._promoting is not None:
            return self.promote(now, self._promoting)
        if self.phase is not Phase.RUNNING or self._due is None or now < self._due:
            return self._decision(())
        return self._tick(now, figures)

    def pause(self, now: float, reason: str = "paused") -> Decision:
        if self.phase is not Phase.RUNNING:
            return self._decision(())
        self.phase = Phase.PAUSED
        return self._decision((Event(EventKind.PAUSED, now, reason, self.step_index),))

    def resume(self, now: float) -> Decision:
        if self.phase is not Phase.PAUSED:
            return self._decision(())
        self.phase = Phase.RUNNING
        self._due = now + self._wait
        event = Event(EventKind.RESUMED, now, "resumed", self.step_index)
        return self._decision((event,), new_window=True)

    def hold(self, now: float) -> Decision:
        """Restart the current wait in full: the driver held the step while its instances
        started (engine.deploy.fleet), so its window begins when they serve."""
        if self.phase is not Phase.RUNNING or self._due is None:
            return self._decision(())
        self._due = now + self._wait
        return self._decision((), new_window=True)

    def promote(self, now: float, reason: str = BY_OPERATOR) -> Decision:
        if self.phase is Phase.PROMOTED:
            return self._decision(())
        if self.promotion_gate is not None and reason != BY_OPERATOR:
            answer, why = self.promotion_gate.ask(now)
            self._promoting = reason if answer in (GateAnswer.WAIT, GateAnswer.PAUSE) else None
            if answer is GateAnswer.WAIT:  # nothing due: each step asks again
                self._due = None
                return self._decision(())
            if answer is GateAnswer.ROLLBACK:
                return self.rollback(now, f"pre_promotion refused: {why}")
            if answer is GateAnswer.PAUSE:
                return self.pause(now, f"pre_promotion refused: {why}")
        self._promoting = None
        before = self._snapshot()
        self.phase = Phase.PROMOTED
        self._due = None
        self.weights = ALL_GREEN
        if self.in_service is not None:
            self.in_service = InService((), tuple(range(self._instances())))
        event = Event(EventKind.PROMOTED, now, reason, self.step_index)
        return self._decision((event,), before=before)

    def rollback(self, now: float, reason: str = BY_OPERATOR) -> Decision:
        if self.phase is Phase.ROLLED_BACK:
            return self._decision(())
        before = self._snapshot()
        self.phase = Phase.ROLLED_BACK
        self._due = None
        self.weights = ALL_BLUE
        if self.in_service is not None:
            self.in_service = InService(tuple(range(self._instances())), ())
        event = Event(EventKind.ROLLED_BACK, now, reason, self.step_index)
        return self._decision((event,), before=before)

    @property
    def done(self) -> bool:
        return self.phase in (Phase.PROMOTED, Phase.ROLLED_BACK)

    @property
    def due(self) -> float | None:
        """When the current wait ends (None when nothing is pending), for a countdown."""
        return self._due if self.phase is Phase.RUNNING else None

    # -- for subclasses -----------------------------------------------------------------

    def _begin(self, now: float) -> Decision:
        raise NotImplementedError

    def _tick(self, now: float, figures: FiguresByColor | None) -> Decision:
        raise NotImplementedError

    def _instances(self) -> int:
        return 0

    def _gated(self, verdict: Verdict) -> Verdict:
        """Surge's verdict on a window with the rollout's metrics' (when it has any)."""
        return verdict if self.window_gate is None else self.window_gate(verdict)

    def _wait_for(self, now: float, seconds: float) -> None:
        self._wait = seconds
        self._due = now + seconds

    def _snapshot(self) -> tuple[Weights, InService | None]:
        return self.weights, self.in_service

    def _decision(
        self,
        events: tuple[Event, ...],
        *,
        before: tuple[Weights, InService | None] | None = None,
        new_window: bool = False,
        smoke: bool = False,
    ) -> Decision:
        changed = before is not None and before != self._snapshot()
        return Decision(
            weights=self.weights,
            phase=self.phase,
            events=events,
            changed=changed,
            new_window=new_window,
            smoke=smoke,
            in_service=self.in_service,
        )
