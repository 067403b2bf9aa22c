"""The lean HTTP/2 frame layer (engine/http/h2_conn.py) against h2's server side, in memory.

h2 is the reference implementation here: every byte the client writes goes to an h2
server connection, and every byte that server writes comes back to the client, so each
test checks the client's framing, flow control and settings against what h2 accepts
and sends. The live cases (nginx, hostile servers) are in tests/integration/test_http2.py.
"""

from __future__ import annotations

import asyncio
import struct
from types import SimpleNamespace
from typing import Any

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, RequestReceived, SettingsAcknowledged, StreamEnded
from h2.settings import SettingCodes

from engine.http import errors
from engine.http.body import MAX_HEAD, HeaderTooLarge
from engine.http.h2_conn import WINDOW, H2Conn, _encoded, encode_headers, frame
from engine.http.request import prepare


class Wire:
    """A transport whose writes the test reads (the client's bytes)."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self.out = bytes(self.out), bytearray()
        return data


class Pair:
    """A client H2Conn and an h2 server joined by memory; `pump` moves bytes both ways."""

    def __init__(self, settings: dict[int, int] | None = None, keep_body: bool = True) -> None:
        self.server = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self.server.initiate_connection()
        if settings:
            self.server.update_settings(settings)
        self.client: Any = SimpleNamespace(
            upstream=None, sent_at=0.0, written_at=0.0, first_at=0.0, done_at=0.0,
            bytes_in=0, bytes_out=0, keep_body=keep_body, max_body=2**30,
        )  # fmt: skip
        self.conn = H2Conn(self.client)
        self.wire = Wire()
        self.conn.connection_made(self.wire)  # type: ignore[arg-type]
        self.events: list[Any] = []

    def pump(self, rounds: int = 20, chunk: int = 65536) -> None:
        """Both ways until quiet; the server's bytes arrive in reads of `chunk` at most."""
        for _ in range(rounds):
            sent = self.wire.take()
            if sent:
                self.events += self.server.receive_data(sent)
            back = self.server.data_to_send()
            for i in range(0, len(back), chunk):
                self.conn.data_received(back[i : i + chunk])
            if not sent and not back:
                return

    def requests(self) -> list[RequestReceived]:
        return [e for e in self.events if isinstance(e, RequestReceived)]

    def received(self, sid: int) -> bytes:
        return b"".join(
            e.data for e in self.events if isinstance(e, DataReceived) and e.stream_id == sid
        )

    def answer(self, sid: int, body: bytes = b"", headers: tuple = ()) -> None:
        head = [(b":status", b"200"), (b"content-length", str(len(body)).encode()), *headers]
        self.server.send_headers(sid, head, end_stream=not body)
        sent = 0
        while sent < len(body):  # as the client's windows allow, as a server must
            n = min(
                len(body) - sent,
                self.server.local_flow_control_window(sid),
                self.server.max_outbound_frame_size,
            )
            if n <= 0:
                self.pump()
                continue
            self.server.send_data(sid, body[sent : sent + n], end_stream=sent + n == len(body))
            sent += n
        self.pump()


def get(url: str = "http://127.0.0.1:1/x", body: bytes | None = None, headers: tuple = ()) -> Any:
    return prepare("x", "POST" if body is not None else "GET", url, list(headers), body)


async def test_a_get_and_its_answer_as_h2_sees_them() -> None:
    p = Pair()
    p.pump()
    fut = p.conn.submit(get(headers=(("X-Id", "7"),)))
    p.pump()
    (req,) = p.requests()
    assert dict(req.headers)[b":path"] == b"/x"
    assert dict(req.headers)[b"x-id"] == b"7"
    assert any(isinstance(e, SettingsAcknowledged) for e in p.events)  # our ACK of its SETTINGS
    p.answer(req.stream_id, b"hello", ((b"x-surge-upstream", b"green+beta"),))
    resp = fut.result()
    assert (resp.status, resp.body) == (200, b"hello")
    assert p.client.upstream == "green+beta"
    # the next request goes on the next stream of the same connection
    fut2 = p.conn.submit(get())
    p.pump()
    assert [r.stream_id for r in p.requests()] == [1, 3]
    p.answer(3)
    assert fut2.result().status == 200


