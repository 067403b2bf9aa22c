"""Run time and the open model's arrival schedule, dealt between workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from time import perf_counter

from engine.load.stages import ArrivalTable, Stage, arrivals_until, value_at


class RunClock:
    """Run time excludes pauses, so stages and arrival schedules resume where they were."""

    __slots__ = ("_paused_at", "paused_total", "t0")

    def __init__(self) -> None:
        self.t0 = perf_counter()
        self.paused_total = 0.0
        self._paused_at: float | None = None

    def elapsed(self) -> float:
        now = self._paused_at if self._paused_at is not None else perf_counter()
        return now - self.t0 - self.paused_total

    def to_abs(self, t: float) -> float:
        return self.t0 + self.paused_total + t

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = perf_counter()

    def resume(self) -> None:
        if self._paused_at is not None:
            self.paused_total += perf_counter() - self._paused_at
            self._paused_at = None


async def sleep_run_time(
    clock: RunClock, until: float, running: asyncio.Event, stopped: asyncio.Event
) -> None:
    """Until run time `until` on `clock`, or until `stopped` is set; while `running` is
    clear (paused) the wait stretches."""
    while not stopped.is_set():
        if not running.is_set():
            await running.wait()
            continue
        left = until - clock.elapsed()
        if left <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopped.wait(), min(left, 0.25))


class Pacer:
    """Due times of an arrival-rate schedule, rescalable mid-run without a jump.

    With `stride` > 1 this worker's n-th iteration is the schedule's
    (offset + n * stride)-th: N workers deal one schedule between them. `first`
    follows k6: constant-arrival-rate starts an iteration at 0 s, while
    ramping-arrival-rate starts its first once one whole iteration has accrued.
    """

    def __init__(
        self,
        start_rate: float,
        stages: Sequence[Stage],
        time_unit: float,
        *,
        offset: int = 0,
        stride: int = 1,
        first: int = 0,
    ) -> None:
        self.start_rate = start_rate
        self.stages = tuple(stages)
        self.time_unit = time_unit
        self.offset = offset + first
        self.stride = stride
        self.scale = 1.0
        self._anchor_g = 0
        self._anchor_base = 0.0
        self._table = ArrivalTable(start_rate, self.stages, time_unit)

    def due(self, n: int) -> float | None:
        g = self.offset + n * self.stride
        return self._table.time_of(self._anchor_base + (g - self._anchor_g) / self.scale)

    def rescale(self, scale: float, next_n: int, now: float) -> None:
        self._anchor_base = arrivals_until(self.start_rate, self.stages, now, self.time_unit)
        self._anchor_g = self.offset + next_n * self.stride
        self.scale = scale

    def rate_at(self, t: float) -> float:
        return value_at(self.start_rate, self.stages, t) * self.scale / self.time_unit / self.stride


def remaining(pacer: Pacer, n: int) -> int:
    """How many of this worker's iterations, from its n-th, the schedule still holds."""
    step = 1
    while pacer.due(n + step) is not None:
        step *= 2
    lo, hi = n + step // 2, n + step  # due(lo) is not None (or lo == n), due(hi) is None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pacer.due(mid) is None:
            hi = mid
        else:
            lo = mid
    return hi - n
