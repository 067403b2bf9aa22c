"""The proxy against hostile clients, browsers and odd upstreams, over real loopback sockets.

Each hostile behaviour is its own small server mode or client here: slow clients
dribbling headers, a full client table, a descriptor-starved proxy process, cross-site
admin requests, `Connection`-named headers, absolute-form targets and bad Hosts,
interim 1xx answers and close-delimited bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psutil
import pytest

from engine.deploy.routers.surge import AdminClient
from engine.deploy.strategies import Weights
from engine.errors import ConfigError
from engine.proxy import Proxy, ProxyConfig
from tests.conftest import ROOT, surge_cmd
from tests.integration.test_proxy import Conn, Resp, eventually, proxied, suts

pytestmark = pytest.mark.timeout(20)


# --------------------------------------------------------------------------- helpers


async def raw(url: str, data: bytes, *, until_close: bool = True) -> bytes:
    """Write `data` on a fresh connection; what comes back until the proxy closes (5 s at most)."""
    c = await Conn.open(url)
    c.writer.write(data)
    out = b""
    try:
        async with asyncio.timeout(5):
            while chunk := await c.reader.read(65536):
                out += chunk
                if not until_close:
                    break
    finally:
        c.close()
    return out


async def admin_raw(p: Proxy, head: str, body: bytes = b"") -> Resp:
    """One admin request written as given (`head` without the final blank line)."""
    c = await Conn.open(p.admin_url)
    try:
        c.writer.write(head.encode() + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
        return (await c.recv())[0]
    finally:
        c.close()


# --------------------------------------------------------------------------- slow clients


@pytest.mark.serial
async def test_slow_clients_are_closed_in_the_header_timeout_while_real_ones_get_200() -> None:
    """500 clients dribbling a head (a byte each 0.1 s) are all closed within the 1 s header
    timeout (+ one 0.25 s sweep); a real client meanwhile gets only 200s, and many."""
    async with suts("blue") as (b,), proxied([b.url], [b.url], header_timeout=1.0) as p:
        slow, opened = [], []
        for _ in range(500):
            slow.append(await Conn.open(p.url))
            opened.append(time.monotonic())
        t0 = time.monotonic()
        closed_at: list[float] = []  # seconds from each one's connect to its close
        replies: list[bytes] = []

        async def dribble(c: Conn, since: float) -> None:
            head = b"GET / HTTP/1.1\r\nhost: t\r\nx-slow: " + b"a" * 100
            for byte in head:
                try:
                    c.writer.write(bytes([byte]))
                    got = await asyncio.wait_for(c.reader.read(4096), 0.1)
                except TimeoutError:
                    continue
                except ConnectionError:
                    got = b""
                replies.append(got)
                closed_at.append(time.monotonic() - since)
                return

        statuses: list[int] = []

        async def real() -> None:
            c = await Conn.open(p.url)
            while time.monotonic() - t0 < 1.5:
                statuses.append((await c.request()).status)
            c.close()

        await asyncio.gather(real(), *(dribble(c, t) for c, t in zip(slow, opened, strict=True)))
        assert len(closed_at) == 500 and max(closed_at) < 2.0, max(closed_at, default=None)
        assert min(closed_at) > 0.95  # the bytes a client sends do not reset its timer
        assert sum(r.startswith(b"HTTP/1.1 408") for r in replies) == 500
        assert statuses and set(statuses) == {200} and len(statuses) >= 100, len(statuses)
        await eventually(lambda: not p.clients)
        for c in slow:
            c.close()


async def test_silent_and_idle_connections_and_slow_admin_heads_are_closed() -> None:
    async with (
        suts("blue") as (b,),
        proxied([b.url], [b.url], header_timeout=0.5, idle_timeout=1.0) as p,
    ):
        silent, idle, admin_slow = (
            await Conn.open(p.url),
            await Conn.open(p.url),
            await Conn.open(p.admin_url),
        )
        assert (await idle.request()).status == 200
        admin_slow.writer.write(b"GET /weights HTTP/1.1\r\n")
        t0 = time.monotonic()
        assert await silent.closed_by_peer()  # never sent a byte: closed, no 408
        assert 0.4 < time.monotonic() - t0 < 1.2
        reply = await asyncio.wait_for(admin_slow.reader.read(), 2)
        assert reply.startswith(b"HTTP/1.1 408")
        assert await asyncio.wait_for(idle.reader.read(), 2) == b""  # idle past 1 s
        assert 0.9 < time.monotonic() - t0 < 2.0


async def test_a_head_larger_than_64k_is_a_431_while_it_is_still_arriving() -> None:
    async with suts("blue") as (b,), proxied([b.url], [b.url]) as p:
        c = await Conn.open(p.url)
        c.writer.write(b"GET / HTTP/1.1\r\nhost: t\r\nx-endless: ")
        sent = 0
        reply = b""
        while not reply and sent < 1_000_000:  # the header never ends
            c.writer.write(b"a" * 16384)
            sent += 16384
            with contextlib.suppress(TimeoutError):
                reply = await asyncio.wait_for(c.reader.read(4096), 0.05)
        assert reply.startswith(b"HTTP/1.1 431") and sent <= 64 * 1024 + 300_000, sent
        c.close()


async def test_a_full_client_table_makes_room_for_a_real_client() -> None:
    """At max_clients, a new client closes the oldest with nothing in flight (slow heads
    first) instead of getting a 503; a client whose request is in flight is never closed."""
    async with suts("blue") as (b,), proxied([b.url], [b.url], max_clients=100) as p:
        busy = await Conn.open(p.url)
        busy.send("GET", "/delay/700")  # in flight the whole time: must survive
        await eventually(lambda: bool(p.clients) and all(c.queue for c in p.clients))
        slow = [await Conn.open(p.url) for _ in range(99)]
        for c in slow:
            c.writer.write(b"GET / HTTP/1.1\r\nhost: t\r\n")  # a head that never ends
        await eventually(lambda: len(p.clients) == 100)
        real = [await Conn.open(p.url) for _ in range(20)]  # 20 arrivals at a full table
        statuses = [(await c.request()).status for c in real]
        assert statuses == [200] * 20
        assert p.evicted == 20 and len(p.clients) == 100
        assert (await busy.recv())[0].status == 200
        closed = [await c.closed_by_peer() for c in slow[:20]]
        assert all(closed)  # the oldest slow heads made the room
        for c in real + slow[20:] + [busy]:
            c.close()


FD_CHILD = """
import asyncio, os, resource, sys
from engine.proxy import Proxy, ProxyConfig
from engine.serve import new_event_loop

