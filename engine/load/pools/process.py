"""N worker processes, each with its own loop, driven over a pipe.

Python's GIL makes one process one core, so more load means more processes
(docs/ARCHITECTURE.md). Each process runs a Worker on its own uvloop loop and
answers the Controller over a pipe: commands go down and reports come back, as
the typed messages of engine.load.messages. Histograms add exactly, so N workers
report what one would. A worker that dies is reported; what it shipped stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import signal
import sys
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from typing import Any

import psutil

from engine.http.tls import worker_tls_conf, worker_tls_order
from engine.load import messages as msg
from engine.load.crew import Crew
from engine.load.metrics import Interval
from engine.load.pools.base import RemotePool, cpu_of
from engine.load.pools.remote import apply_command, apply_start
from engine.load.run import WorkPlan
from engine.load.split import split_plan
from engine.load.states import StopCause, StopReason
from engine.serve import new_event_loop

_HARVEST_TIMEOUT_S = 5.0


# ------------------------------------------------------------ worker process side
def worker_main(conn: Connection, plan: WorkPlan, log: str | None = None) -> None:
    """A worker process: its own loop, driven by the Controller over `conn`.

    With `log`, its stderr (fd 2, so C-level and interpreter-level messages too) is
    appended there: a traceback written to a terminal a Textual app draws on would
    scramble the screen and be lost.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the Controller's to handle
    if log is not None:
        with contextlib.suppress(OSError):
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(fd, 2)
            os.close(fd)
    loop = new_event_loop()
    try:
        loop.run_until_complete(_serve(conn, plan))
    finally:
        loop.close()
        conn.close()


async def _serve(conn: Connection, plan: WorkPlan) -> None:
    loop = asyncio.get_running_loop()
    crew = Crew(plan)
    proc = psutil.Process(os.getpid())
    started: asyncio.Future[None] = loop.create_future()

    def reply(final: bool) -> None:
        iv = crew.harvest()
        conn.send(
            msg.Report(
                iv.encode(),
                crew.progress(),
                cpu_of(proc),
                crew.stop_reason,
                final=final,
            )
        )

    def on_message() -> None:
        while conn.poll():
            try:
                cmd = conn.recv()
            except (EOFError, OSError):  # the Controller is gone: stop at once
                loop.remove_reader(conn.fileno())
                crew.abort(StopCause(StopReason.CONTROLLER_GONE))
                if not started.done():
                    started.set_result(None)
                return
            match cmd:
                case msg.Start() if not started.done():
                    apply_start(crew, cmd)
                    started.set_result(None)
                case msg.Harvest():
                    reply(final=False)
                case _:
                    apply_command(crew, cmd)

    loop.add_reader(conn.fileno(), on_message)
    conn.send(msg.Ready())
    await started
    cpu_of(proc)
    try:
        await crew.run()
        reply(final=True)
    except Exception as exc:  # report, with what was measured
        with contextlib.suppress(OSError):
            conn.send(msg.Failed(f"{type(exc).__name__}: {exc}"))
            reply(final=True)
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(conn.fileno())


