"""The blue/green traffic proxy behind `surge proxy`: the `Proxy` object and its serving.

Why hand-rolled, like the demo SUT (engine.sut) and the load engine's wire client
(engine.http.wire): per request the hot path is a parse (httptools, in C), a pick, one
write upstream, a parse and one write back; no task, no future, no timer. Upstream
connections are pooled keep-alive sockets, one request in flight on each; the only
coroutine is the connect of a new one. Timeouts, slow request heads and idle clients
are found by one sweep every 0.25 s instead of a timer per request.

Slow clients (slowloris) cost a descriptor each until the header timeout closes them;
at the client cap (`max_clients`, lowered to what the descriptor limit leaves after
the upstream pools) a new client makes room by closing the oldest client with nothing
in flight, slow heads first, as nginx reuses idle keep-alive connections; only when
every client has a request in flight does it get a 503. There is no per-address cap:
Surge's own load comes from 127.0.0.1.

Every response carries `x-surge-upstream: blue|green` (replacing any the upstream
set), so Surge's engine splits every figure by color; a request a cohort route sent
says `green+beta` (COLOR+COHORT), so the figures split by cohort too.

The parts, one job each: config (ProxyConfig), routing (which color), client (the
downstream connections), upstreams and upstream_conn (pools, health, the upstream
connections), admin (the JSON admin API), http1 (shared bytes and the proxy's own
responses), mirror (copies to green, compared with blue's answers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from engine import serve
from engine.addresses import parse_http_origin, url_of
from engine.deploy.strategies import COLORS, Weights
from engine.deploy.strategies.traffic import TAG_RE, Mirror, Route
from engine.errors import TIMEOUT, ConfigError
from engine.limits import fd_limit
from engine.proxy.accept import Acceptor, listen
from engine.proxy.admin import MAX_ADMINS, AdminConnection
from engine.proxy.client import ClientConnection
from engine.proxy.config import ProxyConfig, check_weights
from engine.proxy.exchange import Exchange
from engine.proxy.http1 import local_response, own_authorities
from engine.proxy.mirror import Mirrorer
from engine.proxy.routing import RouteTable, SmoothWeighted
from engine.proxy.upstreams import ColorGroup, ColorStats, Instance

__all__ = ["Proxy", "serve_forever"]

SWEEP_INTERVAL = 0.25
#: Descriptors kept free beyond the upstream pools: listeners, probes, the loop, logs.
FD_SPARE = 64 + MAX_ADMINS


def client_capacity(config: ProxyConfig, limit: int | None) -> int:
    """`max_clients`, or fewer when the descriptor limit could not hold them beside the pools.

    Clients that took the last descriptors would turn upstream connects into EMFILE
    failures, and those mark healthy instances unhealthy.
    """
    if limit is None:
        return config.max_clients
    pools = config.max_conns * sum(len(u) for u in config.upstreams.values())
    return max(16, min(config.max_clients, limit - pools - FD_SPARE))


class Proxy:
    """The proxy as an object: `async with Proxy(cfg) as p:` binds both addresses.

    `set_weights` takes effect for the next request routed; connections are never
    dropped for it, in-flight requests finish where they started.
    """

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.stats: dict[str, ColorStats] = {c: ColorStats() for c in COLORS}
        self.stats_by_index = [self.stats[c] for c in COLORS]
        self.weights: Weights = config.weights
        self.sticky = config.sticky
        self.picker = SmoothWeighted(*config.weights)
        self.routes: RouteTable | None = None
        #: Request headers the client connections keep: the routes', and Cookie for them
        #: or for the sticky cookie.
        self.wanted: frozenset[bytes] = frozenset()
        self.set_routes(config.routes)
        self.mirrorer = Mirrorer(self)
        self.mirroring = False  # mirrorer.mirror.on, for the hot path: set by set_mirror only
        self.set_mirror(config.mirror)
        # A dict as an ordered set: oldest first, which is the order clients are evicted in.
        self.clients: dict[ClientConnection, None] = {}
        self.admins: set[AdminConnection] = set()
        self.closing = False
        self.groups: list[ColorGroup] = []
        for color in COLORS:
            urls = () if config.registry(color) else getattr(config, color)
            insts = [
                Instance(self, color, i, url, addr)
                for i, (url, addr) in enumerate(zip(urls, config.upstreams[color], strict=True))
            ]
            self.groups.append(ColorGroup(color, insts))
        self._tasks: set[asyncio.Task[Any]] = set()
        self.discoveries: list[Any] = []  # engine.proxy.discovery.ProxyDiscovery, per registry
        self._server: Acceptor | None = None
        self._admin: Acceptor | None = None
        self.port = config.port
        self.admin_port = config.admin_port
        self.max_clients = config.max_clients
        self.evicted = 0  # clients closed to make room for new ones
        self.own_authorities: frozenset[bytes] | None = None
        self.admin_authorities: frozenset[bytes] | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            return
        cfg = self.config
        self.max_clients = client_capacity(cfg, fd_limit())
        sock = listen(cfg.host, cfg.port)
        try:
            admin_sock = listen(cfg.admin_host, cfg.admin_port, backlog=128)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self.admin_port = admin_sock.getsockname()[1]
        self.own_authorities = own_authorities(cfg.host, self.port)
        self.admin_authorities = own_authorities(cfg.admin_host, self.admin_port)
        name = "surge proxy"
        self._server = Acceptor(
            sock,
            lambda: ClientConnection(self),
            spawn=self.spawn,
            make_room=lambda: self.evict(8),
            name=name,
        )
        self._admin = Acceptor(
            admin_sock,
            lambda: AdminConnection(self),
            spawn=self.spawn,
            make_room=lambda: self.evict(8),
            name=name + " admin",
        )
        self.spawn(self._sweep())
        await self._start_discovery()

    async def _start_discovery(self) -> None:
        """Pools given as a registry are looked up before the proxy says it listens."""
        for color in COLORS:
            if (registry := self.config.registry(color)) is None:
                continue
            from engine.discovery import parse_source
            from engine.proxy.discovery import ProxyDiscovery

            watch = ProxyDiscovery(self, color, parse_source([registry], f"--{color}"))
            self.discoveries.append(watch)
            await watch.start()

    async def close(self) -> None:
        if self._server is None or self.closing:
            return
        self.closing = True
        for watch in self.discoveries:
            await watch.aclose()
        for acceptor in (self._server, self._admin):
            if acceptor is not None:
                acceptor.close()
        for client in list(self.clients):
            if client.queue and client.queue[0].up is not None:
                client.queue[0].up.abandon()
            client.close()
        for conn in list(self.admins):  # uvloop's wait_closed waits for every connection
            if conn.transport is not None:
                conn.transport.close()
        for group in self.groups:
            for inst in group.instances:
                for up in inst.idle:
                    up.close()
                inst.idle.clear()
        self.mirrorer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the transports closed above run their callbacks

    async def __aenter__(self) -> Proxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- addresses ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return url_of(self.config.host, self.port)

    @property
    def admin_url(self) -> str:
        return url_of(self.config.admin_host, self.admin_port)

    # -- control ------------------------------------------------------------------------

    def set_weights(self, blue: int, green: int) -> Weights:
        """Validate and apply; the smooth round-robin restarts so the split is exact at once."""
        weights = check_weights(blue, green)
        self.weights = weights
        self.picker.set(*weights)
        return weights

    def set_routes(self, routes: tuple[Route, ...]) -> tuple[Route, ...]:
        """Cohort routes for the next request on (none: an empty tuple); first match wins."""
        table = RouteTable(tuple(routes))
        self.routes = table if routes else None
        self.wanted = table.wanted | ({b"cookie"} if self.config.sticky else frozenset())
        return table.routes

    def set_mirror(self, mirror: Mirror) -> Mirror:
        """Copy `mirror.percent` of blue's requests in `mirror.methods` to green (0: stop);
        the counters go on, so windows keep differencing them."""
        self.mirrorer.set(mirror)
        self.mirroring = mirror.on
        return mirror

    def set_in_service(self, in_service: Mapping[str, Sequence[int]]) -> None:
        """Only the listed instance indexes of each given color take new requests.

        In-flight requests on an instance taken out finish normally (a drain). All of
        it is validated before any of it applies, so a bad request changes nothing.
        """
        plan: list[tuple[list[Instance], set[int]]] = []
        for color, indexes in in_service.items():
            if color not in COLORS:
                raise ConfigError("in_service", f"unknown color {color!r} (blue or green)")
            insts = self.groups[COLORS.index(color)].instances
            if not isinstance(indexes, list | tuple):
                raise ConfigError("in_service", f"{color}: expected a list of instance indexes")
            for i in indexes:
                if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(insts):
                    raise ConfigError(
                        "in_service", f"{color} has instances 0..{len(insts) - 1}, got {i!r}"
                    )
            plan.append((insts, set(indexes)))
        for insts, wanted in plan:
            for inst in insts:
                inst.in_service = inst.index in wanted

    def add_instance(self, color: Any, url: Any, tag: Any = None) -> Instance:
        """A new instance of `color` joins its round robin (instances Surge started from a
        recipe); an address already in service is not added twice. Indexes only grow, as
        with discovery, so `GET /instances` and rolling indexes stay stable. A `tag` is what
        its answers' `x-surge-upstream` says instead of the color: a canary's baseline is
        in green's pool, so it gets a canary's share, yet its figures stay its own."""
        if color not in COLORS:
            raise ConfigError("color", f"unknown color {color!r} (blue or green)")
        if not isinstance(url, str):
            raise ConfigError("url", "expected an upstream URL such as http://127.0.0.1:8081")
        if tag is not None and not (isinstance(tag, str) and TAG_RE.fullmatch(tag)):
            raise ConfigError("tag", f"expected a short lowercase name, got {tag!r}")
        addr = parse_http_origin(url, "url")
        group = self.groups[COLORS.index(color)]
        for inst in group.instances:
            if (inst.host, inst.port) == addr and inst.in_service:
                return inst
        inst = Instance(self, color, len(group.instances), url, addr, tag)
        group.instances.append(inst)
        return inst

    def instances(self) -> list[dict[str, Any]]:
        return [inst.as_dict() for g in self.groups for inst in g.instances]

    def stats_dict(self) -> dict[str, Any]:
        return {
            **{c: self.stats[c].as_dict() for c in COLORS},
            "mirror": self.mirrorer.as_dict(),
        }

    # -- routing (hot path) -------------------------------------------------------------

    def dispatch(self, ex: Exchange) -> None:
        if ex.local is not None:
            ex.client.send(ex.local)
            ex.client.exchange_done(ex)
            return
        group = self.groups[ex.color]
        inst = group.next_instance()
        if inst is None:
            self.stats_by_index[ex.color].bad_gateway += 1
            self.stats_by_index[ex.color].status[5] += 1
            self._reply_502(ex, group.name, f"no healthy {group.name} instance", None)
            return
        ex.inst = inst
        inst.requests += 1
        inst.submit(ex)

    def upstream_failed(self, ex: Exchange, inst: Instance, kind: str) -> None:
        """Refused, reset or timed out before any response byte: a 502 naming the color."""
        inst.failures += 1
        inst.stats.bad_gateway += 1
        inst.stats.status[5] += 1
        inst.mark_unhealthy(kind)
        self._reply_502(ex, inst.color, f"{inst.color} upstream failed: {kind}", inst)

    def truncated(self, ex: Exchange, inst: Instance, kind: str) -> None:
        inst.failures += 1
        inst.stats.truncated += 1
        inst.mark_unhealthy(kind)
        ex.close_after = True
        ex.client.exchange_done(ex)

    def _reply_502(self, ex: Exchange, color: str, message: str, inst: Instance | None) -> None:
        extra = {"upstream": inst.url} if inst is not None else {}
        tag = color if ex.cohort is None else f"{color}+{ex.cohort.decode('latin-1')}"
        ex.client.send(
            local_response(502, message, color, close=not ex.keep_alive, tag=tag, **extra)
        )
        ex.client.exchange_done(ex)

    # -- slow clients -------------------------------------------------------------------

    def evict(self, n: int) -> int:
        """Close up to `n` clients with nothing in flight, slow heads first, oldest first.

        A client in a request head (or connected and silent) is the likely slowloris; an
        idle keep-alive client loses nothing but a reconnect. Returns how many went.
        """
        heads: list[ClientConnection] = []
        idle: list[ClientConnection] = []
        for client in self.clients:
            if client.queue:
                continue
            if client.head_state:
                heads.append(client)
                if len(heads) >= n:
                    break
            elif len(idle) < n:
                idle.append(client)
        victims = (heads + idle)[:n]
        for client in victims:
            self.clients.pop(client, None)
            client.close()
        self.evicted += len(victims)
        return len(victims)

    # -- timeouts -----------------------------------------------------------------------

    async def _sweep(self) -> None:
        """Request, header and idle timeouts, for all connections at once."""
        cfg = self.config
        limit = max(1, round(cfg.timeout / SWEEP_INTERVAL))
        idle_limit = max(1, round(cfg.idle_timeout / SWEEP_INTERVAL))
        head_limit = max(1, round(cfg.header_timeout / SWEEP_INTERVAL))
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            for client in list(self.clients):
                queue = client.queue
                if queue:
                    ex = queue[0]
                    ex.ticks += 1
                    if ex.ticks > limit:
                        self._expire(ex)
                    continue
                if client.head_state:
                    client.head_ticks += 1
                    if client.head_ticks > head_limit:
                        client.head_timed_out()
                    continue
                if client.seen:
                    client.seen = False
                    client.idle_ticks = 0
                else:
                    client.idle_ticks += 1
                    if client.idle_ticks > idle_limit:
                        client.close()
            for conn in list(self.admins):
                conn.ticks += 1
                if conn.seen:
                    conn.seen = False
                    if not conn.head_state:
                        conn.ticks = 0
                if conn.ticks > (head_limit if conn.head_state else idle_limit):
                    conn.timed_out()

    def _expire(self, ex: Exchange) -> None:
        if ex.up is not None:
            ex.up.expire()
            return
        inst = ex.inst
        if inst is not None and ex in inst.waiters:
            inst.waiters.remove(ex)
            self.upstream_failed(ex, inst, TIMEOUT)


def serve_forever(cfg: ProxyConfig) -> int:
    """Run until SIGINT/SIGTERM (exit 0); the stdout line announces both bound ports.

    The descriptor soft limit is raised to the hard one first: every client, slow or
    not, holds one, and a default soft limit of 1,024 is easily filled.
    """
    fd_limit(raise_soft=True)
    return serve.serve_forever(
        Proxy(cfg),
        "surge proxy",
        lambda p: f"surge proxy listening on {p.url} (admin {p.admin_url})",
    )
