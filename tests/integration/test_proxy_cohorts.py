"""Cohort routes on `surge proxy` (a process) in front of two `surge sut --color` processes.

One proxy, two colors and their servers are shared by the module; each test sets the
routes and weights it needs over the admin API first, as the deploy driver does.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from engine.deploy.routers.base import RouterError
from engine.deploy.routers.surge import SurgeProxyRouter
from engine.deploy.strategies import Weights
from engine.deploy.strategies.traffic import parse_route
from tests.conftest import ROOT, spawn_sut, surge_cmd
from tests.integration.test_proxy import Conn, Resp, proxied, suts

pytestmark = pytest.mark.timeout(30)

PROXY = [sys.executable, "-m", "tui.cli.proxy_cmd"]  # `surge proxy` without the rest of the CLI
ROUTES = ["header:x-beta=1:green", "cookie:team~=qa-[0-9]+:green", "query:region=eu:green"]


@dataclass
class Running:
    url: str
    admin_url: str


@pytest.fixture(scope="module")
def proxy() -> Iterator[Running]:
    """`surge proxy --sticky` with the ROUTES from its command line, blue and green suts."""
    procs = [spawn_sut("--color", c)[0:2] for c in ("blue", "green")]
    (_, blue), (_, green) = procs
    flags = [f"--route={r}" for r in ROUTES] + ["--blue", blue, "--green", green, "--sticky"]
    proc = subprocess.Popen(
        surge_cmd("proxy", "--listen=127.0.0.1:0", "--admin=127.0.0.1:0", *flags),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line + (proc.stderr.read() if proc.stderr else "")
        yield Running(line.split()[4], line.rsplit(" ", 1)[-1].rstrip(")\n"))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        for p, _ in procs:
            p.terminate()
            p.wait(5)


async def admin(url: str, method: str, path: str, payload: Any = None, **headers: str) -> Resp:
    c = await Conn.open(url)
    try:
        body = json.dumps(payload).encode() if payload is not None else None
        h = {"content-type": "application/json"} if body is not None else {}
        h.update({k.replace("_", "-"): v for k, v in headers.items()})
        return await c.request(method, path, body=body, headers=h)
    finally:
        c.close()


async def tags(url: str, n: int = 1, path: str = "/", **headers: str) -> Counter[str | None]:
    """The x-surge-upstream of `n` requests on one connection."""
    h = {k.replace("_", "-"): v for k, v in headers.items()}
    c = await Conn.open(url)
    try:
        return Counter([(await c.request("GET", path, headers=h)).color for _ in range(n)])
    finally:
        c.close()


async def test_routes_from_the_command_line_send_cohorts_whatever_the_weights(
    proxy: Running,
) -> None:
    await admin(
        proxy.admin_url, "PUT", "/routes", {"routes": [parse_route(r).as_dict() for r in ROUTES]}
    )
    assert (
        await admin(proxy.admin_url, "PUT", "/weights", {"blue": 100, "green": 0})
    ).status == 200
    shown = (await admin(proxy.admin_url, "GET", "/routes")).json()
    assert [parse_route(r).as_dict() for r in ROUTES] == shown["routes"]
    u = proxy.url
    assert await tags(u, 3, **{"x-beta": "1"}) == {"green+x-beta": 3}
    assert await tags(u, 2, **{"X-BETA": "1"}) == {"green+x-beta": 2}  # names are case-blind
    assert await tags(u, 2, **{"x-beta": "2"}) == {"blue": 2}
    assert await tags(u, 2, cookie="a=1; team=qa-7") == {"green+team": 2}
    assert await tags(u, 2, cookie="team=qa-7b") == {"blue": 2}  # a regex matches all of it
    assert await tags(u, 2, "/api?x=1&region=eu") == {"green+region": 2}
    assert await tags(u, 2, "/api?region=eu-west") == {"blue": 2}
    # a routed answer sets no sticky cookie: the route, not the weights, chose its color
    c = await Conn.open(u)
    r = await c.request(headers={"x-beta": "1"})
    c.close()
    assert r.status == 200 and "set-cookie" not in r.headers


async def test_a_query_routed_request_leaves_no_cohort_on_the_next_one(proxy: Running) -> None:
    """A query route keeps no header, so the next request on the keep-alive connection
    (one the routes do not match) must still go out untagged by the last cohort."""
    routes = {"routes": [parse_route(r).as_dict() for r in ROUTES]}
    await admin(proxy.admin_url, "PUT", "/routes", routes)
    await admin(proxy.admin_url, "PUT", "/weights", {"blue": 100, "green": 0})
    c = await Conn.open(proxy.url)
    try:
        routed = await c.request("GET", "/api?region=eu")
        plain = [(await c.request("GET", "/")).color for _ in range(2)]
    finally:
        c.close()
    assert (routed.color, plain) == ("green+region", ["blue", "blue"])


async def test_precedence_is_pin_then_routes_then_sticky_cookie_then_weights(
    proxy: Running,
) -> None:
    await admin(proxy.admin_url, "PUT", "/routes", {"routes": [parse_route(ROUTES[0]).as_dict()]})
    await admin(proxy.admin_url, "PUT", "/weights", {"blue": 50, "green": 50})
    u = proxy.url
    beta = {"x-beta": "1"}
    assert await tags(u, 4, **beta, x_surge_color="blue") == {"blue": 4}  # the pin wins
    assert await tags(u, 4, **beta, cookie="surge_color=blue") == {"green+x-beta": 4}
    assert await tags(u, 4, cookie="surge_color=blue") == {"blue": 4}  # sticky, not 50:50
    assert await tags(u, 4) == {"blue": 2, "green": 2}  # the weights, exactly
    # routes off: the cohort follows the sticky cookie and the weights again
    assert (await admin(proxy.admin_url, "PUT", "/routes", {"routes": []})).json() == {"routes": []}
    assert await tags(u, 4, **beta, cookie="surge_color=blue") == {"blue": 4}


async def test_routes_admin_refuses_like_the_other_admin_routes(proxy: Running) -> None:
    a = proxy.admin_url
    good = {"routes": [{"query": "r", "regex": "eu|us", "color": "green", "cohort": "west"}]}
    assert (await admin(a, "PUT", "/routes", good)).json() == {
        "routes": [{"query": "r", "regex": "eu|us", "color": "green", "cohort": "west"}]
    }
    assert await tags(proxy.url, 1, "/?r=us") == {"green+west": 1}
    for body, words in (
        ({"routes": [{"header": "x", "regex": "(", "color": "green"}]}, "bad regex"),
        ({"routes": [{"header": "x", "value": "1", "color": "teal"}]}, "blue or green"),
        ({"routes": {"header": "x"}}, "expected"),
        (  # the cohort goes into a response header: CR/LF would inject one
            {"routes": [{"header": "x", "value": "1", "color": "green", "cohort": "b\r\nx: 1"}]},
            "short lowercase name",
        ),
        ([1], "JSON object"),
    ):
        r = await admin(a, "PUT", "/routes", body)
        assert r.status == 400 and words in r.json()["error"], r.json()
    assert (await admin(a, "GET", "/routes")).json() == good  # a refused PUT changed nothing
    r = await admin(a, "DELETE", "/routes")
    assert r.status == 405 and r.headers["allow"] == "GET, PUT"
    r = await admin(a, "PUT", "/routes", {"routes": []}, origin="http://evil.example")
    assert r.status == 403
    r = await admin(a, "GET", "/routes", sec_fetch_site="cross-site")
    assert r.status == 403
    c = await Conn.open(a)
    r = await c.request(
        "PUT", "/routes", body=b'{"routes": []}', headers={"content-type": "text/plain"}
    )
    c.close()
    assert r.status == 415
    assert (await admin(a, "GET", "/routes")).json() == good


async def test_the_surge_router_sets_routes_and_refuses_bad_ones(proxy: Running) -> None:
    router = SurgeProxyRouter(proxy.admin_url)
    try:
        await router.set_weights(Weights(100, 0))
        await router.set_routes((parse_route("header:x-team=qa:green"),))
        assert await tags(proxy.url, 2, x_team="qa") == {"green+x-team": 2}
        await router.set_routes(())
        assert await tags(proxy.url, 2, x_team="qa") == {"blue": 2}
        with pytest.raises(RouterError, match="bad regex"):
            await router.set_routes((parse_route("header:x~=(:green"),))
    finally:
        await router.aclose()


def test_a_bad_route_flag_is_one_line_and_exit_2() -> None:
    procs = [
        subprocess.Popen(
            [*PROXY, "--blue", "http://127.0.0.1:1", "--green", "http://127.0.0.1:2", *a],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for a in (
            ["--route", "header:x-beta:green"],
            ["--route=cookie:t~=(:green"],
            ["--route", "path:/a=1:green"],
            ["--route", "header:x\r\nset-cookie=1:green"],  # its cohort is named after it
        )
    ]
    words = ["expected NAME=VALUE", "bad regex", "unknown kind 'path'", "short lowercase name"]
    for p, w in zip(procs, words, strict=True):
        _, err = p.communicate(timeout=20)
        assert p.returncode == 2, err
        assert err.count("\n") == 1 and "--route" in err and w in err and "Traceback" not in err, (
            err
        )


async def test_a_routed_request_the_color_cannot_answer_is_its_cohorts_502() -> None:
    """The proxy's own 502 carries the cohort too, so the cohort's errors are its own."""
    async with (
        suts("blue") as (b,),
        proxied([b.url], ["http://127.0.0.1:1"], routes=(parse_route(ROUTES[0]),)) as p,
    ):
        c = await Conn.open(p.url)
        routed, plain = await c.request(headers={"x-beta": "1"}), await c.request()
        c.close()
    assert (routed.status, routed.color, routed.json()["color"]) == (502, "green+x-beta", "green")
    assert (plain.status, plain.color) == (200, "blue")
