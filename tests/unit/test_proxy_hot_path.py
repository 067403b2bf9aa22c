"""The proxy's per-request shortcuts keep its behaviour: bytes in, bytes out, no sockets.

The client and upstream protocol objects are driven in memory (a fake transport each),
so these run in milliseconds; tests/integration/test_proxy*.py cover the same paths
over real sockets.
"""

from __future__ import annotations

from engine.deploy.strategies import Weights
from engine.proxy.client import ClientConnection
from engine.proxy.config import ProxyConfig
from engine.proxy.http1 import MAX_HEAD
from engine.proxy.server import Proxy
from engine.proxy.upstream_conn import HEADS_KEPT, UpstreamConnection

NGINX_HEAD = (
    b"Server: nginx/1.22.1\r\nDate: Sun, 06 Dec 2026 03:40:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 12\r\nConnection: keep-alive\r\n"
    b"Accept-Ranges: bytes\r\n\r\n"
)


class FakeTransport:
    """Collects what is written; closing it tells the protocol, as a real one would."""

    def __init__(self, proto: object) -> None:
        self.proto = proto
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def take(self) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        return data

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.proto.connection_lost(None)  # type: ignore[attr-defined]

    abort = close

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Rig:
    """One client connection and one pooled upstream connection per color."""

    def __init__(self) -> None:
        cfg = ProxyConfig(
            blue=("http://127.0.0.1:1",), green=("http://127.0.0.1:2",), weights=Weights(100, 0)
        )
        self.proxy = Proxy(cfg)
        self.client = ClientConnection(self.proxy)
        self.down = FakeTransport(self.client)
        self.client.connection_made(self.down)  # type: ignore[arg-type]
        self.ups: list[FakeTransport] = []
        for group in self.proxy.groups:
            inst = group.instances[0]
            up = UpstreamConnection(inst)
            t = FakeTransport(up)
            up.connection_made(t)  # type: ignore[arg-type]
            up.attached = True
            inst.conns = 1
            inst.idle.append(up)
            self.ups.append(t)

    def request(self, data: bytes) -> tuple[int, bytes]:
        """Send `data` from the client: (color index it went to, the bytes forwarded)."""
        self.client.data_received(data)
        for color, t in enumerate(self.ups):
            if t.out:
                return color, t.take()
        raise AssertionError("nothing was forwarded")

    def respond(self, color: int, data: bytes) -> bytes:
        """The upstream of `color` answers `data`: what the client gets."""
        self.ups[color].proto.data_received(data)  # type: ignore[attr-defined]
        return self.down.take()


async def test_a_plain_request_is_forwarded_as_it_came_and_the_answer_gets_the_tag() -> None:
    rig = Rig()
    color, sent = rig.request(b"GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAccept: */*\r\n\r\n")
    assert color == 0
    assert sent == b"GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAccept: */*\r\n\r\n"
    got = rig.respond(0, b"HTTP/1.1 200 OK\r\n" + NGINX_HEAD + b"hello world\n")
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n")
    assert b"x-surge-upstream: blue" in head and b"Content-Length: 12" in head
    assert b"Connection" not in head and body == b"hello world\n"


async def test_a_status_seen_before_with_another_reason_keeps_its_own() -> None:
    rig = Rig()
    for reason in (b"OK", b"Fine", b"OK"):
        rig.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        got = rig.respond(0, b"HTTP/1.1 200 " + reason + b"\r\n" + NGINX_HEAD + b"hello world\n")
        assert got.startswith(b"HTTP/1.1 200 " + reason + b"\r\n")


async def test_http10_is_told_apart_with_and_without_keep_alive() -> None:
    rig = Rig()
    rig.request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    got = rig.respond(0, b"HTTP/1.1 200 OK\r\n" + NGINX_HEAD + b"hello world\n")
    assert b"\r\nconnection: keep-alive\r\n" in got and not rig.down.closed
    rig.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    got = rig.respond(0, b"HTTP/1.1 200 OK\r\n" + NGINX_HEAD + b"hello world\n")
    assert b"connection:" not in got.lower() and not rig.down.closed
    rig.request(b"GET / HTTP/1.0\r\n\r\n")
    got = rig.respond(0, b"HTTP/1.1 200 OK\r\n" + NGINX_HEAD + b"hello world\n")
    assert b"\r\nconnection: close\r\n" in got and rig.down.closed


