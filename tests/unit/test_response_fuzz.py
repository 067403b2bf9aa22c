"""The wire client's response parsing, fed random and mutated bytes directly (no socket).

Whatever arrives, in whatever chunks: the request in flight ends once the connection
does (never hangs), with a Response or one of the documented errors (ProtocolError,
HeaderTooLarge, ConnectionClosed), and never holds more than the limits (max_body of
kept body, MAX_HEAD of head plus the chunk that crossed it).
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import zlib
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.http.body import MAX_HEAD, HeaderTooLarge
from engine.http.wire import ConnectionClosed, ProtocolError, WireClient, _Conn, _FullConn

MAX_BODY = 256
DOCUMENTED = (ProtocolError, HeaderTooLarge, ConnectionClosed)


class FakeTransport:
    """What a connection writes to and closes; records nothing but that."""

    def __init__(self) -> None:
        self.closed = False

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


@functools.cache
def valid_responses() -> list[bytes]:
    body = b"hello world " * 40
    gz = gzip.compress(body)
    bomb = gzip.compress(b"\0" * (4 * 1024 * 1024))
    return [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n" + body,
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body,
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
        + f"Content-Length: {len(gz)}\r\n\r\n".encode()
        + gz,
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
        + f"Content-Length: {len(bomb)}\r\n\r\n".encode()
        + bomb,
        b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: 11\r\n\r\n"
        + zlib.compress(b"abc")[:11],
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD + 10) + b"\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\nbad",
    ]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(valid_responses())))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


def chunks(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    pos = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        if cut > pos:
            yield data[pos:cut]
            pos = cut
    if pos < len(data):
        yield data[pos:]


def feed(data: bytes, cuts: list[int], *, full: bool, keep_body: bool = True) -> None:
    loop = asyncio.new_event_loop()
    try:
        client = WireClient(
            "http://127.0.0.1:9/", full=full, keep_body=keep_body, max_body=MAX_BODY
        )
        conn = (_FullConn if full else _Conn)(client)
        conn.transport = FakeTransport()  # type: ignore[assignment]
        conn._loop = loop
        fut = conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        largest = 0
        for piece in chunks(data, cuts):
            largest = max(largest, len(piece))
            conn.data_received(piece)  # raises nothing, whatever the bytes
            assert len(conn.head) <= max(largest, MAX_HEAD) + MAX_HEAD + 4
            if conn.closed:
                break
        conn.connection_lost(None)
        assert fut.done()  # ended by the close at the latest: never hangs
        exc = fut.exception()
        if exc is not None:
            assert isinstance(exc, DOCUMENTED), repr(exc)
            return
        resp = fut.result()
        assert 100 <= resp.status <= 999
        assert len(resp.body) <= MAX_BODY
        assert resp.cut_at is None or resp.cut_at == len(resp.body)
        if not keep_body:
            assert resp.body == b""
    finally:
        loop.close()


FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
CUTS = st.lists(st.integers(0, 1 << 20), max_size=6)


@FUZZ
@given(data=st.binary(max_size=2048), cuts=CUTS, full=st.booleans())
def test_random_bytes_end_in_a_response_or_a_documented_error(
    data: bytes, cuts: list[int], full: bool
) -> None:
    feed(data, cuts, full=full)


@FUZZ
@given(data=mutated(), cuts=CUTS, full=st.booleans(), keep=st.booleans())
def test_mutated_responses_end_in_a_response_or_a_documented_error(
    data: bytes, cuts: list[int], full: bool, keep: bool
) -> None:
    feed(data, cuts, full=full, keep_body=keep)


@FUZZ
@given(data=st.sampled_from(valid_responses()), cuts=CUTS)
def test_valid_responses_parse_whole_in_any_chunking(data: bytes, cuts: list[int]) -> None:
    feed(data, cuts, full=True)
