"""One run from its start to its report, the same for every front end.

`surge run`, the console, `surge demo`, `surge deploy compare` and the tests start a
`RunSession`, send it commands and observe its snapshots; the session owns the rest:
the Controller (made by a factory, so the console's tests script one), the optional
rollout (prepared, started, fed every snapshot, finished with how the load ended), the
`--out` outputs, the checkpoints, the stop signals, the final report (or its fallback)
and the exit code. A feature of a run is added here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from engine.deploy.record import rollout_exit_code
from engine.load.controller import Controller
from engine.load.model import RunModel
from engine.load.run import RunPlan, RunResult, Snapshot
from engine.load.states import Ending, RunState, StopCause, StopReason, checkpoint_reason
from engine.load.steering import SteeringLog
from engine.outputs import Output
from engine.report.document import build_report, write_report_or_fallback, write_toml
from engine.report.model import Report

if TYPE_CHECKING:  # the driver (httpx, the routers) loads only for a run with [deploy]
    from engine.deploy.driver import DeployDriver
    from engine.observe.observer import Observer  # httpx too: only for a run that observes
    from engine.report.deploy_section import DeployRecord

CHECKPOINT_S = 60.0  # a running run is written to its report path this often
# SIGINT (Ctrl+C), SIGTERM (kill, CI timeouts) and SIGHUP (an SSH session that drops)
# all stop gracefully and keep the report; a second one of any kind aborts.
STOP_SIGNALS = {
    signal.SIGINT: StopReason.INTERRUPTED,
    signal.SIGTERM: StopReason.TERMINATED,
    signal.SIGHUP: StopReason.HUNG_UP,
}
# The load ran out by itself (not the user, a signal or a failure): a rollout still going
# then is `unfinished` (exit 4), not `stopped`.
LOAD_ENDINGS = frozenset({Ending.FINISHED, Ending.BREAKING_POINT, Ending.THRESHOLD_ABORT})
GOING = frozenset({RunState.RUNNING, RunState.PAUSED})  # checkpoints are taken then


class RunControl(Protocol):
    """What a session needs of a controller; engine.load.Controller is the real one."""

    plan: RunPlan
    state: RunState
    model: RunModel
    steering: SteeringLog  # the commands below, on record

    async def run(self) -> RunResult: ...
    def pause(self, scenario: str | None = None) -> None: ...
    def resume(self, scenario: str | None = None) -> None: ...
    def set_scale(self, scale: float, scenario: str | None = None) -> None: ...
    def set_target(self, value: float, scenario: str | None = None) -> None: ...
    def stop(self, reason: StopCause | str = ...) -> None: ...
    def abort(self, reason: StopCause | str = ...) -> None: ...
    def result(
        self, *, aborted: bool, stop_reason: StopCause | None, error: str | None = None
    ) -> RunResult: ...


ControllerFactory = Callable[[RunPlan, Callable[[Snapshot], None]], RunControl]


@dataclass(frozen=True)
class SessionEnd:
    """How a session ended: the run, its rollout's record, its report (built once, for
    the file, the outputs and the summary) and where it went."""

    result: RunResult
    record: DeployRecord | None
    report: Report
    report_path: Path | None = None  # the final report (the fallback's, with `problem`)
    problem: str | None = None  # why the report is not where it was asked to go

    @property
    def exit_code(self) -> int:
        """The run's code with the rollout's (engine.deploy.record: 99 wins)."""
        return rollout_exit_code(self.result.exit_code, self.record)


@dataclass(eq=False)
class RunSession:
    """One run's lifecycle: front ends call `run()` (the console `start()` first, to
    steer at once), send commands and `observe` snapshots (after the rollout saw them)."""

    plan: RunPlan
    _: KW_ONLY
    control: ControllerFactory = Controller
    deploy: DeployDriver | None = None
    prepare: bool = True  # await the rollout's prepare() (recipes' instances) first
    start_rollout: bool = True  # the rollout starts with the load (else a key starts it)
    until_settled: bool = False  # the load stops once the rollout settles (deploy compare)
    outputs: Sequence[Output] = ()  # fed every interval, then the report; closed at the end
    report: str | Path | None = None  # the final report's file
    checkpoint_to: Path | None = None  # the run so far, rewritten every checkpoint_every s
    checkpoint_every: float = CHECKPOINT_S
    signals: bool = False  # while run() goes, SIGINT, SIGTERM and SIGHUP: interrupt()
    on_signal: Callable[[StopReason], None] | None = None  # told the first signal
    on_end: Callable[[SessionEnd], None] | None = None  # told before the outputs linger
    observers: list[Callable[[Snapshot], None]] = field(default_factory=list, init=False)
    controller: RunControl | None = field(default=None, init=False)
    rollout_started: float | None = field(default=None, init=False)  # the driver's clock
    result: RunResult | None = field(default=None, init=False)
    ended: SessionEnd | None = field(default=None, init=False)  # once run() returned
    saved_to: Path | None = field(default=None, init=False)  # the whole run's report
    checkpoint: Path | None = field(default=None, init=False)  # until the run is saved
    dropped: bool = field(default=False, init=False)  # discarded: no checkpoint may stay
    server_side: Observer | None = field(default=None, init=False)  # [observe]'s scraper
    _signalled: int = field(default=0, init=False)
    _quit: asyncio.Event = field(default_factory=asyncio.Event, init=False)  # stop lingering

    @property
    def started(self) -> bool:
        return self.controller is not None

    @property
    def running(self) -> bool:
        return self.started and self.result is None

    @property
    def live(self) -> RunControl:
        """The controller of a started session."""
        assert self.controller is not None
        return self.controller

    @property
    def model(self) -> RunModel:
        return self.live.model

    @property
    def measured(self) -> bool:
        """True once at least one interval came back: from then on there is data to lose."""
        return self.controller is not None and bool(self.controller.model.timeline)

    @property
    def unsaved(self) -> bool:
        return self.measured and self.saved_to is None

    def observe(self, observer: Callable[[Snapshot], None]) -> None:
        """`observer` gets every snapshot, on the loop, after the rollout has seen it."""
        self.observers.append(observer)

    # commands, to a started session (run() or start() made its controller)
    def pause(self, scenario: str | None = None) -> None:
        """The whole run, or one scenario (the others go on)."""
        self.live.pause(scenario)

    def resume(self, scenario: str | None = None) -> None:
        self.live.resume(scenario)

    def set_scale(self, scale: float, scenario: str | None = None) -> None:
        self.live.set_scale(scale, scenario)

    def set_target(self, value: float, scenario: str | None = None) -> None:
        self.live.set_target(value, scenario)

    def stop(self, reason: StopReason = StopReason.USER_STOP) -> None:
        self.live.stop(reason)

    def abort(self, reason: StopReason = StopReason.USER_ABORT) -> None:
        self.live.abort(reason)

    def interrupt(self, reason: StopReason) -> None:
        """A stop signal: the first stops gracefully, a second aborts."""
        self._signalled += 1
        self._quit.set()
        if self._signalled > 1:
            twice = reason is StopReason.INTERRUPTED
            self.abort(StopReason.INTERRUPTED_TWICE if twice else StopReason.SIGNALLED_TWICE)
            return
        if self.on_signal is not None:
            self.on_signal(reason)
        self.stop(reason)

    def start(self) -> RunControl:
        """The controller, made once; the rollout starts with it (unless a key starts it)."""
        if self.controller is None:
            self.controller = self.control(self.plan, self._snapshot)
        if self.deploy is not None and self.start_rollout and self.rollout_started is None:
            self.rollout_started = self.deploy.clock()
            self.deploy.start()
        return self.controller

    async def run(self) -> SessionEnd:
        """The whole run, signals taken while it goes; then the outputs get the report and
        linger (a scrape endpoint serving it a few seconds more; a signal cuts it short)."""
        fresh = self.controller is None
        controller = self.controller = self.controller or self.control(self.plan, self._snapshot)
        loop = asyncio.get_running_loop()
        for sig, reason in STOP_SIGNALS.items() if self.signals else ():
            loop.add_signal_handler(sig, self.interrupt, reason)
        try:
            ended = await self._load(controller, prepare=fresh and self.prepare)
            if self.on_end is not None:
                self.on_end(ended)
            if self.outputs:
                await self._finish_outputs(ended.report)
            return ended
        finally:
            for sig in STOP_SIGNALS if self.signals else ():
                loop.remove_signal_handler(sig)
            for output in self.outputs:
                output.close()

    async def _load(self, controller: RunControl, *, prepare: bool) -> SessionEnd:
        """Prepare, start, observe, checkpoint; the rollout finished with how the load
        ended (a stop, a signal, a crash: on_exit applies); the final report written."""
        done = asyncio.Event()
        saver = asyncio.create_task(self._checkpoints(done))
        result: RunResult | None = None
        try:
            if prepare and self.deploy is not None:
                await self.deploy.prepare()  # recipes: blue's instances start before the load
            if self.plan.observe and self.server_side is None:
                from engine.observe.observer import SCRAPE_TIMEOUT, Observer

                # a hung target costs at most an interval: the others keep their pace
                timeout = max(0.5, min(SCRAPE_TIMEOUT, self.plan.interval))
                self.server_side = Observer(self.plan.observe, timeout)
                self.server_side.start()
            self.start()
            if self.server_side is not None and (found := getattr(controller, "evidence", None)):
                found.series = self.server_side.series  # the findings read the server's side
            result = await controller.run()
        finally:
            done.set()
            await saver  # a checkpoint being written lands before the final report
            if self.server_side is not None:  # the last interval's scrape lands in the result
                await asyncio.to_thread(self.server_side.close)
            if self.deploy is not None:
                ran_out = result is not None and result.ending in LOAD_ENDINGS
                await self.deploy.finish(load_ended=ran_out)
        self.result = result = self._observed(result)
        record = self.deploy_record()
        report = build_report(result, record)
        path = problem = None
        if self.report is not None:
            path, problem = write_report_or_fallback(report, self.report, result.started_at)
            self.saved_to = path
        self.ended = SessionEnd(result, record, report, path, problem)
        return self.ended

    def _snapshot(self, snapshot: Snapshot) -> None:
        if self.server_side is not None:
            snapshot = replace(snapshot, observed=self.server_side.series())
            self.server_side.sample(snapshot.elapsed)
        for output in self.outputs:
            output.interval(snapshot, self.model)
        if self.deploy is not None:
            self.deploy.observe(self.model)
            if self.until_settled and self.deploy.settled:
                self.stop(StopReason.ROLLOUT_ENDED)
        for observer in self.observers:
            observer(snapshot)

    async def _finish_outputs(self, data: Report) -> None:
        for output in self.outputs:
            output.finish(data)
        lingering = [asyncio.create_task(o.linger()) for o in self.outputs]
        stop = asyncio.create_task(self._quit.wait())
        await asyncio.wait([asyncio.gather(*lingering), stop], return_when=asyncio.FIRST_COMPLETED)
        for task in (*lingering, stop):
            task.cancel()

    def deploy_record(self) -> DeployRecord | None:
        """The rollout for the report's [deploy]: as it ended, or as it stands."""
        if self.deploy is None:
            return None
        return self.deploy.final or self.deploy.record()

    def partial_result(self, reason: StopCause) -> RunResult:
        """The run so far, marked aborted so nobody mistakes it for a finished run (on the
        loop: the live model is consistent at the moment of the call)."""
        return self._observed(self.live.result(aborted=True, stop_reason=reason))

    def _observed(self, result: RunResult) -> RunResult:
        """The result with the server's side as observed so far."""
        if self.server_side is None:
            return result
        return replace(result, observed=self.server_side.series())

    async def _write(self, result: RunResult, path: Path) -> Path:
        data = build_report(result, self.deploy_record())  # on the loop: the model is consistent
        return await asyncio.to_thread(write_toml, data, path)

    async def save(self, path: Path, result: RunResult | None = None) -> Path:
        """The report, written off the loop; of the run so far while it goes on. OSError
        propagates for the caller to show."""
        why = StopCause(StopReason.PARTIAL, f"saved while running at {self.model.elapsed:.0f}s")
        result = result or self.result or self.partial_result(why)
        written = await self._write(result, path)
        if result is self.result:
            self.saved_to = written
            if self.checkpoint is not None and self.checkpoint != written:
                self.checkpoint.unlink(missing_ok=True)  # the whole run is saved elsewhere
            self.checkpoint = None
        return written

    async def _checkpoints(self, done: asyncio.Event) -> None:
        """Every `checkpoint_every` s while the load goes, a report of it so far, marked
        aborted: if the machine dies, what is on disk is all but the last interval's."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.checkpoint_every)
                return
            with contextlib.suppress(OSError):
                await self.write_checkpoint()

    async def write_checkpoint(self) -> None:
        """The run so far to `checkpoint_to`, unless it was discarded; the final report
        replaces it, a discard deletes it."""
        to, controller = self.checkpoint_to, self.controller
        if to is None or controller is None or controller.state not in GOING or self.dropped:
            return
        if not self.measured:
            return
        written = await self._write(self.partial_result(checkpoint_reason(self.model.elapsed)), to)
        if self.dropped:  # discarded while the file was being written: it goes too
            written.unlink(missing_ok=True)
            return
        self.checkpoint = written

    def drop_checkpoint(self) -> None:
        """The user discarded the run: its checkpoint goes too (and one being written)."""
        self.dropped = True
        if self.checkpoint is not None and self.saved_to is None:
            self.checkpoint.unlink(missing_ok=True)
        self.checkpoint = None
