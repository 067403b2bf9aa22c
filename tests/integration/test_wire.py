"""The wire client's parsing, fed bytes directly: the proxy's color tag, RFC 9112 framing,
limits and error kinds."""

from __future__ import annotations

import asyncio
import errno
import gzip

import pytest

from engine.errors import classify
from engine.http.body import HeaderTooLarge
from engine.http.request import prepare
from engine.http.wire import ConnectionClosed, ProtocolError, WireClient, _Conn, _FullConn
from tests.unit.test_response_fuzz import FakeTransport


@pytest.mark.parametrize(
    ("head", "color"),
    [
        (b"x-surge-upstream: green\r\n", "green"),
        (b"X-Surge-Upstream: blue\r\n", "blue"),
        (b"X-Forwarded-Upstream: 10.0.0.1\r\nx-surge-upstream: green\r\n", "green"),
        (b"X-Forwarded-Upstream: 10.0.0.1\r\n", None),
        (b"", None),
    ],
)
def test_the_color_tag_is_found_in_any_case_and_behind_lookalikes(
    head: bytes, color: str | None
) -> None:
    client = WireClient("http://127.0.0.1:9/", full=False)
    conn = _Conn(client)
    conn.data_received(b"HTTP/1.1 200 OK\r\n" + head + b"Content-Length: 0\r\n\r\n")
    assert client.upstream == color


@pytest.mark.parametrize(
    ("head", "color"),
    [
        (b"x-surge-upstream: blue\r\n", "blue"),
        (b"", None),
        (b"X-Forwarded-Upstream: 10.0.0.1\r\n", None),  # a lookalike, then the body's
    ],
)
@pytest.mark.parametrize("repeats", [4, 400], ids=["one-small-read", "a-read-over-4k"])
def test_the_color_tag_is_read_from_the_head_never_the_body(
    head: bytes, color: str | None, repeats: int
) -> None:
    body = b"x-surge-upstream: green\r\n" * repeats
    client = WireClient("http://127.0.0.1:9/", full=False)
    conn = _Conn(client)
    length = f"Content-Length: {len(body)}\r\n".encode()
    conn.data_received(b"HTTP/1.1 200 OK\r\n" + length + head + b"\r\n" + body)
    assert client.upstream == color


# ------------------------------------------------- RFC 9112 reading, fed directly


def _conn(full: bool, max_body: int = 1 << 20) -> tuple[_Conn, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    client = WireClient("http://127.0.0.1:9/", full=full, max_body=max_body)
    conn = (_FullConn if full else _Conn)(client)
    conn.transport = FakeTransport()  # type: ignore[assignment]
    conn._loop = loop
    return conn, loop


@pytest.mark.parametrize("full", [False, True])
def test_interim_responses_are_not_the_answer(full: bool) -> None:
    conn, loop = _conn(full)
    fut = conn.send(b"GET / HTTP/1.1\r\n\r\n")
    conn.data_received(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\n"
    )
    assert not fut.done()
    conn.data_received(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok")
    resp = fut.result()
    assert resp.status == 201
    if full:
        assert resp.body == b"ok"
        assert [k for k, _ in resp.headers] == [b"Content-Length", b"X-A"]
    loop.close()


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize(
    "head", [b"HTTP/1.0 200 OK\r\n", b"HTTP/1.1 200 OK\r\nConnection: close\r\n"]
)
def test_a_body_delimited_by_the_close_ends_with_it(full: bool, head: bytes) -> None:
    conn, loop = _conn(full)
    fut = conn.send(b"GET / HTTP/1.1\r\n\r\n")
    conn.data_received(head + b"X-B: 2\r\n\r\nhello ")
    conn.data_received(b"world")
    assert not fut.done()
    conn.connection_lost(None)
    resp = fut.result()
    assert resp.status == 200
    assert conn.client.bytes_in == len(head) + len(b"X-B: 2\r\n\r\nhello world")
    if full:
        assert resp.body == b"hello world"
    loop.close()


def test_a_close_inside_a_framed_body_is_a_reset() -> None:
    conn, loop = _conn(True)
    fut = conn.send(b"GET / HTTP/1.1\r\n\r\n")
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
    conn.connection_lost(None)
    assert isinstance(fut.exception(), ConnectionClosed)
    loop.close()


def test_a_gzip_bomb_keeps_max_body_decoded_bytes_and_counts_the_wire() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20))
    conn, loop = _conn(True, max_body=1 << 20)
    fut = conn.send(b"GET / HTTP/1.1\r\n\r\n")
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n\r\n"
    conn.data_received(head.encode() + bomb)
    resp = fut.result()
    assert len(resp.body) == 1 << 20 and resp.cut_at == 1 << 20
    assert conn.client.bytes_in == len(head) + len(bomb)
    loop.close()


