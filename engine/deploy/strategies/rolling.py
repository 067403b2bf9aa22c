"""Rolling replacement of blue instances by green ones, batch by batch (with or
without an additional batch first).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import ClassVar

from engine.deploy.strategies.analysis import Analysis, FiguresByColor
from engine.deploy.strategies.base import Decision, Event, EventKind, InService
from engine.deploy.strategies.stepwise import Stepwise


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


class Rolling(Stepwise):
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
