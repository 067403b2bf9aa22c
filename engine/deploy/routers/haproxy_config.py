"""The HAProxy configuration Surge expects (and `surge router start haproxy` writes).

A pure function of the pools, so the README's config and the one the tests run are
the same text. What it sets up:

- one backend (`surge` by default) with every instance as a server named for its
  color (`blue-0`, `green-1`), `balance roundrobin`, weights set live over the runtime
  API; no health checks on purpose, so a dead green instance is seen as green's errors
  instead of its traffic quietly going to blue;
- `x-surge-upstream` on every response, HAProxy's own 503s included
  (`http-after-response`), set to the color part of the server's name, and
  `x-surge-instance` to the whole name;
- a header-matched rule: `x-surge-color: green` (or blue) goes to that color's own
  backend whatever the weights: the switch's smoke run and sticky clients;
- the profile's cohort routes as ACLs after that pin (`req.hdr(NAME) -m str VALUE`,
  `-m reg` for a regex, anchored as Python's fullmatch; `req.cook(NAME)`, `urlp(NAME)`):
  the first that matches sets `txn.tag` (`green+beta`), which picks the color's own
  backend and becomes its answers' `x-surge-upstream`. Each is switched on at runtime
  by an entry `rN 1` in the routes map (`add map`/`clear map` on the runtime API), so
  all start off. HAProxy's `req.hdr` tries each comma-separated value of the header
  and `urlp` does not percent-decode: where Surge's proxy and HAProxy differ;
- the runtime API on a Unix socket with mode 0600, `level admin`: only the user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.deploy.routers.pools import Instance
from engine.deploy.strategies.traffic import Route, RouteKind

__all__ = ["HaproxySetup", "render_config", "route_acl"]

_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # an HTTP token: safe inside `req.hdr()`
_FETCH = {RouteKind.HEADER: "req.hdr", RouteKind.COOKIE: "req.cook", RouteKind.QUERY: "urlp"}


@dataclass(frozen=True)
class HaproxySetup:
    listen_host: str
    listen_port: int
    socket: str
    pools: Mapping[str, Sequence[Instance]]
    weights: Mapping[str, int]  # initial server weights, by name
    backend: str = "surge"
    timeout_s: float = 30.0
    slots: int = 0  # spare disabled servers per color for discovery (0: add server)
    routes: tuple[Route, ...] = ()  # the profile's cohort routes, all off at start
    routes_map: str = ""  # the runtime map that switches them on (written empty)


def _quoted(text: str) -> str:
    """One word of HAProxy's config whatever it holds (single quotes take it as is)."""
    if "'" not in text:
        return f"'{text}'"
    return '"' + re.sub(r'([\\"$])', r"\\\1", text) + '"'


def route_acl(route: Route) -> str:
    """The ACL body matching a route: `req.hdr(x-beta) -m str '1'`; ValueError for a
    name HAProxy could not take inside its fetch's parentheses."""
    if not _NAME.fullmatch(route.name):
        raise ValueError(f"haproxy: {route.kind.value} name {route.name!r} is not a plain token")
    fetch = f"{_FETCH[route.kind]}({route.name})"
    if route.regex is not None:
        return f"{fetch} -m reg {_quoted(f'^(?:{route.regex})$')}"
    return f"{fetch} -m str {_quoted(str(route.value))}"


def render_config(setup: HaproxySetup) -> str:
    b = setup.backend
    timeout = f"{int(setup.timeout_s * 1000)}ms"
    lines = [
        "# Written by Surge (surge router start haproxy): the config its HAProxy router expects.",
        "global",
        f"    stats socket {setup.socket} mode 600 level admin",
        "    stats timeout 30s",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        f"    timeout client {timeout}",
        f"    timeout server {timeout}",
        "    retries 0  # a refused green is green's error now (a retry waits 1 s)",
        "    option http-keep-alive",
        "",
        "frontend surge_in",
        f"    bind {setup.listen_host}:{setup.listen_port}",
    ]
    pinned = "{ req.hdr(x-surge-color) -m str " + " ".join(setup.pools) + " }"
    for i, route in enumerate(setup.routes):
        on = f"{{ str(r{i}),map({setup.routes_map}) -m found }}"
        lines.append(
            f"    http-request set-var(txn.tag) str({route.color}+{route.cohort}) if {on} "
            f"{{ {route_acl(route)} }} !{{ var(txn.tag) -m found }} !{pinned}"
        )
    for color in setup.pools:
        lines.append(f"    use_backend {b}_{color} if {{ req.hdr(x-surge-color) -m str {color} }}")
    if setup.routes:
        lines += [
            f"    use_backend {b}_{color} if {{ var(txn.tag) -m beg {color}+ }}"
            for color in setup.pools
        ]
    lines += [
        f"    default_backend {b}",
        "",
        f"backend {b}",
        "    balance roundrobin",
        "    http-after-response set-header x-surge-upstream %[srv_name,field(1,-)]",
        "    http-after-response set-header x-surge-instance %[srv_name]",
    ]
    for pool in setup.pools.values():
        for inst in pool:
            weight = setup.weights.get(inst.name, 0)
            lines.append(f"    server {inst.name} {inst.address} weight {weight}")
    for color, pool in setup.pools.items():
        lines += [
            "",
            f"backend {b}_{color}",
            "    balance roundrobin",
            f"    http-after-response set-header x-surge-upstream {color}",
            "    http-after-response set-header x-surge-instance %[srv_name]",
        ]
        if setup.routes:
            lines.append(
                "    http-after-response set-header x-surge-upstream %[var(txn.tag)] "
                "if { var(txn.tag) -m found }"
            )
        lines += [f"    server {inst.name} {inst.address} weight 1" for inst in pool]
    return "\n".join(lines) + "\n"
