"""The downstream side: one protocol object per client connection.

Routing is per request, not per connection: load generators keep connections open
for minutes, so per-connection routing would freeze the split at connect time.
Pipelined requests are answered strictly in order, one in flight upstream at a time.

RFC 9112 at the door: exactly one well-formed Host (else 400; HTTP/1.0 may omit it),
absolute-form targets (`GET http://host/path`) rewritten to origin form when they
name this proxy and refused otherwise (it is not a forward proxy), and every header
named in `Connection` dropped with the fixed hop-by-hop ones. The checks cost the
fast path an equality and a byte compare: a connection's Host is validated once
while it stays the same.

Slow clients: a request head (from connect, or from its first byte) must be complete
within `header_timeout` (the sweep answers 408 and closes), and a head larger than
MAX_HEAD gets a 431 even while it is still arriving, so httptools never buffers more
than MAX_HEAD plus one read.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

import httptools

from engine.proxy.exchange import Exchange
from engine.proxy.http1 import (
    CONTINUE,
    CRLF,
    HOST_RE,
    HTTP11_TAIL,
    MAX_BODY,
    MAX_HEAD,
    MAX_PIPELINE,
    REQ_SKIP,
    connection_options,
    drop_headers,
    is_own,
    local_response,
)
from engine.proxy.routing import choose_color

if TYPE_CHECKING:
    from engine.proxy.server import Proxy

__all__ = ["ClientConnection"]


class ClientConnection(asyncio.Protocol):
    """One client connection: parses requests, routes each, writes responses in order."""

    __slots__ = (
        "_began_now",
        "_body",
        "_body_size",
        "_cohort",
        "_conn_opts",
        "_cookie",
        "_expect",
        "_framed",
        "_good_host",
        "_head",
        "_head_bytes",
        "_head_size",
        "_host",
        "_hosts",
        "_odd",
        "_override",
        "_picked",
        "_problem",
        "_problem_sent",
        "_url",
        "_vals",
        "_want",
        "head_state",
        "head_ticks",
        "idle_ticks",
        "parser",
        "proxy",
        "queue",
        "read_paused",
        "seen",
        "transport",
        "write_paused",
    )

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[Exchange] = deque()
        self.read_paused = False
        self.write_paused = False
        self.seen = True
        self.idle_ticks = 0
        self._picked = False
        self._problem_sent = False
        self._head = bytearray()
        self._body: list[bytes] = []
        self._good_host = b"\0"  # the last Host value that passed, per connection
        self._odd = True  # so that on_message_begin sets the uncommon fields too
        self.on_message_begin()
        self.head_state = 1  # 1: connected, no byte yet; 2: inside a request head; 0: neither

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        proxy = self.proxy
        if len(proxy.clients) >= proxy.max_clients and not proxy.evict(1):
            transport.write(local_response(503, "too many connections", None, close=True))  # type: ignore[attr-defined]
            transport.close()
            self.transport = None
            return
        proxy.clients[self] = None

    def data_received(self, data: bytes) -> None:
        self.seen = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # answered 501 in on_message_complete
        except httptools.HttpParserError as exc:
            if self.transport is not None and not self._problem_sent:
                self._problem_sent = True
                self._reject(400, f"bad request: {exc}")
            return
        if self.head_state == 2:  # this read ended inside a request head: bound it
            if self._began_now:
                self._began_now = False
            else:
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD and not self._problem_sent:
                    self._problem_sent = True
                    self._reject(431, "request head too large")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.proxy.clients.pop(self, None)
        queue = self.queue
        for ex in queue:
            ex.cancelled = True
        if queue and queue[0].up is not None:
            queue[0].up.abandon()
        queue.clear()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.queue and self.queue[0].up is not None:
            self.queue[0].up.pause()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.queue and self.queue[0].up is not None:
            self.queue[0].up.resume()

    # httptools callbacks
    def on_message_begin(self) -> None:
        """Per request: the fields every request sets; the uncommon ones (`_odd`: a
        problem, a body, a pin, a header the proxy consumes or the routes read) only
        after a request that set one of them."""
        self._url = b""
        self._head.clear()
        self._head_size = 0
        self._want = self.proxy.wanted  # the header names routes or stickiness read
        self._hosts = 0
        self._host = b""
        self.head_state = 2
        self.head_ticks = 0
        self._head_bytes = 0
        self._began_now = True
        if self._odd:
            self._odd = False
            self._body.clear()
            self._body_size = 0
            self._override: bytes | None = None
            self._cookie: bytes | None = None
            self._vals: dict[bytes, bytes] | None = None  # the first values of _want's
            self._cohort: bytes | None = None
            self._conn_opts: set[bytes] | None = None
            self._framed = False
            self._expect = False
            self._problem: tuple[int, str] | None = None

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        if self._head_size > MAX_HEAD:
            self._odd = True
            self._problem = (414, "request URL too long")
            return
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        if self._head_size > MAX_HEAD:
            if self._problem is None:
                self._odd = True
                self._problem = (431, "request head too large")
            return
        n = name.lower()
        if n in REQ_SKIP:
            self._odd = True
            if n == b"x-surge-color":
                self._override = value.strip().lower()
            elif n == b"content-length" or n == b"transfer-encoding":
                self._framed = True
            elif n == b"expect":
                self._expect = value.strip().lower() == b"100-continue"
            elif n == b"connection":
                named = connection_options(value)
                if named:
                    self._conn_opts = (self._conn_opts or set()).union(named)
            return
        if n == b"host":
            self._hosts += 1
            self._host = value
        elif n in self._want:
            self._odd = True
            if n == b"cookie":
                old = self._cookie
                self._cookie = value if old is None else old + b"; " + value
            elif self._vals is None:
                self._vals = {n: value}
            else:
                self._vals.setdefault(n, value)
        head = self._head  # in-place appends: no temporary bytes per header
        head += name
        head += b": "
        head += value
        head += CRLF

    def on_headers_complete(self) -> None:
        self.head_state = 0
        if self.parser.should_upgrade():
            self._odd = True
            self._problem = (501, "protocol upgrade (e.g. WebSocket) is not supported")
        elif self._expect and self._problem is None and not self.queue:
            self.send(CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._odd = True
        self._body_size += len(body)
        if self._body_size > MAX_BODY and self._problem is None:
            self._problem = (413, f"request body larger than {MAX_BODY} bytes")
        if self._problem is None:
            self._body.append(body)

    def on_message_complete(self) -> None:
        p = self.parser
        method = p.get_method()
        proxy = self.proxy
        url = self._url
        if (
            not self._odd
            and proxy.routes is None
            and self._host == self._good_host
            and url[:1] == b"/"
            and self._hosts == 1
        ):
            # The common request: no body, pin, cookie, route, Connection header or
            # problem, the connection's Host already checked: weights pick the color.
            color = proxy.picker.pick()
            keep = p.should_keep_alive()  # without a Connection header, False is 1.0's
            ex = Exchange(
                self,
                color,
                b"".join((method, b" ", url, HTTP11_TAIL, self._head, CRLF)),
                keep,
                not keep and p.get_http_version() == "1.0",
                method == b"HEAD",
            )
            ex.set_cookie = proxy.sticky
            if proxy.mirroring and color == 0:
                ex.pair = proxy.mirrorer.take(method, url, ex.data, False)
            proxy.stats_by_index[color].requests += 1
            queue = self.queue
            queue.append(ex)
            if len(queue) == 1:
                proxy.dispatch(ex)
            elif len(queue) >= MAX_PIPELINE:
                self._pipeline_full()
            return
        problem = self._problem
        if problem is not None:
            ex = Exchange(self, -1, b"")
            ex.local = local_response(problem[0], problem[1], None, close=True)
            ex.close_after = True
            self._enqueue(ex)
            return
        if (
            self._host != self._good_host
            or self._url[:1] != b"/"
            or self._conn_opts is not None
            or self._hosts != 1
        ):
            problem = self._irregular(method)
            if problem is not None:
                ex = Exchange(self, -1, b"")
                ex.local = local_response(problem[0], problem[1], None, close=True)
                ex.close_after = True
                self._enqueue(ex)
                return
        color = self._route()
        if color < 0:
            ex = Exchange(self, -1, b"")
            ex.local = local_response(400, "x-surge-color must be blue or green", None, close=False)
            ex.keep_alive = p.should_keep_alive()
            self._enqueue(ex)
            return
        body = b"".join(self._body) if self._body else b""
        length = b"content-length: %d\r\n" % len(body) if (body or self._framed) else b""
        data = b"%s %s%s%s%s\r\n%s" % (method, self._url, HTTP11_TAIL, self._head, length, body)
        version = p.get_http_version()
        ex = Exchange(self, color, data, p.should_keep_alive(), version == "1.0", method == b"HEAD")
        ex.needs_host = not self._hosts
        ex.set_cookie = self._picked and proxy.config.sticky
        ex.cohort = self._cohort
        if proxy.mirroring and color == 0:
            ex.pair = proxy.mirrorer.take(method, self._url, data, ex.needs_host)
        proxy.stats_by_index[color].requests += 1
        self._enqueue(ex)

    # ours
    def _irregular(self, method: bytes) -> tuple[int, str] | None:
        """RFC 9112 3.2 off the fast path: Host, absolute-form, Connection-named headers.

        Returns the 400 to give, or None once the request is fit to forward (the target
        rewritten to origin form, Host set to its authority, named headers dropped).
        """
        hosts = self._hosts
        if hosts > 1:
            return 400, "more than one Host header"
        if hosts == 1:
            if not HOST_RE.fullmatch(self._host.strip()):
                return 400, "empty or malformed Host header"
            self._good_host = self._host
        elif self.parser.get_http_version() != "1.0":
            return 400, "an HTTP/1.1 request needs a Host header"
        drop: set[bytes] = set(self._conn_opts or ())
        new_host: bytes | None = None
        url = self._url
        if url[:1] != b"/" and not (url == b"*" and method == b"OPTIONS"):
            try:
                u = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                return 400, "bad request target"
            if u.schema is None or u.schema.lower() != b"http" or not u.host or u.userinfo:
                return 400, "bad request target (origin-form /path or http://this-proxy/path)"
            host = b"[%s]" % u.host if b":" in u.host else u.host
            authority = host if u.port is None else b"%s:%d" % (host, u.port)
            proxy = self.proxy
            if not is_own(authority, proxy.own_authorities, proxy.port):
                return 400, "absolute-form target names another host: this is not a forward proxy"
            self._url = (u.path or b"/") + (b"?" + u.query if u.query else b"")
            drop.add(b"host")
            new_host = authority  # RFC 9112 3.2.2: the target's host, not the Host header
        if drop:
            self._head = bytearray(drop_headers(self._head, drop))
        if new_host is not None:
            self._hosts = 1
            self._head += b"host: " + new_host + CRLF
        return None

    def head_timed_out(self) -> None:
        """From the sweep: the head was not complete within the header timeout."""
        if self.head_state == 2 and not self._problem_sent:
            self._problem_sent = True
            self._reject(408, "request head not complete in time")
        else:
            self.close()

    def _route(self) -> int:
        """The header pin, then cohort routes, then the sticky cookie (while its color
        has weight), then the weights (engine.proxy.routing)."""
        proxy = self.proxy
        cookie = self._cookie
        table = proxy.routes
        if table is not None and self._override is None:
            hit = table.match(self._vals, cookie, self._url)
            if hit is not None:
                self._picked = False
                self._odd = True  # a query route keeps no header: reset _cohort next time
                self._cohort = hit.cohort
                return hit.color
        if cookie is not None and not proxy.config.sticky:
            cookie = None  # kept for a cookie route only
        color, self._picked = choose_color(self._override, cookie, proxy.weights, proxy.picker)
        return color

    def _enqueue(self, ex: Exchange) -> None:
        queue = self.queue
        queue.append(ex)
        if len(queue) == 1:
            self.proxy.dispatch(ex)
        elif len(queue) >= MAX_PIPELINE:
            self._pipeline_full()

    def _pipeline_full(self) -> None:
        if not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    def _reject(self, status: int, message: str) -> None:
        """An unparseable request: answer after what is in flight, then close."""
        ex = Exchange(self, -1, b"")
        ex.local = local_response(status, message, None, close=True)
        ex.close_after = True
        if self.transport is not None and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()
        self._enqueue(ex)

    def send(self, data: bytes) -> None:
        t = self.transport
        if t is not None:
            t.write(data)

    def exchange_done(self, ex: Exchange) -> None:
        queue = self.queue
        if queue and queue[0] is ex:
            queue.popleft()
        t = self.transport
        if t is None:
            return
        if ex.close_after or not ex.keep_alive:
            for rest in queue:
                rest.cancelled = True
            queue.clear()
            t.close()
            return
        if queue:
            self.proxy.dispatch(queue[0])
        elif self.read_paused:
            self.read_paused = False
            t.resume_reading()

    def close(self) -> None:
        t = self.transport
        if t is not None:
            if t.get_write_buffer_size():
                t.abort()
            else:
                t.close()