async def test_what_one_request_set_does_not_stay_for_the_next() -> None:
    # a pin, a body and a header the proxy consumes, then a plain request: by weight
    # (all blue), with no body and no content-length left over
    rig = Rig()
    color, sent = rig.request(
        b"POST /p HTTP/1.1\r\nHost: t\r\nx-surge-color: green\r\nExpect: 100-continue\r\n"
        b"Content-Length: 3\r\n\r\nabc"
    )
    assert color == 1 and sent.endswith(b"content-length: 3\r\n\r\nabc")
    rig.respond(1, b"HTTP/1.1 200 OK\r\n" + NGINX_HEAD + b"hello world\n")
    color, sent = rig.request(b"GET /q HTTP/1.1\r\nHost: t\r\n\r\n")
    assert color == 0 and sent == b"GET /q HTTP/1.1\r\nHost: t\r\n\r\n"


async def test_a_response_head_larger_than_max_head_in_one_read_is_a_502() -> None:
    rig = Rig()
    rig.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    big = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD + 10) + b"\r\n" + NGINX_HEAD
    got = rig.respond(0, big + b"hello world\n")
    assert got.startswith(b"HTTP/1.1 502") and b"response head too large" in got


async def test_a_remembered_head_is_forwarded_as_the_first_time_and_never_for_another() -> None:
    rig = Rig()
    inst = rig.proxy.groups[0].instances[0]
    answers = []
    for length in (12, 12, 5, 12):
        rig.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        head = NGINX_HEAD.replace(b"Content-Length: 12", b"Content-Length: %d" % length)
        answers.append(rig.respond(0, b"HTTP/1.1 200 OK\r\n" + head + b"hello world\n"[:length]))
    assert answers[0] == answers[1] == answers[3] and len(inst.heads) == 2
    assert b"Content-Length: 5\r\n" in answers[2] and answers[2].endswith(b"\r\n\r\nhello")
    # per request, not per head: a HEAD request's answer has no body (its tag, 1.0's
    # connection line: test_http10_is_told_apart_with_and_without_keep_alive)
    rig.request(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
    got = rig.respond(0, b"HTTP/1.1 200 OK\r\n" + NGINX_HEAD)
    assert got == answers[0].removesuffix(b"hello world\n") and not rig.down.closed


async def test_the_head_after_an_interim_one_is_not_remembered_as_that_one() -> None:
    rig = Rig()
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
    rig.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    got = rig.respond(0, hints + b"HTTP/1.1 200 OK\r\n" + NGINX_HEAD + b"hello world\n")
    assert got.startswith(b"HTTP/1.1 103") and b"\r\n\r\nHTTP/1.1 200 OK\r\n" in got
    rig.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    got = rig.respond(0, hints + b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    assert b"\r\n\r\nHTTP/1.1 404 Not Found\r\n" in got


async def test_a_head_split_over_reads_and_many_distinct_heads_stay_bounded() -> None:
    rig = Rig()
    inst = rig.proxy.groups[0].instances[0]
    whole = b"HTTP/1.1 200 OK\r\n" + NGINX_HEAD + b"hello world\n"
    rig.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    first = rig.respond(0, whole[:30]) + rig.respond(0, whole[30:])
    assert not inst.heads and first.endswith(b"\r\n\r\nhello world\n")
    for i in range(HEADS_KEPT + 5):
        rig.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        got = rig.respond(0, whole.replace(b"03:40:00", b"03:%02d:%02d" % divmod(i, 60)))
        assert got.endswith(b"\r\n\r\nhello world\n")
        assert 0 < len(inst.heads) <= HEADS_KEPT
