"""The deploy driver's mirror book: a mirror step's pairs, from the router's counters.

The router counts the pairs it compared since it started (`Router.mirror_stats`,
engine.deploy.strategies.traffic.MirrorCounts); a window is the counters now minus at
the window's start, as the window book does for the load's figures. Read in the
background, at most one request in flight, only while a mirror is on. A router that
cannot compare pairs (None: Envoy drops the shadow's answers) leaves `window()` None,
and the step judges green's own figures (engine.deploy.strategies.steps.judge_mirror):
the router's counters for green (`green_window`), since the load's requests never
reach green at 100:0 and the copies' answers never reach the load.
"""

from __future__ import annotations

import asyncio
import contextlib

from engine.deploy.marks import Mark, p99_of
from engine.deploy.router_figures import RouterFigures
from engine.deploy.routers import Router, RouterError
from engine.deploy.strategies import MirrorFigures
from engine.deploy.strategies.traffic import MirrorCounts

__all__ = ["MirrorBook", "mirror_figures"]


class MirrorBook:
    """The router's mirror counters, last read, and at the window's start."""

    def __init__(self, router: Router | None) -> None:
        self.router = router
        self.supported = True  # False once the router said it cannot compare pairs
        self.error: str | None = None
        self._now: MirrorCounts | None = None
        self._base: MirrorCounts | None = None  # None: the next reading is the base
        self._task: asyncio.Task[None] | None = None
        self._own: RouterFigures | None = None  # green's own counters (no pairs)
        self._own_base: Mark | None = None

    def poll(self) -> None:
        """Read the counters in the background (a no-op while a read is in flight)."""
        if self.router is None or not self.supported:
            return
        if self._task is not None and not self._task.done():
            return
        with contextlib.suppress(RuntimeError):  # no running loop: keep the last reading
            self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.router is not None
        try:
            counts = await self.router.mirror_stats()
        except (RouterError, OSError) as exc:
            self.error = str(exc) or type(exc).__name__
            return
        self.error = None
        if counts is None:
            self.supported = False
            return
        self._now = counts
        if self._base is None:
            self._base = counts

    def new_window(self) -> None:
        """The window starts now: from the last reading (exact while the mirror was off),
        or from the next one when there is none yet."""
        self._base = self._now
        self._own_base = None

    def green_window(self, t: float) -> Mark | None:
        """Green's own requests and errors in the window, from the router's counters (the
        copies included), when the router compares no pairs; None while it may."""
        if self.supported or self.router is None:
            return None
        if self._own is None:
            self._own = RouterFigures(self.router)
        mark = self._own(None, "green", t)
        if self._own_base is None:
            self._own_base = mark
        return mark.since(self._own_base)

    def window(self) -> MirrorCounts | None:
        """The pairs since the window's start (None: no reading, or no pairs to compare)."""
        if not self.supported or self._now is None or self._base is None:
            return None
        return self._now.since(self._base)

    async def aclose(self) -> None:
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        if self._own is not None:
            await self._own.aclose()


def mirror_figures(counts: MirrorCounts) -> MirrorFigures:
    """A mirror window as the figures a mirror step judges: the pairs that differ as
    failures, each color's p99 on the same requests."""
    differ = counts.errors + counts.status_mismatch + counts.body_mismatch
    return MirrorFigures(
        requests=counts.mirrored,
        failed=min(differ, counts.mirrored),
        p99_ms=p99_of(counts.green),
        counts=dict(counts.green),
        errors=counts.errors,
        status_mismatch=counts.status_mismatch,
        body_mismatch=counts.body_mismatch,
        blue_p99_ms=p99_of(counts.blue),
    )
