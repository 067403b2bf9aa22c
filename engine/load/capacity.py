"""The capacity search's driver: holds each step's rate on the running plan and judges it.

`--type capacity` runs one long constant-arrival-rate shape whose rate (the sum of
the arrival-rate scenarios') is the search's `start`; the Controller hands this
driver every interval, and the driver steers the rate through the Controller's own
`set_scale` (so every step is on record in `[[meta.steering]]`, as a person's new
target is): each arrival-rate scenario scales in proportion, VU scenarios are left
as they are. A step is judged on its own intervals: the profile's thresholds over a
model of just those (engine/load/model.py, the same evaluator as the run's), its
latency, drops and the generator's CPU (engine/explore/capacity.py decides). After a
step that failed the rate falls to almost nothing until the server's queue has
drained (no iteration in flight), so the next step starts clean, not behind the
last one's backlog. The search's pure part picks the next rate; None ends the run.
"""

from __future__ import annotations

from typing import Protocol

from engine.explore.capacity import CapacitySettings, judge_step, next_rate, result
from engine.explore.model import CapacityResult, CapacityStep
from engine.load.metrics import Interval
from engine.load.model import RunModel
from engine.load.run import RunPlan
from engine.load.states import StopCause, StopReason
from engine.load.tags import TagIndex
from engine.load.thresholds import Threshold, parse_threshold

__all__ = ["DEFAULT_SLO", "CapacityDriver"]

# The SLO when a profile names no thresholds: k6's own examples' figures.
DEFAULT_SLO: tuple[tuple[str, str], ...] = (
    ("http_req_failed", "rate<0.01"),
    ("http_req_duration", "p(99)<1000"),
)
IDLE_SCALE = 0.001  # between steps: the least scale there is (next to no load)
DRAIN_MAX_S = 10.0  # a queue that has not drained by then: the next step starts anyway
SLACK = 0.95  # a step is held long enough at this part of `hold` (interval jitter)


class Steered(Protocol):
    """What the driver needs of the Controller."""

    def set_scale(self, scale: float, scenario: str | None = None) -> None: ...
    def stop(self, reason: StopCause | str = ...) -> None: ...


class CapacityDriver:
    """One capacity search over one run: fed every interval, steers and stops it."""

    def __init__(self, plan: RunPlan, settings: CapacitySettings) -> None:
        self.settings = settings
        self.thresholds: tuple[Threshold, ...] = plan.thresholds or tuple(
            parse_threshold(k, e) for k, e in DEFAULT_SLO
        )
        self._index = TagIndex.of_plan(plan.work)
        lanes = [sc for sc in plan.work.scenarios if sc.executor.open_model]
        self._base = sum(sc.executor.peak_rate for sc in lanes) or settings.start
        self._names: list[str | None] = (
            [None] if len(plan.work.scenarios) == 1 else [sc.name for sc in lanes]
        )
        self.steps: tuple[CapacityStep, ...] = ()
        self._multi = len(plan.work.scenarios) > 1
        # The plan's arrival rates add up to `start` (engine/profile/plan.py): step one runs.
        self.rate: float | None = settings.start  # the step held now; None while draining
        self._model = self._fresh()
        self._held_s = 0.0
        self._cpu = 0.0
        self._start = 0.0
        self._drained_s = 0.0
        self._next: float | None = None
        self._warm = False

    def _fresh(self) -> RunModel:
        return RunModel(self.thresholds, index=self._index)

    def result(self) -> CapacityResult:
        return result(self.settings, self.steps)

    def interval(self, ctrl: Steered, iv: Interval, cpu: float) -> None:
        """One interval of the run: add it to the step (or the drain), move on when due."""
        if self.rate is None:
            self._drain(ctrl, iv)
            return
        if not self._warm:  # connections open, caches fill: the first interval is not judged
            self._warm = True
            return
        if not self._held_s:
            self._start = iv.start
        self._model.add(iv)
        self._held_s += iv.end - iv.start
        self._cpu = max(self._cpu, cpu)
        if self._held_s >= self.settings.hold * SLACK:
            self._judge(ctrl, iv.end)

    def _judge(self, ctrl: Steered, end: float) -> None:
        assert self.rate is not None
        m = self._model
        states = m.evaluate(final=True)
        total, fig = m.total, m.figures()
        lat = fig.duration  # http_req_duration: what the thresholds judge
        step = judge_step(
            self.rate,
            thresholds_ok=all(s.ok for s in states),
            values={f"{s.threshold.key} {s.threshold.expression}": s.observed for s in states},
            achieved_rate=total.iterations / self._held_s,
            latency=(lat.p50, lat.p95, lat.p99),
            error_rate=fig.error_rate,
            dropped=total.dropped,
            cpu_percent=self._cpu,
            start=self._start,
            end=end,
        )
        self.steps = (*self.steps, step)
        self._model, self._held_s, self._cpu = self._fresh(), 0.0, 0.0
        rate = next_rate(self.settings, self.steps)
        if rate is None:
            self.rate = None
            ctrl.stop(StopCause(StopReason.CAPACITY, self.said()))
        elif step.held:
            self._steer(ctrl, rate)
        else:  # let the server's queue drain first: the next step starts clean
            self.rate, self._next, self._drained_s = None, rate, 0.0
            self._scale(ctrl, IDLE_SCALE)

    def _drain(self, ctrl: Steered, iv: Interval) -> None:
        self._drained_s += iv.end - iv.start
        if self._multi:  # VU scenarios stay busy: only the scaled ones' iterations count
            busy = sum(lane.vus for name, lane in iv.lanes.items() if name in self._names)
        else:
            busy = iv.vus
        if self._next is not None and (busy == 0 or self._drained_s >= DRAIN_MAX_S):
            self._steer(ctrl, self._next)
            self._next = None

    def _steer(self, ctrl: Steered, rate: float) -> None:
        self.rate = rate
        self._scale(ctrl, rate / self._base)

    def _scale(self, ctrl: Steered, scale: float) -> None:
        for name in self._names:
            ctrl.set_scale(scale, name)

    def said(self) -> str:
        """The answer in a few words, for the stop cause."""
        r = self.result()
        if r.rate is None:
            return f"even the first step ({self.settings.start:g}/s) failed"
        failed = f", fails at {r.failed_at:,.0f}/s" if r.failed_at else ""
        return f"holds {r.rate:,.0f}/s{failed}"
