"""Each color's figures from the router's own counters, for load that does not pass
through Surge (real users in front of HAProxy or Envoy while Surge steers it).

Routers count answers and errors per color (HAProxy `show stat`, Envoy `/stats`,
`surge proxy`'s `/stats`) but keep no histogram Surge can read, so a window judged on
them has requests and failures and no percentiles: latency bounds cannot fail on
them, and the report's `[deploy].notes` says so. Polled in the background on every
snapshot (at most one request in flight); counts are taken relative to the first
answer, so a router that has run for days does not weigh in its whole history.
"""

from __future__ import annotations

import asyncio
import contextlib

from engine.deploy.marks import Mark, RunFigures
from engine.deploy.routers import Router, RouterError

__all__ = ["RouterFigures"]


class RouterFigures:
    """A FiguresSource for the driver that ignores the run's figures."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.error: str | None = None
        self.source = ""
        self._base: dict[str, tuple[int, int]] | None = None
        self._now: dict[str, tuple[int, int]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def note(self) -> str:
        where = self.source or f"{self.router.kind}'s counters"
        return (
            f"figures from the router ({where}): load did not pass through Surge, so "
            "windows have requests and errors but no percentiles (latency bounds unjudged)"
        )

    def __call__(self, run: RunFigures | None, color: str, t: float) -> Mark:
        self._poll()
        requests, failed = self._now.get(color, (0, 0))
        return Mark(t, requests, failed, {})

    def _poll(self) -> None:
        if self._task is not None and not self._task.done():
            return
        with contextlib.suppress(RuntimeError):  # no running loop: keep the last figures
            self._task = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        try:
            stats = await self.router.stats()
        except (RouterError, OSError) as exc:
            self.error = str(exc)
            return
        self.error = None
        self.source = stats.source
        counts = {c: (s.requests, s.errors) for c, s in stats.colors.items()}
        if self._base is None:
            self._base = counts
        self._now = {
            c: (n - self._base.get(c, (0, 0))[0], e - self._base.get(c, (0, 0))[1])
            for c, (n, e) in counts.items()
        }

    async def aclose(self) -> None:
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
