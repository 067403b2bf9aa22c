"""A worker: runs one executor's virtual users in the current event loop.

The worker owns the sockets and the Recorder; the Controller owns time slices
(intervals), thresholds and everything derived. Nothing here assumes the
Controller is in the same process: a `WorkPlan` is plain picklable data and
`harvest()` returns an `Interval` that encodes to plain data.

Two models, as in k6:
- closed (constant-vus, ramping-vus, *-iterations): each VU loops over
  iterations; latency == service time.
- open (*-arrival-rate): a scheduler releases iterations at their due times; a
  due iteration with no free VU (and none left to start below maxVUs) is dropped
  then, as k6 does (`dropped_iterations`). With `queue` it waits in a backlog
  instead and its wait counts in its `latency` (wrk2's coordinated-omission
  correction); only what still waits when the schedule ends is dropped.

One class on purpose: the closed and open loops, the request path and
the flow share the worker's hot state (budgets, backlog, recorder, status
table) as attributes; split, each part would reach into the others' privates.
"""

from __future__ import annotations

import asyncio
import random
from bisect import bisect
from collections import deque
from collections.abc import Awaitable, Callable
from time import perf_counter

from engine.errors import classify
from engine.http.debug import DebugClient
from engine.http.redirects import REDIRECTS
from engine.http.request import Prepared, RequestError
from engine.http.response import Response
from engine.http.wire import SendBatch
from engine.load.checks import Check, bind_checks, body_note, evaluate_checks, judge_unanswered
from engine.load.flow import END_ITERATION, GROUP_ROOTS, GroupTimer, Template
from engine.load.follow import Answer, follow
from engine.load.metrics import Interval, Recorder
from engine.load.pacing import Pacer, RunClock, remaining, sleep_run_time
from engine.load.run import ScenarioPlan, WorkPlan
from engine.load.session import elsewhere
from engine.load.states import StopCause, StopReason
from engine.load.vus import VU, make_vu

# How early the scheduler may release an iteration. Event-loop timers fire up to a
# millisecond late; waking a millisecond early and releasing then keeps the
# generator's own lateness out of the latency. An early request's latency is its
# service time (never less), so nothing is hidden.
_SLACK_S = 0.001
_GOVERNOR_TICK_S = 0.01
_FOLD_TICK_S = 0.1
# Due iterations waiting for a free VU: at most this many seconds of the peak rate
# (and 100,000); beyond it the oldest is counted as dropped.
BACKLOG_SECONDS = 10.0
# Iterations released per scheduler wake-up at most: a schedule far ahead of what the
# machine can start (`--rate 10000000`) must not hold the loop for seconds.
_MAX_RELEASE = 5_000


def _status_table(ranges: tuple[tuple[int, int], ...]) -> list[bool]:
    """Expected statuses as a 600-entry table: one index per response, no range walk."""
    ok = [False] * 600
    for lo, hi in ranges:
        for s in range(max(lo, 0), min(hi, 599) + 1):
            ok[s] = True
    return ok


