"""The proxy's JSON admin API (weights, instances in service, stats), on its own address."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import httptools

from engine.deploy.strategies import COLORS
from engine.errors import ConfigError
from engine.proxy.http1 import CRLF

if TYPE_CHECKING:
    from engine.proxy.server import Proxy

__all__ = ["AdminConnection"]


class AdminConnection(asyncio.Protocol):
    """Plain JSON over HTTP/1.1 on its own address, so no route can clash with the SUT's.

    GET /weights, PUT /weights {"blue": 90, "green": 10}, GET /instances,
    PUT /instances {"blue": [0, 1], "green": [0]} (which are in service), GET /stats.
    """

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.proxy.admins.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._reply(400, {"error": "bad request"}, close=True)

    def on_message_begin(self) -> None:
        self.url = b""
        self.body = bytearray()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        if len(self.body) + len(body) <= 65536:
            self.body += body

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        path = self.url.decode("latin-1").split("?", 1)[0].rstrip("/") or "/"
        status, payload = self.handle(method, path, bytes(self.body))
        self._reply(status, payload, close=not self.parser.should_keep_alive())

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        proxy = self.proxy
        routes: dict[str, tuple[str, ...]] = {
            "/weights": ("GET", "PUT", "POST"),
            "/instances": ("GET", "PUT", "POST"),
            "/stats": ("GET",),
            "/": ("GET",),
        }
        if path not in routes:
            return 404, {"error": f"no route {path}", "routes": sorted(routes)}
        if method not in routes[path]:
            return 405, {"error": f"{method} not allowed on {path}"}
        if path == "/":
            return 200, {"proxy": proxy.url, "routes": sorted(routes)}
        if path == "/stats":
            return 200, {**proxy.stats_dict(), "weights": proxy.weights.as_dict()}
        if method == "GET":
            if path == "/weights":
                return 200, proxy.weights.as_dict()
            return 200, proxy.instances()
        try:
            data = json.loads(body or b"null")
        except ValueError:
            return 400, {"error": "body must be JSON"}
        if not isinstance(data, dict):
            return 400, {"error": "body must be a JSON object"}
        try:
            if path == "/weights":
                unknown = set(data) - set(COLORS)
                if unknown or len(data) != 2:
                    return 400, {"error": 'expected {"blue": N, "green": M}'}
                return 200, proxy.set_weights(data["blue"], data["green"]).as_dict()
            proxy.set_in_service(data)
            return 200, proxy.instances()
        except ConfigError as exc:
            return 400, {"error": exc.message}

    def _reply(self, status: int, payload: Any, *, close: bool) -> None:
        t = self.transport
        if t is None:
            return
        body = json.dumps(payload).encode()
        head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
            status,
            {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed"}.get(
                status, b"Error"
            ),
            len(body),
        )
        if close:
            head += b"connection: close\r\n"
        t.write(head + CRLF + body)
        if close:
            t.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.proxy.admins.discard(self)