# ------------------------------------------------------------ controller side
class _Remote:
    __slots__ = ("conn", "done", "final", "index", "pending", "proc", "progress", "ready")

    def __init__(self, index: int, proc: Any, conn: Connection) -> None:
        self.index = index
        self.proc = proc
        self.conn = conn
        self.ready: asyncio.Future[None] | None = None
        self.pending: asyncio.Future[Interval | None] | None = None
        self.final: Interval | None = None
        self.done = False
        self.progress = 0.0


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with the real stderr.

    The first spawn starts the tracker and hands it sys.stderr's file descriptor;
    inside a Textual app sys.stderr is a capture object whose fileno() is -1, and the
    spawn fails ("bad value(s) in fds_to_keep"). Started once with the real stderr,
    it is reused after (a smoke run spawns its worker from inside the app).
    """
    real = sys.__stderr__
    if real is not None:
        with contextlib.redirect_stderr(real):
            resource_tracker.ensure_running()


class ProcessPool(RemotePool):
    """N worker processes (spawned: safe beside threads and a running UI)."""

    def __init__(self, plan: WorkPlan, workers: int, *, log: str | None = None) -> None:
        self.plans = split_plan(plan, workers)
        self.log = log
        self.failures: list[str] = []
        self.cpu: list[float] = [0.0] * len(self.plans)
        self.scale = 1.0
        self.stop_reason: StopCause | None = None
        self._remotes: list[_Remote] = []
        self._target = 0.0
        # Commands given while workers are still spawning, replayed at their start.
        self._paused = False
        self._ending: msg.Stop | msg.Abort | None = None
        self._all_done: asyncio.Event | None = None
        self.started = asyncio.Event()

    @property
    def size(self) -> int:
        return len(self.plans)

    def pids(self) -> list[int]:
        return [r.proc.pid for r in self._remotes]

    def _send(self, command: msg.Command) -> None:
        for r in self._remotes:
            if not r.done:
                with contextlib.suppress(OSError, ValueError):
                    r.conn.send(command)

    def progress(self) -> float:
        live = [r.progress for r in self._remotes]
        return min(live) if live else 0.0

    async def run(self) -> None:
        with worker_tls_conf() as tls_env:  # its file lives as long as the run, then goes
            await self._run(tls_env)

    async def _run(self, tls_env: dict[str, str]) -> None:
        loop = asyncio.get_running_loop()
        ctx = mp.get_context("spawn")
        _start_resource_tracker()
        self._all_done = asyncio.Event()
        for i, plan in enumerate(self.plans):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, plan, self.log), daemon=True)
            with worker_tls_order(tls_env):  # in its environment before its `ssl` loads
                proc.start()
            child.close()
            r = _Remote(i, proc, parent)
            r.ready = loop.create_future()
            self._remotes.append(r)
            loop.add_reader(parent.fileno(), self._on_message, r)
        try:
            await asyncio.gather(*(r.ready for r in self._remotes if r.ready is not None))
            await self.setup_done()
            # One message, so no request goes out between "start" and a pause.
            self._send(self.start_message())
            self.started.set()
            await self._all_done.wait()
        finally:
            await self.close()

    def _on_message(self, r: _Remote) -> None:
        while True:
            try:
                if not r.conn.poll():
                    return
                event: msg.Event = r.conn.recv()
            except (EOFError, OSError):
                self._lost(r)
                return
            match event:
                case msg.Ready() if r.ready is not None and not r.ready.done():
                    r.ready.set_result(None)
                case msg.Report():
                    iv = Interval.decode(event.interval)
                    r.progress = event.progress
                    self.cpu[r.index] = event.cpu_percent
                    if not event.final and r.pending is not None and not r.pending.done():
                        r.pending.set_result(iv)
                    elif r.final is None:
                        r.final = iv
                    else:
                        r.final.extend(iv)
                    if event.final:
                        if event.stop_reason and self.stop_reason is None:
                            self.stop_reason = event.stop_reason
                        self._finish(r)
                case msg.Failed(error=error):
                    self.failures.append(f"worker {r.index}: {error}")

    def _lost(self, r: _Remote) -> None:
        asyncio.get_running_loop().remove_reader(r.conn.fileno())
        if not r.done:
            r.proc.join(timeout=1)
            code = r.proc.exitcode
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            self.failures.append(f"worker {r.index} (pid {r.proc.pid}) died ({how})")
            self.lost += 1
            if r.ready is not None and not r.ready.done():
                r.ready.set_exception(RuntimeError(self.failures[-1]))
            self._finish(r)

    def _finish(self, r: _Remote) -> None:
        r.done = True
        if r.pending is not None and not r.pending.done():
            r.pending.set_result(None)
        if self._all_done is not None and all(x.done for x in self._remotes):
            self._all_done.set()

    async def harvest(self) -> Interval:
        loop = asyncio.get_running_loop()
        waiting = []
        for r in self._remotes:
            if not r.done:
                r.pending = loop.create_future()
                waiting.append(r.pending)
                with contextlib.suppress(OSError, ValueError):
                    r.conn.send(msg.Harvest())
        if waiting:
            await asyncio.wait(waiting, timeout=_HARVEST_TIMEOUT_S)
        parts: list[Interval] = []
        for r in self._remotes:
            mine: Interval | None = None
            if r.pending is not None and r.pending.done() and r.pending.result() is not None:
                mine = r.pending.result()  # type: ignore[assignment]
            r.pending = None
            if r.final is not None:
                # The same worker's last figures: its VUs are not another worker's.
                if mine is None:
                    mine = r.final
                else:
                    mine.extend(r.final)
                r.final = None
            if mine is not None:
                parts.append(mine)
        return self._merge(parts)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for r in self._remotes:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(r.conn.fileno())
        for r in self._remotes:
            await asyncio.to_thread(r.proc.join, 5)
            if r.proc.is_alive():
                r.proc.kill()
                await asyncio.to_thread(r.proc.join, 5)
