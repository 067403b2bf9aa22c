"""HAProxy, steered through its runtime API on the stats socket.

Weights: `set server BACKEND/NAME weight N` for each server (pools.server_weights
shares a color's weight among its instances). Discovery: `add server` (then `enable
server`) for an instance that appears, `state drain` for one that goes (requests in
flight finish), then `state maint` and `del server` once it has no session left.
Figures: per-color percentiles come from Surge's own load (the `x-surge-upstream`
header that haproxy_config puts on every answer); `show stat` gives the router's own
counts per server, for load that does not pass through Surge.

Cohort routes: the config holds the profile's routes as ACLs, all off; `set_routes`
switches on the listed ones (`clear map`, then `add map ROUTES rN 1`, in one
connection). A route the config does not hold is refused: HAProxy cannot add a fetch
at runtime. Mirroring is refused: HAProxy has no request mirroring (its SPOE mirror
is an external agent, spoa-mirror, which Surge does not run).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from engine.deploy.routers.base import (
    ColorStats,
    InstanceCounts,
    Router,
    RouterError,
    RouterStats,
    stop_process,
)
from engine.deploy.routers.pools import color_of, server_weights
from engine.deploy.strategies import ALL_BLUE, COLORS, InService, Weights
from engine.deploy.strategies.traffic import Mirror, Route

__all__ = [
    "HaproxyProcess",
    "HaproxyRouter",
    "RuntimeApi",
    "default_socket",
    "haproxy_binary",
    "parse_stat",
    "refuse_unknown_routes",
    "router_dir",
    "routes_map",
]

API_TIMEOUT_S = 5.0
START_TIMEOUT_S = 10.0
DEL_TIMEOUT_S = 5.0


def router_dir() -> Path:
    """Where Surge keeps routers' configs and sockets: private to the user (0700)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    path = Path(base) / f"surge-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def default_socket(listen_port: int) -> Path:
    return router_dir() / f"haproxy-{listen_port}.sock"


def refuse_unknown_routes(kind: str, known: Sequence[Route], routes: Sequence[Route]) -> None:
    """A router whose config holds the profile's routes cannot take another at runtime."""
    missing = [r.spec() for r in routes if r not in known]
    if missing:
        raise RouterError(
            f"{kind}: route {', '.join(missing)} is not in its config (it holds the "
            "profile's routes: start the router from the profile)"
        )


def routes_map(socket: str) -> str:
    """The runtime map switching the config's cohort routes on, beside its socket."""
    return str(Path(socket).with_suffix(".routes.map"))


NOT_INSTALLED = "haproxy is not installed (Debian: apt-get install haproxy)"


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)),
        None,
    )


class RuntimeApi:
    """One command per connection (HAProxy's non-interactive mode): send, read to EOF."""

    def __init__(self, socket: str, timeout: float = API_TIMEOUT_S) -> None:
        self.socket = socket
        self.timeout = timeout

    async def command(self, line: str) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_unix_connection(self.socket)
                try:
                    writer.write(line.encode() + b"\n")
                    await writer.drain()
                    return (await reader.read()).decode(errors="replace")
                finally:
                    writer.close()
        except (OSError, TimeoutError) as exc:
            raise RouterError(f"haproxy runtime API {self.socket}: {exc or 'timed out'}") from exc

    async def commands(self, lines: Sequence[str]) -> list[str]:
        """Several commands in one connection (`a; b; c`): one answer block each."""
        if not lines:
            return []
        text = await self.command("; ".join(lines))
        return text.split("\n\n")[: len(lines)] if len(lines) > 1 else [text]


def parse_stat(text: str) -> list[dict[str, str]]:
    """`show stat` CSV (its header line starts with "# ") as rows of named fields."""
    body = text.lstrip("# ")
    return list(csv.DictReader(io.StringIO(body)))


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