async def main() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    cfg = ProxyConfig(blue=(sys.argv[1],), green=(sys.argv[1],), max_conns=2, max_clients=200)
    async with Proxy(cfg) as p:
        print(p.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # warm
        hog = []
        try:
            while True:
                hog.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        for fd in hog[:4]:  # room for four clients, then EMFILE
            os.close(fd)
        print("full", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

runner = asyncio.Runner(loop_factory=new_event_loop)
runner.run(main())
"""


async def test_out_of_descriptors_the_proxy_neither_spins_nor_dies_and_makes_room() -> None:
    """A proxy process whose descriptors run out (EMFILE on accept) logs it at most once a
    second, does not spin (CPU), and serves a real client by closing silent ones."""
    async with suts("blue") as (b,):
        proc = subprocess.Popen(
            [sys.executable, "-c", FD_CHILD, b.url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdin is not None
        try:
            url = (await asyncio.to_thread(proc.stdout.readline)).strip()
            warm = await Conn.open(url)  # leaves an idle pooled upstream connection
            assert (await warm.request()).status == 200
            warm.close()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert (await asyncio.to_thread(proc.stdout.readline)).strip() == "full"
            ps = psutil.Process(proc.pid)
            cpu0, t0 = sum(ps.cpu_times()[:2]), time.monotonic()
            silent = [await Conn.open(url) for _ in range(40)]  # far more than four
            await asyncio.sleep(0.3)
            c = await Conn.open(url)
            r = await c.request()
            assert r.status == 200
            await asyncio.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))
            cpu = sum(ps.cpu_times()[:2]) - cpu0
            elapsed = time.monotonic() - t0
            assert proc.poll() is None and cpu < 0.3 * elapsed, (cpu, elapsed)
            for s in [*silent, c]:
                s.close()
        finally:
            _, err = await asyncio.to_thread(proc.communicate, "stop\n", 10)
        lines = [x for x in err.splitlines() if "cannot accept" in x]
        assert 1 <= len(lines) <= elapsed + 1, err
        assert "Too many open files" in lines[0]


# --------------------------------------------------------------------------- admin API


async def test_cross_site_admin_requests_change_nothing() -> None:
    async with suts("blue") as (b,), proxied([b.url], [b.url]) as p:
        host = f"127.0.0.1:{p.admin_port}"
        body = json.dumps({"blue": 0, "green": 100}).encode()
        refused = [
            # a form post or fetch without preflight: text/plain, from the page's origin
            (
                f"POST /weights HTTP/1.1\r\nhost: {host}\r\norigin: http://evil.example\r\n"
                "content-type: text/plain",
                403,
            ),
            (
                f"PUT /weights HTTP/1.1\r\nhost: {host}\r\norigin: http://evil.example\r\n"
                "content-type: application/json",
                403,
            ),
            (
                f"PUT /weights HTTP/1.1\r\nhost: {host}\r\nsec-fetch-site: cross-site\r\n"
                "content-type: application/json",
                403,
            ),
            # DNS rebinding: the browser thinks it talks to evil.example
            (
                f"PUT /weights HTTP/1.1\r\nhost: evil.example:{p.admin_port}\r\n"
                "content-type: application/json",
                403,
            ),
            (
                f"PUT /weights HTTP/1.1\r\nhost: 127.0.0.1:{p.admin_port + 1}\r\n"
                "content-type: application/json",
                403,
            ),
            (
                f"PUT /weights HTTP/1.1\r\nhost: {host}\r\nhost: {host}\r\n"
                "content-type: application/json",
                400,
            ),
            ("PUT /weights HTTP/1.1\r\ncontent-type: application/json", 400),
            (f"PUT /weights HTTP/1.1\r\nhost: {host}\r\ncontent-type: text/plain", 415),
            (f"PUT /weights HTTP/1.1\r\nhost: {host}", 415),
            (f"POST /weights HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json", 405),
        ]
        for head, status in refused:
            r = await admin_raw(p, head, body)
            assert r.status == status, (head, r.status, r.body)
            assert "error" in r.json()
            if status == 405:
                assert r.headers["allow"] == "GET, PUT"
            read_back = await admin_raw(p, f"GET /weights HTTP/1.1\r\nhost: {host}")
            assert read_back.json() == {"blue": 100, "green": 0}
        assert p.weights == Weights(100, 0)
        # The user's own tools, by any loopback name, still steer it.
        for name in ("127.0.0.1", "localhost", "[::1]"):
            r = await admin_raw(
                p,
                f"PUT /weights HTTP/1.1\r\nhost: {name}:{p.admin_port}\r\n"
                "content-type: application/json; charset=utf-8",
                body,
            )
            assert r.status == 200, name
        assert p.weights == Weights(0, 100)


async def test_admin_token_is_required_when_set_and_sent_by_the_tools() -> None:
    token = "s3cret-token"
    async with suts("blue") as (b,), proxied([b.url], [b.url], admin_token=token) as p:
        host = f"127.0.0.1:{p.admin_port}"
        put = f"PUT /weights HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json"
        body = json.dumps({"blue": 50, "green": 50}).encode()
        for auth in ("", "\r\nauthorization: Bearer wrong", f"\r\nauthorization: Basic {token}"):
            r = await admin_raw(p, put + auth, body)
            assert r.status == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert (await admin_raw(p, f"GET /weights HTTP/1.1\r\nhost: {host}")).status == 401
        assert p.weights == Weights(100, 0)
        r = await admin_raw(p, put + f"\r\nauthorization: Bearer {token}", body)
        assert r.status == 200 and p.weights == Weights(50, 50)

        # The deploy driver's client: the token from the environment, or given.
        os.environ["SURGE_ADMIN_TOKEN"] = token
        try:
            client = AdminClient(p.admin_url)
        finally:
            del os.environ["SURGE_ADMIN_TOKEN"]
        assert await client.put("/weights", {"blue": 70, "green": 30}) == {"blue": 70, "green": 30}
        await client.aclose()
        client = AdminClient(p.admin_url)
        with pytest.raises(RuntimeError, match="401"):
            await client.put("/weights", {"blue": 1, "green": 1})
        await client.aclose()

        # `surge weights`: the flag, then the environment variable.
        def weights(*args: str, env: dict[str, str] | None = None) -> Any:
            return subprocess.run(
                surge_cmd("weights", *args, "--admin", host),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=10,
                env={**os.environ, **(env or {})},
            )

        done = [
            await asyncio.to_thread(weights, "20:80", "--admin-token", token),
            await asyncio.to_thread(weights, "--json", env={"SURGE_ADMIN_TOKEN": token}),
            await asyncio.to_thread(weights, "1:1"),
        ]
        assert (
            done[0].returncode == 0
            and done[0].stdout == "now blue 20% (1 instance), green 80% (1 instance)\n"
        )
        assert done[1].returncode == 0 and json.loads(done[1].stdout) == {"blue": 20, "green": 80}
        assert done[2].returncode == 1 and "Bearer" in done[2].stderr
        assert p.weights == Weights(20, 80)


def test_a_token_is_required_off_loopback() -> None:
    ok = ("http://127.0.0.1:1",)
    with pytest.raises(ConfigError, match=r"--admin-token.*required"):
        ProxyConfig(blue=ok, green=ok, admin_host="0.0.0.0", allow_remote=True)
    ProxyConfig(blue=ok, green=ok, admin_host="0.0.0.0", allow_remote=True, admin_token="t")
    with pytest.raises(ConfigError, match="--admin-token"):
        ProxyConfig(blue=ok, green=ok, admin_token="has space")
    env = {k: v for k, v in os.environ.items() if k != "SURGE_ADMIN_TOKEN"}
    flags = ("--blue", ok[0], "--green", ok[0], "--allow-remote", "--admin", "0.0.0.0:0")
    r = subprocess.run(
        surge_cmd("proxy", *flags), cwd=ROOT, capture_output=True, text=True, timeout=10, env=env
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "--admin-token" in r.stderr, r.stderr


# --------------------------------------------------------------------------- RFC 9112


async def _odd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One upstream, several modes by path; every answer echoes the request head it got."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            echo = json.dumps(head.decode().split("\r\n")[:-2]).encode()
            if path == b"/hop":
                writer.write(
                    b"HTTP/1.1 200 OK\r\nconnection: keep-alive, X-Internal\r\nx-internal: 1\r\n"
                    b"keep-alive: timeout=5\r\nx-kept: yes\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(echo), echo)
                )
            elif path == b"/interim":
                writer.write(
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
                    b"link: </s.css>; rel=preload\r\n\r\n"
                    b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(echo), echo)
                )
            elif path in (b"/http10-close", b"/close-delimited"):
                status = b"HTTP/1.0 200 OK" if path == b"/http10-close" else b"HTTP/1.1 200 OK"
                writer.write(status + b"\r\nconnection: close\r\n\r\n")
                writer.write(BIG)
                await writer.drain()
                writer.close()
                return
            else:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(echo), echo))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


BIG = os.urandom(1 << 20)


@asynccontextmanager
async def odd_proxy() -> AsyncIterator[tuple[Proxy, list[int]]]:
    """A proxy whose both colors are `_odd`; the list counts the requests it received."""
    seen: list[int] = []

    async def counted(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        seen.append(1)
        await _odd(r, w)

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with proxied([url], [url]) as p:
            yield p, seen
    finally:
        server.close()


async def test_headers_named_in_connection_are_dropped_both_ways() -> None:
    async with odd_proxy() as (p, _):
        c = await Conn.open(p.url)
        r = await c.request(
            "GET",
            "/hop",
            headers={
                "connection": "keep-alive, X-Secret",
                "x-secret": "hunter2",
                "te": "trailers",
                "proxy-connection": "keep-alive",
                "x-fine": "1",
            },
        )
        sent = [h.lower() for h in json.loads(r.body)]
        assert "x-fine: 1" in sent
        assert not any(h.startswith(("x-secret", "connection", "te:", "proxy-conn")) for h in sent)
        assert "x-internal" not in r.headers and "keep-alive" not in r.headers
        assert r.headers["x-kept"] == "yes" and r.color == "blue"
        assert (await c.request("GET", "/")).status == 200  # the connection lives on


async def test_absolute_form_targets_and_bad_hosts() -> None:
    async with odd_proxy() as (p, seen):
        for name in ("127.0.0.1", "LOCALHOST"):
            target = f"http://{name}:{p.port}/echo?x=1"
            reply = await raw(
                p.url, f"GET {target} HTTP/1.1\r\nhost: other\r\n\r\n".encode(), until_close=False
            )
            assert reply.startswith(b"HTTP/1.1 200"), reply[:100]
            head = json.loads(reply.split(b"\r\n\r\n", 1)[1])
            assert head[0] == "GET /echo?x=1 HTTP/1.1"
            hosts = [h for h in head if h.lower().startswith("host:")]
            assert hosts == [f"host: {name}:{p.port}"]
        before = len(seen)
        for bad in (
            f"GET http://evil.example:{p.port}/ HTTP/1.1\r\nhost: t",
            "GET http://evil.example/ HTTP/1.1\r\nhost: t",
            f"GET https://127.0.0.1:{p.port}/ HTTP/1.1\r\nhost: t",
            "GET / HTTP/1.1",
            "GET / HTTP/1.1\r\nhost:",
            "GET / HTTP/1.1\r\nhost: a b",
            "GET / HTTP/1.1\r\nhost: a/b",
            "GET / HTTP/1.1\r\nhost: a\r\nhost: a",
            "GET / HTTP/1.1\r\nhost: a\r\nhost: b",
        ):
            reply = await raw(p.url, bad.encode() + b"\r\n\r\n")
            assert reply.startswith(b"HTTP/1.1 400"), (bad, reply[:80])
            assert b"connection: close" in reply
        assert len(seen) == before  # none reached an upstream
        reply = await raw(p.url, b"GET / HTTP/1.0\r\n\r\n")  # 1.0 may omit Host
        assert reply.startswith(b"HTTP/1.1 200")
        assert "host: 127.0.0.1:" in reply.decode()


async def test_interim_answers_are_not_taken_for_the_final_one() -> None:
    """100 then 103 then 200 upstream: the client gets the 103 (forwarded) and one 200; the
    100 is dropped (the proxy answers Expect itself); an HTTP/1.0 client gets no 1xx."""
    async with odd_proxy() as (p, _):
        c = await Conn.open(p.url)
        c.send("GET", "/interim")
        c.send("GET", "/")
        got = await c.recv(3)
        assert [r.status for r in got] == [103, 200, 200]
        assert got[0].headers["link"] == "</s.css>; rel=preload"
        assert got[1].color == "blue" and json.loads(got[1].body)[0] == "GET /interim HTTP/1.1"
        reply = await raw(p.url, b"GET /interim HTTP/1.0\r\n\r\n")
        assert reply.count(b"HTTP/1.1 ") == 1 and reply.startswith(b"HTTP/1.1 200")


async def test_a_close_delimited_upstream_body_reaches_the_client_whole() -> None:
    async with odd_proxy() as (p, _):
        c = await Conn.open(p.url)
        for path in ("/http10-close", "/close-delimited"):
            r = await c.request("GET", path)
            assert r.status == 200 and r.headers["transfer-encoding"] == "chunked"
            assert hashlib.sha256(r.body).digest() == hashlib.sha256(BIG).digest()
        assert (await c.request("GET", "/")).status == 200  # re-framed: the client stays
        reply = await raw(p.url, b"GET /http10-close HTTP/1.0\r\n\r\n")  # 1.0: until close
        head, _, body = reply.partition(b"\r\n\r\n")
        assert b"transfer-encoding" not in head and body == BIG


async def test_httpx_client_through_the_hardened_proxy() -> None:
    """An ordinary client (httpx: Host with port, keep-alive) is not caught by any check."""
    async with suts("blue") as (b,), proxied([b.url], [b.url]) as p:
        async with httpx.AsyncClient(base_url=p.url, trust_env=False) as client:
            rs = [await client.get("/") for _ in range(50)]
        assert {r.status_code for r in rs} == {200}
