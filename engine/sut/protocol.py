"""One HTTP/1.1 connection of the demo SUT: parse with httptools, answer in order.

Timers instead of sleeping tasks for delays, and prebuilt bytes for `GET /`: the SUT
must never be the bottleneck of the load test pointed at it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

import httptools

from engine.sut.app import App
from engine.sut.messages import JSON, Request

__all__ = ["MAX_BODY", "HttpProtocol"]

#: Request bodies beyond this are refused (413): the SUT must not be a memory sink.
MAX_BODY = 1 << 20
#: Pipelined requests waiting on one connection before we stop reading from it.
_PENDING_HIGH = 1024
_PENDING_LOW = 256


class _Slot:
    """One response waiting for its turn; pipelined replies must leave in order."""

    __slots__ = ("close", "data", "handle", "ready")

    def __init__(self, data: bytes, close: bool) -> None:
        self.data = data
        self.close = close
        self.ready = False
        self.handle: asyncio.TimerHandle | None = None


class HttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: parse with httptools, answer in request order."""

    __slots__ = (
        "_app",
        "_auth",
        "_body",
        "_closing",
        "_conns",
        "_ctype",
        "_mode",
        "_parser",
        "_paused",
        "_pending",
        "_too_large",
        "_transport",
        "_url",
    )

    def __init__(self, app: App, conns: set[HttpProtocol]) -> None:
        self._app = app
        self._conns = conns
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._pending: deque[_Slot] = deque()
        self._closing = False
        self._paused = 0  # bit 1: peer not reading, bit 2: too many pending requests
        self._url = b""
        self._body = b""
        self._ctype: bytes | None = None
        self._auth: bytes | None = None
        self._mode = 0
        self._too_large = False

    @property
    def inflight(self) -> int:
        """Requests of this connection received and not yet answered (/metrics)."""
        return len(self._pending)

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only look-alikes.
        self._transport = cast(asyncio.Transport, transport)
        self._conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._conns.discard(self)
        self._closing = True
        for slot in self._pending:
            if slot.handle is not None:
                slot.handle.cancel()
        self._pending.clear()
        self._transport = None

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No upgrades here; the request itself was answered, then we hang up.
            self._finish_after_pending()
        except httptools.HttpParserError:
            self._enqueue(
                self._app.encode(400, b'{"error":"bad request"}', JSON, b"", 2), 0.0, True
            )

    def pause_writing(self) -> None:
        self._set_paused(1, True)

    def resume_writing(self) -> None:
        self._set_paused(1, False)

    def _set_paused(self, bit: int, on: bool) -> None:
        """Stop reading while the peer is not draining responses: bounded buffers."""
        before = self._paused
        self._paused = before | bit if on else before & ~bit
        t = self._transport
        if t is None or self._closing:
            return
        if before == 0 and self._paused:
            t.pause_reading()
        elif before and self._paused == 0:
            t.resume_reading()

    # -- httptools callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._body = b""
        self._ctype = None
        self._auth = None
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        n = name.lower()
        if n == b"authorization":
            self._auth = value
        elif n == b"content-type":
            self._ctype = value

    def on_headers_complete(self) -> None:
        p = self._parser
        ka = p.should_keep_alive()
        self._mode = 2 if not ka else (1 if p.get_http_version() == "1.0" else 0)

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        if len(self._body) + len(body) > MAX_BODY:
            self._too_large = True
            self._body = b""
            return
        self._body += body

    def on_message_complete(self) -> None:
        if self._closing:
            return
        app = self._app
        app.requests += 1
        url = self._url
        method = self._parser.get_method()
        mode = self._mode
        # Hot path: a plain GET / with no faults configured costs one dict lookup.
        if url == b"/" and method == b"GET" and app.root_fast and not self._pending:
            self._transport.write(app.root_responses[mode])  # type: ignore[union-attr]
            if mode == 2:
                self._finish_after_pending()
            return
        if self._too_large:
            data = app.encode(413, b'{"error":"body too large"}', JSON, b"", 2)
            self._enqueue(data, 0.0, True)
            return
        path, _, query = url.decode("latin-1").partition("?")
        head = method == b"HEAD"  # answered as GET, announcing the body but never sending it
        req = Request(b"GET" if head else method, path, query, self._ctype, self._auth, self._body)
        status, body, ctype, extra, delay = app.handle(req)
        data = app.encode(status, body, ctype, extra, mode)
        if head:
            data = data[: data.index(b"\r\n\r\n") + 4]
        self._enqueue(data, delay, mode == 2)

    # -- ordered output -----------------------------------------------------------------

    def _enqueue(self, data: bytes, delay: float, close: bool) -> None:
        t = self._transport
        if t is None:
            return
        if close:
            self._closing = True
        if delay <= 0.0 and not self._pending:
            t.write(data)
            if close:
                t.close()
            return
        slot = _Slot(data, close)
        self._pending.append(slot)
        if delay <= 0.0:
            slot.ready = True
        else:
            slot.handle = self._app.loop.call_later(delay, self._ready, slot)
        if len(self._pending) >= _PENDING_HIGH:
            self._set_paused(2, True)

    def _ready(self, slot: _Slot) -> None:
        slot.ready = True
        slot.handle = None
        self._flush()

    def _flush(self) -> None:
        t = self._transport
        pending = self._pending
        while pending and pending[0].ready and t is not None:
            slot = pending.popleft()
            t.write(slot.data)
            if slot.close:
                t.close()
                return
        if len(pending) <= _PENDING_LOW and self._paused & 2:
            self._set_paused(2, False)
        if not pending and self._closing and t is not None:
            t.close()

    def _finish_after_pending(self) -> None:
        self._closing = True
        if not self._pending and self._transport is not None:
            self._transport.close()

    def close(self) -> None:
        """Server shutdown: drop the connection now (in-flight delayed replies are lost).

        A peer that stopped reading would keep a graceful close (and so shutdown)
        waiting forever, so such connections are aborted instead.
        """
        t = self._transport
        if t is None:
            return
        self._closing = True
        if t.get_write_buffer_size():
            t.abort()
        else:
            t.close()
