"""The step-by-step rollouts' shared judgement: pass enters the next step, failures
count toward a limit that rolls back, inconclusive holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from engine.deploy.strategies.analysis import Analysis, FiguresByColor, Verdict, escalate, judge
from engine.deploy.strategies.base import Decision, Event, EventKind, Strategy


class Stepwise(Strategy):
    """Strategies that move through steps, each judged by an analysis window.

    A passed analysis enters the next step; a failed one counts towards
    `failure_limit`, which rolls back; an inconclusive one holds the step, at most
    `analysis.max_inconclusive` windows in a row (then it counts as failed).
    """

    interval: float
    failure_limit: int
    failures: int
    inconclusive: int = 0  # inconclusive windows in a row

    def _enter(self, now: float, index: int, lead: Event | None) -> Decision:
        raise NotImplementedError

    def _judge_step(
        self,
        now: float,
        analysis: Analysis,
        figures: FiguresByColor | None,
        judged: Callable[[Analysis, FiguresByColor | None], Verdict] = judge,
    ) -> Decision:
        """`judged`: how this step reads the window (a cohort's or a mirror's: steps.py)."""
        verdict = self._gated(judged(analysis, figures))
        verdict, self.inconclusive = escalate(analysis, verdict, self.inconclusive)
        event = Event(verdict.outcome, now, verdict.reason, self.step_index)
        if verdict.outcome is EventKind.ANALYSIS_PASSED:
            return self._enter(now, self.step_index + 1, event)
        if verdict.outcome is EventKind.ANALYSIS_FAILED:
            self.failures += 1
            if self.failures >= self.failure_limit:
                failed = "analysis" if self.failures == 1 else "analyses"
                decision = self.rollback(
                    now, f"{self.failures} failed {failed} (limit {self.failure_limit})"
                )
                return replace(decision, events=(event, *decision.events))
        self._wait_for(now, self.interval)
        return self._decision((event,), new_window=True)
