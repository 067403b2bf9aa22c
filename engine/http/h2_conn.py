"""HTTP/2 on the wire client's terms: one connection per VU, one stream at a time, as k6.

The protocol is python-hyper's `h2` (frames, HPACK, flow control, the state machines):
this module only moves bytes between it and a bare asyncio.Protocol, and times and
counts the exchange next to the socket as engine/http/wire.py does for HTTP/1.1. The
WireClient owns the connection and picks this class when TLS agrees on `h2` (ALPN), or
for `http://` with `--http2` (h2c with prior knowledge).

Limits as for HTTP/1.1: a header block over MAX_HEAD is "header too large" (h2's HPACK
decoder enforces it), a body is kept up to `max_body` (BodySink) while every DATA frame is
acknowledged at once, and the windows are opened to 16 MiB so a large body never waits on a
WINDOW_UPDATE. Anything h2 calls a protocol error fails the request as "protocol".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from time import perf_counter
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import H2Error
from h2.settings import SettingCodes, Settings
from hpack.exceptions import OversizedHeaderListError

from engine.http import errors
from engine.http.body import MAX_HEAD, BodySink, HeaderTooLarge
from engine.http.errors import ConnectionClosed, ProtocolError
from engine.http.request import Prepared
from engine.http.response import Response

if TYPE_CHECKING:
    from engine.http.wire import WireClient

WINDOW = 2**24  # per stream and per connection: a 1 MiB body streams without stalling
# Outbound headers are Surge's own, already checked and lowercased (`request_headers`);
# inbound ones are validated by h2 (a malformed response is a protocol error).
_CONFIG = H2Configuration(
    client_side=True,
    header_encoding=None,
    validate_outbound_headers=False,
    normalize_outbound_headers=False,
)
# Connection-specific headers have no place in HTTP/2 (RFC 9113 8.2.2); Host becomes
# :authority.
_NOT_H2 = frozenset({"connection", "keep-alive", "proxy-connection", "upgrade", "host", "te"})
_UPSTREAM = b"x-surge-upstream"


class H2Conn(asyncio.Protocol):
    """One HTTP/2 connection with at most one stream open, the interface of wire's `_Conn`
    (`submit`, `fut`, `closed`, `got_bytes`, `abort`, `close`); timings and byte counts go
    into the owning client. `got_bytes`: the stream's response headers came (a request that
    died before them on a connection the server closed is safe to retry)."""

    PROTO = "HTTP/2.0"  # as k6's `proto` tag says it

    __slots__ = (
        "_body",
        "_headers",
        "_loop",
        "_sink",
        "_status",
        "bytes_in",
        "client",
        "closed",
        "fut",
        "got_bytes",
        "h2",
        "stream_id",
        "transport",
    )

    def __init__(self, client: WireClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.h2 = H2Connection(_CONFIG)
        self.fut: asyncio.Future[Response] | None = None
        self.closed = False
        self.got_bytes = False
        self.bytes_in = 0  # since the last response: frames between two count in the next
        self.stream_id = 0
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._sink: BodySink | None = None
        self._body: memoryview | None = None  # what flow control has not let out yet

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()
        h2 = self.h2
        h2.local_settings = Settings(
            client=True,
            initial_values={
                SettingCodes.ENABLE_PUSH: 0,
                SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                SettingCodes.INITIAL_WINDOW_SIZE: WINDOW,
                SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEAD,
            },
        )
        # As httpcore does: servers that do not know this setting may refuse it.
        del h2.local_settings[SettingCodes.ENABLE_CONNECT_PROTOCOL]
        h2.decoder.max_header_list_size = MAX_HEAD
        h2.initiate_connection()
        h2.increment_flow_control_window(WINDOW - 65535)
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = perf_counter()  # the frames' arrival: first or last byte of the answer
        self.bytes_in += len(data)
        h2 = self.h2
        try:
            events = h2.receive_data(data)
            if _overlong(h2):
                h2.close_connection(ErrorCodes.FRAME_SIZE_ERROR)
                raise ProtocolError("a frame longer than SETTINGS_MAX_FRAME_SIZE")
        except (H2Error, ProtocolError) as exc:
            if isinstance(exc.__cause__, OversizedHeaderListError):
                self._fail(HeaderTooLarge(f"response headers over {MAX_HEAD} bytes"))
            else:
                self._fail(ProtocolError(f"bad HTTP/2: {exc}"))
            self._flush()  # h2's GOAWAY
            self.close()
            return
        sid = self.stream_id
        for ev in events:
            kind = type(ev)
            if kind is DataReceived:
                if ev.flow_controlled_length:
                    h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if ev.stream_id == sid and self._sink is not None:
                    self._sink.feed(ev.data)
            elif kind is ResponseReceived and ev.stream_id == sid:
                self._head(ev.headers, now)
            elif kind is StreamEnded and ev.stream_id == sid:
                self._end(now)
            elif kind is StreamReset and ev.stream_id == sid:
                self.got_bytes = True  # the server answered it: no retry
                self._fail(errors.StreamReset(f"stream reset: {_code(ev.error_code)}"))
            elif kind is ConnectionTerminated:
                self._goaway(ev)
            elif (kind is WindowUpdated or kind is RemoteSettingsChanged) and self._body:
                self._send_body()
        self._flush()
        if self.closed and self.fut is None:
            self.close()  # after a GOAWAY, once nothing is in flight

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc if isinstance(exc, OSError) else ConnectionClosed("connection closed"))

    # the exchange
    def submit(self, req: Prepared) -> asyncio.Future[Response]:
        """Open the request's stream; the future is its response."""
        fut = self._loop.create_future()
        h2 = self.h2
        client = self.client
        client.upstream = None
        self.got_bytes = False
        try:
            sid = self.stream_id = h2.get_next_available_stream_id()
            body = req.body
            h2.send_headers(sid, request_headers(req), end_stream=not body)
            self._body = memoryview(body) if body else None
            if body:
                self._send_body()
        except H2Error as exc:  # no stream id left, or the server's settings forbid it
            self.closed = True
            fut.set_exception(ProtocolError(f"cannot open an HTTP/2 stream: {exc}"))
            return fut
        self.fut = fut
        client.sent_at = perf_counter()
        self._flush()
        if self._body is None:
            client.written_at = perf_counter()  # k6's http_req_sending: the writes
        return fut

    def _send_body(self) -> None:
        """As much of the request body as the peer's windows allow; the rest waits for a
        WINDOW_UPDATE (or a SETTINGS that widens the window)."""
        h2, sid, body = self.h2, self.stream_id, self._body
        while body:
            n = min(len(body), h2.local_flow_control_window(sid), h2.max_outbound_frame_size)
            if n <= 0:
                break
            h2.send_data(sid, body[:n].tobytes(), end_stream=n == len(body))
            body = body[n:]
        if body:
            self._body = body
            return
        self._body = None
        self.client.written_at = perf_counter()

    def _head(self, headers: list[tuple[bytes, bytes]], now: float) -> None:
        client = self.client
        client.first_at = now  # k6's http_req_waiting ends at the HEADERS frame
        self.got_bytes = True
        kept = []
        encoding = None
        for name, value in headers:
            if name[:1] == b":":
                if name == b":status":
                    self._status = int(value)
                continue
            kept.append((name, value))
            if name == _UPSTREAM:
                client.upstream = value.strip().decode("latin-1")
            elif name == b"content-encoding":
                encoding = value.decode("latin-1")
        self._headers = kept
        self._sink = BodySink(client.max_body, encoding) if client.keep_body else None

    def _end(self, now: float) -> None:
        client = self.client
        client.done_at = now
        client.bytes_in = self.bytes_in
        self.bytes_in = 0
        sink, self._sink = self._sink, None
        headers, self._headers = self._headers, []
        if sink is None:
            resp = Response(self._status, headers)
        else:
            resp = sink.response(self._status, headers)
        fut, self.fut = self.fut, None
        if fut is not None and not fut.done():
            fut.set_result(resp)

    def _goaway(self, ev: ConnectionTerminated) -> None:
        """No new stream on this connection. The one in flight fails unless the server says
        it will still answer it: a stream above `last_stream_id` was never processed, so it
        stays unanswered (`got_bytes` False) and the client may retry it on a fresh one."""
        self.closed = True
        if self.fut is None:
            return
        unseen = ev.last_stream_id is not None and self.stream_id > ev.last_stream_id
        if ev.error_code != ErrorCodes.NO_ERROR or unseen:
            self.got_bytes = self.got_bytes or not unseen
            self._fail(ConnectionClosed(f"GOAWAY: {_code(ev.error_code)}"))

    def _flush(self) -> None:
        out = self.h2.data_to_send()
        if out and self.transport is not None and not self.transport.is_closing():
            self.client.bytes_out += len(out)
            self.transport.write(out)

    def _fail(self, exc: BaseException) -> None:
        self._body = None
        self._sink = None
        fut, self.fut = self.fut, None
        if fut is not None and not fut.done():
            self.client.bytes_in = self.bytes_in  # what came before the failure came in
            self.bytes_in = 0
            fut.set_exception(exc)

    def close(self) -> None:
        """GOAWAY, then close (the transport flushes the frame first)."""
        if self.transport is not None and not self.transport.is_closing():
            with contextlib.suppress(H2Error):  # h2 already terminated it (a protocol error)
                self.h2.close_connection()
            self._flush()
            self.transport.close()
        self.closed = True

    def abort(self, exc: BaseException) -> None:
        """Fail the request in flight and drop the socket (timeouts, cancellation)."""
        self._fail(exc)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _overlong(h2: H2Connection) -> bool:
    """The frame h2 is waiting for is over the size we allow. h2 checks a frame's length
    only once all of it came, so without this an HTTP/1.1 answer read as HTTP/2 ("HTT"
    announces 4.7 MB) would hang the request until its timeout."""
    pending = h2.incoming_buffer._data  # h2 4.x: the bytes of the frame not yet whole
    return len(pending) >= 9 and int.from_bytes(pending[:3], "big") > h2.max_inbound_frame_size


def _code(code: int) -> str:
    try:
        return ErrorCodes(code).name
    except ValueError:
        return f"error {code}"


@functools.lru_cache(maxsize=256)
def request_headers(req: Prepared) -> tuple[tuple[bytes, bytes], ...]:
    """The request's header list: pseudo-headers first (a user's Host is the :authority,
    as the Host of HTTP/1.1 is), names lowercased, connection headers left out. Cached:
    a run sends the same few requests over and over."""
    parts = urlsplit(req.url)
    authority = parts.netloc
    kept: list[tuple[bytes, bytes]] = []
    for name, value in req.headers:
        low = name.lower()
        if low == "host":
            authority = value
        if low not in _NOT_H2 or (low == "te" and value.strip().lower() == "trailers"):
            kept.append((low.encode("ascii"), value.encode("ascii")))
    if req.body is not None or req.method in ("POST", "PUT", "PATCH"):
        kept.append((b"content-length", str(len(req.body or b"")).encode("ascii")))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return (
        (b":method", req.method.encode("ascii")),
        (b":scheme", parts.scheme.encode("ascii")),
        (b":authority", authority.encode("ascii")),
        (b":path", path.encode("ascii")),
        *kept,
    )
