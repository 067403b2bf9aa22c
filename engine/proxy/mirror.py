"""Mirroring: a copy of a request blue answers goes to green, and the pair is compared.

The client is answered by blue as always and never waits on green: the copy is sent
by a task of its own on green's own connections (not green's pool, so a slow or
failing green neither queues nor marks anything the real traffic uses), at most
MAX_IN_FLIGHT at once; beyond that a copy is skipped and counted. Only the methods
listed are copied (GET, HEAD and OPTIONS by default: duplicated writes are the known
danger of mirroring), and only requests whose color is blue (one going to green gets
there anyway), for `percent` of them, spread evenly by a running credit.

Each pair is compared when both halves are in: the status, then the body (a CRC-32
and length over the streamed, de-chunked body, so memory stays bounded whatever its
size; a body is only compared when the statuses agree), and each side's latency from
the request written to the last byte into an HDR histogram with the load engine's
parameters (engine.load.metrics, which the proxy may not import: a unit test keeps
the two the same). A pair whose blue side failed is no comparison and is dropped;
one whose green side failed (refused, reset, timed out) counts as a mirror error. A
pooled connection green closed while it was idle is no failure: the copy is sent again
once on a fresh connection, as blue's requests are; a body with no length ends at the
close, whole.
"""

from __future__ import annotations

import asyncio
import re
import time
import zlib
from collections import deque
from typing import TYPE_CHECKING, Any

import httptools
from hdrh.histogram import HdrHistogram

from engine.deploy.strategies.traffic import Mirror
from engine.errors import ConfigError, classify
from engine.proxy.http1 import CRLF
from engine.stats import hdr_counts

if TYPE_CHECKING:
    from engine.proxy.server import Proxy
    from engine.proxy.upstreams import Instance

__all__ = ["MAX_IN_FLIGHT", "MirrorPair", "Mirrorer", "check_mirror", "new_histogram"]

#: Copies on their way to green at once; beyond this a copy is skipped (and counted).
MAX_IN_FLIGHT = 256
#: Mismatches kept as examples (the latest distinct ones).
EXAMPLES = 5
#: engine.load.metrics' histogram: microseconds from 1 us to 1 hour, 3 digits.
HIST_MIN_US, HIST_MAX_US, HIST_DIGITS = 1, 3_600_000_000, 3
_METHOD = re.compile(r"[A-Z]{1,20}")


def new_histogram() -> HdrHistogram:
    """The same histogram as engine.load.metrics.new_histogram(): the same indexes."""
    return HdrHistogram(HIST_MIN_US, HIST_MAX_US, HIST_DIGITS)


def check_mirror(mirror: Any, key: str = "mirror") -> Mirror:
    """A Mirror whose methods are request methods (upper-case words); ConfigError if not."""
    if not isinstance(mirror, Mirror):
        raise ConfigError(key, f"expected a Mirror, got {mirror!r}")
    if not mirror.methods or not all(
        isinstance(m, str) and _METHOD.fullmatch(m) for m in mirror.methods
    ):
        raise ConfigError(key, f"methods must be upper-case names like GET, got {mirror.methods}")
    return mirror


def mirror_from_dict(data: Any, key: str = "mirror") -> Mirror:
    """`{"percent": 100, "methods": ["GET", "HEAD", "OPTIONS"]}` (methods optional)."""
    if not isinstance(data, dict) or not {"percent"} <= set(data) <= {"percent", "methods"}:
        raise ConfigError(key, 'expected {"percent": 0..100, "methods": ["GET", ...]}')
    percent, methods = data["percent"], data.get("methods", Mirror().methods)
    if isinstance(percent, bool) or not isinstance(percent, int):
        raise ConfigError(key, f"percent must be an integer 0..100, got {percent!r}")
    if not isinstance(methods, list | tuple):
        raise ConfigError(key, f"methods must be a list like ['GET'], got {methods!r}")
    try:
        return check_mirror(Mirror(percent, tuple(methods)), key)
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None


