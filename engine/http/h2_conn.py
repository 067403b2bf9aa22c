"""HTTP/2 on the wire client's terms: one connection per VU, one stream at a time, as k6.

A lean frame layer, not a general HTTP/2 state machine: a client that keeps one stream
open needs the nine-byte frame header, HPACK, flow control and the connection-level
frames, and nothing of what makes python-hyper's `h2` cost ~110 us of CPU per request
(events, per-stream state machines, header validation objects; bench/h2_candidates.py
measures it). HPACK is jh2's compiled coder (`jh2._hazmat`): request header blocks are
encoded once per distinct request (never indexed, so a cached block stays valid) and
response blocks are decoded in ~2 us. The rest is RFC 9113 as a client with one stream
needs it:

- SETTINGS: the server's first frame must be one (an HTTP/1.1 answer is a protocol error
  at once, not a hang); each is acknowledged; MAX_FRAME_SIZE, INITIAL_WINDOW_SIZE (with
  its delta on the open stream), MAX_CONCURRENT_STREAMS (0: no stream can be opened),
  MAX_HEADER_LIST_SIZE (a request over it is not sent), HEADER_TABLE_SIZE (a smaller table
  is signalled with a size update; our blocks never index) and ENABLE_PUSH are honoured.
- Flow control: a request body goes out as the peer's connection and stream windows
  allow (WINDOW_UPDATE, or a SETTINGS that widens them, resumes it). Inbound, the windows
  are opened to 16 MiB and given back with a WINDOW_UPDATE each time half is used, so a
  1 MiB body never waits; a peer that overruns them is a FLOW_CONTROL_ERROR.
- Limits: a frame over 16 KiB (our SETTINGS_MAX_FRAME_SIZE) is a FRAME_SIZE_ERROR, a
  header block over MAX_HEAD ("header too large") ends the connection, as a PUSH_PROMISE
  (push is off) or a CONTINUATION out of place does.
- GOAWAY: no new stream; the one in flight fails unless the server says it will answer
  it. RST_STREAM on the open stream fails its request. PING is answered.

Timings and byte counts go into the owning client next to the socket, as
engine/http/wire.py does for HTTP/1.1. The WireClient picks this class when TLS agrees on
`h2` (ALPN), or for `http://` with `--http2` (h2c with prior knowledge).
"""

from __future__ import annotations

import asyncio
import functools
import struct
from enum import IntEnum
from time import perf_counter
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from jh2._hazmat import Decoder, Encoder, HPACKError, OversizedHeaderListError

from engine.http import errors
from engine.http.body import MAX_HEAD, BodySink, HeaderTooLarge
from engine.http.errors import ConnectionClosed, ProtocolError
from engine.http.request import Prepared
from engine.http.response import Response

if TYPE_CHECKING:
    from engine.http.wire import WireClient

WINDOW = 2**24  # per stream and per connection: a 1 MiB body streams without stalling
MAX_WINDOW = 2**31 - 1
FRAME_MAX = 16384  # what we accept (the default SETTINGS_MAX_FRAME_SIZE; we announce none)
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HEAD = struct.Struct(">BHBBL")  # length (24 bits as 8 + 16), type, flags, stream id
_SETTING = struct.Struct(">HL")

# frame types and flags (RFC 9113 6)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0, 1, 2, 3, 4, 5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
# settings
TABLE_SIZE, ENABLE_PUSH, MAX_STREAMS, INITIAL_WINDOW, MAX_FRAME, MAX_LIST = 1, 2, 3, 4, 5, 6
DEFAULT_TABLE = 4096


class ErrorCodes(IntEnum):
    """RFC 9113 7: the codes of RST_STREAM and GOAWAY."""

    NO_ERROR = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2
    FLOW_CONTROL_ERROR = 3
    SETTINGS_TIMEOUT = 4
    STREAM_CLOSED = 5
    FRAME_SIZE_ERROR = 6
    REFUSED_STREAM = 7
    CANCEL = 8
    COMPRESSION_ERROR = 9
    CONNECT_ERROR = 10
    ENHANCE_YOUR_CALM = 11
    INADEQUATE_SECURITY = 12
    HTTP_1_1_REQUIRED = 13


