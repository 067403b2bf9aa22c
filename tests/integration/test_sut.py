"""The demo SUT over real loopback sockets.

A raw asyncio-streams client is used instead of httpx so the tests see exactly what
goes on the wire (keep-alive, pipelining order, Connection: close) and stay fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.sut import BoundedDict, EndpointOverride, Latency, SutConfig, SutServer
from tui.cli.sut_cmd import add_arguments, config_from_args

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(15)


# --------------------------------------------------------------------------- client


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Conn:
    """One keep-alive HTTP/1.1 connection; send() and recv() apart allow pipelining."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def send(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        version: str = "1.1",
    ) -> None:
        lines = [f"{method} {path} HTTP/{version}", "Host: test"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    async def recv(self) -> Resp:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0"))
        body = await self.reader.readexactly(length) if length else b""
        return Resp(status, headers, body)

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> Resp:
        self.send(method, path, headers, body)
        return await self.recv()

    async def is_closed_by_peer(self) -> bool:
        return await self.reader.read(1) == b""

    async def close(self) -> None:
        self.writer.close()
        with suppress(ConnectionError):
            await self.writer.wait_closed()


@asynccontextmanager
async def sut(**kw: Any) -> AsyncIterator[tuple[SutServer, Conn]]:
    """A started server on a free port plus one open connection to it."""
    kw.setdefault("port", 0)
    async with SutServer(SutConfig(**kw)) as srv:
        conn = await Conn.open(srv.port)
        try:
            yield srv, conn
        finally:
            await conn.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(conn: Conn, user: str = "alice") -> str:
    body = json.dumps({"username": user, "password": "secret"}).encode()
    r = await conn.request("POST", "/api/login", {"Content-Type": "application/json"}, body)
    assert r.status == 200, r.body
    assert r.json()["user"] == user
    return str(r.json()["token"])


# --------------------------------------------------------------------------- basics


async def test_root_and_keep_alive_on_one_connection() -> None:
    async with sut() as (srv, conn):
        assert srv.url == f"http://127.0.0.1:{srv.port}"
        for _ in range(5):
            r = await conn.request("GET", "/")
            assert r.status == 200
            assert r.body == b"hello world\n"
            assert r.headers["content-type"].startswith("text/plain")
            assert r.headers["content-length"] == "12"
            assert "connection" not in r.headers
        r = await conn.request("GET", "/health")
        assert (r.status, r.json()) == (200, {"status": "ok"})


async def test_pipelined_requests_answer_in_order() -> None:
    async with sut() as (_, conn):
        conn.send("GET", "/delay/150")
        conn.send("GET", "/")
        conn.send("GET", "/status/418")
        first, second, third = [await conn.recv() for _ in range(3)]
        assert first.json() == {"delay_ms": 150}
        assert second.body == b"hello world\n"
        assert third.status == 418


async def test_connection_close_is_honoured() -> None:
    async with sut() as (_, conn):
        conn.send("GET", "/", {"Connection": "close"})
        conn.send("GET", "/")  # pipelined after close: must be ignored
        r = await conn.recv()
        assert r.status == 200
        assert r.headers["connection"] == "close"
        assert await conn.is_closed_by_peer()


async def test_http10_keep_alive_says_so() -> None:
    async with sut() as (_, conn):
        conn.send("GET", "/", {"Connection": "keep-alive"}, version="1.0")
        r = await conn.recv()
        assert r.headers["connection"] == "keep-alive"
        conn.send("GET", "/", version="1.0")
        r = await conn.recv()
        assert r.headers["connection"] == "close"
        assert await conn.is_closed_by_peer()


async def test_malformed_request_gets_400_and_close() -> None:
    async with sut() as (_, conn):
        conn.writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        r = await conn.recv()
        assert r.status == 400
        assert await conn.is_closed_by_peer()


async def test_body_too_large_is_413() -> None:
    async with sut() as (_, conn):
        r = await conn.request("POST", "/echo", body=b"x" * ((1 << 20) + 1))
        assert r.status == 413
        assert await conn.is_closed_by_peer()


async def test_unknown_path_404_and_wrong_method_405() -> None:
    async with sut() as (_, conn):
        r = await conn.request("GET", "/nope")
        assert (r.status, r.json()) == (404, {"error": "not found"})
        r = await conn.request("DELETE", "/")
        assert r.status == 405
        assert r.headers["allow"] == "GET"
        r = await conn.request("GET", "/api/login")
        assert r.status == 405
        assert r.headers["allow"] == "POST"
        r = await conn.request("POST", "/health", body=b"")
        assert r.status == 405


async def test_echo_status_and_delay_routes() -> None:
    async with sut() as (_, conn):
        body = b'{"a": 1}'
        r = await conn.request("POST", "/echo", {"Content-Type": "application/x-test"}, body)
        assert (r.status, r.body, r.headers["content-type"]) == (200, body, "application/x-test")
        r = await conn.request("GET", "/echo?x=1")
        assert (r.status, r.body) == (200, b"")
        r = await conn.request("GET", "/status/503")
        assert r.status == 503
        assert r.body.startswith(b"503")
        r = await conn.request("GET", "/status/204")
        assert r.status == 204
        assert r.body == b""
        r = await conn.request("GET", "/status/99")
        assert r.status == 400
        r = await conn.request("GET", "/delay/abc")
        assert r.status == 400
        t0 = time.perf_counter()
        r = await conn.request("GET", "/delay/100")
        assert r.status == 200
        assert 0.09 <= time.perf_counter() - t0 < 1.0


async def test_color_header_on_every_response() -> None:
    async with sut(color="green") as (_, conn):
        for path in ("/", "/nope", "/health", "/status/500"):
            r = await conn.request("GET", path)
            assert r.headers["x-surge-upstream"] == "green", path
    async with sut() as (_, conn):
        r = await conn.request("GET", "/")
        assert "x-surge-upstream" not in r.headers


# --------------------------------------------------------------------------- faults


async def test_error_rate_is_exact_over_1000_pipelined_requests() -> None:
    async with sut(error_rate=0.1) as (_, conn):
        for _ in range(1000):
            conn.send("GET", "/")
        responses = [await conn.recv() for _ in range(1000)]
        statuses = [r.status for r in responses]
        assert statuses.count(500) == 100
        assert statuses.count(200) == 900
        # floor(n*r) > floor((n-1)*r): every 10th request fails, the first at n=10.
        assert [i + 1 for i, s in enumerate(statuses) if s == 500][:3] == [10, 20, 30]
        assert responses[9].json() == {"error": "injected"}
        # /health is exempt even at the 10th request of a new decade.
        for _ in range(20):
            assert (await conn.request("GET", "/health")).status == 200


async def test_health_ignores_latency_errors_and_stall() -> None:
    async with sut(error_rate=1.0, latency="2s", stall="1s/2s") as (_, conn):
        t0 = time.perf_counter()
        r = await conn.request("GET", "/health")
        assert r.status == 200
        assert time.perf_counter() - t0 < 0.5


async def test_fixed_latency_delays_each_response() -> None:
    async with sut(latency="50ms") as (_, conn):
        for _ in range(3):
            t0 = time.perf_counter()
            r = await conn.request("GET", "/")
            elapsed = time.perf_counter() - t0
            assert r.status == 200
            assert 0.045 <= elapsed < 0.5


async def test_capacity_queues_requests_beyond_its_rate() -> None:
    """--capacity 200: 100 requests at once are served one per 5 ms (the last after
    ~0.5 s); paced below 200/s, they do not wait at all."""
    async with sut(capacity=200) as (_, conn):
        t0 = time.perf_counter()
        for _ in range(100):
            conn.send("GET", "/")
        for _ in range(100):
            assert (await conn.recv()).status == 200
        burst = time.perf_counter() - t0
        assert 0.45 <= burst < 1.5
        await asyncio.sleep(0.05)  # the queue has drained: below capacity, no wait
        slowest = 0.0
        for _ in range(10):
            t1 = time.perf_counter()
            assert (await conn.request("GET", "/")).status == 200
            slowest = max(slowest, time.perf_counter() - t1)
            await asyncio.sleep(0.01)  # ~90 requests/s
        assert slowest < 0.02
        assert (await conn.request("GET", "/health")).status == 200  # health never queues


async def test_latency_range_stays_in_range_and_keeps_order() -> None:
    async with sut(latency="10ms-60ms") as (_, conn):
        t0 = time.perf_counter()
        for i in range(20):
            conn.send("GET", f"/status/{200 + i}")
        statuses = [(await conn.recv()).status for _ in range(20)]
        elapsed = time.perf_counter() - t0
        assert statuses == [200 + i for i in range(20)]
        assert 0.009 <= elapsed < 1.0


async def test_per_endpoint_overrides() -> None:
    endpoints = {
        "items": EndpointOverride(error_rate=0.5),
        "login": EndpointOverride(latency=Latency.parse("100ms")),
    }
    async with sut(endpoints=endpoints) as (_, conn):
        t0 = time.perf_counter()
        token = await login(conn)
        assert time.perf_counter() - t0 >= 0.095
        auth = bearer(token)
        statuses = [(await conn.request("GET", "/api/items", auth)).status for _ in range(10)]
        assert statuses.count(500) == 5
        assert statuses.count(200) == 5
        t0 = time.perf_counter()
        roots = [(await conn.request("GET", "/")).status for _ in range(10)]
        assert roots == [200] * 10
        assert time.perf_counter() - t0 < 0.5


async def test_stall_holds_requests_until_freeze_ends() -> None:
    async with sut(stall="0.3s/1s") as (srv, conn):
        loop = asyncio.get_running_loop()
        sent = loop.time()
        assert sent - srv.started_at < 0.2  # we really are inside the first freeze
        r = await conn.request("GET", "/")
        done = loop.time()
        assert r.status == 200
        assert done - srv.started_at >= 0.29
        assert done - srv.started_at < 0.8
        # Right after the freeze the server answers at once.
        t0 = loop.time()
        assert (await conn.request("GET", "/")).status == 200
        assert loop.time() - t0 < 0.2


# --------------------------------------------------------------------------- JSON API


async def test_login_items_jobs_logout_flow() -> None:
    async with sut(job_duration=0.3) as (_, conn):
        r = await conn.request("GET", "/api/items")
        assert (r.status, r.json()) == (401, {"error": "unauthorized"})
        r = await conn.request("GET", "/api/items", bearer("not-a-token"))
        assert r.status == 401

        token = await login(conn)
        auth = bearer(token)
        r = await conn.request("GET", "/api/items", auth)
        items = r.json()["items"]
        assert r.status == 200
        assert r.headers["content-type"] == "application/json"
        assert len(items) == 20
        assert items[0]["id"] == 1
        assert items[0]["name"] == "item-1"
        assert all(isinstance(it["price"], float) for it in items)
        r = await conn.request("GET", "/api/items/7", auth)
        assert (r.status, r.json()) == (200, items[6])
        assert (await conn.request("GET", "/api/items/21", auth)).status == 404
        assert (await conn.request("GET", "/api/items/7")).status == 401

        r = await conn.request("POST", "/api/jobs", auth, b'{"kind": "report"}')
        job = r.json()
        assert r.status == 201
        assert job["status"] == "running"
        assert job["progress"] == 0
        assert r.headers["location"] == f"/api/jobs/{job['id']}"
        progress = [0]
        async with asyncio.timeout(3):
            while True:
                r = await conn.request("GET", f"/api/jobs/{job['id']}", auth)
                assert r.status == 200
                state = r.json()
                assert state["progress"] >= progress[-1]
                progress.append(state["progress"])
                if state["status"] == "done":
                    break
                assert state["status"] == "running"
                await asyncio.sleep(0.05)  # polling is the behaviour under test
        assert progress[-1] == 100
        assert any(0 < p < 100 for p in progress)
        assert (await conn.request("GET", "/api/jobs/ffff", auth)).status == 404
        assert (await conn.request("POST", "/api/jobs", auth, b"{bad")).status == 400
        assert (await conn.request("POST", "/api/jobs", auth)).status == 201

        r = await conn.request("POST", "/api/logout", auth)
        assert (r.status, r.json()) == (200, {"status": "logged out"})
        assert (await conn.request("GET", "/api/items", auth)).status == 401
        assert (await conn.request("POST", "/api/logout", auth)).status == 401


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'{"username": "bob"}', 400),
        (b'{"username": "", "password": "x"}', 400),
        (b'{"username": "bob", "password": 5}', 400),
        (b'{"username": "bob", "password": "wrong"}', 401),
    ],
)
async def test_login_rejections(body: bytes, status: int) -> None:
    async with sut() as (_, conn):
        r = await conn.request("POST", "/api/login", {"Content-Type": "application/json"}, body)
        assert r.status == status
        assert "error" in r.json()


