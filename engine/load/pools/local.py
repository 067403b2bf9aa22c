"""One Crew in this process and loop: tests, and the CLI's single worker."""

from __future__ import annotations

import asyncio
import os

import psutil

from engine.load.crew import Crew
from engine.load.metrics import Interval
from engine.load.pools.base import Pool, cpu_of
from engine.load.run import WorkPlan
from engine.load.split import number_vus
from engine.load.states import StopCause


class LocalPool(Pool):
    """The crew runs on the caller's loop: no process, no pipe."""

    def __init__(self, plan: WorkPlan) -> None:
        self.crew = Crew(number_vus(plan))
        self.failures: list[str] = []
        self._proc = psutil.Process(os.getpid())
        self.cpu: list[float] = [0.0]
        self.started = asyncio.Event()

    @property
    def size(self) -> int:
        return 1

    @property
    def scale(self) -> float:  # type: ignore[override]
        return self.crew.scale

    @property
    def stop_reason(self) -> StopCause | None:  # type: ignore[override]
        return self.crew.stop_reason

    def pause(self, scenario: str | None = None) -> None:
        self.crew.pause(scenario)

    def resume(self, scenario: str | None = None) -> None:
        self.crew.resume(scenario)

    def set_scale(self, scale: float, scenario: str | None = None) -> None:
        self.crew.set_scale(scale, scenario)

    def stop(self, reason: StopCause) -> None:
        self.crew.stop(reason)

    def abort(self, reason: StopCause) -> None:
        self.crew.abort(reason)

    def target(self) -> float:
        return self.crew.target()

    def progress(self) -> float:
        return self.crew.progress()

    async def run(self) -> None:
        await self.setup_done()
        cpu_of(self._proc)
        self.crew.set_setup(self.setup_values)
        self.started.set()  # the crew's clock starts as its run does, in this same step
        await self.crew.run()

    async def harvest(self) -> Interval:
        self.cpu = [cpu_of(self._proc, self.cpu[0])]
        return self.crew.harvest()

    async def close(self) -> None:
        pass
