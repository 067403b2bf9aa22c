"""The blue/green proxy over real loopback sockets.

The client here is a raw keep-alive connection parsed by httptools, not httpx, so the
tests see exactly what the proxy puts on the wire (headers, framing, whether the
connection survived) and 1,000 requests take a fraction of a second.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.addresses import parse_host_port
from engine.deploy.strategies import (
    Analysis,
    Canary,
    ColorFigures,
    Phase,
    RollingWithAdditionalBatch,
    Weights,
)
from engine.errors import ConfigError
from engine.load.controller import Controller
from engine.profile import adhoc_profile
from engine.profile.plan import Overrides, build_plan
from engine.proxy import Proxy, ProxyConfig, SmoothWeighted, parse_weights
from engine.sut import SutConfig, SutServer
from tests.conftest import ROOT, spawn_sut, surge_cmd

pytestmark = pytest.mark.timeout(20)


# --------------------------------------------------------------------------- client


@dataclass
class Resp:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def color(self) -> str | None:
        return self.headers.get("x-surge-upstream")

    def json(self) -> Any:
        return json.loads(self.body)


class _Parser:
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done: list[Resp] = []
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode().lower()
        old = self._headers.get(key)
        self._headers[key] = value.decode() if old is None else f"{old}, {value.decode()}"

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        self.done.append(Resp(status, self._headers, b"".join(self._body)))
        self._headers, self._body = {}, []


class Conn:
    """One keep-alive connection; `send` and `recv` apart allow pipelining."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str = "test"
    ) -> None:
        self.reader, self.writer = reader, writer
        self.host = host  # the Host header sent: the address connected to
        self.p = _Parser()

    @classmethod
    async def open(cls, url: str) -> Conn:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer, parts.netloc)

    def send(
        self,
        method: str = "GET",
        path: str = "/",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> None:
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            lines.append(f"content-length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))

    async def recv(self, n: int = 1) -> list[Resp]:
        while len(self.p.done) < n:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            if not data:
                raise ConnectionResetError("proxy closed the connection")
            self.p.parser.feed_data(data)
        out, self.p.done = self.p.done[:n], self.p.done[n:]
        return out

    async def request(self, method: str = "GET", path: str = "/", **kw: Any) -> Resp:
        self.send(method, path, **kw)
        return (await self.recv())[0]

    async def closed_by_peer(self) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(1), 2) == b""
        except (TimeoutError, ConnectionError):
            return False

    def close(self) -> None:
        self.writer.close()


async def hammer(url: str, total: int, conns: int = 10, **kw: Any) -> list[Resp]:
    """`total` requests over `conns` keep-alive connections, concurrently."""
    out: list[Resp] = []

    async def one(n: int) -> None:
        c = await Conn.open(url)
        try:
            for _ in range(n):
                out.append(await c.request(**kw))
        finally:
            c.close()

    share = [total // conns + (1 if i < total % conns else 0) for i in range(conns)]
    await asyncio.gather(*(one(n) for n in share))
    return out


async def admin(p: Proxy, method: str, path: str, payload: Any = None) -> Resp:
    c = await Conn.open(p.admin_url)
    try:
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"content-type": "application/json"} if body is not None else None
        return await c.request(method, path, body=body, headers=headers)
    finally:
        c.close()


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 4.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def suts(*colors: str, **cfg: Any) -> AsyncIterator[list[SutServer]]:
    servers = [SutServer(SutConfig(port=0, color=c, **cfg)) for c in colors]
    for s in servers:
        await s.start()
    try:
        yield servers
    finally:
        for s in servers:
            await s.close()


@asynccontextmanager
async def proxied(blue: list[str], green: list[str], **cfg: Any) -> AsyncIterator[Proxy]:
    async with Proxy(ProxyConfig(blue=tuple(blue), green=tuple(green), **cfg)) as p:
        yield p


# --------------------------------------------------------------------------- routing


@given(
    st.integers(0, 100),
    st.integers(0, 100),
    st.integers(0, 400),
    st.integers(1, 400),
)
def test_smooth_round_robin_is_exact_in_any_window(b: int, g: int, skip: int, n: int) -> None:
    """In any window of n picks, green's count is within 1 of n * its share."""
    if b + g == 0:
        return
    rr = SmoothWeighted(b, g)
    picks = [rr.pick() for _ in range(skip + n)][skip:]
    assert abs(sum(picks) - n * g / (b + g)) < 1
    full = [rr.pick() for _ in range(b + g)]
    assert sum(full) == g


async def test_shares_within_1_percent_over_1000_requests() -> None:
    async with (
        suts("blue", "green") as (b, g),
        proxied([b.url], [g.url], weights=Weights(90, 10)) as p,
    ):
        resps = await hammer(p.url, 1000, conns=20)
        seen = Counter(r.color for r in resps)
        assert {r.status for r in resps} == {200}
        assert abs(seen["green"] / 1000 - 0.10) <= 0.01, seen
        stats = (await admin(p, "GET", "/stats")).json()
        assert stats["green"]["requests"] == seen["green"]
        assert stats["blue"]["status_2xx"] == seen["blue"]

        p.set_weights(3, 1)
        seen = Counter(r.color for r in await hammer(p.url, 1000, conns=7))
        assert abs(seen["green"] / 1000 - 0.25) <= 0.01, seen


async def test_instances_of_a_color_are_balanced() -> None:
    async with (
        suts("blue", "blue", "green") as (b1, b2, g),
        proxied([b1.url, b2.url], [g.url]) as p,
    ):
        await hammer(p.url, 200, conns=4)
        counts = {i["url"]: i["requests"] for i in p.instances()}
        assert counts[b1.url] == counts[b2.url] == 100
        assert counts[g.url] == 0


async def test_weight_change_mid_run_keeps_connections() -> None:
    async with suts("blue", "green") as (b, g), proxied([b.url], [g.url]) as p:
        conns = [await Conn.open(p.url) for _ in range(5)]
        before = [await c.request() for c in conns for _ in range(20)]
        assert {r.color for r in before} == {"blue"}

        put = await admin(p, "PUT", "/weights", {"blue": 0, "green": 100})
        assert put.status == 200 and put.json() == {"blue": 0, "green": 100}
        # The very next request on each already-open connection goes to green.
        after = [await c.request() for c in conns for _ in range(20)]
        assert {r.color for r in after} == {"green"}
        assert (await admin(p, "GET", "/weights")).json() == {"blue": 0, "green": 100}

        # ...and moving back mid-flight, with requests in the air on every connection.
        for c in conns:
            c.send("GET", "/delay/100")
        await asyncio.sleep(0.02)
        assert (await admin(p, "PUT", "/weights", {"blue": 50, "green": 50})).status == 200
        inflight = [(await c.recv())[0] for c in conns]
        assert {r.status for r in inflight} == {200}
        assert {r.color for r in inflight} == {"green"}  # routed before the change
        mixed = Counter([(await c.request()).color for c in conns for _ in range(20)])
        assert mixed == {"blue": 50, "green": 50}
        for c in conns:
            c.close()


async def test_killed_green_instance_gives_502s_for_green_then_recovers() -> None:
    blue_proc, blue = spawn_sut("--color", "blue")
    green_proc, green = spawn_sut("--color", "green")
    port = urlsplit(green).port
    try:
        async with proxied([blue], [green], weights=Weights(50, 50), probe_interval=0.1) as p:
            warm = await hammer(p.url, 40, conns=4)
            assert {r.status for r in warm} == {200}

            green_proc.send_signal(signal.SIGKILL)
            green_proc.wait(5)
            resps = await hammer(p.url, 100, conns=4)
            by_color = Counter((r.color, r.status) for r in resps)
            assert by_color[("blue", 200)] == 50
            assert by_color[("green", 502)] == 50, by_color
            bad = next(r for r in resps if r.status == 502)
            assert bad.json()["color"] == "green"
            stats = p.stats_dict()
            assert stats["green"]["bad_gateway"] == 50
            assert stats["blue"]["bad_gateway"] == 0
            green_inst = next(i for i in p.instances() if i["color"] == "green")
            assert green_inst["healthy"] is False
            assert green_inst["last_error"] == "connection refused"

            green_proc, _ = spawn_sut("--color", "green", "--port", str(port))
            await eventually(lambda: all(i["healthy"] for i in p.instances()))
            again = await hammer(p.url, 100, conns=4)
            assert Counter((r.color, r.status) for r in again) == {
                ("blue", 200): 50,
                ("green", 200): 50,
            }
    finally:
        for proc in (blue_proc, green_proc):
            proc.kill()
            proc.wait(5)


async def test_no_healthy_instance_is_a_502_naming_the_color_not_a_detour() -> None:
    async with suts("blue") as (b,):
        dead = f"http://127.0.0.1:{_free_port()}"
        async with proxied([b.url], [dead], weights=Weights(0, 100)) as p:
            first = await hammer(p.url, 3, conns=1)
            assert [r.status for r in first] == [502, 502, 502]
            assert {r.color for r in first} == {"green"}
            assert "no healthy green instance" in first[-1].json()["error"]
            assert p.stats_dict()["blue"]["requests"] == 0


async def test_upstream_timeout_is_a_502_and_marks_unhealthy() -> None:
    async with suts("blue", "green") as (b, g), proxied([b.url], [g.url], timeout=0.3) as p:
        c = await Conn.open(p.url)
        t0 = time.monotonic()
        r = await c.request("GET", "/delay/3000")
        assert r.status == 502 and r.color == "blue"
        assert r.json()["error"] == "blue upstream failed: timeout"
        assert 0.3 <= time.monotonic() - t0 < 1.5
        # The sut answers /health at once, so the probe brings it back.
        await eventually(lambda: all(i["healthy"] for i in p.instances()))
        assert (await c.request()).status == 200
        c.close()


async def test_connections_per_instance_are_bounded_and_requests_queue() -> None:
    async with suts("blue") as (b,), proxied([b.url], [b.url], max_conns=2) as p:
        resps = await hammer(p.url, 60, conns=10, path="/delay/5")
        assert [r.status for r in resps] == [200] * 60
        blue = p.instances()[0]
        assert blue["connections"] <= 2 and blue["requests"] == 60


async def test_a_client_hanging_up_mid_request_frees_its_upstream_connection() -> None:
    async with suts("blue") as (b,), proxied([b.url], [b.url]) as p:
        for _ in range(3):
            c = await Conn.open(p.url)
            c.send("GET", "/delay/300")
            await asyncio.sleep(0.05)
            c.close()
        await eventually(lambda: p.instances()[0]["connections"] == 0)
        assert (await hammer(p.url, 5, conns=1))[-1].status == 200
        assert p.instances()[0]["failures"] == 0  # a client leaving is not the upstream's fault


# --------------------------------------------------------------------------- sessions


async def test_sticky_cookie_pins_a_client_until_its_color_loses_all_weight() -> None:
    async with (
        suts("blue", "green") as (b, g),
        proxied([b.url], [g.url], weights=Weights(50, 50), sticky=True) as p,
    ):
        c = await Conn.open(p.url)
        first = await c.request()
        cookie = first.headers["set-cookie"]
        assert cookie.startswith(f"surge_color={first.color};")
        pinned = [
            await c.request(headers={"cookie": f"a=1; surge_color={first.color}"})
            for _ in range(20)
        ]
        assert {r.color for r in pinned} == {first.color}
        assert not any("set-cookie" in r.headers for r in pinned)

        # Rolling back to all-blue must move green-pinned clients too.
        p.set_weights(100, 0)
        r = await c.request(headers={"cookie": "surge_color=green"})
        assert r.color == "blue" and r.headers["set-cookie"].startswith("surge_color=blue;")
        c.close()


async def test_header_override_reaches_green_before_it_takes_traffic() -> None:
    async with suts("blue", "green") as (b, g), proxied([b.url], [g.url]) as p:
        c = await Conn.open(p.url)
        assert (await c.request()).color == "blue"
        r = await c.request(headers={"x-surge-color": "green"})
        assert r.status == 200 and r.color == "green"
        assert (await c.request(headers={"X-Surge-Color": "Blue"})).color == "blue"
        bad = await c.request(headers={"x-surge-color": "purple"})
        assert bad.status == 400
        assert (await c.request()).status == 200  # the connection survived the 400
        c.close()


# --------------------------------------------------------------------------- framing


async def _odd_upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers in the framings a real upstream may use; /head echoes the request it got."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            path = lines[0].split()[1]
            hdrs = dict(x.split(": ", 1) for x in lines[1:] if x)
            body = await reader.readexactly(int(hdrs.get("content-length", 0)))
            if path == "/chunked":
                writer.write(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-surge-upstream: lies\r\n"
                    b"\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                )
            elif path == "/until-close":
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end")
                await writer.drain()
                writer.close()
                return
            elif path == "/reset-mid-body":
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                await writer.drain()
                writer.transport.abort()
                return
            else:
                echo = json.dumps({"head": lines, "body": body.decode()}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(echo), echo))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


@asynccontextmanager
async def odd_upstream() -> AsyncIterator[str]:
    server = await asyncio.start_server(_odd_upstream, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def test_bodies_and_chunked_responses_are_relayed() -> None:
    async with suts("blue") as (b,), odd_upstream() as odd, proxied([b.url], [odd]) as p:
        c = await Conn.open(p.url)
        big = os.urandom(300_000).hex().encode()[:300_000]
        r = await c.request("POST", "/echo", body=big, headers={"content-type": "text/plain"})
        assert r.status == 200 and r.body == big and r.color == "blue"

        green = {"x-surge-color": "green"}
        r = await c.request("GET", "/chunked", headers=green)
        assert r.body == b"hello world" and r.color == "green"
        assert r.headers["transfer-encoding"] == "chunked"

        # A chunked request body reaches the upstream with a length; hop-by-hop headers don't.
        c.writer.write(
            b"POST /head HTTP/1.1\r\nhost: t\r\nx-surge-color: green\r\nkeep-alive: 5\r\n"
            b"x-custom: kept\r\ntransfer-encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        echo = (await c.recv())[0].json()
        assert echo["body"] == "hello world"
        sent = [h.lower() for h in echo["head"]]
        assert "content-length: 11" in sent and "x-custom: kept" in sent
        assert not any(
            h.startswith(("transfer-encoding", "keep-alive", "x-surge-color")) for h in sent
        )

        # A body delimited by the upstream's close is re-chunked; the client connection lives.
        r = await c.request("GET", "/until-close", headers=green)
        assert r.body == b"until the end" and r.headers["transfer-encoding"] == "chunked"
        assert (await c.request()).status == 200
        c.close()


async def test_reset_mid_body_closes_the_client_instead_of_faking_a_whole_response() -> None:
    async with suts("blue") as (b,), odd_upstream() as odd, proxied([b.url], [odd]) as p:
        c = await Conn.open(p.url)
        c.send("GET", "/reset-mid-body", headers={"x-surge-color": "green"})
        with pytest.raises((ConnectionResetError, httptools.HttpParserError)):
            await c.recv()
        assert p.stats_dict()["green"]["truncated"] == 1


async def test_pipelined_requests_come_back_in_order_and_head_has_no_body() -> None:
    async with suts("blue") as (b,), proxied([b.url], [b.url]) as p:
        c = await Conn.open(p.url)
        c.send("GET", "/delay/50")
        c.send("GET", "/status/201")
        c.send("GET", "/")
        first, second, third = await c.recv(3)
        assert (first.status, second.status, third.body) == (200, 201, b"hello world\n")
        c.close()

        c = await Conn.open(p.url)
        c.writer.write(b"HEAD /health HTTP/1.1\r\nhost: t\r\n\r\nGET / HTTP/1.1\r\nhost: t\r\n\r\n")
        data = b""
        while not data.endswith(b"hello world\n"):
            data += await asyncio.wait_for(c.reader.read(65536), 5)
        head_reply, _, rest = data.partition(b"\r\n\r\n")
        # A HEAD reply announces a body (content-length) that never follows.
        assert head_reply.startswith(b"HTTP/1.1 200") and b"content-length: 15" in head_reply
        assert rest.startswith(b"HTTP/1.1 200")  # no body bytes between the two
        c.close()


async def test_http10_client_and_bounds() -> None:
    async with suts("blue") as (b,), proxied([b.url], [b.url]) as p:
        c = await Conn.open(p.url)
        c.writer.write(b"GET / HTTP/1.0\r\n\r\n")
        data = await asyncio.wait_for(c.reader.read(), 5)  # 1.0 without keep-alive: closed
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"hello world\n")

        c = await Conn.open(p.url)
        c.writer.write(b"GET / HTTP/1.1\r\nhost: t\r\nx-big: " + b"a" * 70_000 + b"\r\n\r\n")
        assert (await c.recv())[0].status == 431
        assert await c.closed_by_peer()

        c = await Conn.open(p.url)
        c.writer.write(b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nhost: t\r\n\r\n")
        assert (await c.recv())[0].status == 414

        c = await Conn.open(p.url)
        c.writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        assert (await c.recv())[0].status == 400

        c = await Conn.open(p.url)
        r = await c.request(headers={"connection": "upgrade", "upgrade": "websocket"})
        assert r.status == 501


# --------------------------------------------------------------------------- admin, config


async def test_admin_api_validates_and_lists() -> None:
    async with suts("blue", "green") as (b, g), proxied([b.url], [g.url]) as p:
        for bad in (
            {"blue": -1, "green": 5},
            {"blue": 0, "green": 0},
            {"blue": 1.5, "green": 1},
            {"blue": 1},
            {"blue": 1, "green": 1, "red": 1},
            [1, 2],
            {"blue": True, "green": 1},
        ):
            r = await admin(p, "PUT", "/weights", bad)
            assert r.status == 400, bad
            assert "error" in r.json()
        assert p.weights == Weights(100, 0)
        assert (await admin(p, "GET", "/nope")).status == 404
        assert (await admin(p, "DELETE", "/weights")).status == 405
        listing = (await admin(p, "GET", "/instances")).json()
        assert [(i["color"], i["url"], i["healthy"]) for i in listing] == [
            ("blue", b.url, True),
            ("green", g.url, True),
        ]
        r = await admin(p, "PUT", "/instances", {"blue": []})
        assert r.status == 200 and r.json()[0]["in_service"] is False
        assert (await hammer(p.url, 1))[0].status == 502  # no blue in service
        assert (await admin(p, "PUT", "/instances", {"blue": [3]})).status == 400


def test_config_is_validated_and_loopback_only() -> None:
    ok = ("http://127.0.0.1:1",)
    with pytest.raises(ConfigError, match=r"--listen.*loopback"):
        ProxyConfig(blue=ok, green=ok, host="0.0.0.0")
    with pytest.raises(ConfigError, match="--admin"):
        ProxyConfig(blue=ok, green=ok, admin_host="10.1.2.3")
    ProxyConfig(blue=ok, green=ok, host="0.0.0.0", allow_remote=True)
    with pytest.raises(ConfigError, match="--green"):
        ProxyConfig(blue=ok, green=())
    with pytest.raises(ConfigError, match=r"--blue.*http://"):
        ProxyConfig(blue=("https://x:1",), green=ok)
    with pytest.raises(ConfigError, match=r"--blue.*path"):
        ProxyConfig(blue=("http://x:1/api",), green=ok)
    assert parse_weights("90:10") == Weights(90, 10)
    for bad in ("90", "a:b", "101:0", "0:0", "-1:5"):
        with pytest.raises(ConfigError):
            parse_weights(bad)
    assert parse_host_port("8000", "k") == ("127.0.0.1", 8000)
    assert parse_host_port("[::1]:9", "k") == ("::1", 9)
    assert parse_host_port("http://localhost:7", "k") == ("localhost", 7)


# --------------------------------------------------------------------------- the engine


async def test_engine_splits_figures_by_color_and_a_canary_rolls_back_a_flawed_green() -> None:
    """Canary analysis reads Surge's own per-color figures, measured through the proxy."""
    async with suts("blue") as (b,), suts("green", error_rate=0.2) as (g,):
        outcome = await _canary_run(b.url, g.url)
        assert outcome.phase is Phase.ROLLED_BACK, outcome.log
        assert outcome.weights == Weights(100, 0)
        assert "success rate" in outcome.log[-2]


@pytest.mark.serial
async def test_a_canary_promotes_a_good_green() -> None:
    async with suts("blue", "green") as (b, g):
        outcome = await _canary_run(b.url, g.url)
        assert outcome.phase is Phase.PROMOTED, outcome.log
        assert outcome.weights == Weights(0, 100)
        assert outcome.green_requests > 0


@dataclass
class _Outcome:
    phase: Phase
    weights: Weights
    log: list[str]
    green_requests: int


async def _canary_run(blue: str, green: str) -> _Outcome:
    async with proxied([blue], [green]) as p:
        canary = Canary(Analysis(interval=0.4, min_requests=20, max_p99_ratio=None), steps=[20, 50])
        plan = build_plan(adhoc_profile(p.url + "/"), Overrides(vus=4, duration=4.0), interval=0.1)
        controller = Controller(plan)
        log: list[str] = []
        window: dict[str, tuple[int, int]] = {}

        def counts(color: str) -> tuple[int, int]:
            f = controller.model.figures((("upstream", color),))
            return f.requests, f.failed

        def apply(now: float, decision: Any) -> None:
            log.extend(f"{e.kind}: {e.message}" for e in decision.events)
            p.set_weights(*decision.weights)
            if decision.new_window:
                window.update({c: counts(c) for c in ("blue", "green")})
            if canary.done:
                controller.stop("rollout finished")

        def on_snapshot(_: Any) -> None:
            now = controller.model.elapsed
            figures = {}
            for c in ("blue", "green"):
                (n, bad), (n0, bad0) = counts(c), window.get(c, (0, 0))
                p99 = controller.model.figures((("upstream", c),)).latency.p99
                figures[c] = ColorFigures(n - n0, bad - bad0, p99)
            apply(now, canary.step(now, figures))

        apply(0.0, canary.start(0.0))
        controller.on_snapshot = on_snapshot
        await asyncio.wait_for(controller.run(), 10)
        assert controller.model.upstreams() == ["blue", "green"]
        green_requests = controller.model.figures((("upstream", "green"),)).requests
        return _Outcome(canary.phase, p.weights, log, green_requests)


async def test_rolling_with_an_additional_batch_drives_real_instances_in_order() -> None:
    async with (
        suts("blue", "blue", "green", "green") as (b0, b1, g0, g1),
        proxied([b0.url, b1.url], [g0.url, g1.url]) as p,
    ):
        rolling = RollingWithAdditionalBatch(2, 1, 1.0)
        served: list[tuple[set[str], int]] = []

        def apply(d: Any) -> None:
            p.set_weights(*d.weights)
            p.set_in_service(d.in_service.as_dict())

        apply(rolling.start(0.0))
        for now in (0.0, 1.0, 2.0, 3.0):
            if now:
                apply(rolling.step(now))
            before = {i["url"]: i["requests"] for i in p.instances()}
            resps = await hammer(p.url, 60, conns=3)
            assert {r.status for r in resps} == {200}
            after = {i["url"]: i["requests"] for i in p.instances()}
            used = {url for url in after if after[url] > before[url]}
            served.append((used, sum(i["in_service"] for i in p.instances())))
        assert served == [
            ({b0.url, b1.url, g0.url}, 3),
            ({b1.url, g0.url}, 2),
            ({b1.url, g0.url, g1.url}, 3),
            ({g0.url, g1.url}, 2),
        ]
        assert rolling.phase is Phase.PROMOTED


# --------------------------------------------------------------------------- CLI


def test_surge_proxy_and_surge_weights_from_a_shell(sut: Callable[..., str]) -> None:
    blue, green = sut("--color", "blue"), sut("--color", "green")
    flags = f"--listen 127.0.0.1:0 --admin 127.0.0.1:0 --blue {blue} --green {green}".split()
    proc = subprocess.Popen(
        surge_cmd("proxy", *flags, "--weights", "100:0"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Failures that need no running proxy, started now so they overlap with the rest.
    remote = _popen("proxy", "--listen", "0.0.0.0:0", "--blue", blue, "--green", green)
    unreachable = _popen("weights", "--admin", f"127.0.0.1:{_free_port()}")
    idle: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("surge proxy listening on http://127.0.0.1:"), line
        url = line.split()[4]
        admin_url = line.rsplit(" ", 1)[-1].rstrip(")\n")

        def weights(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                surge_cmd("weights", *args, "--admin", admin_url),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=10,
            )

        put = weights("30:70")
        assert put.returncode == 0, put.stderr
        assert put.stdout == "now blue 30% (1 instance), green 70% (1 instance)\n"
        shown = weights("--json")
        assert shown.returncode == 0 and json.loads(shown.stdout) == {"blue": 30, "green": 70}
        assert weights().stdout == "blue 30% (1 instance), green 70% (1 instance)\n"
        seen = Counter(r.color for r in asyncio.run(hammer(url, 100, conns=2)))
        assert seen == {"blue": 30, "green": 70}
        bad = weights("30:x")
        assert bad.returncode == 2 and "surge weights: error: weights" in bad.stderr
        # Idle keep-alive connections (client and admin) must not hold up a SIGTERM.
        idle += [_keep_alive_socket(url), _keep_alive_socket(admin_url, "/weights")]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    _, err = remote.communicate(timeout=10)
    assert remote.returncode == 2 and "loopback" in err
    _, err = unreachable.communicate(timeout=10)
    assert unreachable.returncode == 1 and "cannot reach" in err
    for sock in idle:
        sock.close()


def _keep_alive_socket(url: str, path: str = "/") -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nhost: {parts.netloc}\r\n\r\n".encode())
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    return sock


def _popen(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        surge_cmd(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
