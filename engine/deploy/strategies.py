"""Deployment strategies as pure state machines: blue/green switch, canary, linear,
rolling (with or without an additional batch) and manual.

Why pure: a rollout is a sequence of decisions over time and figures, and such logic
breaks at its edges (the last step, a pause during analysis, a failure limit of one).
With no clock, socket or event loop inside, each edge is a row in a table test, and
the app, the CLI and a test drive the very same code by calling `step(now, figures)`
at whatever cadence they like (the app does it on every snapshot, ~4 per second).

Every call returns a `Decision`: the weights to set now (idempotent: setting them
again is harmless), the events that happened (for the log), and `new_window`, which
tells the driver to restart the analysis window, so the figures passed at the next
judgement cover exactly one window of the current step.

A driver, in short (the proxy's admin API or `Proxy` object on the other side):

    strategy = parse_deploy(profile.deploy).build()
    apply(strategy.start(now))
    # on every snapshot:
    apply(strategy.step(now, {"blue": ColorFigures(...), "green": ColorFigures(...)}))

    def apply(d):
        proxy.set_weights(*d.weights)                       # PUT /weights
        if d.in_service: proxy.set_in_service(d.in_service.as_dict())  # PUT /instances
        if d.new_window: restart the per-color window (histograms, counts)
        if d.smoke: send smoke requests with `x-surge-color: green`
        log(d.events)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, ClassVar, NamedTuple
from urllib.parse import urlsplit

from engine.durations import parse_duration
from engine.errors import ConfigError

__all__ = [
    "ALL_BLUE",
    "ALL_GREEN",
    "COLORS",
    "STRATEGIES",
    "Analysis",
    "Canary",
    "ColorFigures",
    "Decision",
    "DeployPlan",
    "Event",
    "EventKind",
    "InService",
    "Linear",
    "Manual",
    "Phase",
    "Progressive",
    "Rolling",
    "RollingWithAdditionalBatch",
    "Strategy",
    "Switch",
    "Verdict",
    "Weights",
    "canary_steps",
    "judge",
    "linear_steps",
    "parse_deploy",
    "rolling_plan",
]

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


@dataclass(frozen=True)
class ColorFigures:
    """One color's figures over one analysis window (what the judgement reads)."""

    requests: int = 0
    failed: int = 0
    p99_ms: float = 0.0

    @property
    def success_rate(self) -> float | None:
        return None if self.requests == 0 else 1.0 - self.failed / self.requests

    @classmethod
    def of(cls, figures: Any) -> ColorFigures:
        """From an `engine.load.model.Figures` (duck-typed: this module imports no engine state)."""
        return cls(int(figures.requests), int(figures.failed), float(figures.latency.p99))


FiguresByColor = Mapping[str, ColorFigures]


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


# --------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class Analysis:
    """Bounds that judge green over one window; None switches a bound off.

    The comparison with blue is skipped while blue has too few requests to compare
    (e.g. during a smoke run at 0% green, blue still serves; at 100% green it does
    not). `p99_floor_ms` keeps sub-millisecond loopback noise from failing a 2x ratio:
    green's p99 is compared with max(blue p99, floor) * ratio.
    """

    interval: float = 60.0
    min_requests: int = 50
    min_success_rate: float | None = 0.99
    max_p99_ms: float | None = None
    max_p99_ratio: float | None = 2.0
    p99_floor_ms: float = 5.0
    max_success_drop: float | None = 0.01

    def __post_init__(self) -> None:
        if not (math.isfinite(self.interval) and self.interval > 0):
            raise ValueError(f"interval must be > 0, got {self.interval!r}")
        if self.min_requests < 1:
            raise ValueError(f"min_requests must be >= 1, got {self.min_requests!r}")


class Verdict(NamedTuple):
    outcome: EventKind  # ANALYSIS_PASSED, ANALYSIS_FAILED or ANALYSIS_INCONCLUSIVE
    reason: str


