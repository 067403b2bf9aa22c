"""Progressive rollouts: green's share climbs through percentage steps (canary, linear)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from engine.deploy.strategies.analysis import Analysis, FiguresByColor
from engine.deploy.strategies.base import (
    Decision,
    Event,
    EventKind,
    InService,
    Phase,
    Weights,
)
from engine.deploy.strategies.steps import (
    CohortStep,
    MirrorStep,
    Step,
    WeightStep,
    as_steps,
    judge_cohort,
    judge_mirror,
)
from engine.deploy.strategies.stepwise import Stepwise


class Progressive(Stepwise):
    """Green's share climbs through `steps` (percentages), one per `interval`.

    Steps may also be a cohort step (the profile's routes on from there, the weights
    kept, judged on the cohort's requests) or a mirror step (the weights kept, green
    copied `percent` of the requests for its own time, judged on the pairs):
    engine.deploy.strategies.steps.

    With an `analysis`, each step must pass before the next: a failed analysis holds
    the step and counts toward `failure_limit` (failures counted over the whole
    rollout, not consecutively; reaching the limit rolls back); an inconclusive one
    (too few requests) holds without counting. Without an analysis, steps advance on
    time alone. Passing the last step below 100 promotes to 100% green.
    """

    name: ClassVar[str] = "progressive"

    def __init__(
        self,
        steps: Sequence[int | Step],
        interval: float,
        analysis: Analysis | None = None,
        failure_limit: int = 1,
    ) -> None:
        super().__init__()
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"interval must be > 0, got {interval!r}")
        if failure_limit < 1:
            raise ValueError(f"failure_limit must be >= 1, got {failure_limit!r}")
        self.plan = as_steps(steps)  # typed; `steps` keeps weight steps as plain ints
        self.steps = tuple(s.percent if isinstance(s, WeightStep) else s for s in self.plan)
        self.routes_on = False  # a cohort step was reached: the routes stay on
        self.mirror = 0  # the share mirrored to green (a mirror step's)
        self.interval = float(interval)
        self.analysis = analysis
        self.failure_limit = failure_limit
        self.failures = 0

    def _begin(self, now: float) -> Decision:
        return self._enter(now, 0, None)

    def _enter(self, now: float, index: int, lead: Event | None) -> Decision:
        before = self._snapshot()
        events = (lead,) if lead else ()
        step = self.plan[index] if index < len(self.plan) else None
        if step is None or (isinstance(step, WeightStep) and step.percent >= 100):
            self.step_index = index
            decision = self.promote(now, f"promoted after step {index}")
            return replace(decision, events=events + decision.events)
        self.step_index = index
        self.mirror = 0
        wait = self.interval
        if isinstance(step, WeightStep):
            self.weights = Weights.green_percent(step.percent)
            what = str(step)
        elif isinstance(step, CohortStep):
            self.routes_on = True
            what = f"cohort (routes on, green {self.weights.green}%)"
        else:
            self.mirror = step.percent
            wait = step.seconds or self.interval
            what = str(MirrorStep(step.percent, wait))
        self._wait_for(now, wait)
        started = Event(
            EventKind.STEP_STARTED, now, f"step {index + 1}/{len(self.steps)}: {what}", index
        )
        return self._decision((*events, started), before=before, new_window=True)

    def _decision(
        self,
        events: tuple[Event, ...],
        *,
        before: tuple[Weights, InService | None] | None = None,
        new_window: bool = False,
        smoke: bool = False,
    ) -> Decision:
        """The routes and the mirror with every decision; off once the rollout is over."""
        d = super()._decision(events, before=before, new_window=new_window, smoke=smoke)
        if self.done:
            return d
        return replace(d, routes_on=self.routes_on, mirror=self.mirror)

    def _tick(self, now: float, figures: FiguresByColor | None) -> Decision:
        if self.analysis is None:
            return self._catch_up(now)
        step = self.plan[self.step_index]
        if isinstance(step, CohortStep):
            return self._judge_step(now, self.analysis, figures, judge_cohort)
        if isinstance(step, MirrorStep):
            return self._judge_step(now, self.analysis, figures, judge_mirror)
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
        steps: Sequence[int | Step] | None = None,
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
