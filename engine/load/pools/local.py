"""One Worker in this process and loop: tests, and the CLI's single worker."""

from __future__ import annotations

import asyncio
import os

import psutil

from engine.load.metrics import Interval
from engine.load.pools.base import Pool, cpu_of
from engine.load.run import WorkPlan
from engine.load.states import StopCause
from engine.load.worker import Worker


class LocalPool(Pool):
    """The worker runs on the caller's loop: no process, no pipe."""

    def __init__(self, plan: WorkPlan) -> None:
        self.worker = Worker(plan)
        self.failures: list[str] = []
        self._proc = psutil.Process(os.getpid())
        self.cpu: list[float] = [0.0]
        self.started = asyncio.Event()

    @property
    def size(self) -> int:
        return 1

    @property
    def scale(self) -> float:  # type: ignore[override]
        return self.worker.scale

    @property
    def stop_reason(self) -> StopCause | None:  # type: ignore[override]
        return self.worker.stop_reason

    def pause(self) -> None:
        self.worker.pause()

    def resume(self) -> None:
        self.worker.resume()

    def set_scale(self, scale: float) -> None:
        self.worker.set_scale(scale)

    def stop(self, reason: StopCause) -> None:
        self.worker.stop(reason)

    def abort(self, reason: StopCause) -> None:
        self.worker.abort(reason)

    def target(self) -> float:
        return self.worker.target()

    def progress(self) -> float:
        return self.worker.progress()

    async def run(self) -> None:
        cpu_of(self._proc)
        self.started.set()  # the worker's clock starts as its run does, in this same step
        await self.worker.run()

    async def harvest(self) -> Interval:
        self.cpu = [cpu_of(self._proc, self.cpu[0])]
        return self.worker.harvest()

    async def close(self) -> None:
        pass