def judge(analysis: Analysis, figures: FiguresByColor | None) -> Verdict:
    """Green against fixed bounds, then against blue; every failed bound is named."""
    green = (figures or {}).get("green")
    if green is None or green.requests < analysis.min_requests:
        n = 0 if green is None else green.requests
        return Verdict(
            EventKind.ANALYSIS_INCONCLUSIVE,
            f"green served {n} requests, need {analysis.min_requests} to judge",
        )
    rate = green.success_rate or 0.0
    problems: list[str] = []
    if analysis.min_success_rate is not None and rate < analysis.min_success_rate:
        problems.append(f"success rate {rate:.2%} < {analysis.min_success_rate:.2%}")
    if analysis.max_p99_ms is not None and green.p99_ms > analysis.max_p99_ms:
        problems.append(f"p99 {green.p99_ms:.1f} ms > {analysis.max_p99_ms:g} ms")
    blue = (figures or {}).get("blue")
    notes: list[str] = []
    if blue is not None and blue.requests >= analysis.min_requests:
        blue_rate = blue.success_rate or 0.0
        drop = analysis.max_success_drop
        if drop is not None and rate < blue_rate - drop:
            problems.append(f"success rate {rate:.2%} vs blue's {blue_rate:.2%}")
        ratio = analysis.max_p99_ratio
        if ratio is not None:
            bound = max(blue.p99_ms, analysis.p99_floor_ms) * ratio
            if green.p99_ms > bound:
                problems.append(
                    f"p99 {green.p99_ms:.1f} ms > {ratio:g}x blue's {blue.p99_ms:.1f} ms"
                )
    elif analysis.max_p99_ratio is not None or analysis.max_success_drop is not None:
        notes.append("blue too quiet to compare")
    if problems:
        return Verdict(EventKind.ANALYSIS_FAILED, "; ".join(problems))
    summary = f"green {green.requests} requests, success {rate:.2%}, p99 {green.p99_ms:.1f} ms"
    return Verdict(EventKind.ANALYSIS_PASSED, ", ".join([summary, *notes]))


# --------------------------------------------------------------------------- strategies


class Strategy:
    """Common lifecycle: start, step, pause/resume, promote/rollback at any time.

    Subclasses implement `_begin` (the first decision) and `_tick` (what happens when
    the current wait is over). Resuming restarts the current wait in full, because the
    driver restarts its analysis window then too (`new_window`).
    """

    name: ClassVar[str] = "strategy"

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
        if self.phase is not Phase.RUNNING or self._due is None or now < self._due:
            return self._decision(())
        return self._tick(now, figures)

    def pause(self, now: float) -> Decision:
        if self.phase is not Phase.RUNNING:
            return self._decision(())
        self.phase = Phase.PAUSED
        return self._decision((Event(EventKind.PAUSED, now, "paused", self.step_index),))

    def resume(self, now: float) -> Decision:
        if self.phase is not Phase.PAUSED:
            return self._decision(())
        self.phase = Phase.RUNNING
        self._due = now + self._wait
        event = Event(EventKind.RESUMED, now, "resumed", self.step_index)
        return self._decision((event,), new_window=True)

    def promote(self, now: float, reason: str = "promoted by operator") -> Decision:
        if self.phase is Phase.PROMOTED:
            return self._decision(())
        before = self._snapshot()
        self.phase = Phase.PROMOTED
        self._due = None
        self.weights = ALL_GREEN
        if self.in_service is not None:
            self.in_service = InService((), tuple(range(self._instances())))
        event = Event(EventKind.PROMOTED, now, reason, self.step_index)
        return self._decision((event,), before=before)

    def rollback(self, now: float, reason: str = "rolled back by operator") -> Decision:
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


class _Stepwise(Strategy):
    """Strategies that move through steps, each judged by an analysis window.

    A passed analysis enters the next step; a failed one counts towards
    `failure_limit`, which rolls back; an inconclusive one holds the step.
    """

    interval: float
    failure_limit: int
    failures: int

    def _enter(self, now: float, index: int, lead: Event | None) -> Decision:
        raise NotImplementedError

    def _judge_step(
        self, now: float, analysis: Analysis, figures: FiguresByColor | None
    ) -> Decision:
        verdict = judge(analysis, figures)
        event = Event(verdict.outcome, now, verdict.reason, self.step_index)
        if verdict.outcome is EventKind.ANALYSIS_PASSED:
            return self._enter(now, self.step_index + 1, event)
        if verdict.outcome is EventKind.ANALYSIS_FAILED:
            self.failures += 1
            if self.failures >= self.failure_limit:
                decision = self.rollback(
                    now, f"{self.failures} failed analyses (limit {self.failure_limit})"
                )
                return replace(decision, events=(event, *decision.events))
        self._wait_for(now, self.interval)
        return self._decision((event,), new_window=True)


