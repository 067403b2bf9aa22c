"""Start a router for blue and green pools on this machine: the config written, the
process started, ready when it answers. `surge router start`, `surge demo --router`
and the tests all start routers here, so they run the documented config."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

from engine.deploy.routers.haproxy import HaproxyProcess, HaproxyRouter, default_socket, router_dir
from engine.deploy.routers.haproxy_config import HaproxySetup, render_config
from engine.deploy.routers.pools import instances, server_weights
from engine.deploy.strategies import ALL_BLUE, Weights

__all__ = ["free_port", "haproxy_setup", "start_haproxy"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now on `host` (for configs that must name one)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def haproxy_setup(
    blue: Sequence[str],
    green: Sequence[str],
    *,
    listen_port: int,
    socket_path: str | None = None,
    backend: str = "surge",
    weights: Weights = ALL_BLUE,
) -> HaproxySetup:
    pools = {"blue": instances("blue", blue), "green": instances("green", green)}
    names = {c: [i.name for i in pool] for c, pool in pools.items()}
    return HaproxySetup(
        listen_host="127.0.0.1",
        listen_port=listen_port,
        socket=socket_path or str(default_socket(listen_port)),
        pools=pools,
        weights=server_weights(weights, names),
        backend=backend,
    )


def start_haproxy(
    setup: HaproxySetup, config: Path | None = None
) -> tuple[HaproxyProcess, HaproxyRouter]:
    """Write the config (default: the user's router folder) and start haproxy on it."""
    config = config or router_dir() / f"haproxy-{setup.listen_port}.cfg"
    config.write_text(render_config(setup), encoding="utf-8")
    process = HaproxyProcess(config, setup.socket).start()
    names = {c: [i.name for i in pool] for c, pool in setup.pools.items()}
    return process, HaproxyRouter(setup.socket, setup.backend, names)