async def test_tokens_are_bounded_and_oldest_evicted() -> None:
    async with sut(max_entries=2) as (_, conn):
        first, second, third = [await login(conn, f"u{i}") for i in range(3)]
        assert (await conn.request("GET", "/api/items", bearer(first))).status == 401
        assert (await conn.request("GET", "/api/items", bearer(second))).status == 200
        assert (await conn.request("GET", "/api/items", bearer(third))).status == 200


def test_bounded_dict_evicts_oldest() -> None:
    d: BoundedDict[str, int] = BoundedDict(3)
    for i in range(10):
        d[f"k{i}"] = i
    assert list(d) == ["k7", "k8", "k9"]
    d["k7"] = 70  # re-set refreshes, so k8 is now the oldest
    d["k10"] = 10
    assert list(d.items()) == [("k9", 9), ("k7", 70), ("k10", 10)]
    del d["k9"]
    assert len(d) == 2
    assert "k9" not in d
    with pytest.raises(ValueError):
        BoundedDict(0)


# --------------------------------------------------------------------------- config


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_config_from_args_happy_path() -> None:
    cfg = config_from_args(
        parse(
            "--port",
            "0",
            "--color",
            "blue",
            "--latency",
            "10ms-30ms",
            "--error-rate",
            "0.05",
            "--stall",
            "0.5s/2s",
            "--endpoint-latency",
            "login=50ms",
            "--endpoint-errors",
            "items=0.05",
            "--endpoint-latency",
            "items=1ms",
            "--job-duration",
            "1m30s",
        )
    )
    assert cfg.port == 0
    assert cfg.color == "blue"
    assert cfg.latency == Latency(0.01, 0.03)
    assert cfg.error_rate == 0.05
    assert cfg.stall == (0.5, 2.0)
    assert cfg.endpoints["login"] == EndpointOverride(Latency(0.05, 0.05), None)
    assert cfg.endpoints["items"] == EndpointOverride(Latency(0.001, 0.001), 0.05)
    assert cfg.job_duration == 90.0
    defaults = config_from_args(parse())
    assert (defaults.host, defaults.port, defaults.latency) == ("127.0.0.1", 8080, Latency())
    assert defaults.stall is None
    assert config_from_args(parse("--host", "::1")).host == "::1"
    assert config_from_args(parse("--host", "0.0.0.0", "--allow-remote")).allow_remote


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--error-rate", "1.5"], "--error-rate"),
        (["--error-rate", "lots"], "--error-rate"),
        (["--latency", "fast"], "--latency"),
        (["--latency", "30ms-10ms"], "--latency"),
        (["--stall", "2s/1s"], "--stall"),
        (["--stall", "0.5s"], "--stall"),
        (["--endpoint-latency", "nope=5ms"], "unknown endpoint"),
        (["--endpoint-latency", "login"], "NAME=VALUE"),
        (["--endpoint-errors", "items=2"], "--endpoint-errors"),
        (["--job-duration", "-1"], "--job-duration"),
        (["--port", "http"], "--port"),
        (["--port", "70000"], "port"),
        (["--host", "0.0.0.0"], "--allow-remote"),
        (["--host", "example.com"], "--allow-remote"),
        (["--color", "blue\r\nx-evil: 1"], "color"),
        (["--capacity", "0"], "--capacity"),
        (["--capacity", "lots"], "--capacity"),
    ],
)
def test_config_from_args_rejects_bad_values(argv: list[str], needle: str) -> None:
    with pytest.raises(ValueError, match=needle.replace("-", r"\-")):
        config_from_args(parse(*argv))


