"""Redirects and cookies through the real engine, both clients, against a loopback server.

One asyncio server (two for the cross-origin case) that logs in with a cookie and a 302,
redirects in chains, answers 307/303 and echoes what it got; every run is bounded in
iterations. tests/integration/test_k6_redirects.py checks the same against the real k6.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from engine.load.controller import Controller
from engine.load.run import RunResult
from engine.profile import parse_profile
from engine.profile.plan import Overrides, build_plan
from engine.report.document import read_report
from tests.conftest import run_surge

CLIENTS = ("wire", "httpx")


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Site:
    """/login (302 to /page with a cookie), /page (200 only with it), /r/N (a chain of N),
    /s/CODE?to=URL&c=COOKIE (CODE to URL, setting COOKIE), /set?c=COOKIE, /echo."""

    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> Site:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        if sys.version_info >= (3, 12):
            self._server.close_clients()

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                lines = head.split("\r\n")
                method, target, _ = lines[0].split(" ")
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                self.seen.append(Seen(method, target, headers, body))
                writer.write(self._answer(method, target, headers, body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bytes:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        status, extra, out = 200, [], b"ok"
        if parts.path == "/login":
            status, extra = 302, ["Location: /page", "Set-Cookie: sid=s3cret; Path=/"]
        elif parts.path == "/page":
            ok = "sid=s3cret" in headers.get("cookie", "")
            status, out = (200, b"welcome") if ok else (403, b"no cookie")
        elif parts.path.startswith("/r/"):
            left = int(parts.path[3:])
            if left:
                status, extra = 302, [f"Location: /r/{left - 1}"]
        elif parts.path.startswith("/s/"):
            status, extra = int(parts.path[3:]), [f"Location: {unquote(query['to'][0])}"]
        if "c" in query:
            extra += [f"Set-Cookie: {c}" for c in query["c"]]
        if parts.path == "/echo":
            seen = {"method": method, "body": body.decode(), "cookie": headers.get("cookie")}
            out = json.dumps(seen).encode()
        head = "\r\n".join([f"HTTP/1.1 {status} X", *extra, f"Content-Length: {len(out)}"])
        return head.encode() + b"\r\n\r\n" + out


def plan_of(url: str, body: str, iterations: int = 10, vus: int = 1, **overrides: Any) -> Any:
    """A shared-iterations run of `body` (endpoints or a scenario) against `url`."""
    text = f'name = "r"\nbase_url = "{url}"\n{body}'
    o = Overrides(executor="shared-iterations", vus=vus, iterations=iterations, workers=1)
    for key, value in overrides.items():
        o = Overrides(**{**o.__dict__, key: value})
    return build_plan(parse_profile(text, "r.toml"), o, interval=0.5)


async def run(plan: Any) -> RunResult:
    return await asyncio.wait_for(Controller(plan).run(), 30)


def step_requests(result: RunResult, step: str) -> int:
    return result.model.figures([("step", step)]).requests


def endpoint(path: str, checks: str = "[]", extra: str = "") -> str:
    return f'[[endpoints]]\npath = "{path}"\nchecks = {checks}\n{extra}'


# ------------------------------------------------------------------ one request


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("checks", ["[]", '[{ status = 200 }, { body_contains = "welcome" }]'])
async def test_login_sets_a_cookie_and_redirects_to_a_page_that_needs_it(
    client: str, checks: str
) -> None:
    """No checks: the wire client's streaming path ends its stream on the 302 and the
    worker follows; with checks, the final 200 is what they judge."""
    async with Site() as site:
        result = await run(plan_of(site.url, endpoint("/login", checks), vus=2, client=client))
    f = result.model.figures()
    assert (f.requests, result.model.total.iterations) == (20, 10)
    assert f.status == {302: 10, 200: 10} and f.failed == 0, (f.status, f.errors)
    assert site.paths().count("/page") == 10
    assert all(s.headers.get("cookie") == "sid=s3cret" for s in site.seen if s.path == "/page")
    assert all("cookie" not in s.headers for s in site.seen if s.path == "/login")  # jar emptied
    if checks != "[]":
        assert result.model.checks() == {"status is 200": (10, 0), "body contains welcome": (10, 0)}


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_302_to_a_200_counts_two_requests_and_both_hops_bytes(client: str) -> None:
    async with Site() as site:
        result = await run(plan_of(site.url, endpoint("/s/302?to=/r/0"), 50, client=client))
    f = result.model.figures()
    assert (f.requests, result.model.total.iterations) == (100, 50)
    assert f.status == {302: 50, 200: 50}
    assert step_requests(result, "GET /s/302?to=/r/0") == 100
    assert site.paths().count("/r/0") == 50
    assert f.bytes_out > 50 * (len("GET /s/302?to=/r/0 HTTP/1.1") + len("GET /r/0 HTTP/1.1"))


@pytest.mark.parametrize("client", CLIENTS)
async def test_each_hop_is_judged_by_the_expected_statuses(client: str) -> None:
    """Only 200 expected: the 302 hop is a failed request, the final 200 is not."""
    async with Site() as site:
        body = 'expected_statuses = "200"\n' + endpoint("/login")
        result = await run(plan_of(site.url, body, 5, client=client))
    f = result.model.figures()
    assert (f.requests, f.failed, f.errors) == (10, 5, {"http 3xx": 5})


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(("limit", "requests"), [(None, 11), (12, 13), (3, 4), (0, 1)])
async def test_a_chain_of_12_stops_after_max_redirects(
    client: str, limit: int | None, requests: int
) -> None:
    """k6: a chain longer than maxRedirects (10) ends after 11 requests, on the last 302."""
    extra = {} if limit is None else {"max_redirects": limit}
    checks = "[{ status = 302 }]" if requests < 13 else "[{ status = 200 }]"
    async with Site() as site:
        plan = plan_of(site.url, endpoint("/r/12", checks), 3, client=client, **extra)
        result = await run(plan)
    f = result.model.figures()
    assert f.requests == 3 * requests and result.model.total.iterations == 3
    assert len(site.seen) == 3 * requests
    assert next(iter(result.model.checks().values())) == (3, 0)


# ------------------------------------------------------------------- scenarios

POST_TO = """
[[scenario.steps]]
name = "post"
method = "POST"
path = "/s/{code}?to=/echo"
body = "abc"
headers = {{ content-type = "text/plain" }}
capture = {{ method = {{ json = "method" }}, body = {{ json = "body" }} }}
[[scenario.steps]]
name = "after"
path = "/r/0?m=${{method}}&b=${{body}}"
"""


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(
    ("code", "method", "body"),
    [
        (307, "POST", "abc"),
        (308, "POST", "abc"),
        (303, "GET", ""),
        (302, "GET", ""),
        (301, "GET", ""),
    ],
)
async def test_307_and_308_keep_the_post_and_its_body_303_turns_it_into_a_get(
    client: str, code: int, method: str, body: str
) -> None:
    async with Site() as site:
        result = await run(plan_of(site.url, POST_TO.format(code=code), 2, client=client))
    echo = [s for s in site.seen if s.path == "/echo"]
    assert [(s.method, s.body.decode()) for s in echo] == [(method, body)] * 2
    if method == "GET":
        assert all("content-length" not in s.headers for s in echo)
    assert all(s.headers["content-type"] == "text/plain" for s in echo)  # headers carried
    assert all(s.headers["referer"].endswith(f"/s/{code}?to=/echo") for s in echo)
    assert site.paths()[-1] == f"/r/0?m={method}&b={body}"  # captures saw the final response
    assert (step_requests(result, "post"), step_requests(result, "after")) == (4, 2)


JAR_FLOW = """
[[scenario.steps]]
name = "before"
path = "/echo"
checks = [{ json = "cookie", equals = "u=1" }]
headers = { cookie = "u=1" }
[[scenario.steps]]
name = "set"
path = "/set?c=n%3D${iter}%3B%20Path%3D%2F"
[[scenario.steps]]
name = "after"
path = "/echo"
checks = [{ body_contains = "n=" }]
[[scenario.steps]]
name = "mine too"
path = "/echo"
headers = { cookie = "u=1" }
"""


@pytest.mark.parametrize("client", CLIENTS)
async def test_the_jar_is_empty_at_the_start_of_each_iteration(client: str) -> None:
    async with Site() as site:
        result = await run(plan_of(site.url, JAR_FLOW, 3, client=client))
    echoes = [s.headers.get("cookie") for s in site.seen if s.path == "/echo"]
    assert echoes == [c for i in range(3) for c in ("u=1", f"n={i}", f"u=1; n={i}")]
    assert result.model.checks() == {'json cookie == "u=1"': (3, 0), "body contains n=": (3, 0)}


COOKIE_HOPS = """
[[scenario.steps]]
name = "hop"
path = "/s/302?to=/echo&c=sid%3D1%3B%20Path%3D%2F"
headers = { cookie = "u=1", authorization = "t" }
[[scenario.steps]]
name = "no follow"
path = "/s/302?to=/echo"
max_redirects = 0
checks = [{ status = 302 }, { header = "location", equals = "/echo" }]
"""


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_users_cookie_goes_on_the_first_request_the_jars_on_every_hop(client: str) -> None:
    """k6: the hop carries the cookie the 302 set, not the user's header; a step's own
    max_redirects = 0 answers with the 302."""
    async with Site() as site:
        result = await run(plan_of(site.url, COOKIE_HOPS, 1, client=client))
    first, hop, no_follow = site.seen
    assert (first.headers["cookie"], hop.headers["cookie"]) == ("u=1", "sid=1")
    assert hop.headers["authorization"] == "t"  # same host: credentials follow
    assert no_follow.headers["cookie"] == "sid=1" and no_follow.path.startswith("/s/302")
    assert result.model.checks() == {"status is 302": (1, 0), "header location == /echo": (1, 0)}
    assert step_requests(result, "no follow") == 1


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_redirect_to_another_port_opens_another_connection(client: str) -> None:
    async with Site() as home, Site() as other:
        to = f"{other.url}/s/302?to={home.url}/login"
        path = f"/s/302?to={to.replace('?', '%3F').replace('&', '%26').replace('=', '%3D')}"
        checks = '[{ status = 200 }, { body_contains = "welcome" }]'
        result = await run(plan_of(home.url, endpoint(path, checks), 4, vus=2, client=client))
    f = result.model.figures()
    assert f.requests == 4 * 4 and f.status == {302: 12, 200: 4}  # home, other, login, page
    assert other.paths() == [f"/s/302?to={home.url}/login"] * 4
    assert home.paths().count("/page") == 4
    assert result.model.checks()["body contains welcome"] == (4, 0)


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_location_that_is_not_http_fails_the_hop_as_in_k6(client: str) -> None:
    async with Site() as site:
        checks = "[{ status = 302 }]"
        result = await run(
            plan_of(site.url, endpoint("/s/302?to=ftp://x/", checks), 2, client=client)
        )
    f = result.model.figures()
    assert (f.requests, f.failed, f.status, f.errors) == (4, 2, {302: 2}, {"bad redirect": 2})
    assert result.model.checks() == {"status is 302": (0, 2)}


@pytest.mark.serial
@pytest.mark.parametrize("client", CLIENTS)
async def test_an_arrival_rate_run_follows_each_iteration_s_redirect(client: str) -> None:
    async with Site() as site:
        text = f'name = "r"\nbase_url = "{site.url}"\n' + endpoint("/login")
        o = Overrides(rate=20.0, duration=1.0, vus=2, max_vus=4, workers=1, client=client)
        result = await run(build_plan(parse_profile(text, "r.toml"), o, interval=0.5))
    f = result.model.figures()
    iterations = result.model.total.iterations
    assert 15 <= iterations <= 21 and f.requests == 2 * iterations
    assert f.status == {302: iterations, 200: iterations}


async def test_max_redirects_on_the_command_line_with_worker_processes(tmp_path) -> None:
    async with Site() as site:
        report = tmp_path / "r.toml"
        args = ("run", f"{site.url}/login", "--iterations", "4", "--workers", "2")
        proc = await asyncio.to_thread(
            run_surge, *args, "--max-redirects", "0", "--report", str(report)
        )
        assert proc.returncode == 0, proc.stderr
        assert read_report(report).summary.requests == 4
        proc = await asyncio.to_thread(run_surge, *args, "--report", str(report))
    assert read_report(report).summary.requests == 8
    assert site.paths().count("/page") == 4
