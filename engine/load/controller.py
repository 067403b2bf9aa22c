"""The Controller: runs a plan, slices it into intervals, judges thresholds, takes commands.

Plain Python with no UI knowledge: the headless CLI and the Textual app drive the
very same object. Commands (pause, resume, scale, stop, abort) are plain method
calls that take effect at once, each on record in `steering` (the report's
`[[meta.steering]]`); snapshots go to a callback once per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import traceback
from collections.abc import Callable
from time import perf_counter

from engine.errors import ConfigError
from engine.limits import fd_shortfall
from engine.load.metrics import Interval, merge_histograms
from engine.load.model import Row, RunModel, ThresholdState
from engine.load.pacing import RunClock
from engine.load.pools import LocalPool, Pool, ProcessPool
from engine.load.run import OnWorkerLoss, RunPlan, RunResult, Snapshot, scenario_rows
from engine.load.states import (
    RunState,
    StopCause,
    StopReason,
    is_natural,
    threshold_abort,
    workers_lost,
)
from engine.load.steering import Steer, SteeringLog
from engine.load.tags import TagIndex

BREAKPOINT_ERROR_RATE = 0.05
BREAKPOINT_P95_FACTOR = 10.0
BREAKPOINT_WINDOW_S = 3.0


class Controller:
    def __init__(
        self,
        plan: RunPlan,
        on_snapshot: Callable[[Snapshot], None] | None = None,
        pool: Pool | None = None,
    ) -> None:
        """`pool`: the workers, if not the plan's (the console's tests script one)."""
        self.plan = plan
        self.on_snapshot = on_snapshot
        per_worker = math.ceil(plan.work.only.executor.peak_vus / max(plan.workers, 1))
        local = pool is None and plan.cluster is None  # else: other machines, or none
        if local and (why := fd_shortfall(per_worker)):
            raise ConfigError("vus", why)
        self.model = RunModel(plan.thresholds, index=TagIndex.of_plan(plan.work))
        self.pool: Pool = pool or _pool(plan)
        self.state = RunState.READY
        self.aborted = False
        self.stop_reason: StopCause | None = None
        self._baseline_p95: float | None = None
        self._last_held_rate: float | None = None
        self._cpu_max = 0.0
        self.started_at = self.now()
        cfg = plan.work.only.executor
        self._shape = cfg.kind.shape(cfg)
        self._clock: RunClock | None = None  # the workers' run time: pauses excluded
        self.steering = SteeringLog(self._since_start)

    def now(self) -> dt.datetime:
        """The run's start time (a scripted run has a fixed one)."""
        return dt.datetime.now(dt.UTC)

    def _since_start(self) -> float:
        """Seconds since the workers started, pauses included: the plots' time axis."""
        return perf_counter() - self._clock.t0 if self._clock is not None else 0.0

    def planned_target(self) -> float:
        """The shape's target now (VUs or iterations/s), before any scale: read from the
        plan at the workers' run time, not from the last interval (a second command in one
        interval would otherwise build on a stale figure)."""
        return self._shape.at(self._clock.elapsed() if self._clock is not None else 0.0)

    # ---------------------------------------------------------------- commands
    def pause(self) -> None:
        if self.state is RunState.RUNNING:
            self.pool.pause()
            self.state = RunState.PAUSED
            if self._clock is not None:
                self._clock.pause()
            self.steering.add(Steer.PAUSE)

    def resume(self) -> None:
        if self.state is RunState.PAUSED:
            self.pool.resume()
            self.state = RunState.RUNNING
            if self._clock is not None:
                self._clock.resume()
            self.steering.add(Steer.RESUME)

    def set_scale(self, scale: float) -> None:
        """Multiply the planned target (VUs or rate) by `scale` from now on."""
        before, base = self.pool.scale, self.planned_target()
        self.pool.set_scale(scale)
        if self.pool.scale != before:
            self.steering.add(Steer.TARGET, base * before, base * self.pool.scale)

    def set_target(self, value: float) -> None:
        """Make the current target `value` (VUs or iterations/s), keeping the shape."""
        base = self.planned_target()
        if base > 0:
            self.set_scale(value / base)

    def stop(self, reason: StopCause | str = StopReason.USER_STOP) -> None:
        """Graceful: no new iterations; in-flight ones get gracefulStop."""
        if self.state in (RunState.RUNNING, RunState.PAUSED, RunState.READY):
            cause = StopCause.of(reason)
            self.state = RunState.STOPPING
            self.aborted = True
            self.stop_reason = cause
            self.pool.stop(cause)
            self.steering.stopped(cause.kind)

    def abort(self, reason: StopCause | str = StopReason.USER_ABORT) -> None:
        """At once: in-flight iterations are interrupted."""
        cause = StopCause.of(reason)
        self.aborted = True
        self.stop_reason = self.stop_reason or cause
        self.state = RunState.STOPPING
        self.pool.abort(cause)
        self.steering.stopped(cause.kind, abort=True)

    # ----------------------------------------------------------------- running
    async def run(self) -> RunResult:
        self.started_at = self.now()
        self.state = RunState.RUNNING
        task = asyncio.create_task(self.pool.run())
        k = 1
        error = None
        try:
            # Intervals count from the workers' start, not from the spawning of their
            # processes: every interval is full length and aligned across workers.
            started = asyncio.create_task(self.pool.started.wait())
            try:
                await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
            finally:
                started.cancel()
            self._clock = RunClock()
            if self.state is RunState.PAUSED:  # paused while the workers spawned
                self._clock.pause()
            t0 = self._clock.t0
            while not task.done():
                await self._tick(task, t0 + k * self.plan.interval)
                if task.done():
                    break
                k += 1
                self._interval(await self.pool.harvest())
            with contextlib.suppress(asyncio.CancelledError):
                task.result()
        except asyncio.CancelledError:
            self.abort(StopReason.CANCELLED)
            with contextlib.suppress(BaseException):
                await task
            raise
        except Exception as exc:  # keep what was measured; say what broke
            error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
            self.abort(StopCause(StopReason.INTERNAL_ERROR, error))
        if self.pool.lost >= self.pool.size:
            # Nobody left to run the plan: the run ended early, whatever the figures say.
            self.aborted = True
            self.stop_reason = self.stop_reason or workers_lost(self.pool.failures)
        last = await self.pool.harvest()
        if last.end - last.start > 0.05 or _has_data(last):
            self._interval(last, join_last=last.end - last.start < self.plan.interval / 2)
        self.model.evaluate(final=True)
        self.state = RunState.FINISHED
        if self.stop_reason is None and not is_natural(self.pool.stop_reason):
            self.stop_reason = self.pool.stop_reason
        result = self.result(aborted=self.aborted, stop_reason=self.stop_reason, error=error)
        self._emit(self.model.timeline[-1] if self.model.timeline else None)
        return result

    async def _tick(self, task: asyncio.Task[None], deadline: float) -> None:
        """Until the next interval is due, or the workers are done."""
        await asyncio.wait([task], timeout=max(deadline - perf_counter(), 0))

    def result(
        self, *, aborted: bool, stop_reason: StopCause | None, error: str | None = None
    ) -> RunResult:
        """The run as it stands: at its end, or mid-run for a partial report (same loop,
        so the model is consistent at the moment of the call)."""
        return RunResult(
            plan=self.plan,
            model=self.model,
            started_at=self.started_at,
            duration=self.model.elapsed,
            aborted=aborted,
            stop_reason=stop_reason,
            breaking_point_rps=self._last_held_rate if self.plan.breakpoint else None,
            error=error,
            cpu_percent_max=self._cpu_max,
            workers=self.pool.size,
            failures=list(self.pool.failures),
            cluster=describe() if (describe := getattr(self.pool, "describe", None)) else None,
            steering=tuple(self.steering.events),
        )

    def _interval(self, iv: Interval, *, join_last: bool = False) -> None:
        row = self.model.add(iv, join_last=join_last)
        states = self.model.evaluate()
        elapsed = self.model.elapsed
        if self.pool.lost and self.plan.on_worker_loss == OnWorkerLoss.ABORT and not self.aborted:
            self.abort(workers_lost(self.pool.failures, every=False))
        if self.state in (RunState.RUNNING, RunState.PAUSED):
            for s in states:
                th = s.threshold
                if not s.ok and th.abort_on_fail and elapsed >= th.delay_abort_eval_s:
                    self.abort(threshold_abort(th.key, th.expression))
                    break
            if self.plan.breakpoint:
                self._judge_breakpoint(iv, row, states)
        self._emit(row)

    def _judge_breakpoint(self, iv: Interval, row: Row, states: list[ThresholdState]) -> None:
        """Stop at the first sign of breaking; remember the last rate that held."""
        broke = None
        if self.plan.thresholds:
            failed = [s for s in states if not s.ok]
            if failed:
                th = failed[0].threshold
                broke = f"threshold {th.key}: {th.expression} failed"
        elif row.requests:
            window = [r for r in self.model.timeline if r.t > row.t - BREAKPOINT_WINDOW_S]
            req = sum(r.requests for r in window)
            err = sum(r.failed for r in window) / req if req else 0.0
            p95 = _p95_ms(iv)
            if self._baseline_p95 is None and row.requests >= 20:
                self._baseline_p95 = max(p95, 0.1)
            if err > BREAKPOINT_ERROR_RATE:
                broke = f"error rate {err:.1%} > {BREAKPOINT_ERROR_RATE:.0%}"
            elif self._baseline_p95 and p95 > BREAKPOINT_P95_FACTOR * self._baseline_p95:
                broke = f"p95 {p95:.1f}ms > {BREAKPOINT_P95_FACTOR:g}x its start"
        if broke:
            self.stop(StopCause(StopReason.BREAKING_POINT, broke))
        elif row.requests:
            self._last_held_rate = row.target

    def _emit(self, row: Row | None) -> None:
        cpu = max(self.pool.cpu, default=0.0)
        self._cpu_max = max(self._cpu_max, cpu)
        if row is None:
            return
        snap = Snapshot(
            elapsed=self.model.elapsed,
            state=self.state,
            progress=self.pool.progress(),
            row=row,
            totals=self.model.figures(),
            thresholds=tuple(self.model.states),
            checks=self.model.checks(),
            scale=self.pool.scale,
            cpu_percent=cpu,
            worker_cpu=tuple(self.pool.cpu),
            worker_nodes=self.pool.nodes(),
            failures=tuple(self.pool.failures),
            stop_reason=self.stop_reason,
            scenarios=scenario_rows(
                self.model, self.plan.work, finished=self.state == RunState.FINISHED
            ),
        )
        if self.on_snapshot is not None:
            self.on_snapshot(snap)


def _pool(plan: RunPlan) -> Pool:
    if plan.cluster is not None:
        from engine.load.pools.ray_pool import RayPool, import_ray

        import_ray()  # without Ray: how to install it, exit 2, before anything starts
        return RayPool(plan.work, plan.workers, plan.cluster)
    if plan.workers == 1 and plan.in_process:
        return LocalPool(plan.work)
    return ProcessPool(plan.work, plan.workers, log=plan.worker_log)


def _has_data(iv: Interval) -> bool:
    return bool(iv.buckets or iv.iterations or iv.dropped or iv.interrupted or iv.checks)


def _p95_ms(iv: Interval) -> float:
    h = merge_histograms(b.latency for b in iv.buckets.values())
    return h.get_value_at_percentile(95) / 1000 if h.get_total_count() else math.nan
