"""`surge proxy --green srv://...`: the proxy keeps a color's pool equal to its registry.

An instance that appears joins the color's round robin; one that goes is taken out
of service (requests in flight on it finish: a drain) and never comes back under that
entry; if it reappears it is a new instance. Instances keep their index (rolling
strategies and `GET /instances` count by index), so a gone one stays listed, out of
service. Each change is one line on stdout; a registry that cannot be read keeps the
pool as it was and says so once.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from engine.discovery import Source
from engine.discovery.watcher import PoolWatcher, Resolved
from engine.proxy.upstreams import Instance

if TYPE_CHECKING:
    from engine.proxy.server import Proxy

__all__ = ["ProxyDiscovery"]


class ProxyDiscovery:
    def __init__(self, proxy: Proxy, color: str, source: Source) -> None:
        self.proxy = proxy
        self.color = color
        self.watcher = PoolWatcher(source, self._changed)

    async def start(self) -> None:
        """First lookup before the proxy says it listens; then watch."""
        await self._changed(await self.watcher.first())
        self.watcher.start()

    def _say(self, text: str) -> None:
        print(f"surge proxy: {self.color}: {text}", flush=True, file=sys.stdout)

    async def _changed(self, resolved: Resolved) -> None:
        if resolved.error is not None:
            self._say(resolved.error)
            return
        group = self.proxy.groups[0 if self.color == "blue" else 1]
        live = {(i.host, i.port): i for i in group.instances if i.in_service}
        for t in resolved.change.added:
            index = len(group.instances)
            group.instances.append(Instance(self.proxy, self.color, index, t.url, (t.host, t.port)))
            self._say(f"+ {t.address} ({self.watcher.source.describe()})")
        for t in resolved.change.removed:
            inst = live.get((t.host, t.port))
            if inst is not None:
                inst.in_service = False  # a drain: in-flight requests finish
                for up in inst.idle:
                    up.close()
                inst.idle.clear()
                self._say(f"- {t.address} drained (gone from the registry)")

    async def aclose(self) -> None:
        await self.watcher.aclose()
