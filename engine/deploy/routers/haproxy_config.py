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
- the runtime API on a Unix socket with mode 0600, `level admin`: only the user.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.deploy.routers.pools import Instance

__all__ = ["HaproxySetup", "render_config"]


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
    for color in setup.pools:
        lines.append(f"    use_backend {b}_{color} if {{ req.hdr(x-surge-color) -m str {color} }}")
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
        lines += [f"    server {inst.name} {inst.address} weight 1" for inst in pool]
    return "\n".join(lines) + "\n"
