"""Mirroring on Surge's proxy: copies to green, the client answered by blue, pairs compared.

Blue and three greens (a good one, a slow one, one that errors) are `surge sut`
processes shared by the module; each test puts an in-process proxy in front of the
pair it needs.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from engine.deploy.routers.surge import SurgeProxyRouter
from engine.deploy.strategies.traffic import Mirror, MirrorExample
from engine.proxy import Proxy
from engine.proxy.mirror import MAX_IN_FLIGHT
from tests.conftest import ROOT, spawn_sut
from tests.integration.test_proxy import Conn, admin, eventually, hammer, proxied
from tests.integration.test_proxy_cohorts import PROXY

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def suts() -> Iterator[dict[str, str]]:
    started = {
        "blue": spawn_sut("--color", "blue"),
        "green": spawn_sut("--color", "green"),
        "slow": spawn_sut("--color", "green", "--latency", "2s"),
        "failing": spawn_sut("--color", "green", "--error-rate", "1"),
    }
    yield {name: url for name, (_, url) in started.items()}
    for proc, _ in started.values():
        proc.terminate()
    for proc, _ in started.values():
        proc.wait(5)


def mirrored(blue: str, green: str, **cfg: Any) -> Any:
    return proxied([blue], [green], mirror=Mirror(100), **cfg)


def stats(p: Proxy) -> dict[str, Any]:
    return p.stats_dict()["mirror"]


async def sut_requests(url: str) -> int:
    """`sut_requests_total` from the server's own /metrics (this request included)."""
    c = await Conn.open(url)
    text = (await c.request(path="/metrics")).body.decode()
    c.close()
    return int(
        float(
            next(ln.split()[-1] for ln in text.splitlines() if ln.startswith("sut_requests_total"))
        )
    )


async def test_copies_go_to_green_and_matching_pairs_count_no_mismatch(
    suts: dict[str, str],
) -> None:
    before = await sut_requests(suts["green"])
    async with mirrored(suts["blue"], suts["green"]) as p:
        got = await hammer(p.url, 40, conns=4)
        assert {r.color for r in got} == {"blue"} and {r.status for r in got} == {200}
        await eventually(lambda: stats(p)["mirrored"] == 40)
        m = stats(p)
        assert (m["mirror_status_mismatch"], m["mirror_body_mismatch"], m["mirror_errors"]) == (
            0,
            0,
            0,
        )
        assert m["examples"] == [] and m["mirror_skipped"] == 0
        for color in ("blue", "green"):
            assert sum(m[color]["counts"].values()) == 40
            assert 0 < m[color]["p50"] <= m[color]["p95"] <= m[color]["p99"] < 1000
        assert p.stats_dict()["green"]["requests"] == 0  # copies are not green's traffic
    assert await sut_requests(suts["green"]) == before + 41


async def test_the_client_never_waits_on_a_slow_green_and_copies_in_flight_are_bounded(
    suts: dict[str, str],
) -> None:
    """Green takes 2 s; 300 requests through the proxy are answered at blue's pace, the
    first MAX_IN_FLIGHT copies wait on green and the rest are skipped and counted."""
    async with mirrored(suts["blue"], suts["slow"]) as p:
        c = await Conn.open(p.url)
        took = []
        for _ in range(5):
            t0 = time.monotonic()
            assert (await c.request()).color == "blue"
            took.append(time.monotonic() - t0)
        c.close()
        assert max(took) < 0.5, took
        t0 = time.monotonic()
        got = await hammer(p.url, 295, conns=10)
        assert time.monotonic() - t0 < 1.9 and {r.status for r in got} == {200}
        m = stats(p)
        assert m["in_flight"] == MAX_IN_FLIGHT and m["mirror_skipped"] == 300 - MAX_IN_FLIGHT
        await eventually(lambda: stats(p)["mirrored"] == MAX_IN_FLIGHT, timeout=10)
        m = stats(p)
        assert m["mirror_errors"] == 0 and m["in_flight"] == 0
        green_ms, blue_ms = m["green"]["p50"], m["blue"]["p50"]
        assert green_ms >= 2000 > 10 * blue_ms, (green_ms, blue_ms)