def test_sut_config_accepts_strings_and_validates() -> None:
    cfg = SutConfig(latency="20ms", stall="0.1s/1s", job_duration="500ms")
    assert cfg.latency == Latency(0.02, 0.02)
    assert cfg.stall == (0.1, 1.0)
    assert cfg.job_duration == 0.5
    with pytest.raises(ValueError):
        SutConfig(endpoints={"bogus": EndpointOverride()})
    with pytest.raises(ValueError):
        SutConfig(error_rate=-0.1)
    with pytest.raises(TypeError):
        hash(cfg.endpoints)  # read-only view, cannot be mutated after validation
    with pytest.raises(TypeError):
        cfg.endpoints["root"] = EndpointOverride()  # type: ignore[index]


# --------------------------------------------------------------------------- uvloop / process


def test_runs_on_uvloop() -> None:
    """Production runs on uvloop, whose transports differ from asyncio's."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        async with sut(latency="5ms") as (_, conn):
            conn.send("GET", "/delay/50")
            conn.send("GET", "/")
            first, second = await conn.recv(), await conn.recv()
            assert first.json() == {"delay_ms": 50}
            assert second.body == b"hello world\n"
            token = await login(conn)
            assert (await conn.request("GET", "/api/items", bearer(token))).status == 200

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(asyncio.wait_for(scenario(), 5))


async def test_sut_process_announces_port_and_exits_0_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui.cli",
        "sut",
        "--port",
        "0",
        "--color",
        "blue",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        prefix = "surge sut listening on http://127.0.0.1:"
        assert line.startswith(prefix), line
        port = int(line.strip().removeprefix(prefix))
        conn = await Conn.open(port)
        r = await conn.request("GET", "/")
        assert (r.status, r.headers["x-surge-upstream"]) == (200, "blue")
        await conn.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 5) == 0
        assert proc.stderr is not None
        assert await proc.stderr.read() == b""
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sut_process_rejects_bad_flags() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui.cli",
        "sut",
        "--error-rate",
        "2",
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 2
    assert b"--error-rate" in err
    assert b"Traceback" not in err


async def test_head_announces_the_body_but_never_sends_it() -> None:
    async with SutServer(SutConfig(port=0)) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"content-length: 15" in head
        # The next bytes are the second response, not the first one's body.
        second = await reader.readuntil(b"\r\n\r\n")
        assert second.startswith(b"HTTP/1.1 200")
        writer.close()
