"""Both load clients against small hostile servers on 127.0.0.1, through the real engine.

One asyncio server per test, one mode per hostile behaviour (interim 1xx, close-delimited
bodies, gzip, a 1 GB body, an endless chunked body, an endless header line, a body at one
byte a second), plus an echo mode for what Surge sends. Runs are bounded in count and time;
the unbounded ones run the engine in a child process whose peak RSS (VmHWM, reset after
imports) must stay under 100 MB.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psutil
import pytest

from engine.load.controller import Controller
from engine.load.run import RunResult
from engine.profile import parse_profile
from engine.profile.model import ProfileError
from engine.profile.plan import Overrides, build_plan
from tests.conftest import ROOT, run_surge

CLIENTS = ("wire", "httpx")
GZ_BODY = gzip.compress(b"hello gzip " * 300 + b"needle")
GIB = 1024**3
MIB = 1024**2

Writer = asyncio.StreamWriter
Mode = Callable[["Hostile", Writer], Awaitable[bool]]  # True: keep the connection


async def interim(server: Hostile, w: Writer) -> bool:
    w.write(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello final"
    )
    await w.drain()
    return True


async def close_http10(server: Hostile, w: Writer) -> bool:
    w.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
    await w.drain()
    w.write(b"hello until the close")
    return False


async def close_http11(server: Hostile, w: Writer) -> bool:
    w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    await w.drain()
    w.write(b"hello until the close")
    return False


GZ_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: text/plain\r\n"
    + f"Content-Length: {len(GZ_BODY)}\r\n\r\n".encode()
    + GZ_BODY
)


async def gzipped(server: Hostile, w: Writer) -> bool:
    w.write(GZ_RESPONSE)
    await w.drain()
    return True


async def huge(server: Hostile, w: Writer) -> bool:
    """1 GiB announced and sent, from one reused 256 KiB chunk: never held whole."""
    w.write(f"HTTP/1.1 200 OK\r\nContent-Length: {GIB}\r\n\r\n".encode())
    chunk = b"x" * (256 * 1024)
    for _ in range(GIB // len(chunk)):
        w.write(chunk)
        await w.drain()
    return True


async def endless_chunked(server: Hostile, w: Writer) -> bool:
    w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b"y" * 0x10000 + b"\r\n"
    while True:
        w.write(chunk)
        await w.drain()


async def endless_header(server: Hostile, w: Writer) -> bool:
    w.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
    piece = b"a" * 65536
    while True:
        w.write(piece)
        await w.drain()


async def slow_body(server: Hostile, w: Writer) -> bool:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):
        w.write(b"z")
        await w.drain()
        await asyncio.sleep(1.0)  # the hostile behaviour itself: one byte a second
    return True


async def echo(server: Hostile, w: Writer) -> bool:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    await w.drain()
    return True


class Hostile:
    """A loopback HTTP/1.1 server answering every request with `mode`; it records heads."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Hostile:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        if sys.version_info >= (3, 12):
            self._server.close_clients()

    async def _handle(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                self.bodies.append(await reader.readexactly(length) if length else b"")
                if not await self.mode(self, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    @property
    def requests(self) -> int:
        return len(self.heads)


def profile_text(url: str, checks: str = "[]", extra: str = "", path: str = "/") -> str:
    return (
        f'name = "hostile"\nbase_url = "{url}"\n{extra}\n'
        f'[[endpoints]]\npath = "{path}"\nchecks = {checks}\n'
    )


def make_plan(text: str, **overrides: Any) -> Any:
    overrides.setdefault("workers", 1)
    return build_plan(parse_profile(text, "hostile.toml"), Overrides(**overrides), interval=0.5)


async def run(plan: Any) -> RunResult:
    return await asyncio.wait_for(Controller(plan).run(), 20)


BODY_CHECK = '[{ status = 200 }, { body_contains = "hello" }]'


# ----------------------------------------------------------------- reading right


@pytest.mark.serial
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("checks", ["[]", BODY_CHECK])
async def test_interim_1xx_are_skipped_and_every_request_counts_once_as_200(
    client: str, checks: str
) -> None:
    async with Hostile(interim) as srv:
        result = await run(
            make_plan(profile_text(srv.url, checks), vus=5, duration=1.5, client=client)
        )
    f = result.model.figures()
    assert f.requests > 20
    assert f.status == {200: f.requests}, f.status
    assert f.failed == 0 and f.errors == {}
    # Each request the server saw is counted once (a 1xx taken as the answer sent more).
    assert srv.requests - 5 <= f.requests <= srv.requests
    if checks != "[]":
        passed, failed = result.model.checks()["body contains hello"]
        assert failed == 0 and passed == f.requests


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("mode", [close_http10, close_http11], ids=["http1.0", "http1.1-close"])
@pytest.mark.parametrize("checks", ["[]", BODY_CHECK])
async def test_bodies_delimited_by_the_close_are_read_whole(
    client: str, mode: Mode, checks: str
) -> None:
    async with Hostile(mode) as srv:
        plan = make_plan(profile_text(srv.url, checks), vus=3, duration=1.5, client=client)
        result = await run(plan)
    f = result.model.figures()
    assert f.requests > 20
    assert f.status == {200: f.requests}, (f.status, f.errors)
    assert f.failed == 0 and f.errors == {}
    assert srv.requests - 3 <= f.requests <= srv.requests
    if checks != "[]":
        assert result.model.checks()["body contains hello"] == (f.requests, 0)


@pytest.mark.parametrize("client", CLIENTS)
async def test_gzip_bodies_are_decoded_for_checks_and_counted_as_sent(client: str) -> None:
    async with Hostile(gzipped) as srv:
        checks = '[{ body_contains = "needle" }]'
        plan = make_plan(profile_text(srv.url, checks), iterations=10, vus=2, client=client)
        result = await run(plan)
    f = result.model.figures()
    assert f.requests == 10 and f.failed == 0
    assert result.model.checks() == {"body contains needle": (10, 0)}
    # Both clients count what came off the socket (head and compressed body), never the
    # decoded size.
    assert f.bytes_in == 10 * len(GZ_RESPONSE)


# -------------------------------------------------------------- bounded memory

_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import psutil
    from engine.load.controller import Controller
    from engine.profile import parse_profile
    from engine.profile.plan import Overrides, build_plan

    text, overrides = sys.argv[1], json.loads(sys.argv[2])
    plan = build_plan(parse_profile(text, "hostile.toml"), Overrides(**overrides), interval=0.5)
    proc = psutil.Process()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM: the peak from here on is the run's
    base = proc.memory_info().rss
    t0 = time.perf_counter()
    result = asyncio.run(Controller(plan).run())
    took = time.perf_counter() - t0
    peak = 0
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    f = result.model.figures()
    print(json.dumps({
        "base": base, "peak": max(peak, proc.memory_info().rss), "took": took,
        "requests": f.requests, "status": f.status, "errors": f.errors,
        "bytes_in": f.bytes_in, "checks": result.model.checks(),
    }))
    """
)


async def run_child(text: str, **overrides: Any) -> dict[str, Any]:
    """The engine in a child process (the server stays here); its peak RSS, also sampled."""
    overrides.setdefault("workers", 1)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        text,
        json.dumps(overrides),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    sampled = 0
    ps = psutil.Process(child.pid)

    async def sample() -> None:
        nonlocal sampled
        while True:
            try:
                sampled = max(sampled, ps.memory_info().rss)
            except psutil.Error:
                return
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    out, err = await asyncio.wait_for(child.communicate(), 30)
    sampler.cancel()
    assert child.returncode == 0, err.decode()[-2000:]
    report = json.loads(out.decode().strip().splitlines()[-1])
    report["sampled"] = sampled
    return report


def assert_bounded(report: dict[str, Any]) -> None:
    grown = report["peak"] - report["base"]
    assert grown < 100 * MIB, f"peak RSS {grown / MIB:.0f} MB above the start: {report}"


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_1_gib_body_with_a_body_check_is_streamed_in_bounded_memory(client: str) -> None:
    async with Hostile(huge) as srv:
        text = profile_text(srv.url, '[{ body_contains = "needle" }]', 'timeout = "25s"')
        report = await run_child(text, iterations=1, vus=1, client=client)
    assert_bounded(report)
    assert report["requests"] == 1 and report["status"] == {"200": 1}
    assert report["bytes_in"] >= GIB
    assert report["checks"] == {"body contains needle": [0, 1]}
    assert report["errors"] == {"body over max_body (1048576 bytes kept)": 1}


@pytest.mark.parametrize("client", CLIENTS)
async def test_an_endless_chunked_body_ends_at_the_deadline_in_bounded_memory(
    client: str,
) -> None:
    async with Hostile(endless_chunked) as srv:
        text = profile_text(srv.url, BODY_CHECK, 'timeout = "1.5s"')
        report = await run_child(text, iterations=2, vus=2, client=client)
    assert_bounded(report)
    assert report["requests"] == 2
    assert report["errors"] == {"timeout": 2}
    assert report["took"] < 1.5 + 1.5


@pytest.mark.parametrize("client", CLIENTS)
async def test_an_endless_header_line_is_cut_in_bounded_memory(client: str) -> None:
    async with Hostile(endless_header) as srv:
        text = profile_text(srv.url, BODY_CHECK, 'timeout = "3s"')
        report = await run_child(text, iterations=4, vus=2, client=client)
    assert_bounded(report)
    assert report["requests"] == 4
    assert report["errors"] == {"header too large": 4}
    assert report["took"] < 3.0  # cut at the limit, not at the deadline


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_body_at_one_byte_a_second_times_out_at_the_deadline(client: str) -> None:
    async with Hostile(slow_body) as srv:
        plan = make_plan(
            profile_text(srv.url, extra='timeout = "1s"'), iterations=2, vus=2, client=client
        )
        t0 = time.perf_counter()
        result = await run(plan)
        took = time.perf_counter() - t0
    f = result.model.figures()
    assert f.requests == 2 and f.errors == {"timeout": 2}
    assert took < 2.5


async def test_max_body_bounds_what_is_kept_and_a_check_past_it_says_so() -> None:
    body = b"a" * 5000 + b"needle"

    async def long_body(server: Hostile, w: Writer) -> bool:
        w.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        await w.drain()
        return True

    async with Hostile(long_body) as srv:
        checks = '[{ body_contains = "needle" }, { body_contains = "aaaa" }]'
        results = []
        for max_body in (4096, 8192):
            plan = make_plan(profile_text(srv.url, checks), iterations=4, vus=1, max_body=max_body)
            results.append(await run(plan))
    cut, whole = results
    assert cut.model.checks() == {"body contains needle": (0, 4), "body contains aaaa": (4, 0)}
    assert cut.model.figures().errors == {"body over max_body (4096 bytes kept)": 4}
    assert whole.model.checks() == {"body contains needle": (4, 0), "body contains aaaa": (4, 0)}
    assert whole.model.figures().errors == {}


# ------------------------------------------------------------------ request side


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_non_ascii_path_is_sent_percent_encoded(client: str) -> None:
    async with Hostile(echo) as srv:
        text = profile_text(srv.url, path="/café/a%2Fb?q=ü&x=1")
        result = await run(make_plan(text, iterations=2, vus=1, client=client))
    assert result.model.figures().status == {200: 2}
    assert srv.heads[0].split(b"\r\n")[0] == b"GET /caf%C3%A9/a%2Fb?q=%C3%BC&x=1 HTTP/1.1"


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_host_header_names_a_virtual_host_on_base_urls_server(client: str) -> None:
    async with Hostile(echo) as srv:
        text = profile_text(srv.url, extra='headers = { Host = "shop.example" }')
        result = await run(make_plan(text, iterations=2, vus=1, client=client))
    assert result.model.figures().status == {200: 2}
    hosts = [line for line in srv.heads[0].split(b"\r\n") if line.lower().startswith(b"host:")]
    assert hosts == [b"Host: shop.example"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_content_length_is_computed_by_surge(client: str) -> None:
    async with Hostile(echo) as srv:
        text = profile_text(srv.url).replace(
            'path = "/"', 'path = "/"\nmethod = "POST"\nbody = "hello"'
        )
        text = text.replace("checks = []", 'checks = []\nheaders = { "Content-Length" = "5" }')
        result = await run(make_plan(text, iterations=3, vus=1, client=client))
    assert result.model.figures().status == {200: 3}
    assert srv.bodies == [b"hello"] * 3
    lengths = [ln for ln in srv.heads[0].split(b"\r\n") if ln.lower().startswith(b"content-length")]
    assert [ln.lower() for ln in lengths] == [b"content-length: 5"]


def test_a_header_with_a_line_break_or_non_ascii_is_refused_naming_file_line_and_key() -> None:
    text = profile_text(
        "http://127.0.0.1:9", extra='headers = { "X-Evil" = "a\\r\\nX-Injected: 1" }'
    )
    with pytest.raises(ProfileError) as bad:
        parse_profile(text, "p.toml")
    assert (
        str(bad.value)
        == "p.toml:3: headers.X-Evil: header X-Evil has a line break or NUL in its value"
    )
    text = profile_text("http://127.0.0.1:9", extra='headers = { "X-Name" = "José" }')
    with pytest.raises(
        ProfileError, match=r"^p\.toml:3: headers\.X-Name: header X-Name has a non-ASCII"
    ):
        parse_profile(text, "p.toml")


def test_an_endpoint_on_another_host_is_refused() -> None:
    text = profile_text("http://127.0.0.1:9", path="http://other.example/x")
    with pytest.raises(ValueError, match="another host than base_url"):
        make_plan(text, iterations=1)
    same = make_plan(
        profile_text("http://127.0.0.1:9", path="http://127.0.0.1:9/x?y=1"), iterations=1
    )
    assert same.work.only.requests[0].wire.startswith(b"GET /x?y=1 HTTP/1.1\r\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--header", "X-Evil: a\rb"], "--header: header X-Evil has a line break"),
        (["--header", "X-Name: José"], "--header: header X-Name has a non-ASCII value"),
        (
            ["--method", "POST", "--body", "hello", "--header", "Content-Length: 0"],
            "Content-Length: 0 disagrees with the body's 5 bytes",
        ),
    ],
)
def test_cli_refuses_what_would_break_framing_with_exit_2(args: list[str], message: str) -> None:
    proc = run_surge("run", "http://127.0.0.1:9/", "--iterations", "1", *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_http_flags_parse_sizes_and_deadlines() -> None:
    import argparse

    from tui.cli.flags import add_http_flags

    p = argparse.ArgumentParser()
    add_http_flags(p)
    args = p.parse_args(["--max-body", "512KiB", "--timeout", "3s"])
    assert (args.max_body, args.timeout) == (512 * 1024, 3.0)
    assert p.parse_args([]).max_body is None
    with pytest.raises(SystemExit):
        p.parse_args(["--max-body", "lots"])


def test_max_body_and_timeout_reach_the_work_plan() -> None:
    text = profile_text("http://127.0.0.1:9", extra='max_body = "512KiB"\ntimeout = "4s"')
    work = make_plan(text, iterations=1).work
    assert (work.max_body, work.timeout) == (512 * 1024, 4.0)
    work = make_plan(text, iterations=1, max_body=100, timeout=2.5).work
    assert (work.max_body, work.timeout) == (100, 2.5)
    assert make_plan(profile_text("http://127.0.0.1:9"), iterations=1).work.max_body == 1 << 20
    with pytest.raises(ProfileError, match=r"^p\.toml:3: max_body: expected a size"):
        parse_profile(profile_text("http://127.0.0.1:9", extra='max_body = "lots"'), "p.toml")
