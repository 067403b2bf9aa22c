"""The engine's Controller over scripted workers: deterministic intervals, no sockets, no processes.

It feeds synthetic but plausible Intervals through the engine's real Controller and
RunModel (commands, thresholds, checks, per-step figures, summary and report), so the
app's tests and its snapshot tests exercise every screen exactly as a real run would, in
a fraction of a second and identically every time. Test support only (the screenshots
come from the real surge in tmux), so it lives here, not in the shipped `tui` package.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from engine.load.controller import Controller
from engine.load.metrics import Interval, Recorder
from engine.load.pools import Pool
from engine.load.run import RunPlan, ScenarioPlan, Snapshot
from engine.load.states import StopCause, StopReason

FIXED_START = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def planned_target(plan: RunPlan, t: float) -> float:
    """The executor's target at run time t (VUs, or iterations/s), as its shape says."""
    cfg = plan.work.only.executor
    return cfg.kind.shape(cfg).at(t)


def step_names(plan: RunPlan) -> list[str]:
    flow = plan.work.only.flow
    if flow is not None:
        return [s.name for s in flow.steps] or ["default"]
    return [r.name for r in plan.work.only.requests] or ["default"]


def check_names(plan: RunPlan) -> list[list[str]]:
    flow = plan.work.only.flow
    if flow is not None:
        return [[c.name for c in s.checks] for s in flow.steps]
    per = plan.work.only.checks or ((),) * len(plan.work.only.requests)
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
    cfg = plan.work.only.executor
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


@dataclass(frozen=True)
class Script:
    """What a scripted run plays: `intervals` snapshots, `delay` seconds apart (none
    while paused). With `hold`, the run then stays "running" until stopped or aborted,
    so tests can press keys at leisure; without it, it finishes by itself like a run
    reaching its end. `error` and `fail` play the two ways a run goes wrong: a target
    that does not answer (counted, the run goes on) and an engine that breaks (the
    Controller's run raises). `green`: green's share now, to split requests by color."""

    intervals: int = 10
    delay: float = 0.0
    hold: bool = False
    cpu: Callable[[int], float] = lambda k: 30.0 + (k * 13) % 20
    error: str | None = None
    fail: str | None = None
    green: Callable[[], int] | None = None


def one_lane(plan: RunPlan, lane: ScenarioPlan) -> RunPlan:
    """The plan of `lane` alone, from its own 0 s: what scripted_interval plays for it."""
    return replace(plan, work=replace(plan.work, scenarios=(replace(lane, start_time=0.0),)))


def scripted_lanes(
    plan: RunPlan, k: int, scale: float, scales: dict[str, float], paused: set[str]
) -> Interval:
    """Interval k of a pretend run of several scenarios: each lane plays its own shape
    from its startTime (empty before it, after its planned end and while paused), at the
    run's `scale` or its own; in `lanes`, as a Crew hands them over."""
    dt_s = plan.interval
    iv = Interval((k - 1) * dt_s, k * dt_s)
    for lane in plan.work.scenarios:
        local = k - round(lane.start_time / dt_s)
        cfg = lane.executor
        over = not cfg.kind.iteration_based and (local - 1) * dt_s >= cfg.planned_duration
        if local < 1 or over or lane.name in paused:
            part = Interval(iv.start, iv.end)
        else:
            part = scripted_interval(one_lane(plan, lane), local, scales.get(lane.name, scale))
            part.start, part.end = iv.start, iv.end
        iv.lanes[lane.name] = part
    return iv