# Connection-specific headers have no place in HTTP/2 (RFC 9113 8.2.2); Host becomes
# :authority.
_NOT_H2 = frozenset({"connection", "keep-alive", "proxy-connection", "upgrade", "host", "te"})
_UPSTREAM = b"x-surge-upstream"
_TOO_LONG = "a frame longer than SETTINGS_MAX_FRAME_SIZE"


class _ConnError(Exception):
    """A connection error (RFC 9113 5.4.1): GOAWAY with `code`, then close."""

    def __init__(self, code: ErrorCodes, message: str) -> None:
        super().__init__(message)
        self.code = code


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    """One frame: the nine-byte header, then the payload."""
    n = len(payload)
    return _HEAD.pack(n >> 16, n & 0xFFFF, ftype, flags, sid) + payload


def _settings(values: dict[int, int]) -> bytes:
    return frame(SETTINGS, 0, 0, b"".join(_SETTING.pack(k, v) for k, v in values.items()))


_CLIENT_SETTINGS = _settings(
    {ENABLE_PUSH: 0, MAX_STREAMS: 100, INITIAL_WINDOW: WINDOW, MAX_LIST: MAX_HEAD}
)
_SETTINGS_ACK = frame(SETTINGS, ACK, 0)


class H2Conn(asyncio.Protocol):
    """One HTTP/2 connection with at most one stream open, the interface of wire's `_Conn`
    (`submit`, `fut`, `closed`, `got_bytes`, `abort`, `close`); timings and byte counts go
    into the owning client. `got_bytes`: the stream's response headers came (a request that
    died before them on a connection the server closed is safe to retry)."""

    PROTO = "HTTP/2.0"  # as k6's `proto` tag says it

    __slots__ = (
        "_block",
        "_block_end",
        "_block_sid",
        "_body",
        "_buf",
        "_conn_unacked",
        "_decoder",
        "_headers",
        "_loop",
        "_max_list",
        "_max_streams",
        "_open",
        "_peer_frame",
        "_peer_window",
        "_send_conn",
        "_send_stream",
        "_settled",
        "_sink",
        "_status",
        "_stream_unacked",
        "_table_update",
        "bytes_in",
        "client",
        "closed",
        "fut",
        "got_bytes",
        "next_id",
        "stream_id",
        "transport",
    )

    def __init__(self, client: WireClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.fut: asyncio.Future[Response] | None = None
        self.closed = False
        self.got_bytes = False
        self.bytes_in = 0  # since the last response: frames between two count in the next
        self.stream_id = 0
        self.next_id = 1
        self._open = False  # the stream `stream_id` is open (its response not yet ended)
        self._buf = b""  # a frame not yet whole
        self._settled = False  # the server's first SETTINGS came
        self._decoder = Decoder(max_header_list_size=MAX_HEAD)
        self._block: bytearray | None = None  # a header block awaiting its CONTINUATIONs
        self._block_sid = 0
        self._block_end = False  # its HEADERS frame ended the stream
        self._table_update = b""  # a dynamic table size update owed at the next block
        # the server's settings, as they apply to what we send
        self._peer_frame = FRAME_MAX
        self._peer_window = 65535
        self._max_streams: int | None = None
        self._max_list: int | None = None
        # send windows (ours to respect) and received bytes not yet given back
        self._send_conn = 65535
        self._send_stream = 0
        self._conn_unacked = 0
        self._stream_unacked = 0
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._sink: BodySink | None = None
        self._body: memoryview | None = None  # what flow control has not let out yet

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()
        self._write(PREFACE + _CLIENT_SETTINGS + frame(WINDOW_UPDATE, 0, 0, _u32(WINDOW - 65535)))

    def data_received(self, data: bytes) -> None:
        now = perf_counter()  # the frames' arrival: first or last byte of the answer
        self.bytes_in += len(data)
        out: list[bytes] = []
        try:
            start = self._complete(data, now, out) if self._buf else 0
            if start >= 0:
                self._buf = data[self._frames(data, start, now, out) :]
        except _ConnError as exc:
            self._error(exc, out)
            return
        except HeaderTooLarge as exc:
            self._error(_ConnError(ErrorCodes.PROTOCOL_ERROR, str(exc)), out, exc)
            return
        if out:
            self._write(b"".join(out))
        if self.closed and self.fut is None:
            self.close()  # after a GOAWAY, once nothing is in flight

    def _complete(self, data: bytes, now: float, out: list[bytes]) -> int:
        """The frame cut by the last read, completed from data (copying that frame only,
        not the read: a 1 MiB body comes in 64 KiB reads); where data's next frame starts,
        or -1 when the frame is still not whole."""
        pending = self._buf
        used = max(0, 9 - len(pending))
        pending += data[:used]
        if len(pending) >= 9:
            length = int.from_bytes(pending[:3], "big")
            if length > FRAME_MAX:
                raise _ConnError(ErrorCodes.FRAME_SIZE_ERROR, _TOO_LONG)
            need = 9 + length - len(pending)
            pending += data[used : used + need]
            used += need
        self._buf = pending
        if len(pending) < 9 or used > len(data):
            return -1
        self._buf = b""
        self._frames(pending, 0, now, out)
        return used

    def _frames(self, buf: bytes, pos: int, now: float, out: list[bytes]) -> int:
        """Handle every whole frame in buf from pos on; where the rest starts."""
        end = len(buf)
        view = memoryview(buf)
        while end - pos >= 9:
            hi, lo, ftype, flags, sid = _HEAD.unpack_from(buf, pos)
            length = hi << 16 | lo
            if length > FRAME_MAX:
                raise _ConnError(ErrorCodes.FRAME_SIZE_ERROR, _TOO_LONG)
            if end - pos - 9 < length:
                break
            payload = view[pos + 9 : pos + 9 + length]
            pos += 9 + length
            sid &= MAX_WINDOW
            if not self._settled:
                if ftype != SETTINGS or flags & ACK:
                    raise _ConnError(
                        ErrorCodes.PROTOCOL_ERROR, "the server's first frame is not SETTINGS"
                    )
                self._settled = True
            if self._block is not None and ftype != CONTINUATION:
                raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "a header block cut by another frame")
            if ftype == DATA:
                self._data(payload, flags, sid, now, out)
            elif ftype in (HEADERS, CONTINUATION):
                self._header_frame(ftype, payload, flags, sid, now)
            elif ftype == SETTINGS:
                self._settings(payload, flags, sid, out)
            elif ftype == WINDOW_UPDATE:
                self._window_update(payload, sid, out)
            elif ftype == RST_STREAM:
                if sid == 0 or length != 4:
                    raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "a malformed RST_STREAM")
                if sid == self.stream_id and self._open:
                    self._open = False
                    self.got_bytes = True  # the server answered it: no retry
                    code = _code(int.from_bytes(payload, "big"))
                    self._fail(errors.StreamReset(f"stream reset: {code}"))
            elif ftype == PING:
                if sid != 0 or length != 8:
                    raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "a malformed PING")
                if not flags & ACK:
                    out.append(frame(PING, ACK, 0, bytes(payload)))
            elif ftype == GOAWAY:
                if sid != 0 or length < 8:
                    raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "a malformed GOAWAY")
                last, code = struct.unpack_from(">LL", payload)
                self._goaway(last & MAX_WINDOW, code)
            elif ftype == PUSH_PROMISE:
                raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "PUSH_PROMISE with push disabled")
            elif ftype == PRIORITY and (sid == 0 or length != 5):
                raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "a malformed PRIORITY")
            # any other type is an extension: ignored (RFC 9113 4.1)
        return pos

    def _data(
        self, payload: memoryview, flags: int, sid: int, now: float, out: list[bytes]
    ) -> None:
        if sid == 0:
            raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "DATA on stream 0")
        n = len(payload)
        unacked = self._conn_unacked + n
        if unacked > WINDOW:
            raise _ConnError(ErrorCodes.FLOW_CONTROL_ERROR, "DATA over the connection window")
        if unacked >= WINDOW // 2:
            out.append(frame(WINDOW_UPDATE, 0, 0, _u32(unacked)))
            unacked = 0
        self._conn_unacked = unacked
        if sid != self.stream_id or not self._open:
            return  # a stream we reset or gave up: its bytes count for the connection only
        if flags & PADDED:
            pad = payload[0] if n else 256
            if pad >= n:
                raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "padding longer than the frame")
            payload = payload[1 : n - pad]
        if self._sink is not None and payload:
            self._sink.feed(bytes(payload))
        if flags & END_STREAM:
            self._end(now)
            return
        unacked = self._stream_unacked + n
        if unacked > WINDOW:
            raise _ConnError(ErrorCodes.FLOW_CONTROL_ERROR, "DATA over the stream window")
        if unacked >= WINDOW // 2:
            out.append(frame(WINDOW_UPDATE, 0, sid, _u32(unacked)))
            unacked = 0
        self._stream_unacked = unacked

    def _header_frame(
        self, ftype: int, payload: memoryview, flags: int, sid: int, now: float
    ) -> None:
        if ftype == CONTINUATION:
            if self._block is None or sid != self._block_sid:
                raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "a CONTINUATION out of place")
            self._block += payload
            end_stream = self._block_end
        else:
            if sid == 0:
                raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "HEADERS on stream 0")
            start, stop = 0, len(payload)
            if flags & PADDED:
                if not stop:
                    raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "padding longer than the frame")
                start, stop = 1, stop - payload[0]
            if flags & PRIORITY_FLAG:
                start += 5
            if start > stop:
                raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "padding longer than the frame")
            payload = payload[start:stop]
            end_stream = bool(flags & END_STREAM)
            if not flags & END_HEADERS:
                self._block, self._block_sid, self._block_end = bytearray(payload), sid, end_stream
        if self._block is not None:
            if len(self._block) > MAX_HEAD:
                raise HeaderTooLarge(f"response headers over {MAX_HEAD} bytes")
            if not flags & END_HEADERS:
                return
            block, self._block = bytes(self._block), None
        else:
            block = bytes(payload)
        try:  # every block, ours or not: the decoder's table must follow the server's
            headers = self._decoder.decode(block, raw=True)
        except OversizedHeaderListError:
            raise HeaderTooLarge(f"response headers over {MAX_HEAD} bytes") from None
        except HPACKError as exc:
            raise _ConnError(ErrorCodes.COMPRESSION_ERROR, f"bad header block: {exc}") from None
        if sid != self.stream_id or not self._open:
            return
        if not self._status:
            status = self._head(headers, now)
            if status < 200:  # an interim answer (100 Continue, 103): the final one follows
                self._status = 0
                if end_stream:
                    raise _ConnError(
                        ErrorCodes.PROTOCOL_ERROR, "an interim answer ended the stream"
                    )
                return
        elif not end_stream:
            raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "trailers without END_STREAM")
        if end_stream:
            self._end(now)

    def _settings(self, payload: memoryview, flags: int, sid: int, out: list[bytes]) -> None:
        if sid != 0:
            raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            if len(payload):
                raise _ConnError(ErrorCodes.FRAME_SIZE_ERROR, "a SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise _ConnError(ErrorCodes.FRAME_SIZE_ERROR, "a SETTINGS frame of odd length")
        for key, value in _SETTING.iter_unpack(payload):
            if key == INITIAL_WINDOW:
                if value > MAX_WINDOW:
                    raise _ConnError(ErrorCodes.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE too big")
                self._send_stream += value - self._peer_window  # RFC 9113 6.9.2
                self._peer_window = value
            elif key == MAX_FRAME:
                if not FRAME_MAX <= value < 2**24:
                    raise _ConnError(ErrorCodes.PROTOCOL_ERROR, f"MAX_FRAME_SIZE {value}")
                self._peer_frame = value
            elif key == MAX_STREAMS:
                self._max_streams = value
            elif key == MAX_LIST:
                self._max_list = value
            elif key == TABLE_SIZE:
                # Our blocks never index, so our table stays empty; a smaller maximum is
                # still signalled before the next block (RFC 7541 4.2).
                self._table_update = b"\x20" if value < DEFAULT_TABLE else self._table_update
            elif key == ENABLE_PUSH and value != 0:
                raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "a server cannot enable push")
        out.append(_SETTINGS_ACK)
        if self._body:
            self._send_body(out)

    def _window_update(self, payload: memoryview, sid: int, out: list[bytes]) -> None:
        if len(payload) != 4:
            raise _ConnError(ErrorCodes.FRAME_SIZE_ERROR, "a WINDOW_UPDATE of the wrong length")
        step = int.from_bytes(payload, "big") & MAX_WINDOW
        if step == 0:
            raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "a WINDOW_UPDATE of 0")
        if sid == 0:
            self._send_conn += step
            if self._send_conn > MAX_WINDOW:
                raise _ConnError(ErrorCodes.FLOW_CONTROL_ERROR, "the connection window over 2^31-1")
        elif sid == self.stream_id and self._open:
            self._send_stream += step
            if self._send_stream > MAX_WINDOW:
                raise _ConnError(ErrorCodes.FLOW_CONTROL_ERROR, "the stream window over 2^31-1")
        if self._body:
            self._send_body(out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc if isinstance(exc, OSError) else ConnectionClosed("connection closed"))

    # the exchange
    def submit(self, req: Prepared) -> asyncio.Future[Response]:
        """Open the request's stream; the future is its response."""
        fut = self._loop.create_future()
        client = self.client
        client.upstream = None
        self.got_bytes = False
        block, size = encode_headers(req)
        sid = self.next_id
        refused = (
            "no stream id left"
            if sid > MAX_WINDOW
            else "the server allows no stream"
            if self._max_streams == 0
            else "the request's headers are over the server's MAX_HEADER_LIST_SIZE"
            if self._max_list is not None and size > self._max_list
            else None
        )
        if refused or self.closed:
            self.closed = True
            fut.set_exception(ProtocolError(f"cannot open an HTTP/2 stream: {refused or 'closed'}"))
            return fut
        self.next_id = sid + 2
        self.stream_id = sid
        self._open = True
        self._status = 0
        self._stream_unacked = 0
        self._send_stream = self._peer_window
        body = req.body
        block = self._table_update + block
        self._table_update = b""
        out = []
        flags = END_HEADERS if body else END_HEADERS | END_STREAM
        step = self._peer_frame
        if len(block) <= step:
            out.append(frame(HEADERS, flags, sid, block))
        else:  # HEADERS, then CONTINUATIONs; END_HEADERS on the last
            out.append(frame(HEADERS, flags & END_STREAM, sid, block[:step]))
            for i in range(step, len(block), step):
                last = i + step >= len(block)
                out.append(
                    frame(CONTINUATION, END_HEADERS if last else 0, sid, block[i : i + step])
                )
        self._body = memoryview(body) if body else None
        if body:
            self._send_body(out)
        self.fut = fut
        client.sent_at = perf_counter()
        self._write(b"".join(out))
        if self._body is None:
            client.written_at = perf_counter()  # k6's http_req_sending: the writes
        return fut

    def _send_body(self, out: list[bytes]) -> None:
        """As much of the request body as the peer's windows allow; the rest waits for a
        WINDOW_UPDATE (or a SETTINGS that widens the window)."""
        body, sid = self._body, self.stream_id
        while body:
            n = min(len(body), self._send_conn, self._send_stream, self._peer_frame)
            if n <= 0:
                break
            last = n == len(body)
            out.append(frame(DATA, END_STREAM if last else 0, sid, body[:n].tobytes()))
            self._send_conn -= n
            self._send_stream -= n
            body = body[n:]
        if body:
            self._body = body
            return
        self._body = None
        self.client.written_at = perf_counter()

    def _head(self, headers: list[tuple[bytes, bytes, bool]], now: float) -> int:
        """The response's head (or an interim one); its status."""
        client = self.client
        client.first_at = now  # k6's http_req_waiting ends at the HEADERS frame
        self.got_bytes = True
        kept = []
        encoding = None
        status = 0
        for name, value, _ in headers:
            if name[:1] == b":":
                if name != b":status" or kept or status:
                    raise _ConnError(ErrorCodes.PROTOCOL_ERROR, f"a bad pseudo-header {name!r}")
                if len(value) != 3 or not value.isdigit():
                    raise _ConnError(ErrorCodes.PROTOCOL_ERROR, f"a bad :status {value!r}")
                status = int(value)
                continue
            if name != name.lower():
                raise _ConnError(ErrorCodes.PROTOCOL_ERROR, f"an uppercase header name {name!r}")
            kept.append((name, value))
            if name == _UPSTREAM:
                client.upstream = value.strip().decode("latin-1")
            elif name == b"content-encoding":
                encoding = value.decode("latin-1")
        if not status:
            raise _ConnError(ErrorCodes.PROTOCOL_ERROR, "a response without :status")
        self._status = status
        self._headers = kept
        self._sink = BodySink(client.max_body, encoding) if client.keep_body else None
        return status

    def _end(self, now: float) -> None:
        self._open = False
        if self._body is not None:  # answered before the body was all sent: stop sending
            self._body = None
            self._write(frame(RST_STREAM, 0, self.stream_id, _u32(ErrorCodes.NO_ERROR)))
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

    def _goaway(self, last_stream_id: int, code: int) -> None:
        """No new stream on this connection. The one in flight fails unless the server says
        it will still answer it: a stream above `last_stream_id` was never processed, so it
        stays unanswered (`got_bytes` False) and the client may retry it on a fresh one."""
        self.closed = True
        if self.fut is None:
            return
        unseen = self.stream_id > last_stream_id
        if code != ErrorCodes.NO_ERROR or unseen:
            self.got_bytes = self.got_bytes or not unseen
            self._fail(ConnectionClosed(f"GOAWAY: {_code(code)}"))

    def _error(self, exc: _ConnError, out: list[bytes], cause: Exception | None = None) -> None:
        """A connection error: the request fails, GOAWAY goes out, the connection closes."""
        self._fail(cause or ProtocolError(f"bad HTTP/2: {exc}"))
        out.append(frame(GOAWAY, 0, 0, struct.pack(">LL", 0, exc.code)))
        self._write(b"".join(out))
        self._buf = b""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _write(self, data: bytes) -> None:
        if data and self.transport is not None and not self.transport.is_closing():
            self.client.bytes_out += len(data)
            self.transport.write(data)

    def _fail(self, exc: BaseException) -> None:
        self._open = False
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
            self._write(frame(GOAWAY, 0, 0, struct.pack(">LL", 0, ErrorCodes.NO_ERROR)))
            self.transport.close()
        self.closed = True

    def abort(self, exc: BaseException) -> None:
        """Fail the request in flight and drop the socket (timeouts, cancellation)."""
        self._fail(exc)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def _code(code: int) -> str:
    try:
        return ErrorCodes(code).name
    except ValueError:
        return f"error {code}"


