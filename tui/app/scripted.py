"""A scripted stand-in for engine.Controller: deterministic intervals, no sockets, no processes.

It feeds synthetic but plausible Intervals through the engine's real RunModel
(thresholds, checks, per-step figures, summary and report all work), so the
app's tests, its snapshot tests and its offline screenshots exercise every
screen exactly as a real run would, in a fraction of a second and identically
every time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from engine.load.metrics import Interval, Recorder
from engine.load.model import Row, RunModel
from engine.load.run import RunPlan, RunResult, Snapshot
from engine.load.states import RunState, StopCause, StopReason, threshold_abort
from engine.load.steering import Steer, SteeringLog

FIXED_START = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def planned_target(plan: RunPlan, t: float) -> float:
    """The executor's target at run time t (VUs, or iterations/s), as its shape says."""
    cfg = plan.work.executor
    return cfg.kind.shape(cfg).at(t)


def step_names(plan: RunPlan) -> list[str]:
    scenario = getattr(plan.work, "scenario", None)
    if scenario is not None:
        return [s.name for s in scenario.steps] or ["default"]
    return [r.name for r in plan.work.requests] or ["default"]


def check_names(plan: RunPlan) -> list[list[str]]:
    scenario = getattr(plan.work, "scenario", None)
    if scenario is not None:
        return [[c.name for c in s.checks] for s in scenario.steps]
    per = plan.work.checks or ((),) * len(plan.work.requests)
    return [[c.name for c in checks] for checks in per]


def scripted_interval(
    plan: RunPlan,
    k: int,
    scale: float = 1.0,
    error: str | None = None,
    green: Callable[[], int] | None = None,
) -> Interval:
    """Interval k (1-based) of a pretend run: load follows the plan's shape times `scale`.

    Latency grows with load, one request in 97 is a slow outlier, one in 150
    fails with a 500 and one in 500 times out (both fail their checks), so every
    panel has something to show. With `error` every request fails with that
    transport error kind (an unreachable target). Only Recorder.record is used,
    the hot path's own entry point, so the stand-in measures as a worker does.
    With `green` (green's share in percent, asked each interval) requests are split
    between a blue and a green upstream as the proxy would, and green is 3x slower,
    so a deploy panel has two different colors to show.
    """
    cfg = plan.work.executor
    dt_s = plan.interval
    t0, t1 = (k - 1) * dt_s, k * dt_s
    target = planned_target(plan, t1) * scale
    if cfg.open_model:
        rps = target
        vus = min(max(1, math.ceil(rps * 0.01)), max(cfg.max_vus, 1))
        vus_max = max(cfg.pre_allocated_vus, vus)
    else:
        vus = max(0, round(target))
        rps = vus * 80.0
        vus_max = max(vus, round(planned_target(plan, t0) * scale))
    n = int(rps * dt_s)
    names = step_names(plan)
    checks = check_names(plan)
    rec = Recorder(separate_latency=cfg.open_model, start=t0)
    peak = max(planned_target(plan, t1), 1.0)
    base_us = 1500 + 2500 * min(target / peak, 2.0)
    share = green() if green is not None else None
    for i in range(n):
        upstream = None if share is None else ("green" if i % 100 < share else "blue")
        serial = (k * 7919 + i) % 1000
        latency = int(base_us * (0.6 + 0.8 * ((serial * 37) % 100) / 100))
        if serial % 97 == 0:
            latency *= 8
        if upstream == "green":
            latency *= 3
        step = names[i % len(names)]
        if error is not None:
            failed = True
            rec.record(step, None, latency, latency, 0, True, 0, 80, error=error)
        elif serial % 500 == 0:  # a transport error: no status, a named kind
            failed = True
            rec.record(step, upstream, latency * 4, latency * 4, 0, True, 0, 80, error="timeout")
        else:
            failed = serial % 150 == 0
            status = 500 if failed else 200
            rec.record(step, upstream, latency, int(latency * 0.9), status, failed, 120, 80)
        for name in checks[i % len(checks)] if checks else ():
            rec.check(name, not failed)
        rec.iteration(latency + 50)
    return rec.harvest(t1, vus=vus, vus_max=vus_max, target=target)


