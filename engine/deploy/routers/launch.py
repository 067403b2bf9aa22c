"""Start a router for blue and green pools on this machine: the config written, the
process started, ready when it answers. `surge router start`, `surge demo --router`
and the tests all start routers here, so they run the documented config."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

from engine.deploy.routers.envoy import (
    EnvoyProcess,
    EnvoyRouter,
    default_admin_socket,
    write_endpoints,
)
from engine.deploy.routers.envoy_config import EnvoySetup, render_bootstrap
from engine.deploy.routers.haproxy import (
    HaproxyProcess,
    HaproxyRouter,
    default_socket,
    router_dir,
    routes_map,
)
from engine.deploy.routers.haproxy_config import HaproxySetup, render_config
from engine.deploy.routers.pools import Instance, instances, server_weights
from engine.deploy.strategies import ALL_BLUE, Weights
from engine.deploy.strategies.traffic import IDEMPOTENT, Route

__all__ = [
    "envoy_setup",
    "free_port",
    "haproxy_setup",
    "resolve_pool",
    "start_envoy",
    "start_haproxy",
]


def resolve_pool(values: Sequence[str]) -> tuple[list[str], bool]:
    """A pool as URLs now: a registry (srv://, file://) is looked up once. The flag says
    it came from a registry (its instances are then named by address)."""
    import asyncio

    from engine.discovery import StaticSource, parse_source
    from engine.discovery.resolve import resolve

    if not values:
        return [], False
    source = parse_source(list(values))
    if isinstance(source, StaticSource):
        return list(values), False
    found = asyncio.run(resolve(source))
    return [t.url for t in found.targets], True


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now on `host` (for configs that must name one)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _pools(blue: Sequence[str], green: Sequence[str]) -> dict[str, list[Instance]]:
    """Each color's instances; a registry's pool is resolved now and named by address."""
    out = {}
    for color, values in (("blue", blue), ("green", green)):
        urls, discovered = resolve_pool(values)
        out[color] = instances(color, urls, by_address=discovered)
    return out


def haproxy_setup(
    blue: Sequence[str],
    green: Sequence[str],
    *,
    listen_port: int,
    socket_path: str | None = None,
    backend: str = "surge",
    weights: Weights = ALL_BLUE,
    routes: Sequence[Route] = (),
) -> HaproxySetup:
    """The routes are the profile's cohort routes: in the config, off until `set_routes`."""
    pools = _pools(blue, green)
    names = {c: [i.name for i in pool] for c, pool in pools.items()}
    socket = socket_path or str(default_socket(listen_port))
    return HaproxySetup(
        listen_host="127.0.0.1",
        listen_port=listen_port,
        socket=socket,
        pools=pools,
        weights=server_weights(weights, names),
        backend=backend,
        routes=tuple(routes),
        routes_map=routes_map(socket),
    )


def start_haproxy(
    setup: HaproxySetup, config: Path | None = None
) -> tuple[HaproxyProcess, HaproxyRouter]:
    """Write the config (default: the user's router folder) and start haproxy on it."""
    config = config or router_dir() / f"haproxy-{setup.listen_port}.cfg"
    config.write_text(render_config(setup), encoding="utf-8")
    if setup.routes_map:
        Path(setup.routes_map).write_text("", encoding="utf-8")  # every route off
    process = HaproxyProcess(config, setup.socket).start()
    names = {c: [i.name for i in pool] for c, pool in setup.pools.items()}
    router = HaproxyRouter(setup.socket, setup.backend, names, setup.routes, setup.routes_map)
    return process, router


def envoy_setup(
    blue: Sequence[str],
    green: Sequence[str],
    *,
    listen_port: int,
    admin_socket: str | None = None,
    folder: Path | None = None,
    weights: Weights = ALL_BLUE,
    routes: Sequence[Route] = (),
    mirror_methods: Sequence[str] = IDEMPOTENT,
) -> EnvoySetup:
    """The routes and mirrored methods are the profile's: in the bootstrap, off until
    `set_routes` and `set_mirror`."""
    folder = folder or router_dir() / f"envoy-{listen_port}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return EnvoySetup(
        listen_host="127.0.0.1",
        listen_port=listen_port,
        admin_socket=admin_socket or str(default_admin_socket(listen_port)),
        folder=str(folder),
        pools=_pools(blue, green),
        weights=weights.as_dict(),
        routes=tuple(routes),
        mirror_methods=tuple(mirror_methods),
    )


def start_envoy(setup: EnvoySetup) -> tuple[EnvoyProcess, EnvoyRouter]:
    """Write the endpoint files and the bootstrap into `setup.folder`, start envoy."""
    for color, pool in setup.pools.items():
        write_endpoints(setup.endpoints_path(color), color, pool)
    config = Path(setup.folder) / "envoy.json"
    config.write_text(render_bootstrap(setup), encoding="utf-8")
    process = EnvoyProcess(setup, config).start()
    endpoints = {c: setup.endpoints_path(c) for c in setup.pools}
    router = EnvoyRouter(
        setup.admin_socket,
        pools=setup.pools,
        endpoints=endpoints,
        routes=setup.routes,
        mirror_methods=setup.mirror_methods,
    )
    return process, router