class MirrorPair:
    """One mirrored request: blue's half is filled by its UpstreamConnection, green's by
    the mirror task; whichever finishes second has the pair compared."""

    __slots__ = ("blue", "blue_t0", "crc", "green", "length", "mirrorer", "path", "status")

    def __init__(self, mirrorer: Mirrorer, path: str) -> None:
        self.mirrorer = mirrorer
        self.path = path
        self.blue: tuple[int, int, int, float] | None = None  # status, crc, length, us
        self.green: tuple[int, int, int, float] | None = None  # status 0: no answer
        self.blue_t0 = 0.0
        self.status = 0
        self.crc = 0
        self.length = 0

    # blue's side, from engine.proxy.upstream_conn (the request is written: start again,
    # since a retried request restarts on a new connection)
    def blue_start(self) -> None:
        self.blue_t0 = time.perf_counter()
        self.status = self.crc = self.length = 0

    def blue_body(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.length += len(data)

    def blue_done(self) -> None:
        us = (time.perf_counter() - self.blue_t0) * 1e6
        self.blue = (self.status, self.crc, self.length, us)
        if self.green is not None:
            self.mirrorer.record(self)

    def green_done(self, result: tuple[int, int, int, float]) -> None:
        self.green = result
        if self.blue is not None:
            self.mirrorer.record(self)


class _GreenResponse:
    """httptools callbacks for one answer on a mirror connection (1xx skipped).
    `until_close`: its body has no length, so the connection's close ends it."""

    __slots__ = (
        "crc",
        "done",
        "framed",
        "head_only",
        "keep",
        "length",
        "parser",
        "status",
        "until_close",
    )

    def __init__(self, head_only: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head_only = head_only
        self.status = self.crc = self.length = 0
        self.done = self.keep = self.framed = self.until_close = False

    def on_header(self, name: bytes, value: bytes) -> None:
        n = name.lower()
        if n == b"content-length" or n == b"transfer-encoding":
            self.framed = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status >= 200:
            self.status = status
            if self.head_only:
                self.done = True
                raise _Stop
            self.until_close = not self.framed and status not in (204, 304)
        else:
            self.framed = False  # a 1xx's headers say nothing of the answer's

    def on_body(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.length += len(data)

    def on_message_complete(self) -> None:
        if self.status:
            self.done = True
            self.keep = self.parser.should_keep_alive()


class _Stop(Exception):
    """From a parser callback: a HEAD answer ends at its head."""


class _Stale(Exception):
    """A pooled mirror connection green had closed while it was idle: no byte came back."""


class Mirrorer:
    """The proxy's mirror: which requests to copy, the copies in flight, the counters."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.set(Mirror())  # off until Proxy.set_mirror, the one place it changes
        self.in_flight = 0
        self.mirrored = 0  # pairs compared (green's errors included)
        self.status_mismatch = 0
        self.body_mismatch = 0
        self.errors = 0
        self.skipped = 0  # copies not sent: MAX_IN_FLIGHT were on their way
        self.examples: deque[tuple[str, int, int]] = deque(maxlen=EXAMPLES)
        self.hists = {"blue": new_histogram(), "green": new_histogram()}
        self._idle: dict[Instance, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    def set(self, mirror: Mirror) -> None:
        self.mirror = check_mirror(mirror)
        self.methods = frozenset(m.encode() for m in mirror.methods)
        self._credit = 0

    def take(self, method: bytes, url: bytes, data: bytes, needs_host: bool) -> MirrorPair | None:
        """A pair for this blue request when it is to be copied (the copy is on its way)."""
        if method not in self.methods:
            return None
        self._credit += self.mirror.percent
        if self._credit < 100:
            return None
        self._credit -= 100
        if self.in_flight >= MAX_IN_FLIGHT:
            self.skipped += 1
            return None
        pair = MirrorPair(self, url.decode("latin-1")[:200])
        self.in_flight += 1
        self.proxy.spawn(self._copy(pair, data, needs_host, method == b"HEAD"))
        return pair

    async def _copy(self, pair: MirrorPair, data: bytes, needs_host: bool, head: bool) -> None:
        try:
            inst = self.proxy.groups[1].next_instance()
            result = (0, 0, 0, 0.0)
            if inst is not None:
                if needs_host:
                    line_end = data.index(CRLF) + 2
                    data = data[:line_end] + inst.host_line + data[line_end:]
                try:
                    result = await self._exchange(inst, data, head)
                except (OSError, TimeoutError, httptools.HttpParserError) as exc:
                    inst.last_error = f"mirror: {classify(exc)}"
            pair.green_done(result)
        finally:
            self.in_flight -= 1

    async def _exchange(
        self, inst: Instance, data: bytes, head: bool
    ) -> tuple[int, int, int, float]:
        """Green's answer on an idle connection, or on a fresh one if green had closed
        that one while it was idle (nothing came back: resent once, as blue's are)."""
        idle = self._idle.setdefault(inst, [])
        if idle:
            try:
                return await self._send(idle.pop(), idle, data, head, reused=True)
            except _Stale:
                pass
        async with asyncio.timeout(self.proxy.config.connect_timeout):
            conn = await asyncio.open_connection(inst.host, inst.port)
        return await self._send(conn, idle, data, head, reused=False)

    async def _send(
        self,
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
        data: bytes,
        head: bool,
        reused: bool,
    ) -> tuple[int, int, int, float]:
        reader, writer = conn
        resp = _GreenResponse(head)
        got = False
        t0 = time.perf_counter()
        try:
            writer.write(data)
            async with asyncio.timeout(self.proxy.config.timeout):
                while not resp.done:
                    try:
                        chunk = await reader.read(65536)
                    except OSError:
                        if reused and not got:
                            raise _Stale from None
                        raise
                    if not chunk:
                        if resp.until_close and resp.status:
                            break  # a body with no length ends at the close: it is whole
                        if reused and not got:
                            raise _Stale
                        raise ConnectionResetError("green closed the mirror connection")
                    got = True
                    try:
                        resp.parser.feed_data(chunk)
                    except httptools.HttpParserCallbackError as exc:
                        if not isinstance(exc.__context__, _Stop):
                            raise
        except BaseException:
            writer.close()
            raise
        us = (time.perf_counter() - t0) * 1e6
        if resp.done and resp.keep and not head and len(idle) < 64:
            idle.append(conn)
        else:
            writer.close()
        return resp.status, resp.crc, resp.length, us

    def record(self, pair: MirrorPair) -> None:
        """Compare a pair whose halves are both in."""
        blue, green = pair.blue, pair.green
        assert blue is not None and green is not None
        self.mirrored += 1
        if not green[0]:
            self.errors += 1
        else:
            for color, us in (("blue", blue[3]), ("green", green[3])):
                self.hists[color].record_value(min(max(int(us), HIST_MIN_US), HIST_MAX_US))
            if blue[0] != green[0]:
                self.status_mismatch += 1
            elif blue[1:3] != green[1:3]:
                self.body_mismatch += 1
            else:
                return
        example = (pair.path, blue[0], green[0])
        if example not in self.examples:
            self.examples.append(example)

    def close(self) -> None:
        for conns in self._idle.values():
            for _, writer in conns:
                writer.close()
        self._idle.clear()

    def as_dict(self) -> dict[str, Any]:
        """GET /stats' `mirror`: cumulative counters, and each color's latency of the pairs
        as HDR counts (a window is the difference) with p50/p95/p99 (ms) since start."""
        out: dict[str, Any] = {
            "percent": self.mirror.percent,
            "methods": list(self.mirror.methods),
            "mirrored": self.mirrored,
            "mirror_status_mismatch": self.status_mismatch,
            "mirror_body_mismatch": self.body_mismatch,
            "mirror_errors": self.errors,
            "mirror_skipped": self.skipped,
            "in_flight": self.in_flight,
            "examples": [
                {"path": p, "blue_status": b, "green_status": g} for p, b, g in self.examples
            ],
        }
        for color, h in self.hists.items():
            ms = {
                f"p{p}": h.get_value_at_percentile(p) / 1000 if h.get_total_count() else 0.0
                for p in (50, 95, 99)
            }
            out[color] = {"counts": dict(hdr_counts(h)), **ms}
        return out
