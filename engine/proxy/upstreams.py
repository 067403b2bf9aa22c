"""Upstream pools: each instance's keep-alive connections, its health, and its counters.

A refused, reset or timed-out upstream marks its instance unhealthy; unhealthy
instances are skipped and probed every 0.5 s (GET /health, then GET / if there is no
/health) until they answer. When no healthy instance of the chosen color is left,
the request gets a 502 naming the color: it is not quietly sent to the other color,
because that would hide a broken green behind blue's figures, which is exactly what a
canary analysis must see.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import TYPE_CHECKING, Any

from engine.errors import classify
from engine.proxy.http1 import CRLF
from engine.proxy.upstream_conn import UpstreamConnection

if TYPE_CHECKING:
    from engine.proxy.exchange import Exchange
    from engine.proxy.server import Proxy

__all__ = ["ColorGroup", "ColorStats", "Instance", "probe"]


class ColorStats:
    """Counters per color; what `GET /stats` shows and the app cross-checks."""

    __slots__ = ("bad_gateway", "requests", "status", "truncated")

    def __init__(self) -> None:
        self.requests = 0
        self.status = [0] * 6  # index = status // 100
        self.bad_gateway = 0  # 502s the proxy made (also counted in status_5xx)
        self.truncated = 0  # responses cut short by an upstream failure mid-body

    def as_dict(self) -> dict[str, int]:
        s = self.status
        return {
            "requests": self.requests,
            "responses": sum(s),
            "status_2xx": s[2],
            "status_3xx": s[3],
            "status_4xx": s[4],
            "status_5xx": s[5],
            "bad_gateway": self.bad_gateway,
            "truncated": self.truncated,
        }


class Instance:
    """One upstream origin: its connection pool, health, and counters."""

    __slots__ = (
        "_probe",
        "color",
        "conns",
        "failures",
        "heads",
        "healthy",
        "host",
        "host_line",
        "idle",
        "in_service",
        "index",
        "last_error",
        "port",
        "proxy",
        "requests",
        "stats",
        "status_5xx",
        "tag",
        "tag_line",
        "url",
        "waiters",
    )

    def __init__(
        self,
        proxy: Proxy,
        color: str,
        index: int,
        url: str,
        addr: tuple[str, int],
        tag: str | None = None,
    ) -> None:
        self.proxy = proxy
        self.color = color
        self.tag = tag  # what x-surge-upstream says of its answers, when not the color
        self.tag_line = b"x-surge-upstream: " + (tag or color).encode() + CRLF
        self.index = index
        self.url = url
        self.host, self.port = addr
        self.host_line = f"host: {self.host}:{self.port}\r\n".encode("latin-1")
        self.healthy = True
        self.in_service = True
        self.idle: list[UpstreamConnection] = []
        #: Its response heads as received -> (status, head as forwarded): UpstreamConnection.
        self.heads: dict[bytes, tuple[int, bytes]] = {}
        self.conns = 0  # open or opening
        self.waiters: deque[Exchange] = deque()
        self.requests = 0
        self.failures = 0  # refused, reset, timed out or cut short: no whole answer
        self.status_5xx = 0  # whole answers with a 5xx status, from the instance itself
        self.last_error: str | None = None
        self.stats: ColorStats = proxy.stats[color]
        self._probe: asyncio.Task[None] | None = None

    def cohort_line(self, cohort: bytes) -> bytes:
        """`x-surge-upstream: green+beta`: a request a cohort route sent here."""
        return b"x-surge-upstream: %s+%s\r\n" % ((self.tag or self.color).encode(), cohort)

    def as_dict(self) -> dict[str, Any]:
        return {
            "color": self.color,
            "index": self.index,
            "url": self.url,
            "healthy": self.healthy,
            "in_service": self.in_service,
            "requests": self.requests,
            "failures": self.failures,
            "status_5xx": self.status_5xx,
            "connections": self.conns,
            "idle": len(self.idle),
            "in_flight": self.in_flight,
            "tag": self.tag,
            "last_error": self.last_error,
        }

    @property
    def in_flight(self) -> int:
        """Requests on their way to or from it: busy connections, and those waiting for one
        (a drain is over when this is 0)."""
        return max(0, self.conns - len(self.idle)) + len(self.waiters)

    # -- pool ---------------------------------------------------------------------------

    def submit(self, ex: Exchange) -> None:
        idle = self.idle
        while idle:
            up = idle.pop()
            if not up.closed:
                up.begin(ex, True)
                return
        if self.conns < self.proxy.config.max_conns:
            self.open(ex)
        else:
            self.waiters.append(ex)

    def open(self, ex: Exchange) -> None:
        self.conns += 1
        self.proxy.spawn(self._connect(ex))

    async def _connect(self, ex: Exchange) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.proxy.config.connect_timeout):
                _, up = await loop.create_connection(
                    lambda: UpstreamConnection(self), self.host, self.port
                )
        except (OSError, TimeoutError) as exc:
            self.conns -= 1
            if not ex.cancelled:
                self.proxy.upstream_failed(ex, self, classify(exc))
            self._serve_waiter()
            return
        up.attached = True
        if ex.cancelled:
            self.release(up)
        else:
            up.begin(ex, False)

    def release(self, up: UpstreamConnection) -> None:
        waiters = self.waiters
        while waiters:
            ex = waiters.popleft()
            if not ex.cancelled:
                up.begin(ex, True)
                return
        self.idle.append(up)

    def lost(self, up: UpstreamConnection) -> None:
        self.conns -= 1
        with contextlib.suppress(ValueError):
            self.idle.remove(up)
        self._serve_waiter()

    def _serve_waiter(self) -> None:
        while self.waiters and self.conns < self.proxy.config.max_conns:
            ex = self.waiters.popleft()
            if not ex.cancelled:
                self.open(ex)
                return

    # -- health -------------------------------------------------------------------------

    def mark_unhealthy(self, kind: str) -> None:
        self.last_error = kind
        if not self.healthy:
            return
        self.healthy = False
        for up in self.idle:
            up.close()
        self.idle.clear()
        if self._probe is None and not self.proxy.closing:
            self._probe = self.proxy.spawn(self._probe_until_healthy())

    async def _probe_until_healthy(self) -> None:
        try:
            while not self.healthy:
                await asyncio.sleep(self.proxy.config.probe_interval)
                if await probe(self.host, self.port, self.proxy.config.connect_timeout):
                    self.healthy = True
        finally:
            self._probe = None


async def _status_of(host: str, port: int, path: str, timeout: float) -> int | None:
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nhost: {host}:{port}\r\nconnection: close\r\n"
                "user-agent: surge-proxy-probe\r\n\r\n".encode("latin-1")
            )
            line = await reader.readline()
        parts = line.split()
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    except (OSError, TimeoutError, ValueError):
        return None
    finally:
        if writer is not None:
            writer.close()


async def probe(host: str, port: int, timeout: float) -> bool:
    """Healthy when GET /health (or, without one, GET /) answers below 500."""
    status = await _status_of(host, port, "/health", timeout)
    if status == 404:
        status = await _status_of(host, port, "/", timeout)
    return status is not None and status < 500


class ColorGroup:
    """One color's instances, balanced round-robin over the healthy, in-service ones."""

    __slots__ = ("cookie_line", "instances", "name", "rr")

    def __init__(self, name: str, instances: list[Instance]) -> None:
        self.name = name
        self.instances = instances
        self.rr = 0
        self.cookie_line = (
            b"set-cookie: surge_color=" + name.encode() + b"; Path=/; HttpOnly; SameSite=Lax\r\n"
        )

    def next_instance(self) -> Instance | None:
        insts = self.instances
        n = len(insts)
        if n == 1:  # the usual pool of one: no round to keep
            inst = insts[0]
            return inst if inst.healthy and inst.in_service else None
        i = self.rr
        for _ in range(n):
            inst = insts[i]
            i += 1
            if i == n:
                i = 0
            if inst.healthy and inst.in_service:
                self.rr = i
                return inst
        return None
