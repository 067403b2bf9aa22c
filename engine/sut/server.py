"""The embedded demo "system under test" behind `surge sut`.

A load tester needs something to point at that is never the bottleneck, behaves
identically on every machine and can be told to misbehave on cue (latency, errors,
stalls). Frameworks cost 5-10x what a raw `asyncio.Protocol` + `httptools` costs per
request (see docs/ARCHITECTURE.md), so this server is hand-rolled: one protocol object per
connection, prebuilt bytes for the hottest responses, timers instead of sleeping
tasks for delays.

Everything here is deterministic where tests need to count (error injection uses an
integer schedule, not `random`), and bounded where a long soak test could otherwise
grow memory (tokens and jobs live in capped LRU-style dicts).

The parts, one job each: config (SutConfig), app (routing and faults), routes (the
handlers), protocol (one connection), faults, state, tls.
"""

from __future__ import annotations

import asyncio

from engine import serve
from engine.addresses import url_of
from engine.sut.app import App
from engine.sut.config import SutConfig
from engine.sut.protocol import HttpProtocol
from engine.sut.tls import server_context

__all__ = ["SutServer", "serve_forever"]


class SutServer:
    """The demo SUT as an object, for tests and for in-process demos.

    `async with SutServer(cfg) as srv:` binds on enter (so `srv.port` is real even
    when cfg.port is 0) and closes every connection on exit.
    """

    def __init__(self, cfg: SutConfig | None = None) -> None:
        self.cfg = cfg or SutConfig()
        self._server: asyncio.Server | None = None
        self._conns: set[HttpProtocol] = set()
        self._app: App | None = None
        self.port: int = self.cfg.port
        self.host: str = self.cfg.host

    @property
    def url(self) -> str:
        return url_of(self.host, self.port, "https" if self.cfg.tls_cert else "http")

    @property
    def started_at(self) -> float:
        """Loop time of `start()`; stall windows are measured from here."""
        if self._app is None:
            raise RuntimeError("server not started")
        return self._app.started_at

    async def start(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        conns = self._conns
        app = App(self.cfg, loop, conns)
        tls = server_context(self.cfg.tls_cert, self.cfg.tls_key) if self.cfg.tls_cert else None
        self._server = await loop.create_server(
            lambda: HttpProtocol(app, conns),
            self.cfg.host,
            self.cfg.port,
            reuse_address=True,
            backlog=4096,
            ssl=tls,
        )
        self._app = app
        sockets = self._server.sockets
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self._conns):
            conn.close()
        await server.wait_closed()

    async def __aenter__(self) -> SutServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def serve_forever(cfg: SutConfig) -> int:
    """Run the SUT until SIGINT/SIGTERM; the stdout line announces the bound port."""
    return serve.serve_forever(
        SutServer(cfg), "surge sut", lambda s: f"surge sut listening on {s.url}"
    )