class ScriptedPool(Pool):
    """Workers that are a script: interval k is `scripted_interval(k)`; the engine's
    Controller runs over it."""

    def __init__(self, plan: RunPlan, script: Script) -> None:
        self.plan = plan
        self.script = script
        self.k = 0  # intervals given
        self.scale = 1.0
        self.scales: dict[str, float] = {}  # a scenario's own, when set
        self.paused: set[str] = set()  # scenarios paused on their own
        self.cpu = [0.0]
        self.failures: list[str] = []
        self.stop_reason: StopCause | None = None
        self.started = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()
        self._halt = asyncio.Event()

    @property
    def size(self) -> int:
        return self.plan.workers

    def pause(self, scenario: str | None = None) -> None:
        if scenario is None:
            self._running.clear()
        else:
            self.paused.add(scenario)

    def resume(self, scenario: str | None = None) -> None:
        if scenario is None:
            self.paused.clear()
            self._running.set()
        else:
            self.paused.discard(scenario)

    def set_scale(self, scale: float, scenario: str | None = None) -> None:
        if scenario is None:
            self.scale = max(scale, 0.001)
            self.scales.clear()
        else:
            self.scales[scenario] = max(scale, 0.001)

    def stop(self, reason: StopCause) -> None:
        self.finish()

    def abort(self, reason: StopCause) -> None:
        self.finish()

    def finish(self) -> None:
        self._halt.set()
        self._running.set()

    def target(self) -> float:
        if len(self.plan.work.scenarios) > 1:
            return 0.0  # VUs and rates of several scenarios do not add
        return planned_target(self.plan, self.k * self.plan.interval) * self.scale

    def progress(self) -> float:
        planned = max(s.start_time + s.executor.planned_duration for s in self.plan.work.scenarios)
        return min(self.k * self.plan.interval / planned, 1.0) if planned > 0 else 1.0

    async def run(self) -> None:
        self.started.set()
        await self._halt.wait()

    async def due(self) -> None:
        """Until the next interval is due; never once the script is spent or halted."""
        await asyncio.sleep(self.script.delay)
        await self._running.wait()
        if self._halt.is_set() or self.k >= self.script.intervals:
            await asyncio.Future()

    async def harvest(self) -> Interval:
        t = self.k * self.plan.interval
        if self._halt.is_set():  # the last harvest, after the run
            if self.script.fail is not None:
                raise RuntimeError(self.script.fail)
            return Interval(t, t)
        self.k += 1
        self.cpu = [self.script.cpu(self.k)]
        if self.k >= self.script.intervals and not self.script.hold:
            self._halt.set()
        script = self.script
        if len(self.plan.work.scenarios) > 1:
            return scripted_lanes(self.plan, self.k, self.scale, self.scales, self.paused)
        return scripted_interval(self.plan, self.k, self.scale, script.error, script.green)

    async def close(self) -> None:
        pass


class ScriptedController(Controller):
    """The engine's Controller over a ScriptedPool, on the script's clock (its intervals,
    FIXED_START); records every command it is given in `calls`. Keyword arguments: a
    Script's."""

    def __init__(
        self,
        plan: RunPlan,
        on_snapshot: Callable[[Snapshot], None] | None = None,
        **script: Any,
    ) -> None:
        self.scripted = ScriptedPool(plan, Script(**script))
        super().__init__(plan, self._count, pool=self.scripted)
        self.told = on_snapshot
        self.calls: list[tuple[Any, ...]] = []
        self.emitted = 0
        self._inside = 0  # a command that runs another (set_target) is one call on record

    def _count(self, snapshot: Snapshot) -> None:
        self.emitted += 1
        if self.told is not None:
            self.told(snapshot)

    def now(self) -> dt.datetime:
        return FIXED_START

    def _since_start(self) -> float:
        return self.model.elapsed

    def planned_target(self, scenario: str | None = None) -> float:
        if len(self.plan.work.scenarios) > 1:
            return Controller.planned_target(self, scenario)
        return planned_target(self.plan, self.model.elapsed)

    async def _tick(self, task: asyncio.Task[None], deadline: float) -> None:
        due = asyncio.ensure_future(self.scripted.due())
        await asyncio.wait([task, due], return_when=asyncio.FIRST_COMPLETED)
        due.cancel()

    def _call(self, name: str, *args: Any) -> None:
        if not self._inside:
            self.calls.append((name, *(round(a, 6) if isinstance(a, float) else a for a in args)))
        self._inside += 1
        try:
            getattr(Controller, name)(self, *args)
        finally:
            self._inside -= 1

    def pause(self, scenario: str | None = None) -> None:
        self._call("pause", *_named(scenario))

    def resume(self, scenario: str | None = None) -> None:
        self._call("resume", *_named(scenario))

    def set_scale(self, scale: float, scenario: str | None = None) -> None:
        self._call("set_scale", scale, *_named(scenario))

    def set_target(self, value: float, scenario: str | None = None) -> None:
        self._call("set_target", value, *_named(scenario))

    def stop(self, reason: StopCause | str = StopReason.USER_STOP) -> None:
        self._call("stop", reason)

    def abort(self, reason: StopCause | str = StopReason.USER_ABORT) -> None:
        self._call("abort", reason)

    def finish(self) -> None:
        """End a held run as if its shape had reached the end (not a user's stop)."""
        self.scripted.finish()


def _named(scenario: str | None) -> tuple[str, ...]:
    """A command's scenario, on record only when it names one."""
    return () if scenario is None else (scenario,)


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
