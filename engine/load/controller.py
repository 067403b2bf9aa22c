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
from dataclasses import replace
from time import perf_counter

from engine.errors import ConfigError
from engine.explore.insights import Evidence
from engine.limits import fd_shortfall
from engine.load.capacity import CapacityDriver
from engine.load.executors.planned import initial_vus, planned_vus_max
from engine.load.flow import Flow
from engine.load.metrics import Interval, merge_histograms
from engine.load.model import Row, RunModel, ThresholdState
from engine.load.pacing import RunClock
from engine.load.pools import LocalPool, Pool, ProcessPool
from engine.load.run import (
    SETUP_LANE,
    TEARDOWN_LANE,
    OnWorkerLoss,
    RunPlan,
    RunResult,
    Snapshot,
    scenario_rows,
)
from engine.load.setup import Once, run_once
from engine.load.split import usable_workers
from engine.load.states import (
    RunState,
    StopCause,
    StopReason,
    is_natural,
    runs_teardown,
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
        peak = sum(lane.executor.peak_vus for lane in plan.work.scenarios)
        per_worker = math.ceil(peak / max(plan.workers, 1))
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
        self._lanes = {lane.name: lane for lane in plan.work.scenarios}
        self._shapes = {
            lane.name: lane.executor.kind.shape(lane.executor) for lane in plan.work.scenarios
        }
        self._scales = dict.fromkeys(self._lanes, 1.0)  # each scenario's, as last set
        self.paused_lanes: set[str] = set()  # scenarios paused on their own
        self._setup_values: tuple[tuple[str, str], ...] = ()  # setup()'s captures
        self._pending: Interval | None = None  # setup's figures, for the first interval
        self._once_task: asyncio.Task[Once] | None = None  # setup or teardown running
        self._planned_vus_max = planned_vus_max(
            [(lane.start_time, lane.executor) for lane in plan.work.scenarios]
        )
        self._clock: RunClock | None = None  # the workers' run time: pauses excluded
        self.steering = SteeringLog(self._since_start)
        self.capacity = CapacityDriver(plan, plan.capacity) if plan.capacity else None
        self.evidence = Evidence(open_model=all(s.executor.open_model for s in plan.work.scenarios))

    def now(self) -> dt.datetime:
        """The run's start time (a scripted run has a fixed one)."""
        return dt.datetime.now(dt.UTC)

    def _since_start(self) -> float:
        """Seconds since the workers started, pauses included: the plots' time axis."""
        return perf_counter() - self._clock.t0 if self._clock is not None else 0.0

    def _lane(self, scenario: str | None) -> str:
        """The scenario a command names (the one there is, if none); ValueError naming
        the scenarios when it names none of them, or several could be meant."""
        if scenario is None and len(self._lanes) == 1:
            return next(iter(self._lanes))
        if scenario not in self._lanes:
            names = ", ".join(self._lanes)
            raise ValueError(f"scenario {scenario!r}: one of {names}")
        return scenario

    def planned_target(self, scenario: str | None = None) -> float:
        """The shape's target now (VUs or iterations/s), before any scale: read from the
        plan at the workers' run time, not from the last interval (a second command in one
        interval would otherwise build on a stale figure). One scenario's, from its
        startTime (0 before it); `scenario` may be left out when there is one."""
        name = self._lane(scenario)
        t = (self._clock.elapsed() if self._clock is not None else 0.0) - self._lanes[
            name
        ].start_time
        return self._shapes[name].at(t) if t >= 0 else 0.0

    # ---------------------------------------------------------------- commands
    def pause(self, scenario: str | None = None) -> None:
        """The whole run, or one scenario (its schedule waits; the others go on)."""
        if scenario is not None:
            name = self._lane(scenario)
            if self.state is RunState.RUNNING and name not in self.paused_lanes:
                self.pool.pause(name)
                self.paused_lanes.add(name)
                self.steering.add(Steer.PAUSE, scenario=name)
        elif self.state is RunState.RUNNING:
            self.pool.pause()
            self.state = RunState.PAUSED
            if self._clock is not None:
                self._clock.pause()
            self.steering.add(Steer.PAUSE)

    def resume(self, scenario: str | None = None) -> None:
        """The whole run (every scenario paused on its own too), or one scenario."""
        if scenario is not None:
            name = self._lane(scenario)
            if name in self.paused_lanes:
                self.pool.resume(name)
                self.paused_lanes.discard(name)
                self.steering.add(Steer.RESUME, scenario=name)
        elif self.state is RunState.PAUSED or self.paused_lanes:
            self.pool.resume()
            self.paused_lanes.clear()
            if self.state is RunState.PAUSED:
                self.state = RunState.RUNNING
                if self._clock is not None:
                    self._clock.resume()
            self.steering.add(Steer.RESUME)

    def set_scale(self, scale: float, scenario: str | None = None) -> None:
        """Multiply the planned target (VUs or rate) by `scale` from now on: of every
        scenario, or of one. Each scenario's new target is on record."""
        scale = max(scale, 0.001)
        names = list(self._lanes) if scenario is None else [self._lane(scenario)]
        before = {name: self._scales[name] for name in names}
        if scenario is None:
            self.pool.set_scale(scale)
        else:
            self.pool.set_scale(scale, names[0])
        one = len(self._lanes) == 1
        for name in names:
            self._scales[name] = scale
            if before[name] != scale:
                base = self.planned_target(name)
                lane = None if one else name
                self.steering.add(Steer.TARGET, base * before[name], base * scale, scenario=lane)

    def set_target(self, value: float, scenario: str | None = None) -> None:
        """Make the current target `value` (VUs or iterations/s), keeping the shape; with
        several scenarios, of the one named (VUs and rates do not add)."""
        name = self._lane(scenario)
        base = self.planned_target(name)
        if base > 0:
            self.set_scale(value / base, None if len(self._lanes) == 1 else name)

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
        """At once: in-flight iterations are interrupted (and setup or teardown, by hand)."""
        cause = StopCause.of(reason)
        if self._once_task is not None and not runs_teardown(cause):
            self._once_task.cancel()
        self.aborted = True
        self.stop_reason = self.stop_reason or cause
        self.state = RunState.STOPPING
        self.pool.abort(cause)
        self.steering.stopped(cause.kind, abort=True)

    # ----------------------------------------------------------------- running
    async def run(self) -> RunResult:
        self.started_at = self.now()
        self.state = RunState.RUNNING
        setup = self.plan.work.setup
        if setup is not None:
            self.pool.gate = asyncio.Event()  # the workers spawn while setup() runs
        task = asyncio.create_task(self.pool.run())
        k = 1
        error = None
        try:
            if setup is not None:
                try:
                    await self._setup(setup)  # failed: the workers start stopped
                finally:
                    self.pool.gate.set()  # type: ignore[union-attr]
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
                self._interval(await self._harvest())
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
        return await self._end(error)

    async def _end(self, error: str | None) -> RunResult:
        """The last interval, teardown() (k6 runs it after a stop or a threshold's abort,
        not after an abort by hand), the final verdicts."""
        last = await self._harvest()
        if last.end - last.start > 0.05 or _has_data(last):
            self._interval(last, join_last=last.end - last.start < self.plan.interval / 2)
        teardown = self.plan.work.teardown
        if teardown is not None and runs_teardown(self.stop_reason):
            self.state = RunState.STOPPING
            origin = self._clock.t0 if self._clock is not None else None
            timeout = self.plan.work.teardown_timeout
            if once := await self._once(teardown, TEARDOWN_LANE, timeout, origin):
                iv = once.interval
                lanes = Interval(iv.start, iv.end, lanes={TEARDOWN_LANE: iv})
                self._interval(self._total(lanes), join_last=True)
        self.model.evaluate(final=True)
        self.state = RunState.FINISHED
        if self.stop_reason is None and not is_natural(self.pool.stop_reason):
            self.stop_reason = self.pool.stop_reason
        result = self.result(aborted=self.aborted, stop_reason=self.stop_reason, error=error)
        self._emit(self.model.timeline[-1] if self.model.timeline else None)
        return result

    async def _setup(self, flow: Flow) -> None:
        """k6's setup(), before any scenario; its captures go to every VU. A failed one
        aborts the run (its stop cause says why): no scenario starts."""
        once = await self._once(flow, SETUP_LANE, self.plan.work.setup_timeout)
        if once is None:
            return  # aborted meanwhile
        self._pending = Interval(0.0, 0.0, lanes={SETUP_LANE: once.interval})
        if once.error is not None:
            self.abort(StopCause(StopReason.SETUP_FAILED, once.error))
        else:
            self.pool.setup_values = self._setup_values = once.values

    async def _once(
        self, flow: Flow, lane: str, timeout: float, origin: float | None = None
    ) -> Once | None:
        """Setup or teardown as a task an abort by hand cancels (then None)."""
        task = self._once_task = asyncio.create_task(
            run_once(self.plan.work, flow, lane, timeout, values=self._setup_values, origin=origin)
        )
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._once_task = None
        return None if task.cancelled() else task.result()

    async def _harvest(self) -> Interval:
        return self._total(await self.pool.harvest())

    def _total(self, iv: Interval) -> Interval:
        """The workers' interval (and setup's, into the first), its top level the total
        of its lanes. vus_max is k6's: the VUs planned at the busiest moment (scenarios
        whose windows overlap), plus those a scenario started beyond its plan."""
        if self._pending is not None:
            iv.add(self._pending)
            self._pending = None
        iv = iv.flatten()
        # Several scenarios: the plan's figure, also when no worker answered in time.
        if iv.lanes or len(self._lanes) > 1:
            extra = sum(
                max(lane.vus_max - self._initial_vus(name), 0)
                for name, lane in iv.lanes.items()
                if name in self._lanes
            )
            iv.vus_max = self._planned_vus_max + extra
        return iv

    def _initial_vus(self, scenario: str) -> int:
        """The VUs a scenario starts with over the workers: k6's plan, or one per part
        where it is split into more parts than it plans VUs (an arrival rate's part with
        no preAllocatedVUs of its own starts one: the split's, not the load's)."""
        cfg = self._lanes[scenario].executor
        return max(initial_vus(cfg), usable_workers(cfg, self.pool.size))

    async def _tick(self, task: asyncio.Task[None], deadline: float) -> None:
        """Until the next interval is due, or the workers are done."""
        await asyncio.wait([task], timeout=max(deadline - perf_counter(), 0))

    def result(
        self, *, aborted: bool, stop_reason: StopCause | None, error: str | None = None
    ) -> RunResult:
        """The run as it stands: at its end, or mid-run for a partial report (same loop,
        so the model is consistent at the moment of the call)."""
        result = RunResult(
            plan=self.plan,
            model=self.model,
            started_at=self.started_at,
            duration=self.model.elapsed,
            aborted=aborted,
            stop_reason=stop_reason,
            breaking_point_rps=self._last_held_rate if self.plan.breakpoint else None,
            capacity=self.capacity.result() if self.capacity else None,
            error=error,
            cpu_percent_max=self._cpu_max,
            workers=self.pool.size,
            failures=list(self.pool.failures),
            cluster=describe() if (describe := getattr(self.pool, "describe", None)) else None,
            steering=tuple(self.steering.events),
        )
        steps = result.capacity.steps if result.capacity is not None else ()
        result.insights = self.evidence.find(steps, result.observed, final=True)
        return result

    def _interval(self, iv: Interval, *, join_last: bool = False) -> None:
        row = self.model.add(iv, join_last=join_last)
        self.evidence.add(row, iv, max(self.pool.cpu, default=0.0), join_last=join_last)
        states = self.model.evaluate()
        elapsed = self.model.elapsed
        if self.pool.lost and self.plan.on_worker_loss == OnWorkerLoss.ABORT and not self.aborted:
            self.abort(workers_lost(self.pool.failures, every=False))
        if self.state in (RunState.RUNNING, RunState.PAUSED):
            for s in () if self.capacity else states:  # a search judges them step by step
                th = s.threshold
                if not s.ok and th.abort_on_fail and elapsed >= th.delay_abort_eval_s:
                    self.abort(threshold_abort(th.key, th.expression))
                    break
            if self.capacity and self.state is RunState.RUNNING:
                self.capacity.interval(self, iv, max(self.pool.cpu, default=0.0))
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
            capacity_steps=self.capacity.steps if self.capacity else (),
        )
        snap = replace(snap, insights=self.evidence.find(snap.capacity_steps, snap.observed))
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