class Worker:
    """Runs one scenario of a WorkPlan (a lane; its one scenario if none is given);
    commands (pause, resume, scale, stop, abort) apply at once."""

    def __init__(
        self,
        plan: WorkPlan,
        lane: ScenarioPlan | None = None,
        *,
        rng: random.Random | None = None,
        batch: SendBatch | None = None,
    ) -> None:
        """`batch`: the streaming sends of this loop, shared by a crew's lanes."""
        self.plan = plan
        self.lane = lane = plan.only if lane is None else lane
        self.cfg = lane.executor
        self.recorder = self._new_recorder()
        self.clock = RunClock()
        # When a crew runs this lane: the crew's start (perf_counter), from which intervals
        # count, whenever the lane starts. None: from this worker's own start.
        self.origin: float | None = None
        self.setup_values: dict[str, str] = {}  # setup()'s captures, as "setup.NAME"
        self.scale = 1.0
        self.stop_reason: StopCause | None = None
        self._rng = rng or random.Random()
        self._vus: list[VU] = []
        self._active = 0  # closed model: VUs with index < _active may run
        self._running = asyncio.Event()
        self._running.set()
        self._stopping = False
        self._go = True  # running and not stopping: what a streaming response asks
        self._stopped = asyncio.Event()
        self._backlog: deque[float] = deque()
        self._max_backlog = int(min(max(self.cfg.peak_rate * BACKLOG_SECONDS, 1000), 100_000))
        self._idle: list[VU] = []
        self._budget = self.cfg.kind.budget(self.cfg)  # the iteration executors' budget
        # k6's vus_max is the VUs initialised, from the start: preAllocatedVUs (arrival
        # rate) or the executor's peak (ramping-vus: its stages' maximum); more when
        # an arrival rate starts more VUs or a scale asks for more.
        self._vus_max_floor = (
            self.cfg.pre_allocated_vus if self.cfg.open_model else self.cfg.kind.peak_vus(self.cfg)
        )
        self._pacer: Pacer | None = None
        self._next_n = 0
        self._ok_status = _status_table(plan.expected_statuses)
        total = 0.0
        self._cum_weights: list[float] = []
        for w in lane.weights or (1.0,) * len(lane.requests):
            total += w
            self._cum_weights.append(total)
        self._checks = lane.checks or ((),) * len(lane.requests)
        self._batch = batch or SendBatch()
        self._max_redirects = plan.max_redirects
        self._hops = 0  # redirect hops since the last harvest, outside flows
        self._flow = lane.flow
        self._elsewhere = elsewhere(plan.base_url, lane)  # a request may leave base_url's origin
        # data_order "iteration" or "random": a row per pass (else each VU keeps its own)
        self._rows = [
            {f"data.{k}": v for k, v in row.items()}
            for row in (lane.flow.data if lane.flow and lane.flow.data_order != "vu" else ())
        ]
        self._row_n = 0  # this worker's passes that took a row (iteration order)
        # The group path its steps' groups hang from ("::setup" in setup); None: no groups
        grouped = lane.flow is not None and any(step.group for step in lane.flow.steps)
        self._group_root = GROUP_ROOTS.get(lane.name, "") if grouped else None
        self._static_steps: list[Prepared | None] = [
            step.prepare(plan.base_url, plan.headers, {}) if step.static else None
            for step in (lane.flow.steps if lane.flow else ())
        ]
        self._step_ok: list[list[bool]] = [
            self._ok_status
            if step.expected_statuses is None
            else _status_table(step.expected_statuses)
            for step in (lane.flow.steps if lane.flow else ())
        ]

    def _new_recorder(self, start: float = 0.0) -> Recorder:
        return Recorder(
            separate_latency=self.cfg.open_model, one_request=self.lane.flow is None, start=start
        )

    # ---------------------------------------------------------------- commands
    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        if not self.paused and not self._stopping:
            self.clock.pause()
            self._running.clear()
            self._go = False

    def resume(self) -> None:
        if self.paused:
            self.clock.resume()
            self._running.set()
        self._go = not self._stopping

    def set_scale(self, scale: float) -> None:
        """Multiply the executor's target (VUs or rate) from now on."""
        scale = max(scale, 0.001)
        if self._pacer is not None:
            self._pacer.rescale(scale, self._next_n, self.clock.elapsed())
        self.scale = scale

    def stop(self, reason: StopCause) -> None:
        """Graceful: no new iterations; in-flight ones get gracefulStop to finish."""
        if self._stopping:
            return
        self.stop_reason = reason
        self._stopping = True
        self.resume()  # which leaves _go False
        self.recorder.dropped(len(self._backlog))
        self._backlog.clear()
        for vu in self._vus:
            if vu.wake is not None and not vu.wake.done():
                vu.wake.set_result(None)
        self._stopped.set()

    def abort(self, reason: StopCause) -> None:
        self.stop(reason)
        for vu in self._vus:
            if vu.task is not None and not vu.task.done():
                vu.task.cancel()

    # ---------------------------------------------------------------- figures
    def target(self) -> float:
        """The executor's current target: VUs (closed) or iterations/s (open)."""
        if self._pacer is not None:
            return self._pacer.rate_at(self.clock.elapsed())
        return float(self._active)

    def harvest(self) -> Interval:
        busy = sum(1 for vu in self._vus if vu.busy)
        vus = busy if self.cfg.open_model else min(self._active, len(self._vus))
        origin = self.clock.t0 if self.origin is None else self.origin
        interval = self.recorder.harvest(
            perf_counter() - origin,
            vus=vus,
            vus_max=max(len(self._vus), self._vus_max_floor),
            target=self.target(),
        )
        if self._hops:  # one-request iterations are derived from requests: a chain is one
            interval.iterations -= self._hops
            self._hops = 0
        return interval

    def progress(self) -> float:
        planned = self.cfg.planned_duration
        if self._budget is not None:
            return self._budget.progress(sum(vu.iterations for vu in self._vus))
        return min(self.clock.elapsed() / planned, 1.0) if planned > 0 else 1.0

    # ---------------------------------------------------------------- running
    async def run(self) -> None:
        """Run the executor to its end (or a stop), then wait gracefulStop for stragglers."""
        self.clock = RunClock()
        if self.paused:  # paused before it started: the schedule waits from the start
            self.clock.pause()
        self.recorder = self._new_recorder(
            0.0 if self.origin is None else self.clock.t0 - self.origin
        )
        folder = asyncio.create_task(self._fold())
        try:
            if self.cfg.open_model:
                driver = asyncio.create_task(self._run_open())
            else:
                driver = asyncio.create_task(self._run_closed())
            await driver
            await self._drain()
        finally:
            folder.cancel()
            for vu in self._vus:
                if vu.task is not None and not vu.task.done():
                    vu.task.cancel()
                vu.client.close()
                vu.session.close()

    async def _drain(self) -> None:
        tasks = [vu.task for vu in self._vus if vu.task is not None and not vu.task.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.cfg.graceful_stop)
        for t in pending:
            t.cancel()
        if pending:
            self.recorder.interrupted(len(pending))
            await asyncio.wait(pending)

    async def _fold(self) -> None:
        """Fold recorded latencies into histograms, so raw values wait at most a tick.
        (Timeouts are each client's: a timer at the request's deadline.)"""
        while True:
            await asyncio.sleep(_FOLD_TICK_S)
            self.recorder.fold()

    # ---------------------------------------------------------- one iteration
    async def _iteration(self, vu: VU, due: float | None) -> None:
        if self._flow is None:
            cum = self._cum_weights
            i = 0 if len(cum) == 1 else bisect(cum, self._rng.random() * cum[-1])
            await self._request(vu, self.lane.requests[i], self._checks[i], due)
        else:
            row = self._row() if self._rows else None
            if self._rows and row is None:  # data_end = "stop": the rows are used up
                self.stop(StopCause(StopReason.ITERATIONS))
                return
            start = perf_counter()
            begin = due if due is not None and due < start else start
            await self._pass_flow(vu, begin, row)
            self.recorder.iteration(int((perf_counter() - begin) * 1e6))

    def _row(self) -> dict[str, str] | None:
        """The data row of the next pass: at random, or the scenario's next in iteration
        order (this worker takes rows offset, offset + stride, ...); None once a
        `data_end = "stop"` flow has used them all."""
        rows = self._rows
        if self._flow.data_order == "random":  # type: ignore[union-attr]
            return rows[self._rng.randrange(len(rows))]
        i = self._row_n * self.lane.stride + self.lane.offset
        self._row_n += 1
        if i >= len(rows):
            if self._flow.data_end == "stop":  # type: ignore[union-attr]
                return None
            i %= len(rows)
        return rows[i]

    async def _request(
        self,
        vu: VU,
        req: Prepared,
        checks: tuple[Check, ...],
        due: float | None,
        ok: list[bool] | None = None,
        redirects: int | None = None,
        answer: Response | None = None,
    ) -> tuple[Response | None, str | None, bool]:
        """Send, time and record one request: (response, upstream, failed).

        The response is None after a transport error. Latency runs from `due` (the
        scheduled start, open model) when given and past, else from now. `ok` is a
        step's own expected statuses (else the plan's). A redirect is followed for
        up to `redirects` hops (else the plan's max_redirects), each hop recorded as a
        request, and the last response is the one checked and returned. `answer`: the
        response a stream already got (it ended on a redirect), recorded, not sent.
        """
        rec = self.recorder
        if vu.session.jar.any:
            req = vu.session.jar.with_cookies(req)
        client = vu.client
        if self._elsewhere and answer is None:  # a named host's request: its own client
            client = vu.client = vu.session.client_for(req.url)
        start = perf_counter()
        begin = due if due is not None and due < start else start
        try:
            resp = answer if answer is not None else await client.request(req)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a SUT-side failure is data, never a crash
            sent = client.sent_at if client.sent_at >= start else start
            self._record_failure(req, checks, exc, begin, sent, client.bytes_in, client.bytes_out)
            # A failure raised before anything suspended (no file descriptor left for the
            # socket) would spin this VU without yielding: no signal, no stop, no other VU.
            await asyncio.sleep(0)
            return None, None, True
        done = client.done_at
        svc = int((done - client.sent_at) * 1e6)
        lat = int((done - begin) * 1e6)
        if lat < svc:
            lat = svc
        status = resp.status
        failed = not (status < 600 and (ok or self._ok_status)[status])
        upstream = client.upstream
        rec.record(req.name, upstream, lat, svc, status, failed, client.bytes_in, client.bytes_out)
        if client.opened is not None:
            rec.connected(*client.opened)
            client.opened = None
            rec.opened_iteration(svc, lat)  # its iteration lasted the connect too
        sent, written, first = client.sent_at, client.written_at, client.first_at
        rec.exchange(
            int((written - sent) * 1e6), int((first - written) * 1e6), int((done - first) * 1e6)
        )
        if failed:
            rec.count_error(req.name, upstream, f"http {status // 100}xx")
        if self._flow is not None:
            vu.session.jar.store(req.url, resp)  # later steps send them
        if status in REDIRECTS and (
            limit := self._max_redirects if redirects is None else redirects
        ):
            resp, upstream, failed = await self._follow(
                vu, req, (resp, upstream, failed), ok, limit
            )
            if resp is None:  # a hop failed (recorded): its checks judge no response
                took = perf_counter() - begin
                for check, passed in zip(checks, judge_unanswered(checks, took), strict=True):
                    rec.check(check.name, passed, req.name)
                return None, None, True
            lat = int((perf_counter() - begin) * 1e6)  # a duration check: the whole chain
        if checks:
            results = evaluate_checks(checks, resp, lat / 1e6)
            for check, ok in zip(checks, results, strict=True):
                rec.check(check.name, ok, req.name)
            if note := body_note(checks, resp, results):  # a body cut, or not decoded
                rec.count_error(req.name, upstream, note)
        return resp, upstream, failed

    async def _follow(
        self, vu: VU, req: Prepared, answer: Answer, ok: list[bool] | None, limit: int
    ) -> Answer:
        """engine/load/follow.py's loop, each hop through `_request` (recorded, not followed)."""

        def fail(hop: Prepared, exc: Exception) -> None:  # a Location that cannot be followed
            now = perf_counter()
            self._record_failure(hop, (), exc, now, now, 0, 0)

        def send(hop: Prepared) -> Awaitable[Answer]:
            if self._flow is None:
                self._hops += 1
            return self._request(vu, hop, (), None, ok, 0)

        return await follow(vu, req, answer, limit, send, fail, flow=self._flow is not None)

    def _record_failure(
        self,
        req: Prepared,
        checks: tuple[Check, ...],
        exc: Exception,
        begin: float,
        sent: float,
        bytes_in: int,
        bytes_out: int,
    ) -> None:
        """What went out and came in before the failure: a refused connect sent nothing."""
        now = perf_counter()
        lat, svc = int((now - begin) * 1e6), int((now - sent) * 1e6)
        self.recorder.record(req.name, None, lat, svc, 0, True, bytes_in, bytes_out, classify(exc))
        for check, passed in zip(checks, judge_unanswered(checks, lat / 1e6), strict=True):
            self.recorder.check(check.name, passed, req.name)

    def _on_response(self, vu: VU, req: Prepared) -> Callable[[int], bool]:
        """A streaming VU's per-response step: record it, then say if the next one may go.

        The same checks the VU's loop makes before an iteration (stop, pause, scaled
        below this VU, the iteration budgets), made here so a response that allows
        another sends it at once; any "no" hands the VU back to its loop. An expected,
        untagged response (the common one) goes straight into its step's sink.
        """
        take = self._budget.take if self._budget is not None else None
        client, rec, ok = vu.client, self.recorder, self._ok_status
        name, out = req.name, len(req.wire)
        sink = rec.sink(name)
        durations, statuses = sink.ok.append, sink.status.append
        sending, waiting, receiving = rec.exchanges()

        def on_response(status: int) -> bool:
            sent = client.sent_at
            written = client.written_at
            first = client.first_at
            done = client.done_at
            if status < 600 and ok[status] and client.upstream is None:
                durations(int((done - sent) * 1e6))
                statuses(status)
                sink.bytes_in += client.bytes_in
                sink.bytes_out += out
            else:
                us = int((done - sent) * 1e6)
                failed = not (status < 600 and ok[status])
                upstream = client.upstream
                rec.record(name, upstream, us, us, status, failed, client.bytes_in, out)
                if failed:
                    rec.count_error(name, upstream, f"http {status // 100}xx")
            sending(int((written - sent) * 1e6))
            waiting(int((first - written) * 1e6))
            receiving(int((done - first) * 1e6))
            vu.iterations += 1
            if not self._go or vu.index >= self._active:
                return False
            return take is None or take(vu.iterations)

        return on_response

    async def _stream(self, vu: VU, req: Prepared, on_response: Callable[[int], bool]) -> None:
        """Iterations of one request, chained in the connection's callback while allowed."""
        client = vu.client
        fut = client.stream(req.wire, on_response, self._batch)
        if fut is None:  # no live connection: this iteration connects, the next streams
            await self._request(vu, req, (), None)
            vu.iterations += 1
            return
        try:
            resp = await fut
        except asyncio.CancelledError:
            client.drop()
            raise
        except Exception as exc:  # the request in flight failed; those before are recorded
            if isinstance(exc, ConnectionError) and client.stale():
                await self._request(vu, req, (), None)  # idle keep-alive closed: retry once
            else:
                self._record_failure(
                    req, (), exc, client.sent_at, client.sent_at, client.bytes_in, len(req.wire)
                )
            vu.iterations += 1
            return
        if resp.status in REDIRECTS and self._max_redirects:  # ended on it, not recorded
            client.bytes_out = len(req.wire)
            await self._request(vu, req, (), None, answer=resp)
            vu.iterations += 1

    async def _pass_flow(self, vu: VU, begin: float, row: dict[str, str] | None = None) -> None:
        """One pass through the flow; with groups, each pass through one is timed (k6's
        group_duration, recorded even when a step in it failed or ended the pass)."""
        if self._group_root is None:
            await self._steps(vu, begin, row, None)
            return
        timer = GroupTimer(self.recorder.group, self._group_root)
        try:
            await self._steps(vu, begin, row, timer)
        finally:
            timer.close()

    async def _steps(
        self, vu: VU, begin: float, row: dict[str, str] | None, timer: GroupTimer | None
    ) -> None:
        """One pass through the flow's steps, as k6 runs a default function.

        A failed step (unexpected status, transport error, a poll out of tries) is
        counted where it happened and the next step runs, unless the step says
        `end_iteration`; what it could not capture is empty, so later steps go out and
        the server judges them (k6's `undefined`). A capture missing from a response
        that passed ends the pass, named: the flow itself is wrong there.
        """
        flow = self._flow
        assert flow is not None
        values = vu.last_values = dict(vu.values)
        values["iter"] = str(vu.iterations)
        if row is not None:
            values.update(row)
        first: float | None = begin
        rec = self.recorder
        vu.session.jar.clear()  # each iteration starts with no cookies, as in k6

        def render(text: str) -> str:  # a check value's placeholders, as a path's
            return Template.compile(text).render(values)

        for step, static, ok in zip(flow.steps, self._static_steps, self._step_ok, strict=True):
            if timer is not None:
                timer.enter(step.group)
            tries = 0
            checks = bind_checks(step.checks, render)
            while True:
                try:
                    req = static or step.prepare(self.plan.base_url, self.plan.headers, values)
                except RequestError as exc:  # a value that would break framing: not sent
                    rec.count_error(step.name, None, f"bad request: {exc.key}")
                    return
                resp, upstream, failed = await self._request(
                    vu, req, checks, first, ok, step.max_redirects
                )
                first = None
                if failed:
                    if step.on_failure == END_ITERATION:
                        return
                    for capture in step.captures:
                        value = capture.extract(resp) if resp is not None else None
                        values[capture.name] = "" if value is None else value
                    break
                for capture in step.captures:
                    value = capture.extract(resp)
                    if value is None:
                        rec.count_error(step.name, upstream, f"capture {capture.name}")
                        return
                    values[capture.name] = value
                poll = step.poll
                if poll is None:
                    break
                until = poll.until.bind(render) if poll.until.templated else poll.until
                if until.evaluate(resp, 0.0):
                    break
                tries += 1
                if tries >= poll.tries:
                    rec.count_error(step.name, upstream, f"until: {tries} tries")
                    if step.on_failure == END_ITERATION:
                        return
                    break  # its captures came from the last response
                await asyncio.sleep(poll.every)
            lo, hi = step.think
            if hi > 0:
                await asyncio.sleep(lo if lo == hi else self._rng.uniform(lo, hi))

    def _new_vu(self) -> VU:
        vu = make_vu(len(self._vus), self.plan, self.lane)
        if self.plan.http_debug is not None and vu.index == 0 and self.lane.offset == 0:
            self._debug(vu, self.plan.http_debug)
        if self._flow is not None:
            vu_id = self.lane.vu_base + vu.index * self.lane.stride + self.lane.offset + 1
            row = self._flow.row_for(vu_id)
            vu.values = {
                "vu": str(vu_id),
                **self.setup_values,
                **{f"data.{k}": v for k, v in row.items()},
            }
        self._vus.append(vu)
        return vu

    @staticmethod
    def _debug(vu: VU, mode: str) -> None:
        """--http-debug: the lane's first VU prints its first iteration's requests and
        responses (on every origin: redirect hops, named hosts), then has its client back."""
        own = vu.client

        def done() -> None:
            vu.client = vu.session.home = own

        def first() -> bool:
            return vu.iterations == 0

        vu.client = vu.session.home = DebugClient(own, mode, first, done)  # type: ignore[assignment]
        vu.session.wrap_others(lambda c: DebugClient(c, mode, first, lambda: None))  # type: ignore[arg-type,return-value]

    async def pass_once(self) -> dict[str, str]:
        """One pass of the flow on one VU and no iteration counted (k6's setup() and
        teardown()): the values it ended with, its captures among them."""
        vu = self._new_vu()
        try:
            await self._pass_flow(vu, perf_counter())
        finally:
            vu.client.close()
            vu.session.close()
        return vu.last_values

    # ------------------------------------------------------------ closed model
    def _closed_target(self, t: float) -> int:
        base = self.cfg.kind.vus_at(self.cfg, t)
        if self.scale == 1.0:
            return base
        return max(int(base * self.scale + 0.5), 0)

    async def _run_closed(self) -> None:
        cfg = self.cfg
        iteration_based = cfg.kind.iteration_based
        end = cfg.planned_duration
        while not self._stopping:
            if self.paused:
                await self._running.wait()
                continue
            t = self.clock.elapsed()
            if t >= end:
                if self._budget is not None:  # maxDuration: what never started is dropped
                    started = [vu.iterations + vu.busy for vu in self._vus]
                    self.recorder.dropped(self._budget.unstarted(started))
                self.stop(StopCause(cfg.kind.end_reason))
                break
            self._apply_active(self._closed_target(t), iteration_based)
            if iteration_based and self._vus and all(vu.task.done() for vu in self._vus):  # type: ignore[union-attr]
                self.stop(StopCause(StopReason.ITERATIONS))
                break
            await asyncio.sleep(_GOVERNOR_TICK_S)

    def _apply_active(self, target: int, iteration_based: bool) -> None:
        self._active = target
        now = perf_counter()
        while len(self._vus) < target:
            self._new_vu()
        for vu in self._vus:
            if vu.index < target:
                vu.over_since = None
                if vu.task is None or (vu.task.done() and not iteration_based):
                    vu.task = asyncio.create_task(self._closed_vu(vu))
                elif vu.wake is not None and not vu.wake.done():
                    vu.wake.set_result(None)
            elif vu.busy:
                if vu.over_since is None:
                    vu.over_since = now
                elif now - vu.over_since > self.cfg.graceful_ramp_down and vu.task is not None:
                    vu.task.cancel()
                    vu.over_since = None
                    self.recorder.interrupted()

    async def _closed_vu(self, vu: VU) -> None:
        take = self._budget.take if self._budget is not None else None
        loop = asyncio.get_running_loop()
        single = self._flow is None and len(self.lane.requests) == 1 and not self._elsewhere
        request, checks = (self.lane.requests[0], self._checks[0]) if single else (None, ())
        # Nothing reads the responses: requests chain in the connection's callback (under
        # the client's deadline: a request with its own goes one at a time).
        streams = single and not checks and request.timeout is None
        on_response = self._on_response(vu, request) if streams else None
        try:
            while not self._stopping:
                if not self._running.is_set():
                    await self._running.wait()
                    continue
                if vu.index >= self._active:
                    vu.wake = loop.create_future()
                    await vu.wake
                    continue
                if take is not None and not take(vu.iterations):
                    return
                vu.busy = True
                if on_response is not None:
                    await self._stream(vu, request, on_response)  # counts its iterations
                elif single:  # one request per iteration: no frame for the iteration itself
                    await self._request(vu, request, checks, None)
                    vu.iterations += 1
                else:
                    await self._iteration(vu, None)
                    vu.iterations += 1
                vu.busy = False
        finally:
            vu.busy = False

    # -------------------------------------------------------------- open model
    async def _run_open(self) -> None:
        cfg = self.cfg
        deal = {"offset": self.lane.offset, "stride": self.lane.stride}
        shape = cfg.kind.shape(cfg)
        pacer = Pacer(shape.start, shape.stages, shape.unit, first=cfg.kind.first, **deal)
        pacer.scale = self.scale
        self._pacer = pacer
        for _ in range(cfg.pre_allocated_vus):
            vu = self._new_vu()
            vu.task = asyncio.create_task(self._open_vu(vu, None))
        await asyncio.sleep(0)  # each VU waits in `_idle` before the first (0 s) is due
        clock = self.clock
        running = self._running
        dispatch = self._dispatch
        while not self._stopping:
            if not running.is_set():
                await running.wait()
                continue
            # Release everything due by now in one go: one clock read per wake-up, and
            # nothing in the inner loop can pause, rescale or stop (no await).
            now = clock.elapsed()
            horizon = now + _SLACK_S
            to_abs = clock.to_abs(0.0)
            n = self._next_n
            t = pacer.due(n)
            budget = _MAX_RELEASE
            while t is not None and t <= horizon and budget:
                dispatch(to_abs + t)
                n += 1
                budget -= 1
                t = pacer.due(n)
            self._next_n = n
            if t is None:
                break
            if not budget:  # far behind the schedule: let signals, stops and VUs run
                if now >= cfg.planned_duration:
                    self.recorder.dropped(remaining(pacer, n))  # never started: dropped
                    break
                await asyncio.sleep(0)
                continue
            # At least a timer tick (shorter sleeps spin the loop at high rates), at
            # most 50 ms so a stop is seen soon even at one iteration a minute.
            await asyncio.sleep(min(max(t - now - _SLACK_S, _SLACK_S), 0.05))
        await sleep_run_time(self.clock, cfg.planned_duration, self._running, self._stopped)
        self.stop(StopCause(StopReason.DURATION))

    def _dispatch(self, due: float) -> None:
        if self._idle:
            vu = self._idle.pop()
            vu.wake.set_result(due)  # type: ignore[union-attr]
        elif len(self._vus) < self.cfg.max_vus:
            vu = self._new_vu()
            vu.task = asyncio.create_task(self._open_vu(vu, due))
        elif not self.cfg.queue:
            self.recorder.dropped()  # k6: no free VU at the due time, dropped now
        else:
            if len(self._backlog) >= self._max_backlog:
                # Waited longer than the bound allows: dropped now, so memory stays
                # flat when the target cannot keep up for hours.
                self._backlog.popleft()
                self.recorder.dropped()
            self._backlog.append(due)

    async def _open_vu(self, vu: VU, due: float | None) -> None:
        loop = asyncio.get_running_loop()
        backlog = self._backlog
        single = self._flow is None and len(self.lane.requests) == 1 and not self._elsewhere
        request, checks = (self.lane.requests[0], self._checks[0]) if single else (None, ())
        try:
            while True:
                if due is None:
                    if self._stopping:
                        return
                    vu.wake = loop.create_future()
                    self._idle.append(vu)
                    due = await vu.wake
                    vu.wake = None
                    continue
                vu.busy = True
                if single:
                    await self._request(vu, request, checks, due)
                else:
                    await self._iteration(vu, due)
                vu.iterations += 1
                vu.busy = False
                if not self._running.is_set():
                    await self._running.wait()
                due = backlog.popleft() if backlog and not self._stopping else None
        finally:
            vu.busy = False
