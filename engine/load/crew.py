"""A crew: one process's lanes (its parts of the run's scenarios) behind a Worker's face.

Each lane is a Worker of its own (its executor, VUs, Recorder). The crew starts each
at its scenario's `startTime` on the crew's run clock (pauses stretch the wait, as they
stretch a schedule), and is done when every lane is. Commands name a scenario or go to
all. A crew of the one `default` lane hands over that Worker's intervals as they are,
so a run without scenarios keeps its path, bytes and speed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from time import perf_counter

from engine.http.wire import SendBatch
from engine.load.metrics import Interval
from engine.load.pacing import RunClock, sleep_run_time
from engine.load.run import DEFAULT_SCENARIO, WorkPlan
from engine.load.states import StopCause, is_natural
from engine.load.worker import Worker


class Crew:
    """Runs a WorkPlan's lanes; commands (pause, resume, scale, stop, abort) apply at once."""

    def __init__(self, plan: WorkPlan, *, rng: random.Random | None = None) -> None:
        self.plan = plan
        batch = SendBatch()  # one loop: its lanes' streaming sends go out together
        self.workers: dict[str, Worker] = {
            lane.name: Worker(plan, lane, rng=rng, batch=batch) for lane in plan.scenarios
        }
        self.clock = RunClock()
        self.scale = 1.0
        self.started = False
        # setup and teardown are lanes of their own: then "default" is one too
        self._plain = list(self.workers) == [DEFAULT_SCENARIO] and not (plan.setup or plan.teardown)
        self._ending: StopCause | None = None
        self._running = asyncio.Event()
        self._running.set()
        self._stopped = asyncio.Event()
        self._last = 0.0  # the end of the last harvested interval, run seconds
        self._ended: set[str] = set()  # lanes whose run is over: no VUs, no target

    def lanes(self, scenario: str | None = None) -> list[Worker]:
        """Every lane, or the one of `scenario` ([] where this process runs no part of it)."""
        if scenario is None:
            return list(self.workers.values())
        worker = self.workers.get(scenario)
        return [] if worker is None else [worker]

    def set_setup(self, values: tuple[tuple[str, str], ...]) -> None:
        """setup()'s captures ("setup.NAME", value), for every VU of every lane."""
        for worker in self.workers.values():
            worker.setup_values = dict(values)

    # ---------------------------------------------------------------- commands
    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self, scenario: str | None = None) -> None:
        """All lanes (and the wait for those not started yet), or one scenario's."""
        if scenario is None and self._ending is None:
            self.clock.pause()
            self._running.clear()
        for worker in self.lanes(scenario):
            worker.pause()

    def resume(self, scenario: str | None = None) -> None:
        if scenario is None:
            self.clock.resume()
            self._running.set()
        for worker in self.lanes(scenario):
            worker.resume()

    def set_scale(self, scale: float, scenario: str | None = None) -> None:
        """Multiply the targets (VUs or rate) of all lanes, or of one scenario's."""
        if scenario is None:
            self.scale = max(scale, 0.001)
        for worker in self.lanes(scenario):
            worker.set_scale(scale)

    def stop(self, reason: StopCause) -> None:
        """Graceful, every lane: lanes not started yet never start."""
        self._end(reason, Worker.stop)

    def abort(self, reason: StopCause) -> None:
        self._end(reason, Worker.abort)

    def _end(self, reason: StopCause, end: Callable[[Worker, StopCause], None]) -> None:
        self._ending = self._ending or reason
        self._stopped.set()
        self.resume()
        for worker in self.workers.values():
            end(worker, reason)

    @property
    def stop_reason(self) -> StopCause | None:
        """The command's, else the first lane's that did not end as planned, else a plan's
        end (every lane ended as planned)."""
        if self._plain:
            return self.workers[DEFAULT_SCENARIO].stop_reason
        if self._ending is not None:
            return self._ending
        reasons = [w.stop_reason for w in self.workers.values() if w.stop_reason is not None]
        return next((r for r in reasons if not is_natural(r)), reasons[-1] if reasons else None)

    # ---------------------------------------------------------------- figures
    def target(self) -> float:
        return sum(w.target() for w in self.workers.values())

    def harvest(self) -> Interval:
        """The interval since the last harvest: each lane's in `lanes` (the one default
        lane's as it is)."""
        if self._plain:
            return self.workers[DEFAULT_SCENARIO].harvest()
        now = perf_counter() - self.clock.t0 if self.started else 0.0
        lanes = {name: w.harvest() for name, w in self.workers.items()}
        for name in self._ended:
            lanes[name].vus, lanes[name].target = 0, 0.0
        iv = Interval(self._last, now, lanes=lanes)
        self._last = now
        return iv

    def progress(self) -> float:
        """The run's share done: the least of the lanes still to end, each as run time
        (its startTime plus its own progress over its planned duration)."""
        if self._plain:
            return self.workers[DEFAULT_SCENARIO].progress()
        end = max(w.lane.start_time + w.cfg.planned_duration for w in self.workers.values())
        left = [
            (w.lane.start_time + w.progress() * w.cfg.planned_duration) / end
            for w in self.workers.values()
            if w.stop_reason is None
        ]
        return min(min(left, default=1.0), 1.0) if end > 0 else 1.0

    # ---------------------------------------------------------------- running
    async def run(self) -> None:
        """Every lane from its startTime to its end; done when all are."""
        self.clock = RunClock()
        if self.paused:  # paused before it started: the start times wait from the start
            self.clock.pause()
        self.started = True
        for worker in self.workers.values():
            worker.origin = self.clock.t0
        await asyncio.gather(*(self._lane(w) for w in self.workers.values()))

    async def _lane(self, worker: Worker) -> None:
        start = worker.lane.start_time
        if start > 0:
            await sleep_run_time(self.clock, start, self._running, self._stopped)
        if self._ending is not None:
            return  # stopped before its start (a failed setup too): it never runs, as in k6
        try:
            await worker.run()
        finally:
            self._ended.add(worker.lane.name)