@pytest.mark.parametrize("full", [False, True])
def test_a_head_over_64_kib_is_header_too_large_and_closes(full: bool) -> None:
    conn, loop = _conn(full)
    fut = conn.send(b"GET / HTTP/1.1\r\n\r\n")
    conn.data_received(b"HTTP/1.1 200 OK\r\nX-Endless: ")
    for _ in range(3):
        conn.data_received(b"a" * 32768)
    assert isinstance(fut.exception(), HeaderTooLarge)
    assert conn.closed and conn.transport.closed  # type: ignore[union-attr]
    assert classify(fut.exception()) == "header too large"  # type: ignore[arg-type]
    loop.close()


def test_error_kinds_name_the_generators_own_limits() -> None:
    assert classify(OSError(errno.EMFILE, "Too many open files")).startswith("too many open files")
    assert classify(OSError(errno.ENFILE, "File table overflow")).startswith("too many open files")
    assert classify(OSError(errno.EADDRNOTAVAIL, "x")).startswith("out of local ports")
    assert classify(ConnectionRefusedError()) == "connection refused"
    assert classify(ProtocolError("bad")) == "protocol"


# --------------------------------------------------- the deadline: a timer, not a sweep


async def _answers_once() -> tuple[asyncio.Server, str, asyncio.Event]:
    """A loopback server that answers the first request and never the second; the event
    is set when the second has arrived."""
    second = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await reader.readuntil(b"\r\n\r\n")
        second.set()
        await reader.read()  # silent until the client gives up

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/", second


async def test_a_timeout_is_a_timer_at_the_requests_own_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One timer per client: armed at the first request's deadline, it moves to the
    deadline of the request in flight when it fires, and times that one out there (not at
    the next tick of a sweep over every VU)."""
    loop = asyncio.get_running_loop()
    timers: list[float] = []
    call_at = loop.call_at

    def spy(when: float, callback: object, *args: object) -> asyncio.TimerHandle:
        timers.append(when)
        return call_at(when, callback, *args)  # type: ignore[arg-type]

    server, url, second = await _answers_once()
    client = WireClient(url, full=False, timeout=0.3)
    req = prepare("r", "GET", url, [], None)
    async with server:
        assert (await client.request(req)).status == 200
        first_deadline = client.sent_at + 0.3
        await asyncio.sleep(0.1)  # the next request goes out a third of a timeout later
        monkeypatch.setattr(loop, "call_at", spy)
        pending = asyncio.create_task(client.request(req))
        await second.wait()
        # Still the first request's timer: nothing was made for this one.
        assert timers == []
        second_deadline = client.sent_at + 0.3  # perf_counter and loop.time() are one clock
        assert abs(client._timer.when() - first_deadline) < 0.002  # type: ignore[union-attr]
        with pytest.raises(TimeoutError):
            await pending
        client.close()
    # Fired at the first deadline, it moved to the second request's own deadline.
    assert len(timers) == 1 and abs(timers[0] - second_deadline) < 0.002