class ScriptedController:
    """Implements engine.run_session.RunControl; records every command it is given in `calls`.

    `intervals` snapshots are emitted `delay` seconds apart. With `hold`, the run
    then stays "running" until stopped or aborted, so tests can press keys at
    leisure; without it, it finishes by itself like a run reaching its end.
    `error` and `fail` play the two ways a run goes wrong: a target that does not
    answer (counted, the run goes on) and an engine that breaks (run() raises).
    """

    def __init__(
        self,
        plan: RunPlan,
        on_snapshot: Callable[[Snapshot], None] | None = None,
        *,
        intervals: int = 10,
        delay: float = 0.0,
        hold: bool = False,
        cpu: Callable[[int], float] | None = None,
        error: str | None = None,
        fail: str | None = None,
        green: Callable[[], int] | None = None,
    ) -> None:
        self.plan = plan
        self.green = green  # green's share now, to split requests by color (deploy tests)
        self.on_snapshot = on_snapshot
        self.model = RunModel(plan.thresholds)
        self.state = RunState.READY
        self.scale = 1.0
        self.aborted = False
        self.stop_reason: StopCause | None = None
        self.calls: list[tuple[Any, ...]] = []
        self.emitted = 0
        self.intervals = intervals
        self.delay = delay
        self.hold = hold
        self.cpu = cpu or (lambda k: 30.0 + (k * 13) % 20)
        self.error = error  # every request fails with this kind: an unreachable target
        self.fail = fail  # run() raises RuntimeError(fail) after the scripted intervals
        self._running = asyncio.Event()
        self._running.set()
        self._halt = asyncio.Event()
        self._cpu_max = 0.0
        self.steering = SteeringLog(lambda: self.model.elapsed)  # scripted time

    # ---------------------------------------------------------------- commands
    def pause(self) -> None:
        self.calls.append(("pause",))
        if self.state == RunState.RUNNING:
            self.state = RunState.PAUSED
            self._running.clear()
            self.steering.add(Steer.PAUSE)

    def resume(self) -> None:
        self.calls.append(("resume",))
        if self.state == RunState.PAUSED:
            self.state = RunState.RUNNING
            self._running.set()
            self.steering.add(Steer.RESUME)

    def set_scale(self, scale: float) -> None:
        self.calls.append(("set_scale", round(scale, 6)))
        self._rescale(max(scale, 0.001))

    def set_target(self, value: float) -> None:
        self.calls.append(("set_target", value))
        base = planned_target(self.plan, self.model.elapsed)
        if base > 0:
            self._rescale(value / base)

    def _rescale(self, scale: float) -> None:
        base = planned_target(self.plan, self.model.elapsed)
        if scale != self.scale:
            self.steering.add(Steer.TARGET, base * self.scale, base * scale)
        self.scale = scale

    def stop(self, reason: StopCause | str = StopReason.USER_STOP) -> None:
        self.calls.append(("stop", reason))
        if self.state in (RunState.RUNNING, RunState.PAUSED, RunState.READY):
            self.state = RunState.STOPPING
            self.aborted = True
            self.stop_reason = StopCause.of(reason)
            self._halt.set()
            self._running.set()
            self.steering.stopped(self.stop_reason.kind)

    def abort(self, reason: StopCause | str = StopReason.USER_ABORT) -> None:
        self.calls.append(("abort", reason))
        self.aborted = True
        cause = StopCause.of(reason)
        self.stop_reason = self.stop_reason or cause
        self.state = RunState.STOPPING
        self._halt.set()
        self._running.set()
        self.steering.stopped(cause.kind, abort=True)

    def finish(self) -> None:
        """End a held run as if its shape had reached the end (not a user's stop)."""
        self._halt.set()

    # ----------------------------------------------------------------- running
    async def run(self) -> RunResult:
        self.state = RunState.RUNNING
        for k in range(1, self.intervals + 1):
            await asyncio.sleep(self.delay)
            await self._running.wait()
            if self._halt.is_set():
                break
            iv = scripted_interval(self.plan, k, self.scale, self.error, self.green)
            row = self.model.add(iv)
            states = self.model.evaluate()
            for s in states:
                th = s.threshold
                if not s.ok and th.abort_on_fail and self.model.elapsed >= th.delay_abort_eval_s:
                    self.abort(threshold_abort(th.key, th.expression))
                    break
            self._emit(row, k)
        if self.fail is not None:
            raise RuntimeError(self.fail)
        if self.hold:
            await self._halt.wait()
        self.model.evaluate(final=True)
        self.state = RunState.FINISHED
        result = self.result(aborted=self.aborted, stop_reason=self.stop_reason)
        if self.model.timeline:
            self._emit(self.model.timeline[-1], len(self.model.timeline))
        return result

    def result(
        self, *, aborted: bool, stop_reason: StopCause | None, error: str | None = None
    ) -> RunResult:
        return RunResult(
            plan=self.plan,
            model=self.model,
            started_at=FIXED_START,
            duration=self.model.elapsed,
            aborted=aborted,
            stop_reason=stop_reason,
            error=error,
            cpu_percent_max=self._cpu_max,
            workers=self.plan.workers,
            steering=tuple(self.steering.events),
        )

    def _emit(self, row: Row, k: int) -> None:
        cpu = self.cpu(k)
        self._cpu_max = max(self._cpu_max, cpu)
        planned = self.plan.work.executor.planned_duration
        snap = Snapshot(
            elapsed=self.model.elapsed,
            state=self.state,
            progress=min(self.model.elapsed / planned, 1.0) if planned > 0 else 1.0,
            row=row,
            totals=self.model.figures(),
            thresholds=tuple(self.model.states),
            checks=self.model.checks(),
            scale=self.scale,
            cpu_percent=cpu,
            worker_cpu=(cpu,),
            stop_reason=self.stop_reason,
        )
        self.emitted += 1
        if self.on_snapshot is not None:
            self.on_snapshot(snap)


class ScriptedFactory:
    """A controller factory for make_app(controller_factory=...) that keeps what it made."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.made: list[ScriptedController] = []

    def __call__(
        self, plan: RunPlan, on_snapshot: Callable[[Snapshot], None]
    ) -> ScriptedController:
        controller = ScriptedController(plan, on_snapshot, **self.kwargs)
        self.made.append(controller)
        return controller

    @property
    def last(self) -> ScriptedController:
        return self.made[-1]
