"""Blue/green (`bluegreen`): all traffic to green at once, after an optional smoke run."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from engine.deploy.strategies.analysis import Analysis, FiguresByColor, escalate, judge
from engine.deploy.strategies.base import (
    Decision,
    Event,
    EventKind,
    InService,
    Phase,
    Strategy,
    Weights,
)


class Switch(Strategy):
    """Blue/green: all traffic to green at once, after an optional smoke run.

    During the smoke run blue keeps 100% of the traffic and the driver sends test
    requests to green with `x-surge-color: green` (`Decision.smoke`). A passed smoke
    switches; a failed one rolls back (green never took traffic); an inconclusive one
    smokes another window (at most `max_inconclusive` in a row, then it fails).
    `rollback()` is the instant switch back, also after promotion.
    """

    name: ClassVar[str] = "bluegreen"

    def __init__(self, smoke: Analysis | None = None) -> None:
        super().__init__()
        self.smoke = smoke
        self.inconclusive = 0  # smoke windows in a row too quiet to judge

    def _begin(self, now: float) -> Decision:
        if self.smoke is None:
            return self.promote(now, "switched to green")
        self._wait_for(now, self.smoke.interval)
        event = Event(EventKind.SMOKE_STARTED, now, "smoke run against green", 0)
        return self._decision((event,), new_window=True, smoke=True)

    def _tick(self, now: float, figures: FiguresByColor | None) -> Decision:
        assert self.smoke is not None
        verdict, self.inconclusive = escalate(
            self.smoke, self._gated(judge(self.smoke, figures)), self.inconclusive
        )
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