def encode_headers(req: Prepared) -> tuple[bytes, int]:
    """The request's HPACK block and its header list size (RFC 9113 6.5.2: names, values
    and 32 per field), cached by what they depend on: never the body (a run sends the
    same few requests over and over; a flow that prepares each iteration's request
    must neither hash nor keep its body and wire)."""
    return _encoded(req.method, req.url, req.headers, _body_len(req))


@functools.lru_cache(maxsize=256)
def _encoded(
    method: str, url: str, headers: tuple[tuple[str, str], ...], body_len: int | None
) -> tuple[bytes, int]:
    """Never-indexed literals (jh2's compiled encoder, Huffman-coded): the block leaves no
    trace in the server's table, so it can be cached and sent again. The cache saves the
    encoder's ~10-13 us a request (a hit: ~0.2 us)."""
    fields = _header_list(method, url, headers, body_len)
    block = Encoder().encode([(name, value, True) for name, value in fields])
    return block, sum(len(n) + len(v) + 32 for n, v in fields)


def _body_len(req: Prepared) -> int | None:
    return None if req.body is None else len(req.body)


def request_headers(req: Prepared) -> tuple[tuple[bytes, bytes], ...]:
    """The request's header list: pseudo-headers first (a user's Host is the :authority,
    as the Host of HTTP/1.1 is), names lowercased, connection headers left out."""
    return _header_list(req.method, req.url, req.headers, _body_len(req))


def _header_list(
    method: str, url: str, headers: tuple[tuple[str, str], ...], body_len: int | None
) -> tuple[tuple[bytes, bytes], ...]:
    parts = urlsplit(url)
    authority = parts.netloc
    kept: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        low = name.lower()
        if low == "host":
            authority = value
        if low not in _NOT_H2 or (low == "te" and value.strip().lower() == "trailers"):
            kept.append((low.encode("ascii"), value.encode("ascii")))
    if body_len is not None or method in ("POST", "PUT", "PATCH"):
        kept.append((b"content-length", str(body_len or 0).encode("ascii")))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return (
        (b":method", method.encode("ascii")),
        (b":scheme", parts.scheme.encode("ascii")),
        (b":authority", authority.encode("ascii")),
        (b":path", path.encode("ascii")),
        *kept,
    )