class Progressive(_Stepwise):
    """Green's share climbs through `steps` (percentages), one per `interval`.

    With an `analysis`, each step must pass before the next: a failed analysis holds
    the step and counts toward `failure_limit` (failures counted over the whole
    rollout, not consecutively; reaching the limit rolls back); an inconclusive one
    (too few requests) holds without counting. Without an analysis, steps advance on
    time alone. Passing the last step below 100 promotes to 100% green.
    """

    name: ClassVar[str] = "progressive"

    def __init__(
        self,
        steps: Sequence[int],
        interval: float,
        analysis: Analysis | None = None,
        failure_limit: int = 1,
    ) -> None:
        super().__init__()
        _check_steps(steps)
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"interval must be > 0, got {interval!r}")
        if failure_limit < 1:
            raise ValueError(f"failure_limit must be >= 1, got {failure_limit!r}")
        self.steps = tuple(int(s) for s in steps)
        self.interval = float(interval)
        self.analysis = analysis
        self.failure_limit = failure_limit
        self.failures = 0

    def _begin(self, now: float) -> Decision:
        return self._enter(now, 0, None)

    def _enter(self, now: float, index: int, lead: Event | None) -> Decision:
        before = self._snapshot()
        events = (lead,) if lead else ()
        if index >= len(self.steps) or self.steps[index] >= 100:
            self.step_index = index
            decision = self.promote(now, f"promoted after step {index}")
            return replace(decision, events=events + decision.events)
        self.step_index = index
        percent = self.steps[index]
        self.weights = Weights.green_percent(percent)
        self._wait_for(now, self.interval)
        started = Event(
            EventKind.STEP_STARTED,
            now,
            f"step {index + 1}/{len(self.steps)}: green {percent}%",
            index,
        )
        return self._decision((*events, started), before=before, new_window=True)

    def _tick(self, now: float, figures: FiguresByColor | None) -> Decision:
        if self.analysis is None:
            return self._catch_up(now)
        return self._judge_step(now, self.analysis, figures)

    def _catch_up(self, now: float) -> Decision:
        """Time-only steps keep to their schedule (t0, t0+T, ...) however late the call."""
        before = self._snapshot()
        events: list[Event] = []
        while self.phase is Phase.RUNNING and self._due is not None and self._due <= now:
            events.extend(self._enter(self._due, self.step_index + 1, None).events)
        return self._decision(tuple(events), before=before, new_window=True)


class Canary(Progressive):
    """Argo-style canary: explicit steps (1,5,25,50,100) or step_weight up to max_weight."""

    name: ClassVar[str] = "canary"

    def __init__(
        self,
        analysis: Analysis,
        *,
        steps: Sequence[int] | None = None,
        step_weight: int | None = None,
        max_weight: int | None = None,
        failure_limit: int = 1,
    ) -> None:
        if steps is None:
            steps = canary_steps(step_weight or 10, max_weight or 50)
        super().__init__(steps, analysis.interval, analysis, failure_limit)


class Linear(Progressive):
    """CodeDeploy's LinearNPercentEveryTMinutes: +N% every T; analysis optional."""

    name: ClassVar[str] = "linear"

    def __init__(
        self,
        percent: int,
        every: float,
        analysis: Analysis | None = None,
        failure_limit: int = 1,
    ) -> None:
        super().__init__(linear_steps(percent), every, analysis, failure_limit)


def canary_steps(step_weight: int, max_weight: int) -> tuple[int, ...]:
    """step_weight, 2*step_weight, ... up to max_weight (always included); then promotion."""
    if not 1 <= step_weight <= 100:
        raise ValueError(f"step_weight must be 1..100, got {step_weight!r}")
    if not step_weight <= max_weight <= 100:
        raise ValueError(f"max_weight must be step_weight..100, got {max_weight!r}")
    steps = list(range(step_weight, max_weight + 1, step_weight))
    if steps[-1] != max_weight:
        steps.append(max_weight)
    return tuple(steps)


def linear_steps(percent: int) -> tuple[int, ...]:
    if not 1 <= percent <= 100:
        raise ValueError(f"percent must be 1..100, got {percent!r}")
    return (*range(percent, 100, percent), 100)