async def test_a_request_body_waits_for_the_servers_windows() -> None:
    """The server opens 1,000 bytes per stream: the client sends that much, then waits for
    WINDOW_UPDATE, and the body arrives whole and in order."""
    p = Pair({SettingCodes.INITIAL_WINDOW_SIZE: 1000})
    p.pump()
    body = bytes(range(256)) * 20  # 5,120 bytes
    fut = p.conn.submit(get(body=body))
    p.events += p.server.receive_data(p.wire.take())
    assert p.received(1) == body[:1000]  # no byte past the window
    while not any(isinstance(e, StreamEnded) for e in p.events):
        for e in p.events:
            if isinstance(e, DataReceived) and e.flow_controlled_length:
                p.server.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                e.flow_controlled_length = 0
        p.pump(rounds=1)
    assert p.received(1) == body
    assert p.client.written_at > 0
    p.answer(1)
    assert fut.result().status == 200


async def test_an_answer_before_the_whole_body_stops_the_body() -> None:
    """A 413 while the body waits for the server's window: the rest is never sent, the
    stream is reset with NO_ERROR, and a later WINDOW_UPDATE sends nothing."""
    p = Pair({SettingCodes.INITIAL_WINDOW_SIZE: 1000})
    p.pump()
    fut = p.conn.submit(get(body=b"b" * 5000))
    p.pump()
    p.server.send_headers(1, [(b":status", b"413")], end_stream=True)
    p.conn.data_received(p.server.data_to_send())
    assert fut.result().status == 413
    assert p.wire.take()[3] == 3  # RST_STREAM
    p.conn.data_received(frame(8, 0, 1, (4000).to_bytes(4, "big")))  # WINDOW_UPDATE
    p.conn.data_received(frame(8, 0, 0, (4000).to_bytes(4, "big")))
    assert p.wire.take() == b""


async def test_a_body_far_over_the_initial_window_is_acknowledged_as_it_comes() -> None:
    """20 MiB: more than the 16 MiB the client opens, so it must give the windows back."""
    p = Pair(keep_body=False)
    p.pump()
    fut = p.conn.submit(get())
    p.pump()
    p.answer(1, b"z" * (WINDOW + 4 * 2**20))
    assert fut.result().status == 200


@pytest.mark.parametrize("chunk", [1, 7, 16393])
async def test_frames_cut_anywhere_by_the_reads(chunk: int) -> None:
    """A read may end inside a frame's header or payload: the frame is completed from the
    next read, and a body of seven DATA frames arrives whole."""
    p = Pair()
    p.pump(chunk=chunk)
    fut = p.conn.submit(get())
    p.pump(chunk=chunk)
    body = bytes(range(256)) * 400
    p.server.send_headers(1, [(b":status", b"200")])
    for i in range(0, len(body), 16384):
        p.server.send_data(1, body[i : i + 16384], end_stream=i + 16384 >= len(body))
    p.pump(chunk=chunk)
    assert fut.result().body == body


async def test_rst_stream_fails_the_request_as_a_reset() -> None:
    p = Pair()
    p.pump()
    fut = p.conn.submit(get())
    p.pump()
    p.server.reset_stream(1, 2)
    p.pump()
    with pytest.raises(errors.StreamReset, match="INTERNAL_ERROR"):
        fut.result()
    assert p.conn.got_bytes  # the server answered it: not retried
    assert not p.conn.closed  # the connection lives on


@pytest.mark.parametrize(("last", "code", "answered"), [(1, 0, True), (0, 0, False), (1, 2, False)])
async def test_goaway_ends_the_connection_and_only_unseen_streams_are_retryable(
    last: int, code: int, answered: bool
) -> None:
    p = Pair()
    p.pump()
    fut = p.conn.submit(get())
    p.pump()
    p.conn.data_received(frame(7, 0, 0, struct.pack(">LL", last, code)))  # GOAWAY
    assert p.conn.closed
    if answered:  # the server will still answer stream 1
        assert not fut.done()
        p.answer(1, b"ok")
        assert fut.result().body == b"ok"
    else:
        with pytest.raises(errors.ConnectionClosed, match="GOAWAY"):
            fut.result()
        assert p.conn.got_bytes is (code != 0)  # never processed: safe to retry


async def test_max_concurrent_streams_of_zero_refuses_the_request() -> None:
    p = Pair({SettingCodes.MAX_CONCURRENT_STREAMS: 0})
    p.pump()
    with pytest.raises(errors.ProtocolError, match="allows no stream"):
        p.conn.submit(get()).result()


