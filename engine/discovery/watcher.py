"""Re-reading a pool's source for as long as a run goes, and reporting its changes."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from engine.discovery.diff import PoolChange, diff_pools
from engine.discovery.resolve import RegistryError, Resolution, resolve
from engine.discovery.sources import FileSource, Source, StaticSource, Target

__all__ = ["MAX_TTL_S", "MIN_TTL_S", "PoolWatcher", "Resolved", "next_check"]

MIN_TTL_S = 1.0  # a TTL of 0 must not become a DNS flood
MAX_TTL_S = 60.0  # a day-long TTL must not hide a new instance for a day
FILE_POLL_S = 1.0  # a file's mtime is checked this often


def next_check(ttl: float | None) -> float:
    """Seconds until the next look: the record's TTL within [MIN_TTL_S, MAX_TTL_S]."""
    if ttl is None:
        return FILE_POLL_S
    return min(max(ttl, MIN_TTL_S), MAX_TTL_S)


@dataclass(frozen=True)
class Resolved:
    """What one look found: the change (possibly none), or the error that kept the last
    good pool."""

    change: PoolChange
    targets: tuple[Target, ...]
    error: str | None = None


OnResolved = Callable[[Resolved], Awaitable[None] | None]


class PoolWatcher:
    """Looks up `source` now (`first()`), then again and again in a task (`start()`).

    `aclose()` cannot rely on the cancel alone: on Python 3.11, `asyncio.wait_for` (which
    dnspython wraps around every DNS read) swallows a cancel that lands just as the answer
    is in, so the task would look again every TTL and `aclose()` would wait forever. The
    `closed` flag ends the loop after such a lookup.
    """

    def __init__(self, source: Source, on_change: OnResolved | None = None) -> None:
        self.source = source
        self.on_change = on_change
        self.targets: tuple[Target, ...] = ()
        self.error: str | None = None  # the registry cannot be read: last good pool kept
        self.looks = 0
        self._stamp: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    async def look(self) -> tuple[Resolved, float]:
        """One lookup; the result and how long until the next one."""
        self.looks += 1
        if isinstance(self.source, FileSource) and self._stamp is not None:
            with contextlib.suppress(OSError):
                if os.stat(self.source.path).st_mtime == self._stamp and self.error is None:
                    return Resolved(PoolChange(), self.targets), FILE_POLL_S
        try:
            found: Resolution = await resolve(self.source)
        except RegistryError as exc:
            self.error = f"{exc}; keeping the last good pool of {len(self.targets)}"
            return Resolved(PoolChange(), self.targets, self.error), MIN_TTL_S
        self.error = None
        self._stamp = found.stamp
        change = diff_pools(self.targets, found.targets)
        self.targets = found.targets
        return Resolved(change, self.targets), next_check(found.ttl)

    async def first(self) -> Resolved:
        resolved, _ = await self.look()
        return resolved

    def start(self) -> None:
        if self._task is None and not isinstance(self.source, StaticSource):
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        wait = 0.0
        was_error: str | None = self.error
        while not self.closed:
            await asyncio.sleep(wait)
            resolved, wait = await self.look()
            if self.closed:  # closed during the lookup, its cancel swallowed (see the class)
                return
            if resolved.change or resolved.error != was_error:
                was_error = resolved.error
                if self.on_change is not None:
                    out = self.on_change(resolved)
                    if out is not None:
                        await out

    async def aclose(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