def _check_steps(steps: Sequence[int]) -> None:
    if not steps:
        raise ValueError("steps must not be empty")
    last = 0
    for s in steps:
        if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 100:
            raise ValueError(f"steps must be integers 1..100, got {s!r}")
        if s <= last:
            raise ValueError(f"steps must increase, got {s} after {last}")
        last = s


class Switch(Strategy):
    """Blue/green: all traffic to green at once, after an optional smoke run.

    During the smoke run blue keeps 100% of the traffic and the driver sends test
    requests to green with `x-surge-color: green` (`Decision.smoke`). A passed smoke
    switches; a failed one rolls back (green never took traffic); an inconclusive one
    smokes another window. `rollback()` is the instant switch back, also after promotion.
    """

    name: ClassVar[str] = "switch"

    def __init__(self, smoke: Analysis | None = None) -> None:
        super().__init__()
        self.smoke = smoke

    def _begin(self, now: float) -> Decision:
        if self.smoke is None:
            return self.promote(now, "switched to green")
        self._wait_for(now, self.smoke.interval)
        event = Event(EventKind.SMOKE_STARTED, now, "smoke run against green", 0)
        return self._decision((event,), new_window=True, smoke=True)

    def _tick(self, now: float, figures: FiguresByColor | None) -> Decision:
        assert self.smoke is not None
        verdict = judge(self.smoke, figures)
        event = Event(verdict.outcome, now, verdict.reason, 0)
        if verdict.outcome is EventKind.ANALYSIS_PASSED:
            decision = self.promote(now, "smoke passed: switched to green")
        elif verdict.outcome is EventKind.ANALYSIS_FAILED:
            decision = self.rollback(now, "smoke failed: green never took traffic")
        else:
            self._wait_for(now, self.smoke.interval)
            return self._decision((event,), new_window=True, smoke=True)
        return replace(decision, events=(event, *decision.events))

    def _decision(
        self,
        events: tuple[Event, ...],
        *,
        before: tuple[Weights, InService | None] | None = None,
        new_window: bool = False,
        smoke: bool = False,
    ) -> Decision:
        smoking = smoke or (self.smoke is not None and self.phase is Phase.RUNNING)
        return super()._decision(events, before=before, new_window=new_window, smoke=smoking)


def rolling_plan(
    instances: int, batch_size: int = 1, *, additional: bool = False
) -> list[InService]:
    """The in-service sets, in order, that replace K blue instances by K green ones.

    Green instance i replaces blue instance i. Plain rolling takes a blue batch out,
    then puts the green batch in (capacity dips by one batch); with an additional
    batch the green batch comes in first (Elastic Beanstalk's variant: capacity never
    drops below K).
    """
    if instances < 1:
        raise ValueError(f"instances must be >= 1, got {instances!r}")
    if not 1 <= batch_size <= instances:
        raise ValueError(f"batch_size must be 1..{instances}, got {batch_size!r}")
    blue = list(range(instances))
    green: list[int] = []
    plan: list[InService] = []
    for start in range(0, instances, batch_size):
        batch = list(range(start, min(start + batch_size, instances)))
        moves = ("in", "out") if additional else ("out", "in")
        for move in moves:
            if move == "in":
                green = green + batch
            else:
                blue = [i for i in blue if i not in batch]
            plan.append(InService(tuple(blue), tuple(green)))
    return plan


