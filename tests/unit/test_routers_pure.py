"""Routers and discovery as pure functions: server weights, configs, sources, diffs, TTLs."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from engine.deploy.routers.base import InstanceCounts, RouterError
from engine.deploy.routers.envoy_config import EnvoySetup, endpoints_json, render_bootstrap
from engine.deploy.routers.haproxy import HaproxyRouter, parse_stat
from engine.deploy.routers.haproxy_config import HaproxySetup, render_config, route_acl
from engine.deploy.routers.pools import color_of, instance_name, instances, server_weights
from engine.deploy.strategies import InService, Weights
from engine.deploy.strategies.traffic import Mirror, Route, RouteKind, parse_route
from engine.discovery import (
    FileSource,
    SrvSource,
    StaticSource,
    Target,
    diff_pools,
    parse_source,
)
from engine.discovery.watcher import MAX_TTL_S, MIN_TTL_S, next_check
from engine.errors import ConfigError
from engine.profile import parse_deploy

ONE_EACH = {"blue": ["blue-0"], "green": ["green-0"]}


@pytest.mark.parametrize(
    ("weights", "names", "in_service", "expected"),
    [
        (Weights(90, 10), ONE_EACH, None, {"blue-0": 9, "green-0": 1}),
        (Weights(100, 0), ONE_EACH, None, {"blue-0": 1, "green-0": 0}),
        (Weights(75, 25), ONE_EACH, None, {"blue-0": 3, "green-0": 1}),
        # two blue servers share blue's 50 evenly: each gets as much as green's one / 2
        (
            Weights(50, 50),
            {"blue": ["blue-0", "blue-1"], "green": ["green-0"]},
            None,
            {"blue-0": 1, "blue-1": 1, "green-0": 2},
        ),
        # rolling: out-of-service servers get 0, the others share the color's weight
        (
            Weights(50, 50),
            {"blue": ["blue-0", "blue-1"], "green": ["green-0", "green-1"]},
            InService((0,), (1,)),
            {"blue-0": 1, "blue-1": 0, "green-0": 0, "green-1": 1},
        ),
        # 99:1 over 3 and 7 servers does not fit 256 exactly: scaled, nothing at 0
        (
            Weights(99, 1),
            {"blue": [f"blue-{i}" for i in range(3)], "green": [f"green-{i}" for i in range(7)]},
            None,
            {**{f"blue-{i}": 256 for i in range(3)}, **{f"green-{i}": 1 for i in range(7)}},
        ),
    ],
)
def test_server_weights(weights, names, in_service, expected) -> None:  # type: ignore[no-untyped-def]
    got = server_weights(weights, names, in_service)
    assert got == expected
    assert all(0 <= w <= 256 for w in got.values())


def test_shares_from_server_weights_match_the_colors_share() -> None:
    names = {"blue": ["blue-0", "blue-1", "blue-2"], "green": ["green-0", "green-1"]}
    for green in (1, 5, 10, 25, 50, 90):
        w = server_weights(Weights.green_percent(green), names)
        share = sum(v for k, v in w.items() if k.startswith("green")) / sum(w.values())
        assert abs(100 * share - green) < 0.5, (green, w)


def test_instances_are_named_for_their_color() -> None:
    a = instances("green", ["http://127.0.0.1:8082", "http://localhost:9000"])
    assert [i.name for i in a] == ["green-0", "green-1"] and a[1].address == "localhost:9000"
    b = instances("blue", ["http://10.0.0.5:8080"], by_address=True)
    assert b[0].name == instance_name("blue", "10.0.0.5", 8080) == "blue-10.0.0.5:8080"
    assert color_of(b[0].name) == "blue" and color_of("green-0") == "green"


def test_haproxy_config_has_what_surge_relies_on() -> None:
    pools = {
        "blue": instances("blue", ["http://127.0.0.1:8081"]),
        "green": instances("green", ["http://127.0.0.1:8082"]),
    }
    text = render_config(
        HaproxySetup("127.0.0.1", 8000, "/tmp/s.sock", pools, {"blue-0": 1, "green-0": 0})
    )
    for line in (
        "stats socket /tmp/s.sock mode 600 level admin",
        "bind 127.0.0.1:8000",
        "balance roundrobin",
        "http-after-response set-header x-surge-upstream %[srv_name,field(1,-)]",
        "use_backend surge_green if { req.hdr(x-surge-color) -m str green }",
        "server blue-0 127.0.0.1:8081 weight 1",
        "server green-0 127.0.0.1:8082 weight 0",
    ):
        assert line in text
    assert " check" not in text  # no health checks: a dead green is green's errors


def test_envoy_bootstrap_has_what_surge_relies_on(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pools = {
        "blue": instances("blue", ["http://127.0.0.1:8081"]),
        "green": instances("green", ["http://127.0.0.1:8082"]),
    }
    setup = EnvoySetup("127.0.0.1", 8000, "/tmp/e.sock", str(tmp_path), pools, {"blue": 100})
    boot = json.loads(render_bootstrap(setup))
    assert boot["admin"]["address"]["pipe"] == {"path": "/tmp/e.sock", "mode": 0o600}
    assert "address" not in boot["admin"]["address"]  # no TCP admin port
    hcm = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    routes = hcm["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    weighted = routes[-1]["route"]["weighted_clusters"]
    assert weighted["runtime_key_prefix"] == "surge.weights"
    assert [(c["name"], c["weight"]) for c in weighted["clusters"]] == [("blue", 100), ("green", 0)]
    assert routes[0]["match"]["headers"][0]["string_match"] == {"exact": "blue"}
    eds = json.loads(endpoints_json("green", pools["green"]))
    lb = eds["resources"][0]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert lb["hostname"] == "green-0" and lb["address"]["socket_address"]["port_value"] == 8082


def test_show_stat_csv_is_read_by_column_name() -> None:
    text = "# pxname,svname,scur,stot,hrsp_5xx\nsurge,blue-0,0,90,1\nsurge,green-0,2,10,0\n"
    rows = parse_stat(text)
    assert rows[1]["svname"] == "green-0" and rows[1]["stot"] == "10" and rows[0]["hrsp_5xx"] == "1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "srv://127.0.0.1:8600/_http._tcp.green.service.consul",
            SrvSource("_http._tcp.green.service.consul", "127.0.0.1", 8600),
        ),
        (
            "srv:///_http._tcp.web.default.svc.cluster.local",
            SrvSource("_http._tcp.web.default.svc.cluster.local"),
        ),
        ("srv://10.0.0.2/_http._tcp.web", SrvSource("_http._tcp.web", "10.0.0.2", 53)),
        ("file:///etc/surge/green.json", FileSource("/etc/surge/green.json")),
        (
            "http://127.0.0.1:8081,http://127.0.0.1:8082",
            StaticSource((Target("127.0.0.1", 8081), Target("127.0.0.1", 8082))),
        ),
    ],
)
def test_pool_sources_parse(text: str, expected: object) -> None:
    assert parse_source(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("srv://127.0.0.1:8600/", "no SRV name"),
        ("file://host/x.json", "file:///absolute/path"),
        ("srv://127.0.0.1:99999/_x._tcp", "bad resolver port"),
        ("srv:///_a._tcp.x,http://127.0.0.1:1", "a registry (srv:// or file://) is the whole pool"),
    ],
)
def test_bad_pool_sources_say_why(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_source(text)


def test_diff_is_by_set_and_sorted() -> None:
    a, b, c = Target("h", 1), Target("h", 2), Target("h", 3)
    change = diff_pools([b, a, a], [c, a])
    assert change.added == (c,) and change.removed == (b,) and change
    assert not diff_pools([a, b], [b, a])


@pytest.mark.parametrize(
    ("ttl", "wait"), [(0, MIN_TTL_S), (0.2, MIN_TTL_S), (5, 5.0), (86400, MAX_TTL_S), (None, 1.0)]
)
def test_ttl_is_bounded(ttl: float | None, wait: float) -> None:
    assert next_check(ttl) == wait


BASE = {"blue": ["http://127.0.0.1:8081"]}


def test_deploy_pools_may_be_registries_but_not_for_rolling() -> None:
    plan = parse_deploy(
        {**BASE, "green": "srv://127.0.0.1:8600/_http._tcp.green", "router": "haproxy"}
    )
    assert plan.green == ("srv://127.0.0.1:8600/_http._tcp.green",)
    with pytest.raises(ConfigError, match="rolling counts instances"):
        parse_deploy({**BASE, "green": "file:///x.json", "strategy": "rolling"})
    with pytest.raises(ConfigError, match=r"deploy.green: .*no SRV name"):
        parse_deploy({**BASE, "green": "srv://127.0.0.1:8600/"})
    with pytest.raises(ConfigError, match=r"deploy.sticky: haproxy cannot move cookie-pinned"):
        parse_deploy(
            {**BASE, "green": ["http://127.0.0.1:8082"], "router": "haproxy", "sticky": True}
        )


def test_instance_counts_since_a_snapshot_and_after_a_restart() -> None:
    start = InstanceCounts(requests=77_755, status_5xx=5, connection_errors=1)
    end = InstanceCounts(requests=123_579, status_5xx=9, connection_errors=1)
    assert end.since(start) == InstanceCounts(45_824, 4, 0)
    assert end.since(InstanceCounts()) == end  # an instance added during the run
    restarted = InstanceCounts(requests=10, status_5xx=0, connection_errors=0)
    assert restarted.since(start) == restarted  # counters went back: all of them are new
    assert end.since(start).as_dict() == {
        "requests": 45_824,
        "status_5xx": 4,
        "connection_errors": 0,
    }


def test_haproxy_refuses_mirroring_and_routes_its_config_lacks() -> None:
    """No process needed: both are refused before the runtime API is asked anything."""
    router = HaproxyRouter("/nonexistent.sock", routes=(parse_route("header:x-beta=1:green"),))

    async def go() -> None:
        with pytest.raises(RouterError, match="no request mirroring"):
            await router.set_mirror(Mirror(100))
        await router.set_mirror(Mirror(0))  # off: nothing to refuse
        with pytest.raises(RouterError, match="header:x-beta=2:green is not in its config"):
            await router.set_routes((parse_route("header:x-beta=2:green"),))

    asyncio.run(go())


def test_haproxy_config_holds_routes_after_the_pin_each_behind_its_switch() -> None:
    pools = {
        "blue": instances("blue", ["http://127.0.0.1:8081"]),
        "green": instances("green", ["http://127.0.0.1:8082"]),
    }
    routes = (parse_route("cookie:team~=qa-\\d+:green"), parse_route("query:r=it's:blue"))
    text = render_config(
        HaproxySetup("127.0.0.1", 8000, "/s", pools, {}, routes=routes, routes_map="/m")
    )
    lines = text.splitlines()
    first, second = (i for i, ln in enumerate(lines) if "set-var(txn.tag)" in ln)
    pin = next(
        i
        for i, ln in enumerate(lines)
        if "use_backend surge_green if { req.hdr(x-surge-color)" in ln
    )
    assert first < second < pin  # tags are set first; the pin's use_backend still comes first
    assert "str(r0),map(/m) -m found" in lines[first] and "str(green+team)" in lines[first]
    assert "req.cook(team) -m reg '^(?:qa-\\d+)$'" in lines[first]
    assert 'urlp(r) -m str "it\'s"' in lines[second]
    assert "!{ req.hdr(x-surge-color) -m str blue green }" in lines[first]
    with pytest.raises(ValueError, match="plain token"):
        route_acl(Route(RouteKind.QUERY, "a b", "green", value="1", cohort="ab"))


def test_envoy_bootstrap_holds_routes_and_the_mirror_behind_runtime_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pools = {
        "blue": instances("blue", ["http://127.0.0.1:8081"]),
        "green": instances("green", ["http://127.0.0.1:8082"]),
    }
    routes = (parse_route("header:X-Beta=1:green"), parse_route("cookie:team~=qa-.*:green"))
    setup = EnvoySetup(
        "127.0.0.1", 8000, "/e.sock", str(tmp_path), pools, {"blue": 100}, routes=routes
    )
    boot = json.loads(render_bootstrap(setup))
    hcm = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    got = hcm["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    assert [r["match"].get("runtime_fraction", {}).get("runtime_key") for r in got[2:4]] == [
        "surge.routes.r0",
        "surge.routes.r1",
    ]
    assert got[2]["match"]["headers"] == [{"name": "x-beta", "string_match": {"exact": "1"}}]
    cookie = got[3]["match"]["headers"][0]["string_match"]["safe_regex"]["regex"]
    assert re.fullmatch(cookie, "a=1; team=qa-9") and not re.fullmatch(cookie, "steam=qa-9")
    assert got[2]["response_headers_to_add"][0]["header"]["value"] == "green+x-beta"
    mirror = got[4]["route"]["request_mirror_policies"][0]
    assert (
        mirror["cluster"] == "green" and mirror["runtime_fraction"]["runtime_key"] == "surge.mirror"
    )
    assert (
        got[4]["match"]["headers"][0]["string_match"]["safe_regex"]["regex"] == "GET|HEAD|OPTIONS"
    )
    assert "request_mirror_policies" not in got[5]["route"]


@pytest.mark.parametrize("router", ["haproxy", "envoy"])
def test_a_profiles_routes_reach_the_router_it_names(router: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`make_router` hands the routes (and Envoy the mirrored methods) to the router, so its
    `set_routes` finds them in the config `surge router start` wrote from the same profile."""
    from engine.deploy.setup import make_router

    plan = parse_deploy(
        {
            **BASE,
            "green": ["http://127.0.0.1:8082"],
            "router": router,
            "socket": str(tmp_path / "r.sock"),
            "steps": ["cohort", 50],
            "routes": [{"header": "x-beta", "value": "1", "color": "green"}],
        }
    )
    made = make_router(plan)
    assert made.routes == plan.routes == (parse_route("header:x-beta=1:green"),)  # type: ignore[attr-defined]
    if router == "haproxy":
        assert made.routes_map == str(tmp_path / "r.routes.map")  # type: ignore[attr-defined]
    else:
        assert made.mirror_methods == plan.mirror_methods  # type: ignore[attr-defined]