async def test_a_failing_green_counts_status_mismatches_with_examples_and_errors(
    suts: dict[str, str],
) -> None:
    async with mirrored(suts["blue"], suts["failing"]) as p:
        c = await Conn.open(p.url)
        for path in ("/", "/status/404", "/", "/echo"):
            await c.request(path=path)
        c.close()
        await eventually(lambda: stats(p)["mirrored"] == 4)
        m = stats(p)
        assert m["mirror_status_mismatch"] == 4 and m["mirror_body_mismatch"] == 0
        examples = {(e["path"], e["blue_status"], e["green_status"]) for e in m["examples"]}
        assert examples == {("/", 200, 500), ("/status/404", 404, 500), ("/echo", 200, 500)}
    # green gone: a copy that gets no answer is an error, and an example with status 0
    async with mirrored(suts["blue"], "http://127.0.0.1:1") as p:
        await hammer(p.url, 3, conns=1)
        await eventually(lambda: stats(p)["mirrored"] == 3)
        m = stats(p)
        assert m["mirror_errors"] == 3 and m["examples"] == [
            {"path": "/", "blue_status": 200, "green_status": 0}
        ]


async def test_only_listed_methods_are_copied_and_bodies_are_compared(
    suts: dict[str, str],
) -> None:
    async with mirrored(suts["blue"], suts["green"]) as p:
        before = await sut_requests(suts["green"])
        c = await Conn.open(p.url)
        for _ in range(3):
            assert (await c.request("POST", "/echo", body=b"write")).status == 200
        c.send("HEAD", "/")  # a HEAD answer has no body: read its head alone
        assert (await c.reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        await eventually(lambda: stats(p)["mirrored"] == 1)
        assert stats(p)["mirror_body_mismatch"] == 0
        assert await sut_requests(suts["green"]) == before + 2  # the HEAD and this one
        # listed, POSTs are copied with the same bytes: /echo agrees, a login's token does not
        r = await admin(p, "PUT", "/mirror", {"percent": 100, "methods": ["POST"]})
        assert r.json() == {"percent": 100, "methods": ["POST"]}
        assert (await c.request("POST", "/echo", body=b"x" * 100_000)).body == b"x" * 100_000
        login = json.dumps({"username": "u", "password": "p"}).encode()
        await c.request(
            "POST", "/api/login", body=login, headers={"content-type": "application/json"}
        )
        await eventually(lambda: stats(p)["mirrored"] == 3)
        m = stats(p)
        assert (m["mirror_status_mismatch"], m["mirror_body_mismatch"]) == (0, 1)
        assert m["examples"] == [{"path": "/api/login", "blue_status": 200, "green_status": 200}]
        # half of them: every second request, exactly
        await admin(p, "PUT", "/mirror", {"percent": 50, "methods": ["GET"]})
        for _ in range(10):
            await c.request()
        await eventually(lambda: stats(p)["mirrored"] == 8)
        await admin(p, "PUT", "/mirror", {"percent": 0})
        await c.request()
        c.close()
        assert stats(p)["mirrored"] == 8 and stats(p)["percent"] == 0


async def test_mirror_admin_refusals_and_the_surge_router_reading_the_pairs(
    suts: dict[str, str],
) -> None:
    async with proxied([suts["blue"]], [suts["failing"]]) as p:
        assert (await admin(p, "GET", "/mirror")).json() == {
            "percent": 0,
            "methods": ["GET", "HEAD", "OPTIONS"],
        }
        for body in ({"percent": 101}, {"percent": 50, "methods": ["get"]}, {"percent": "50"}):
            assert (await admin(p, "PUT", "/mirror", body)).status == 400
        r = await admin(p, "POST", "/mirror", {"percent": 100})
        assert r.status == 405 and r.headers["allow"] == "GET, PUT"
        router = SurgeProxyRouter(p.admin_url)
        try:
            base = await router.mirror_stats()
            assert base is not None and base.mirrored == 0
            await router.set_mirror(Mirror(100))
            await hammer(p.url, 5, conns=1)
            await eventually(lambda: stats(p)["mirrored"] == 5)
            now = await router.mirror_stats()
            assert now is not None
            window = now.since(base)
            assert (window.mirrored, window.status_mismatch, window.errors) == (5, 5, 0)
            assert sum(window.blue.values()) == sum(window.green.values()) == 5
            assert window.examples == (MirrorExample("/", 200, 500),)
            colors = (await router.stats()).colors
            assert set(colors) == {"blue", "green"}  # /stats' mirror object is not a color
        finally:
            await router.aclose()


def test_surge_proxy_mirror_flags(suts: dict[str, str]) -> None:
    flags = ["--listen=127.0.0.1:0", "--admin=127.0.0.1:0", "--blue", suts["blue"]]
    flags += ["--green", suts["green"], "--mirror", "green", "--mirror-methods", "get,head"]
    bad = subprocess.Popen(
        [*PROXY, *flags, "--mirror-methods", "GET;X"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc = subprocess.Popen(
        [*PROXY, *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url, admin_url = line.split()[4], line.rsplit(" ", 1)[-1].rstrip(")\n")
        asyncio.run(hammer(url, 4, conns=1))
        router = SurgeProxyRouter(admin_url)

        async def counts() -> Any:
            try:
                await eventually(lambda: _mirrored(router, 4))
                return await router.mirror_stats()
            finally:
                await router.aclose()

        got = asyncio.run(counts())
        assert got.mirrored == 4 and got.status_mismatch == got.body_mismatch == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    _, err = bad.communicate(timeout=20)
    assert bad.returncode == 2 and err.count("\n") == 1 and "--mirror-methods" in err, err


async def _mirrored(router: SurgeProxyRouter, n: int) -> bool:
    got = await router.mirror_stats()
    return got is not None and got.mirrored == n


class ShortKeepAlive:
    """A tiny HTTP/1.1 server that closes a connection idle for 0.2 s, as servers with a
    short keep-alive do; `/close` is answered with no length, ended by the close."""

    IDLE = 0.2

    def __init__(self) -> None:
        self.open = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        try:
            while True:
                try:
                    async with asyncio.timeout(self.IDLE):
                        head = await reader.readuntil(b"\r\n\r\n")
                except (TimeoutError, asyncio.IncompleteReadError):
                    return
                if head.split(b" ", 2)[1] == b"/close":
                    writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nbye")
                    return
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        finally:
            writer.close()
            self.open -= 1


async def test_green_closing_idle_mirror_connections_is_no_mirror_error() -> None:
    """A copy on a pooled connection green closed while it was idle is sent again on a
    fresh one (as blue's requests are), and an answer ended by the close is whole."""
    server = ShortKeepAlive()
    url = await server.start()
    try:
        async with mirrored(url, url) as p:
            for n in range(1, 4):
                c = await Conn.open(p.url)
                assert (await c.request()).status == 200
                c.close()
                await eventually(lambda n=n: stats(p)["mirrored"] == n)  # type: ignore[misc]
                await eventually(lambda: server.open == 0)  # green closed the idle ones
            c = await Conn.open(p.url)
            assert (await c.request(path="/close")).body == b"bye"
            c.close()
            await eventually(lambda: stats(p)["mirrored"] == 4)
            m = stats(p)
        assert (m["mirror_errors"], m["mirror_status_mismatch"], m["mirror_body_mismatch"]) == (
            0,
            0,
            0,
        ), m
    finally:
        assert server.server is not None
        server.server.close()
        await server.server.wait_closed()