class Rolling(_Stepwise):
    """One batch at a time, each move held for `interval`; optional analysis of green.

    Analysis runs only while some green instance is in service (there is nothing to
    judge before); a failure up to `failure_limit` restores every blue instance.
    """

    name: ClassVar[str] = "rolling"

    def __init__(
        self,
        instances: int,
        batch_size: int = 1,
        interval: float = 60.0,
        *,
        additional_batch: bool = False,
        analysis: Analysis | None = None,
        failure_limit: int = 1,
    ) -> None:
        super().__init__()
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"interval must be > 0, got {interval!r}")
        if failure_limit < 1:
            raise ValueError(f"failure_limit must be >= 1, got {failure_limit!r}")
        self.instances = instances
        self.plan = rolling_plan(instances, batch_size, additional=additional_batch)
        self.interval = float(interval)
        self.analysis = analysis
        self.failure_limit = failure_limit
        self.failures = 0
        self.in_service = InService(tuple(range(instances)), ())

    def _instances(self) -> int:
        return self.instances

    def _begin(self, now: float) -> Decision:
        return self._enter(now, 0, None)

    def _enter(self, now: float, index: int, lead: Event | None) -> Decision:
        events = (lead,) if lead else ()
        if index >= len(self.plan) - 1:
            self.step_index = len(self.plan) - 1
            decision = self.promote(now, "every instance replaced")
            return replace(decision, events=events + decision.events)
        before = self._snapshot()
        self.step_index = index
        self.in_service = state = self.plan[index]
        self.weights = state.weights()
        self._wait_for(now, self.interval)
        message = (
            f"step {index + 1}/{len(self.plan)}: blue {list(state.blue)} green {list(state.green)}"
        )
        started = Event(EventKind.STEP_STARTED, now, message, index)
        return self._decision((*events, started), before=before, new_window=True)

    def _tick(self, now: float, figures: FiguresByColor | None) -> Decision:
        assert self.in_service is not None
        if self.analysis is None or not self.in_service.green:
            return self._enter(now, self.step_index + 1, None)
        return self._judge_step(now, self.analysis, figures)


class RollingWithAdditionalBatch(Rolling):
    """Rolling that starts each green batch before taking a blue one out."""

    name: ClassVar[str] = "rolling-with-additional-batch"

    def __init__(
        self,
        instances: int,
        batch_size: int = 1,
        interval: float = 60.0,
        *,
        analysis: Analysis | None = None,
        failure_limit: int = 1,
    ) -> None:
        super().__init__(
            instances,
            batch_size,
            interval,
            additional_batch=True,
            analysis=analysis,
            failure_limit=failure_limit,
        )


class Manual(Strategy):
    """The operator moves green's share in `step`% increments (keys or a slider)."""

    name: ClassVar[str] = "manual"

    def __init__(self, step: int = 10) -> None:
        super().__init__()
        if not 1 <= step <= 100:
            raise ValueError(f"step must be 1..100, got {step!r}")
        self.increment = step

    def _begin(self, now: float) -> Decision:
        event = Event(EventKind.STEP_STARTED, now, "manual: green 0%", 0)
        return self._decision((event,))

    def _tick(self, now: float, figures: FiguresByColor | None) -> Decision:
        return self._decision(())

    def up(self, now: float) -> Decision:
        return self.set_green(now, self.weights.green + self.increment)

    def down(self, now: float) -> Decision:
        return self.set_green(now, self.weights.green - self.increment)

    def set_green(self, now: float, percent: float) -> Decision:
        """Snap to the nearest increment in 0..100; a finished rollout is not reopened."""
        if self.phase not in (Phase.RUNNING, Phase.PAUSED):
            return self._decision(())
        snapped = round(percent / self.increment) * self.increment
        snapped = max(0, min(100, snapped))
        if snapped == self.weights.green:
            return self._decision(())
        before = self._snapshot()
        self.weights = Weights.green_percent(snapped)
        self.step_index = snapped // self.increment
        event = Event(EventKind.STEP_STARTED, now, f"manual: green {snapped}%", self.step_index)
        return self._decision((event,), before=before)


STRATEGIES: tuple[str, ...] = (
    "switch",
    "canary",
    "linear",
    "rolling",
    "rolling-with-additional-batch",
    "manual",
)


# --------------------------------------------------------------------------- [deploy]

_COMMON_KEYS = ("blue", "green", "proxy_port", "admin_port", "strategy", "sticky")
_ANALYSIS_KEYS = (
    "min_requests",
    "min_success_rate",
    "max_p99_ms",
    "max_p99_ratio",
    "p99_floor_ms",
    "max_success_drop",
    "failure_limit",
)
_BOUND_KEYS = ("min_success_rate", "max_p99_ms", "max_p99_ratio", "max_success_drop")
_STRATEGY_KEYS: dict[str, tuple[str, ...]] = {
    "switch": ("smoke", "smoke_duration", *_ANALYSIS_KEYS),
    "canary": ("steps", "step_weight", "max_weight", "interval", *_ANALYSIS_KEYS),
    "linear": ("percent", "every", *_ANALYSIS_KEYS),
    "rolling": ("batch_size", "interval", *_ANALYSIS_KEYS),
    "rolling-with-additional-batch": ("batch_size", "interval", *_ANALYSIS_KEYS),
    "manual": ("step",),
}


