"""The proxy's JSON admin API (weights, instances, routes, mirror, stats), on its own address.

Only its user may steer it. A web page in the user's browser can reach loopback, so
each request must show it is not a browser's: no `Origin` (nor a cross-site
`Sec-Fetch-Site`), a `Host` naming this very address (DNS rebinding gives a foreign
name), a JSON content type on any body (a form or `fetch` without preflight can only
send text/plain, urlencoded or multipart), and only the documented methods. With a
token configured (required off loopback) every request needs `Authorization: Bearer`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import TYPE_CHECKING, Any

import httptools

from engine.deploy.strategies import COLORS
from engine.errors import ConfigError
from engine.proxy.http1 import CRLF, MAX_HEAD, is_own
from engine.proxy.mirror import mirror_from_dict
from engine.proxy.routing import route_from_dict

if TYPE_CHECKING:
    from engine.proxy.server import Proxy

__all__ = ["MAX_ADMINS", "ROUTES", "AdminConnection"]

#: Admin connections at once; the API has a handful of clients (a shell, the driver).
MAX_ADMINS = 64

#: The documented methods per route; anything else is a 405 with `Allow`.
ROUTES: dict[str, tuple[str, ...]] = {
    "/weights": ("GET", "PUT"),
    "/instances": ("GET", "PUT", "POST"),
    "/routes": ("GET", "PUT"),
    "/mirror": ("GET", "PUT"),
    "/stats": ("GET",),
    "/": ("GET",),
}
#: Head plus body of one admin request; the API's bodies are a few dozen bytes.
MAX_REQUEST = MAX_HEAD + 65536

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    415: b"Unsupported Media Type",
}


class AdminConnection(asyncio.Protocol):
    """Plain JSON over HTTP/1.1 on its own address, so no route can clash with the SUT's.

    GET /weights, PUT /weights {"blue": 90, "green": 10}, GET /instances,
    PUT /instances {"blue": [0, 1], "green": [0]} (which are in service),
    POST /instances {"color": "green", "url": "http://127.0.0.1:8083"} (a new one; with
    "tag": "baseline", its answers say `x-surge-upstream: baseline`),
    PUT /routes {"routes": [{"header": "x-beta", "value": "1", "color": "green"}]} (cohort
    routes, first match wins; Route.as_dict's shape), PUT /mirror {"percent": 100,
    "methods": ["GET", "HEAD", "OPTIONS"]}, and GET of each; GET /stats.
    `head_state`, `ticks` and `seen` are read by the proxy's sweep (timeouts).
    """

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body = bytearray()
        self.headers: dict[bytes, list[bytes]] = {}
        self.size = 0
        self.head_state = 1  # 1: waiting for a request, 2: inside one, 0: between
        self.ticks = 0
        self.seen = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if len(self.proxy.admins) >= MAX_ADMINS:
            transport.close()
            self.transport = None
            return
        self.proxy.admins.add(self)

    def data_received(self, data: bytes) -> None:
        self.seen = True
        self.size += len(data)
        if self.size > MAX_REQUEST:
            self._reply(413, {"error": "admin request too large"}, close=True)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._reply(400, {"error": "bad request"}, close=True)

    def on_message_begin(self) -> None:
        self.url = b""
        self.body = bytearray()
        self.headers = {}
        self.head_state = 2
        self.ticks = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.setdefault(name.lower(), []).append(value.strip())

    def on_headers_complete(self) -> None:
        self.head_state = 0

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        path = self.url.decode("latin-1").split("?", 1)[0].rstrip("/") or "/"
        status, payload = self.refusal(method, path)
        if status == 0:
            status, payload = self.handle(method, path, bytes(self.body))
        extra = b""
        if status == 405:
            extra = b"allow: " + ", ".join(ROUTES[path]).encode() + CRLF
        elif status == 401:
            extra = b'www-authenticate: Bearer realm="surge proxy admin"\r\n'
        self.size = 0
        self._reply(status, payload, close=not self.parser.should_keep_alive(), extra=extra)

    def refusal(self, method: str, path: str) -> tuple[int, Any]:
        """(0, None) for a request from the user's own tools, else the status and why."""
        h = self.headers
        hosts = h.get(b"host", [])
        if len(hosts) != 1:
            return 400, {"error": "exactly one Host header is required"}
        proxy = self.proxy
        if not is_own(hosts[0], proxy.admin_authorities, proxy.admin_port):
            return 403, {"error": "Host does not name this admin address"}
        site = h.get(b"sec-fetch-site", [b"none"])[0].lower()
        if b"origin" in h or site != b"none":
            return 403, {"error": "browser requests are refused (the admin API has no web UI)"}
        token = proxy.config.admin_token
        if token is not None:
            scheme, _, given = h.get(b"authorization", [b""])[0].partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(
                given.strip(), token.encode()
            ):
                return 401, {"error": "Authorization: Bearer TOKEN required"}
        if path not in ROUTES:
            return 404, {"error": f"no route {path}", "routes": sorted(ROUTES)}
        if method not in ROUTES[path]:
            return 405, {"error": f"{method} not allowed on {path}"}
        if self.body or self.parser.get_method() in (b"PUT", b"POST"):
            ctype = h.get(b"content-type", [b""])[0].split(b";", 1)[0].strip().lower()
            if ctype != b"application/json":
                return 415, {"error": "the body must be Content-Type: application/json"}
        return 0, None

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        proxy = self.proxy
        if path == "/":
            return 200, {"proxy": proxy.url, "routes": sorted(ROUTES)}
        if path == "/stats":
            return 200, {**proxy.stats_dict(), "weights": proxy.weights.as_dict()}
        if method == "GET":
            if path == "/weights":
                return 200, proxy.weights.as_dict()
            if path == "/routes":
                return 200, routes_dict(proxy)
            if path == "/mirror":
                return 200, mirror_dict(proxy)
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
            if path == "/routes":
                routes = data.get("routes")
                if set(data) != {"routes"} or not isinstance(routes, list):
                    return 400, {"error": 'expected {"routes": [{"header": NAME, ...}, ...]}'}
                proxy.set_routes(tuple(route_from_dict(r) for r in routes))
                return 200, routes_dict(proxy)
            if path == "/mirror":
                proxy.set_mirror(mirror_from_dict(data))
                return 200, mirror_dict(proxy)
            if method == "POST":
                if not {"color", "url"} <= set(data) <= {"color", "url", "tag"}:
                    return 400, {"error": 'expected {"color": "green", "url": "http://HOST:PORT"}'}
                inst = proxy.add_instance(data["color"], data["url"], data.get("tag"))
                return 200, inst.as_dict()
            proxy.set_in_service(data)
            return 200, proxy.instances()
        except ConfigError as exc:
            return 400, {"error": exc.message}

    def timed_out(self) -> None:
        """From the sweep: a request head too slow (408), or an idle keep-alive (closed)."""
        if self.head_state == 2:
            self._reply(408, {"error": "request head too slow"}, close=True)
        elif self.transport is not None:
            self.transport.close()

    def _reply(self, status: int, payload: Any, *, close: bool, extra: bytes = b"") -> None:
        t = self.transport
        if t is None:
            return
        body = json.dumps(payload).encode()
        head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
            status,
            _REASONS.get(status, b"Error"),
            len(body),
        )
        head += extra
        if close:
            head += b"connection: close\r\n"
        t.write(head + CRLF + body)
        if close:
            t.close()
            self.transport = None
            self.proxy.admins.discard(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.proxy.admins.discard(self)


def routes_dict(proxy: Proxy) -> dict[str, Any]:
    table = proxy.routes
    return {"routes": [r.as_dict() for r in (table.routes if table is not None else ())]}


def mirror_dict(proxy: Proxy) -> dict[str, Any]:
    mirror = proxy.mirrorer.mirror
    return {"percent": mirror.percent, "methods": list(mirror.methods)}