class HaproxyRouter(Router):
    """A running HAProxy whose backend `backend` has servers named `COLOR-N`."""

    kind: ClassVar[str] = "haproxy"

    def __init__(
        self,
        socket: str,
        backend: str = "surge",
        pools: Mapping[str, Sequence[str]] | None = None,
        routes: Sequence[Route] = (),
        routes_map: str = "",
    ) -> None:
        self.api = RuntimeApi(socket)
        self.backend = backend
        self.routes = tuple(routes)  # the config's, in order: route i is `ri` in the map
        self.routes_map = routes_map
        self.names: dict[str, list[str]] | None = (
            {c: list(v) for c, v in pools.items()} if pools is not None else None
        )
        self.weights = ALL_BLUE
        self.in_service: InService | None = None
        self._sent: dict[str, int] = {}

    def describe(self) -> str:
        return f"haproxy (runtime API {self.api.socket}, backend {self.backend})"

    def fresh(self) -> HaproxyRouter:
        return HaproxyRouter(
            self.api.socket, self.backend, self.names, self.routes, self.routes_map
        )

    async def _servers(self) -> dict[str, list[str]]:
        """The backend's servers by color, read once from `show stat` when not given."""
        if self.names is None:
            rows = parse_stat(await self.api.command(f"show stat {self.backend} 4 -1"))
            names: dict[str, list[str]] = {c: [] for c in COLORS}
            for row in rows:
                if row.get("pxname") == self.backend and color_of(row.get("svname", "")) in names:
                    names[color_of(row["svname"])].append(row["svname"])
            if not any(names.values()):
                raise RouterError(
                    f"haproxy backend {self.backend!r} has no server named blue-N or green-N"
                )
            self.names = names
        return self.names

    async def _reweigh(self, force: bool = False) -> None:
        names = await self._servers()
        wanted = server_weights(self.weights, names, self.in_service)
        changed = {n: w for n, w in wanted.items() if force or self._sent.get(n) != w}
        lines = [f"set server {self.backend}/{n} weight {w}" for n, w in changed.items()]
        for line, answer in zip(lines, await self.api.commands(lines), strict=False):
            if answer.strip():
                raise RouterError(f"haproxy: {line}: {answer.strip()}")
        self._sent.update(changed)

    async def check(self) -> None:
        """The runtime API answers, and the backend has blue and green servers."""
        await self.api.command("show info")
        await self._servers()

    async def set_weights(self, weights: Weights) -> None:
        self.weights = weights
        await self._reweigh()

    async def set_in_service(self, in_service: InService) -> None:
        self.in_service = in_service
        await self._reweigh()

    async def set_routes(self, routes: tuple[Route, ...]) -> None:
        refuse_unknown_routes("haproxy", self.routes, routes)
        if not self.routes:
            return
        lines = [f"clear map {self.routes_map}"]
        lines += [f"add map {self.routes_map} r{self.routes.index(r)} 1" for r in routes]
        for line, answer in zip(lines, await self.api.commands(lines), strict=False):
            if answer.strip():
                raise RouterError(f"haproxy: {line}: {answer.strip()}")

    async def set_mirror(self, mirror: Mirror) -> None:
        if mirror.on:
            raise RouterError(
                "haproxy: no request mirroring (HAProxy mirrors only through an external "
                "SPOE agent); mirror with router = surge or envoy"
            )

    async def add_instance(
        self, color: str, name: str, address: str, tag: str | None = None
    ) -> bool:
        if tag is not None:  # answers are tagged by pool here: a tag would be lost
            raise RouterError("haproxy: tagged instances (a baseline) need router = surge")
        names = await self._servers()
        if name in names.setdefault(color, []):
            return False
        for backend in (self.backend, f"{self.backend}_{color}"):
            weight = 0 if backend == self.backend else 1
            answer = await self.api.command(
                f"add server {backend}/{name} {address} weight {weight}"
            )
            if "registered" not in answer.lower():
                raise RouterError(f"haproxy: add server {backend}/{name}: {answer.strip()}")
            await self.api.command(f"enable server {backend}/{name}")
        names[color].append(name)
        await self._reweigh()
        return True

    async def drain_instance(self, color: str, name: str) -> None:
        names = await self._servers()
        if name in names.get(color, []):
            names[color].remove(name)
        await self._reweigh()
        for backend in (self.backend, f"{self.backend}_{color}"):
            await self.api.command(f"set server {backend}/{name} state drain")

    async def in_flight(self, names: list[str]) -> dict[str, int] | None:
        """`scur` of `show stat`: the sessions each server serves now."""
        rows = parse_stat(await self.api.command(f"show stat {self.backend} 4 -1"))
        current = {n: 0 for n in names}
        for r in rows:
            if r.get("svname") in current:
                current[r["svname"]] += _int(r.get("scur"))
        return current

    async def remove_instance(self, color: str, name: str) -> None:
        """Maintenance, then `del server`; HAProxy refuses while idle connections to the
        server linger, so it is asked again (every 0.1 s, for DEL_TIMEOUT_S at most)."""
        for backend in (self.backend, f"{self.backend}_{color}"):
            await self.api.command(f"set server {backend}/{name} state maint")
            deadline = time.monotonic() + DEL_TIMEOUT_S
            while True:
                answer = await self.api.command(f"del server {backend}/{name}")
                if "deleted" in answer.lower() or "no such server" in answer.lower():
                    break
                if time.monotonic() > deadline:
                    raise RouterError(f"haproxy: del server {backend}/{name}: {answer.strip()}")
                await self.api.command(f"shutdown sessions server {backend}/{name}")
                await asyncio.sleep(0.1)
        self._sent.pop(name, None)

    async def instance_stats(self) -> dict[str, InstanceCounts]:
        """`stot`, `hrsp_5xx`, and connection plus response errors (`econ`, `eresp`)."""
        rows = parse_stat(await self.api.command(f"show stat {self.backend} 4 -1"))
        return {
            r["svname"]: InstanceCounts(
                _int(r.get("stot")),
                _int(r.get("hrsp_5xx")),
                _int(r.get("econ")) + _int(r.get("eresp")),
            )
            for r in rows
            if r.get("pxname") == self.backend and r.get("svname")
        }

    async def stats(self) -> RouterStats:
        rows = parse_stat(await self.api.command(f"show stat {self.backend} 4 -1"))
        acc: dict[str, list[float]] = {}
        for row in rows:
            if row.get("pxname") != self.backend:
                continue
            color = color_of(row.get("svname", ""))
            requests = _int(row.get("stot"))
            errors = _int(row.get("hrsp_5xx")) + _int(row.get("econ")) + _int(row.get("eresp"))
            a = acc.setdefault(color, [0, 0, 0.0])
            a[0] += requests
            a[1] += errors
            a[2] += _int(row.get("rtime")) * requests  # rtime: mean of the last 1024
        colors = {
            c: ColorStats(int(r), int(e), (t / r) if r else None) for c, (r, e, t) in acc.items()
        }
        return RouterStats(colors, "haproxy show stat (5xx, connection and response errors)")


class HaproxyProcess:
    """`haproxy -f CONFIG -db` as a child process, ready once its socket answers."""

    def __init__(self, config: Path, socket: str, log: Path | None = None) -> None:
        self.config = config
        self.socket = socket
        self.log = log or config.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT_S) -> HaproxyProcess:
        binary = haproxy_binary()
        if binary is None:
            raise RouterError(NOT_INSTALLED)
        Path(self.socket).unlink(missing_ok=True)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [binary, "-f", str(self.config), "-db"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None:
                raise RouterError(f"haproxy exited: {self.log.read_text(errors='replace')[-500:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RouterError(f"haproxy did not open {self.socket} within {timeout:g}s")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        import socket as so

        s = so.socket(so.AF_UNIX, so.SOCK_STREAM)
        try:
            s.settimeout(1.0)
            s.connect(self.socket)
            s.sendall(b"show info\n")
            return b"Name: HAProxy" in s.recv(4096)
        except OSError:
            return False
        finally:
            s.close()

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc = None

    def __enter__(self) -> HaproxyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