async def test_a_request_over_the_servers_header_list_size_is_not_sent() -> None:
    p = Pair({SettingCodes.MAX_HEADER_LIST_SIZE: 200})
    p.pump()
    with pytest.raises(errors.ProtocolError, match="MAX_HEADER_LIST_SIZE"):
        p.conn.submit(get(headers=(("X-Big", "v" * 300),))).result()
    assert p.requests() == []


async def test_a_response_header_list_over_the_limit_is_header_too_large() -> None:
    p = Pair()
    p.pump()
    fut = p.conn.submit(get())
    p.pump()
    filler = [(f"x-f{i}".encode(), b"v" * 1000) for i in range(MAX_HEAD // 1000 + 2)]
    p.server.send_headers(1, [(b":status", b"200"), *filler], end_stream=True)
    p.pump()
    with pytest.raises(HeaderTooLarge):
        fut.result()
    assert p.conn.closed


async def test_large_frames_after_settings_and_a_split_header_block() -> None:
    """The server allows 64 KiB frames: a header block over 16 KiB still goes as HEADERS
    plus CONTINUATION, and h2 reassembles it; PING is answered."""
    p = Pair({SettingCodes.MAX_FRAME_SIZE: 65536, SettingCodes.MAX_HEADER_LIST_SIZE: 2**20})
    p.pump()
    p.server.ping(b"12345678")
    fut = p.conn.submit(get(headers=(("X-Big", "v" * 40000),)))
    p.pump()
    (req,) = p.requests()
    assert len(dict(req.headers)[b"x-big"]) == 40000
    assert any(type(e).__name__ == "PingAckReceived" for e in p.events)
    p.answer(1)
    assert fut.result().status == 200


async def test_a_smaller_header_table_is_signalled_before_the_next_block() -> None:
    p = Pair({SettingCodes.HEADER_TABLE_SIZE: 0})
    p.pump()
    p.conn.submit(get())
    sent = p.wire.take()
    assert sent[9:10] == b"\x20"  # the block opens with "dynamic table size 0"
    p.events += p.server.receive_data(sent)
    assert len(p.requests()) == 1


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"HTTP/1.1 200 OK\r\n\r\n", "longer than SETTINGS_MAX_FRAME_SIZE"),
        (b"\x00\x00\x00\x06\x00\x00\x00\x00\x00", "first frame is not SETTINGS"),
        (b"\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x01", "PUSH"),
    ],
)
@pytest.mark.parametrize("chunk", [1, 100])
async def test_what_is_not_http2_fails_at_once_with_a_goaway(
    raw: bytes, why: str, chunk: int
) -> None:
    p = Pair()
    fut = p.conn.submit(get())
    p.wire.take()
    for i in range(0, len(raw), chunk):
        p.conn.data_received(raw[i : i + chunk])
    with pytest.raises(errors.ProtocolError, match=why):
        fut.result()
    assert p.conn.closed and p.wire.closed
    assert p.wire.take()[-17 + 3] == 7  # the last frame (9 + 8 bytes) is a GOAWAY


async def test_a_window_update_past_two_to_the_31_is_a_flow_control_error() -> None:
    p = Pair()
    p.pump()
    fut = p.conn.submit(get())
    p.pump()
    p.conn.data_received(b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x7f\xff\xff\xff")
    with pytest.raises(errors.ProtocolError, match="2\\^31"):
        fut.result()
    await asyncio.sleep(0)


def test_the_header_block_cache_is_keyed_without_the_body() -> None:
    """Flows that prepare each iteration's request: a new body of the same length reuses
    the block (the body is neither hashed nor kept: the key holds its length only), a
    body of another length gets its own content-length."""
    url = "https://127.0.0.1/cache-key"
    first = prepare("x", "POST", url, [], b"a" * 1000)
    block, size = encode_headers(first)
    before = _encoded.cache_info()
    again = encode_headers(prepare("x", "POST", url, [], b"b" * 1000))
    after = _encoded.cache_info()
    assert again == (block, size) and after.hits == before.hits + 1
    assert after.currsize == before.currsize
    key_parts = [first.method, first.url, first.headers, 1000]
    assert encode_headers(prepare("x", "POST", url, [], b"c")) != (block, size)
    assert _encoded(*key_parts) == (block, size)