@dataclass(frozen=True)
class DeployPlan:
    """A validated `[deploy]` table; `build()` makes a fresh strategy for each rollout."""

    blue: tuple[str, ...]
    green: tuple[str, ...]
    strategy: str
    proxy_port: int = 8000
    admin_port: int = 8001
    sticky: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Strategy:
        o = self.options
        analysis: Analysis | None = o.get("analysis")
        limit = int(o.get("failure_limit", 1))
        if self.strategy == "switch":
            return Switch(analysis if o.get("smoke") else None)
        if self.strategy == "canary":
            assert analysis is not None
            return Canary(
                analysis,
                steps=o.get("steps"),
                step_weight=o.get("step_weight"),
                max_weight=o.get("max_weight"),
                failure_limit=limit,
            )
        if self.strategy == "linear":
            return Linear(o["percent"], o["every"], analysis, limit)
        if self.strategy in ("rolling", "rolling-with-additional-batch"):
            cls = Rolling if self.strategy == "rolling" else RollingWithAdditionalBatch
            return cls(
                len(self.blue),
                o.get("batch_size", 1),
                o["interval"],
                analysis=analysis,
                failure_limit=limit,
            )
        return Manual(o.get("step", 10))


def parse_deploy(table: Mapping[str, Any], *, prefix: str = "deploy") -> DeployPlan:
    """Validate a profile's `[deploy]` table; each error is a ConfigError naming its key."""

    def key(name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    if not isinstance(table, Mapping):
        raise ConfigError(prefix or "deploy", f"expected a table, got {_kind(table)}")
    strategy = table.get("strategy", "canary")
    if strategy not in STRATEGIES:
        raise ConfigError(
            key("strategy"), f"unknown strategy {strategy!r} (one of {', '.join(STRATEGIES)})"
        )
    allowed = (*_COMMON_KEYS, *_STRATEGY_KEYS[strategy])
    for name in table:
        if name in allowed:
            continue
        if any(name in keys for keys in _STRATEGY_KEYS.values()):
            raise ConfigError(key(name), f"does not apply to strategy {strategy!r}")
        raise ConfigError(key(name), f"unknown key (known: {', '.join(allowed)})")
    for color in COLORS:
        if color not in table:
            raise ConfigError(
                key(color), 'required: a list of upstream URLs, e.g. ["http://127.0.0.1:8081"]'
            )
    blue = _urls(table["blue"], key("blue"))
    green = _urls(table["green"], key("green"))
    proxy_port = _port(table.get("proxy_port", 8000), key("proxy_port"))
    admin_port = _port(table.get("admin_port", 8001), key("admin_port"))
    if proxy_port == admin_port and proxy_port != 0:
        raise ConfigError(key("admin_port"), f"must differ from proxy_port ({proxy_port})")
    sticky = _bool(table.get("sticky", False), key("sticky"))
    options = _options(table, strategy, key)
    if strategy.startswith("rolling") and len(green) != len(blue):
        raise ConfigError(
            key("green"),
            f"{strategy} replaces instances one for one: need {len(blue)} green URLs "
            f"(as many as blue), got {len(green)}",
        )
    if "batch_size" in options and options["batch_size"] > len(blue):
        raise ConfigError(key("batch_size"), f"must be 1..{len(blue)} (the instances per color)")
    return DeployPlan(blue, green, strategy, proxy_port, admin_port, sticky, options)


def _options(table: Mapping[str, Any], strategy: str, key: Any) -> dict[str, Any]:
    o: dict[str, Any] = {}
    t = table
    if strategy == "manual":
        if "step" in t:
            o["step"] = _int(t["step"], key("step"), 1, 100)
        return o
    limit = _int(t.get("failure_limit", 1), key("failure_limit"), 1, 1000)
    o["failure_limit"] = limit
    interval: float | None = None
    if strategy == "canary":
        if "steps" in t and ("step_weight" in t or "max_weight" in t):
            raise ConfigError(key("steps"), "give either steps or step_weight/max_weight, not both")
        if "steps" in t:
            o["steps"] = _steps(t["steps"], key("steps"))
        else:
            sw = _int(t.get("step_weight", 10), key("step_weight"), 1, 100)
            mw = _int(t.get("max_weight", 50), key("max_weight"), 1, 100)
            if mw < sw:
                raise ConfigError(key("max_weight"), f"must be >= step_weight ({sw}), got {mw}")
            o["step_weight"], o["max_weight"] = sw, mw
        interval = _seconds(t.get("interval", "1m"), key("interval"))
    elif strategy == "linear":
        if "percent" not in t:
            raise ConfigError(key("percent"), "required: the share added each time, e.g. 10")
        if "every" not in t:
            raise ConfigError(key("every"), 'required: how often, e.g. "1m"')
        o["percent"] = _int(t["percent"], key("percent"), 1, 100)
        o["every"] = interval = _seconds(t["every"], key("every"))
    elif strategy.startswith("rolling"):
        o["batch_size"] = _int(t.get("batch_size", 1), key("batch_size"), 1, 1000)
        o["interval"] = interval = _seconds(t.get("interval", "1m"), key("interval"))
    else:  # switch
        o["smoke"] = _bool(t.get("smoke", False), key("smoke"))
        interval = _seconds(t.get("smoke_duration", "30s"), key("smoke_duration"))
    wants_analysis = strategy == "canary" or (
        (strategy == "switch" and o["smoke"]) or any(k in t for k in _BOUND_KEYS)
    )
    if wants_analysis:
        o["analysis"] = _analysis(t, interval, key)
    return o


def _analysis(t: Mapping[str, Any], interval: float, key: Any) -> Analysis:
    d = Analysis(interval=interval)
    return Analysis(
        interval=interval,
        min_requests=_int(t.get("min_requests", d.min_requests), key("min_requests"), 1, 10**9),
        min_success_rate=_fraction(t, "min_success_rate", d.min_success_rate, key),
        max_p99_ms=_optional_positive(t, "max_p99_ms", d.max_p99_ms, key),
        max_p99_ratio=_optional_positive(t, "max_p99_ratio", d.max_p99_ratio, key),
        p99_floor_ms=_optional_positive(t, "p99_floor_ms", d.p99_floor_ms, key) or 0.0,
        max_success_drop=_fraction(t, "max_success_drop", d.max_success_drop, key),
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _urls(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(key, f"expected a non-empty list of URLs, got {_kind(value)}")
    out: list[str] = []
    for i, url in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(url, str):
            raise ConfigError(where, f"expected a URL string, got {_kind(url)}")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ConfigError(where, f"bad URL {url!r}: {exc}") from None
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigError(where, f"expected http://HOST:PORT, got {url!r}")
        if parts.path not in ("", "/") or parts.query:
            raise ConfigError(where, f"an upstream is an origin, no path or query: {url!r}")
        if url in out:
            raise ConfigError(where, f"duplicate upstream {url!r}")
        out.append(url)
    return tuple(out)


def _int(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"expected an integer {low}..{high}, got {_kind(value)}")
    if not low <= value <= high:
        raise ConfigError(key, f"expected an integer {low}..{high}, got {value}")
    return value


def _port(value: Any, key: str) -> int:
    return _int(value, key, 0, 65535)


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"expected true or false, got {_kind(value)}")
    return value


def _seconds(value: Any, key: str) -> float:
    try:
        seconds = parse_duration(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            key, f"expected a duration like 30s or 1m, got {_kind(value)} ({exc})"
        ) from None
    if seconds <= 0:
        raise ConfigError(key, "must be longer than 0s")
    return seconds


def _steps(value: Any, key: str) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(key, f"expected a list like [1, 5, 25, 50, 100], got {_kind(value)}")
    last = 0
    for i, s in enumerate(value):
        n = _int(s, f"{key}[{i}]", 1, 100)
        if n <= last:
            raise ConfigError(f"{key}[{i}]", f"steps must increase, got {n} after {last}")
        last = n
    return tuple(value)


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(key, f"expected a number, got {_kind(value)}")
    return float(value)


def _fraction(t: Mapping[str, Any], name: str, default: float | None, key: Any) -> float | None:
    if name not in t:
        return default
    value = _number(t[name], key(name))
    if not 0.0 <= value <= 1.0:
        raise ConfigError(key(name), f"expected a fraction 0..1, got {value:g}")
    return value


def _optional_positive(
    t: Mapping[str, Any], name: str, default: float | None, key: Any
) -> float | None:
    if name not in t:
        return default
    value = _number(t[name], key(name))
    if value <= 0:
        raise ConfigError(key(name), f"expected a number > 0, got {value:g}")
    return value
