"""Keeping a router's pool of one color equal to what its registry says.

Instances that appear are added (HAProxy `add server`, Envoy's endpoint file); those
that go are drained first (no new requests, requests in flight finish), then removed
once the router counts no session on them, or after `drain_timeout`. A registry that
cannot be read keeps the pool as it was. Every change is an event in the rollout's log
(the deploy panel, `surge run`'s output and the report's `[deploy]`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from engine.deploy.routers import Router, RouterError
from engine.deploy.routers.base import wait_drained
from engine.deploy.routers.pools import instance_name
from engine.deploy.strategies import EventKind
from engine.discovery import Source, Target
from engine.discovery.watcher import PoolWatcher, Resolved

__all__ = ["DRAIN_TIMEOUT_S", "DiscoverySync"]

DRAIN_TIMEOUT_S = 30.0

Note = Callable[[EventKind, str], None]


class DiscoverySync:
    """One color's registry, watched, applied to one router."""

    def __init__(
        self,
        router: Router,
        color: str,
        source: Source,
        note: Note,
        *,
        drain_timeout: float = DRAIN_TIMEOUT_S,
        apply: bool = True,
    ) -> None:
        self.router = router
        self.apply = apply  # False: the router follows the registry itself (surge proxy)
        self.color = color
        self.note = note
        self.drain_timeout = drain_timeout
        self.watcher = PoolWatcher(source, self._changed)
        self.draining: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def name(self, target: Target) -> str:
        return instance_name(self.color, target.host, target.port)

    async def start(self, known: tuple[Target, ...] = ()) -> None:
        """First look now (adding what the router lacks), then watch. `known`: the
        targets the router was started with, so they are not added twice."""
        self.watcher.targets = tuple(known)
        resolved = await self.watcher.first()
        await self._changed(resolved, first=True)
        self.watcher.start()

    async def _changed(self, resolved: Resolved, first: bool = False) -> None:
        what = self.watcher.source.describe()
        if resolved.error is not None:
            self.note(EventKind.REGISTRY_UNREACHABLE, f"{self.color}: {resolved.error}")
            return
        if not first and not resolved.change:
            self.note(EventKind.REGISTRY_BACK, f"{self.color}: {what} answers again")
            return
        if first:
            names = ", ".join(self.name(t) for t in resolved.targets) or "none"
            self.note(EventKind.POOL_FOUND, f"{self.color} from {what}: {names}")
        if not self.apply:  # only on record: the router applies the change itself
            for target in () if first else resolved.change.added:
                self.note(EventKind.INSTANCE_ADDED, f"{self.name(target)} ({what})")
            for target in resolved.change.removed:
                self.note(EventKind.INSTANCE_DRAINED, f"{self.name(target)}: gone from {what}")
            return
        for target in resolved.change.added:
            name = self.name(target)
            try:
                added = await self.router.add_instance(self.color, name, target.address)
            except RouterError as exc:
                self.note(EventKind.REGISTRY_UNREACHABLE, f"{self.color}: {exc}")
                continue
            if added:  # (the router may have had it already: started from the registry)
                self.note(EventKind.INSTANCE_ADDED, f"{name} ({what})")
        for target in resolved.change.removed:
            name = self.name(target)
            try:
                await self.router.drain_instance(self.color, name)
            except RouterError as exc:
                self.note(EventKind.REGISTRY_UNREACHABLE, f"{self.color}: {exc}")
                continue
            self.note(EventKind.INSTANCE_DRAINED, f"{name}: gone from {what}, draining")
            self.draining.add(name)
            task = asyncio.get_running_loop().create_task(self._remove_when_idle(name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _remove_when_idle(self, name: str) -> None:
        await wait_drained(self.router, [name], self.drain_timeout, fallback=0.0)
        try:
            await self.router.remove_instance(self.color, name)
        except RouterError as exc:
            self.note(EventKind.REGISTRY_UNREACHABLE, f"{self.color}: {exc}")
            return
        finally:
            self.draining.discard(name)
        self.note(EventKind.INSTANCE_REMOVED, f"{name}: drained and removed")

    async def aclose(self) -> None:
        await self.watcher.aclose()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
