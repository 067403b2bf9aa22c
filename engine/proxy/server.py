"""The blue/green traffic proxy behind `surge proxy`.

Routing is per request, not per connection: load generators keep connections open
for minutes, so per-connection routing would freeze the split at connect time. The
color is chosen by smooth weighted round-robin (nginx's algorithm), which makes the
shares exact over any window of `blue + green` requests, where coin flips wander by
a few percent over a thousand requests and would make a 1% canary look like 0% or 3%.

Why hand-rolled, like `engine/sut.py` and `engine/wire.py`: per request the hot path
is a parse (httptools, in C), a pick, one write upstream, a parse and one write back;
no task, no future, no timer. Upstream connections are pooled keep-alive sockets, one
request in flight on each; the only coroutine is the connect of a new one. Timeouts
and idle clients are found by one sweep every 0.25 s instead of a timer per request.

Failure handling: a refused, reset or timed-out upstream gives the client a 502 whose
JSON names the color and instance, counts for that color, and marks the instance
unhealthy; unhealthy instances are skipped and probed every 0.5 s (GET /health, then
GET / if there is no /health) until they answer. When no healthy instance of the
chosen color is left, the request gets a 502 naming the color: it is not quietly
sent to the other color, because that would hide a broken green behind blue's
figures, which is exactly what a canary analysis must see.

Every response carries `x-surge-upstream: blue|green` (replacing any the upstream
set), so Surge's engine splits every figure by color.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools

from engine import serve
from engine.deploy.strategies import ALL_BLUE, COLORS, Weights
from engine.errors import TIMEOUT, ConfigError, classify

__all__ = [
    "ColorStats",
    "Instance",
    "Proxy",
    "ProxyConfig",
    "SmoothWeighted",
    "add_arguments",
    "config_from_args",
    "parse_addr",
    "parse_weights",
    "serve_forever",
    "url_of",
]

#: Request line plus headers, per request; beyond this the client gets a 431.
MAX_HEAD = 64 * 1024
#: Request bodies are buffered (so a retry can resend them); beyond this, 413.
MAX_BODY = 16 * 1024 * 1024
#: Parsed-but-unanswered pipelined requests per client before we stop reading.
MAX_PIPELINE = 32
SWEEP_INTERVAL = 0.25

_HTTP11 = b" HTTP/1.1\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CRLF = b"\r\n"
_LAST_CHUNK = b"0\r\n\r\n"
_COOKIE = b"surge_color="
# Hop-by-hop headers (RFC 9110 7.6.1) and the ones the proxy itself consumes or sets.
_REQ_SKIP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"expect",
        b"content-length",
        b"x-surge-color",
    )
)
_RESP_SKIP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"x-surge-upstream",
    )
)

# Response framing towards the client.
_NO_BODY, _LENGTH, _CHUNKED, _UNTIL_CLOSE = 0, 1, 2, 3


# --------------------------------------------------------------------------- config


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_addr(text: str, key: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """ "HOST:PORT", ":PORT", "PORT", "[::1]:PORT" or "http://HOST:PORT" -> (host, port)."""
    raw = text.strip()
    if raw.startswith(("http://", "https://")):
        raw = urlsplit(raw).netloc
    host, sep, port_s = raw.rpartition(":")
    if not sep:
        host, port_s = "", raw
    host = host.strip("[]") or default_host
    try:
        port = int(port_s)
    except ValueError:
        raise ConfigError(key, f"expected HOST:PORT, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(key, f"port must be 0..65535, got {port}")
    return host, port


def check_weights(blue: Any, green: Any, key: str = "weights") -> Weights:
    """Integers 0..100 each with a positive sum: a zero sum would leave nothing to route."""
    for name, value in (("blue", blue), ("green", green)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"{name} weight must be an integer 0..100, got {value!r}")
        if not 0 <= value <= 100:
            raise ConfigError(key, f"{name} weight must be 0..100, got {value}")
    if blue + green == 0:
        raise ConfigError(key, "blue and green weights cannot both be 0")
    return Weights(blue, green)


def parse_weights(text: str, key: str = "--weights") -> Weights:
    """ "90:10" -> Weights(90, 10)."""
    b, sep, g = text.partition(":")
    try:
        if not sep:
            raise ValueError
        blue, green = int(b), int(g)
    except ValueError:
        raise ConfigError(key, f"expected BLUE:GREEN like 90:10, got {text!r}") from None
    return check_weights(blue, green, key)


def _upstream(url: str, key: str) -> tuple[str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(key, f"bad URL {url!r}: {exc}") from None
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(key, f"expected http://HOST:PORT (https upstreams: not yet), got {url!r}")
    if parts.path not in ("", "/") or parts.query:
        raise ConfigError(key, f"an upstream is an origin, without path or query: {url!r}")
    return parts.hostname, port or 80


@dataclass(frozen=True)
class ProxyConfig:
    """Everything `surge proxy` can be told; validated on construction (ConfigError)."""

    blue: tuple[str, ...]
    green: tuple[str, ...]
    weights: Weights = ALL_BLUE
    host: str = "127.0.0.1"
    port: int = 0
    admin_host: str = "127.0.0.1"
    admin_port: int = 0
    sticky: bool = False
    allow_remote: bool = False
    connect_timeout: float = 2.0
    timeout: float = 30.0
    max_conns: int = 256
    max_clients: int = 10_000
    probe_interval: float = 0.5
    idle_timeout: float = 75.0
    upstreams: Mapping[str, tuple[tuple[str, int], ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        resolved: dict[str, tuple[tuple[str, int], ...]] = {}
        for color in COLORS:
            urls = tuple(getattr(self, color))
            if isinstance(getattr(self, color), str):
                urls = (getattr(self, color),)
            if not urls:
                raise ConfigError(f"--{color}", "at least one upstream URL is required")
            object.__setattr__(self, color, urls)
            resolved[color] = tuple(_upstream(u, f"--{color}") for u in urls)
        object.__setattr__(self, "upstreams", resolved)
        object.__setattr__(self, "weights", check_weights(*self.weights, key="--weights"))
        if not self.allow_remote:
            for key, host in (("--listen", self.host), ("--admin", self.admin_host)):
                if not _is_loopback(host):
                    raise ConfigError(
                        key, f"{host} is not a loopback address (pass --allow-remote to allow)"
                    )
        for key in ("connect_timeout", "timeout", "probe_interval", "idle_timeout"):
            if not getattr(self, key) > 0:
                raise ConfigError(key, f"must be > 0, got {getattr(self, key)!r}")
        for key in ("max_conns", "max_clients"):
            if getattr(self, key) < 1:
                raise ConfigError(key, f"must be >= 1, got {getattr(self, key)!r}")


# --------------------------------------------------------------------------- routing


class SmoothWeighted:
    """nginx's smooth weighted round-robin over the two colors.

    Each pick adds every weight to its running credit and takes the color with the
    most credit, which then pays the total. The sequence repeats every `blue + green`
    picks with exact counts, and in any window the count of a color is within one of
    its share. Setting weights resets the credits, so the new split holds from the
    very next request.
    """

    __slots__ = ("_blue", "_cb", "_cg", "_green", "_total")

    def __init__(self, blue: int, green: int) -> None:
        self.set(blue, green)

    def set(self, blue: int, green: int) -> None:
        self._blue = blue
        self._green = green
        self._total = blue + green
        self._cb = 0
        self._cg = 0

    def pick(self) -> int:
        """0 for blue, 1 for green."""
        cb = self._cb + self._blue
        cg = self._cg + self._green
        if cb >= cg:
            self._cb = cb - self._total
            self._cg = cg
            return 0
        self._cb = cb
        self._cg = cg - self._total
        return 1


class ColorStats:
    """Counters per color; what `GET /stats` shows and the app cross-checks."""

    __slots__ = ("bad_gateway", "requests", "status", "truncated")

    def __init__(self) -> None:
        self.requests = 0
        self.status = [0] * 6  # index = status // 100
        self.bad_gateway = 0  # 502s the proxy made (also counted in status_5xx)
        self.truncated = 0  # responses cut short by an upstream failure mid-body

    def as_dict(self) -> dict[str, int]:
        s = self.status
        return {
            "requests": self.requests,
            "responses": sum(s),
            "status_2xx": s[2],
            "status_3xx": s[3],
            "status_4xx": s[4],
            "status_5xx": s[5],
            "bad_gateway": self.bad_gateway,
            "truncated": self.truncated,
        }


class _Exchange:
    """One client request on its way through; exists from parse to last byte written."""

    __slots__ = (
        "cancelled",
        "client",
        "close_after",
        "color",
        "data",
        "head_only",
        "http10",
        "inst",
        "keep_alive",
        "local",
        "needs_host",
        "retried",
        "set_cookie",
        "ticks",
        "up",
    )

    def __init__(self, client: _Client, color: int, data: bytes) -> None:
        self.client = client
        self.color = color
        self.data = data
        self.head_only = False
        self.http10 = False
        self.keep_alive = True
        self.close_after = False
        self.set_cookie = False
        self.needs_host = False
        self.retried = False
        self.cancelled = False
        self.local: bytes | None = None
        self.inst: Instance | None = None
        self.up: _Upstream | None = None
        self.ticks = 0


class Instance:
    """One upstream origin: its connection pool, health, and counters."""

    __slots__ = (
        "_probe",
        "color",
        "conns",
        "failures",
        "healthy",
        "host",
        "host_line",
        "idle",
        "in_service",
        "index",
        "last_error",
        "port",
        "proxy",
        "requests",
        "stats",
        "url",
        "waiters",
    )

    def __init__(
        self, proxy: Proxy, color: str, index: int, url: str, addr: tuple[str, int]
    ) -> None:
        self.proxy = proxy
        self.color = color
        self.index = index
        self.url = url
        self.host, self.port = addr
        self.host_line = f"host: {self.host}:{self.port}\r\n".encode("latin-1")
        self.healthy = True
        self.in_service = True
        self.idle: list[_Upstream] = []
        self.conns = 0  # open or opening
        self.waiters: deque[_Exchange] = deque()
        self.requests = 0
        self.failures = 0
        self.last_error: str | None = None
        self.stats: ColorStats = proxy.stats[color]
        self._probe: asyncio.Task[None] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "color": self.color,
            "index": self.index,
            "url": self.url,
            "healthy": self.healthy,
            "in_service": self.in_service,
            "requests": self.requests,
            "failures": self.failures,
            "connections": self.conns,
            "idle": len(self.idle),
            "last_error": self.last_error,
        }

    # -- pool ---------------------------------------------------------------------------

    def submit(self, ex: _Exchange) -> None:
        idle = self.idle
        while idle:
            up = idle.pop()
            if not up.closed:
                up.begin(ex, True)
                return
        if self.conns < self.proxy.config.max_conns:
            self.open(ex)
        else:
            self.waiters.append(ex)

    def open(self, ex: _Exchange) -> None:
        self.conns += 1
        self.proxy.spawn(self._connect(ex))

    async def _connect(self, ex: _Exchange) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.proxy.config.connect_timeout):
                _, up = await loop.create_connection(lambda: _Upstream(self), self.host, self.port)
        except (OSError, TimeoutError) as exc:
            self.conns -= 1
            if not ex.cancelled:
                self.proxy.upstream_failed(ex, self, classify(exc))
            self._serve_waiter()
            return
        up.attached = True
        if ex.cancelled:
            self.release(up)
        else:
            up.begin(ex, False)

    def release(self, up: _Upstream) -> None:
        waiters = self.waiters
        while waiters:
            ex = waiters.popleft()
            if not ex.cancelled:
                up.begin(ex, True)
                return
        self.idle.append(up)

    def lost(self, up: _Upstream) -> None:
        self.conns -= 1
        with contextlib.suppress(ValueError):
            self.idle.remove(up)
        self._serve_waiter()

    def _serve_waiter(self) -> None:
        while self.waiters and self.conns < self.proxy.config.max_conns:
            ex = self.waiters.popleft()
            if not ex.cancelled:
                self.open(ex)
                return

    # -- health -------------------------------------------------------------------------

    def mark_unhealthy(self, kind: str) -> None:
        self.last_error = kind
        if not self.healthy:
            return
        self.healthy = False
        for up in self.idle:
            up.close()
        self.idle.clear()
        if self._probe is None and not self.proxy.closing:
            self._probe = self.proxy.spawn(self._probe_until_healthy())

    async def _probe_until_healthy(self) -> None:
        try:
            while not self.healthy:
                await asyncio.sleep(self.proxy.config.probe_interval)
                if await probe(self.host, self.port, self.proxy.config.connect_timeout):
                    self.healthy = True
        finally:
            self._probe = None


async def _status_of(host: str, port: int, path: str, timeout: float) -> int | None:
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nhost: {host}:{port}\r\nconnection: close\r\n"
                "user-agent: surge-proxy-probe\r\n\r\n".encode("latin-1")
            )
            line = await reader.readline()
        parts = line.split()
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    except (OSError, TimeoutError, ValueError):
        return None
    finally:
        if writer is not None:
            writer.close()


async def probe(host: str, port: int, timeout: float) -> bool:
    """Healthy when GET /health (or, without one, GET /) answers below 500."""
    status = await _status_of(host, port, "/health", timeout)
    if status == 404:
        status = await _status_of(host, port, "/", timeout)
    return status is not None and status < 500


class _Group:
    """One color's instances, balanced round-robin over the healthy, in-service ones."""

    __slots__ = ("color_line", "cookie_line", "instances", "name", "rr")

    def __init__(self, name: str, instances: list[Instance]) -> None:
        self.name = name
        self.instances = instances
        self.rr = 0
        self.color_line = b"x-surge-upstream: " + name.encode() + _CRLF
        self.cookie_line = (
            b"set-cookie: surge_color=" + name.encode() + b"; Path=/; HttpOnly; SameSite=Lax\r\n"
        )

    def next_instance(self) -> Instance | None:
        insts = self.instances
        n = len(insts)
        i = self.rr
        for _ in range(n):
            inst = insts[i]
            i += 1
            if i == n:
                i = 0
            if inst.healthy and inst.in_service:
                self.rr = i
                return inst
        return None


# --------------------------------------------------------------------------- upstream side


class _HeadDone(Exception):
    """Raised from a parser callback to stop parsing (HEAD response, oversized head)."""


class _Upstream(asyncio.Protocol):
    """One pooled keep-alive connection to an instance; one exchange at a time.

    The response is streamed, not buffered: the head is rewritten (hop-by-hop headers
    out, `x-surge-upstream` in) and body pieces are relayed as they arrive, re-chunked
    when the upstream used chunked encoding or closes to end the body.
    """

    __slots__ = (
        "attached",
        "closed",
        "complete",
        "eof_body",
        "ex",
        "fail_kind",
        "got",
        "has_length",
        "head",
        "head_sent",
        "head_size",
        "inst",
        "interim",
        "keep",
        "mode",
        "out",
        "parser",
        "paused",
        "reason",
        "reused",
        "status",
        "te_chunked",
        "transport",
    )

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.ex: _Exchange | None = None
        self.out: list[bytes] = []
        self.head = bytearray()
        self.closed = False
        self.paused = False
        self.attached = False  # counted in inst.conns (set once the connect succeeded)
        self._reset()

    def _reset(self) -> None:
        self.head.clear()
        self.head_size = 0
        self.head_sent = False
        self.has_length = False
        self.te_chunked = False
        self.eof_body = False
        self.complete = False
        self.keep = False
        self.interim = False
        self.mode = _NO_BODY
        self.status = 0
        self.reason = b""
        self.got = False
        self.fail_kind: str | None = None

    def begin(self, ex: _Exchange, reused: bool) -> None:
        self.ex = ex
        ex.up = self
        self.reused = reused
        data = ex.data
        if ex.needs_host:
            line_end = data.index(_CRLF) + 2
            data = data[:line_end] + self.inst.host_line + data[line_end:]
        if ex.client.write_paused:
            self.pause()
        self.transport.write(data)  # type: ignore[union-attr]

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        ex = self.ex
        if ex is None:  # nothing asked: a confused upstream; do not reuse it
            self.close()
            return
        self.got = True
        head_done = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _HeadDone):
                raise
            head_done = self.fail_kind is None  # a HEAD response ends at its head
        except httptools.HttpParserError:
            self.fail_kind = "protocol"
        out = self.out
        if out:
            ex.client.send(out[0] if len(out) == 1 else b"".join(out))
            out.clear()
        if self.fail_kind is not None:
            self.abort()
        elif head_done:
            self.finish(keep=False)
        elif self.complete:
            self.finish(keep=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.attached:
            self.attached = False
            self.inst.lost(self)
        ex = self.ex
        if ex is None:
            return
        if self.eof_body and self.head_sent and self.fail_kind is None:
            if self.mode == _CHUNKED:  # the body was delimited by the close
                self.out.append(_LAST_CHUNK)
            if self.out:
                ex.client.send(b"".join(self.out))
                self.out.clear()
            self.finish(keep=False)
            return
        self.ex = None
        ex.up = None
        kind = self.fail_kind or (classify(exc) if exc is not None else "connection reset")
        if self.head_sent:
            # Part of the response already went out: only closing tells the client.
            self.inst.proxy.truncated(ex, self.inst, kind)
        elif self.reused and not self.got and self.fail_kind is None and not ex.retried:
            # A pooled connection the upstream had closed while idle: resend once.
            ex.retried = True
            self.inst.open(ex)
        else:
            self.inst.proxy.upstream_failed(ex, self.inst, kind)

    def pause_writing(self) -> None:  # the upstream is slow to read a request body
        pass

    def resume_writing(self) -> None:
        pass

    # httptools callbacks
    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.head_sent:
            return  # trailers: dropped (the body is re-chunked without them)
        self.head_size += len(name) + len(value) + 4
        if self.head_size > MAX_HEAD:
            self.fail_kind = "response head too large"
            raise _HeadDone
        n = name.lower()
        if n in _RESP_SKIP:
            if n == b"transfer-encoding":
                self.te_chunked = b"chunked" in value.lower()
            return
        if n == b"content-length":
            self.has_length = True
        self.head += name + b": " + value + _CRLF

    def on_headers_complete(self) -> None:
        ex = self.ex
        assert ex is not None
        status = self.parser.get_status_code()
        if status < 200:  # 1xx: relay as-is (103 Early Hints); the real head follows
            self.interim = True
            self.out.append(b"HTTP/1.1 %d %s\r\n%s\r\n" % (status, self.reason, self.head))
            self.head.clear()
            self.reason = b""
            self.head_size = 0
            return
        self.status = status
        group = self.inst.proxy.groups[ex.color]
        parts = [b"HTTP/1.1 %d %s\r\n" % (status, self.reason), self.head, group.color_line]
        if ex.set_cookie:
            parts.append(group.cookie_line)
        if ex.head_only or status in (204, 304):
            mode = _NO_BODY
        elif self.te_chunked:
            mode = _UNTIL_CLOSE if ex.http10 else _CHUNKED
            if self.has_length:  # both: Transfer-Encoding wins (RFC 9112 6.3)
                parts[1] = _drop_content_length(self.head)
        elif self.has_length:
            mode = _LENGTH
        else:
            self.eof_body = True
            mode = _UNTIL_CLOSE if ex.http10 else _CHUNKED
        self.mode = mode
        if mode == _CHUNKED:
            parts.append(b"transfer-encoding: chunked\r\n")
        if mode == _UNTIL_CLOSE or not ex.keep_alive:
            ex.close_after = True
            parts.append(b"connection: close\r\n")
        elif ex.http10:
            parts.append(b"connection: keep-alive\r\n")
        parts.append(_CRLF)
        self.out.append(b"".join(parts))
        self.head_sent = True
        if ex.head_only:
            raise _HeadDone  # llhttp cannot know a HEAD response has no body

    def on_body(self, body: bytes) -> None:
        if self.mode == _CHUNKED:
            self.out.append(b"%x\r\n%s\r\n" % (len(body), body))
        else:
            self.out.append(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        if self.mode == _CHUNKED:
            self.out.append(_LAST_CHUNK)
        self.complete = True  # finished in data_received, once the output is flushed
        self.keep = self.parser.should_keep_alive()  # only valid inside the callback

    # ours
    def finish(self, *, keep: bool) -> None:
        ex = self.ex
        if ex is None:
            return
        self.ex = None
        ex.up = None
        self.inst.stats.status[self.status // 100] += 1
        reusable = keep and self.keep and not self.closed
        self._reset()
        if self.paused:
            self.resume()
        if reusable:
            self.inst.release(self)
        else:
            self.close()
        ex.client.exchange_done(ex)

    def pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def expire(self) -> None:
        self.fail_kind = TIMEOUT
        self.abort()

    def abandon(self) -> None:
        """The client went away mid-exchange: the response has nowhere to go."""
        ex = self.ex
        self.ex = None
        if ex is not None:
            ex.up = None
        self.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _drop_content_length(head: bytearray) -> bytes:
    lines = bytes(head).split(_CRLF)
    return _CRLF.join(x for x in lines if not x.lower().startswith(b"content-length:"))


# --------------------------------------------------------------------------- client side


class _Client(asyncio.Protocol):
    """One client connection: parses requests, routes each, writes responses in order."""

    __slots__ = (
        "_body",
        "_body_size",
        "_cookie",
        "_expect",
        "_framed",
        "_has_host",
        "_head",
        "_head_size",
        "_override",
        "_picked",
        "_problem",
        "_problem_sent",
        "_url",
        "idle_ticks",
        "parser",
        "proxy",
        "queue",
        "read_paused",
        "seen",
        "transport",
        "write_paused",
    )

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[_Exchange] = deque()
        self.read_paused = False
        self.write_paused = False
        self.seen = True
        self.idle_ticks = 0
        self._picked = False
        self._problem_sent = False
        self._head = bytearray()
        self._body: list[bytes] = []
        self.on_message_begin()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        proxy = self.proxy
        if len(proxy.clients) >= proxy.config.max_clients:
            transport.write(_local(503, "too many connections", None, close=True))  # type: ignore[attr-defined]
            transport.close()
            self.transport = None
            return
        proxy.clients.add(self)

    def data_received(self, data: bytes) -> None:
        self.seen = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # answered 501 in on_message_complete
        except httptools.HttpParserError as exc:
            if self.transport is not None and not self._problem_sent:
                self._problem_sent = True
                self._reject(400, f"bad request: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.proxy.clients.discard(self)
        queue = self.queue
        for ex in queue:
            ex.cancelled = True
        if queue and queue[0].up is not None:
            queue[0].up.abandon()
        queue.clear()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.queue and self.queue[0].up is not None:
            self.queue[0].up.pause()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.queue and self.queue[0].up is not None:
            self.queue[0].up.resume()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._head.clear()
        self._head_size = 0
        self._body.clear()
        self._body_size = 0
        self._override: bytes | None = None
        self._cookie: bytes | None = None
        self._has_host = False
        self._framed = False
        self._expect = False
        self._problem: tuple[int, str] | None = None

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        if self._head_size > MAX_HEAD:
            self._problem = (414, "request URL too long")
            return
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        if self._head_size > MAX_HEAD:
            if self._problem is None:
                self._problem = (431, "request head too large")
            return
        n = name.lower()
        if n in _REQ_SKIP:
            if n == b"x-surge-color":
                self._override = value.strip().lower()
            elif n == b"content-length" or n == b"transfer-encoding":
                self._framed = True
            elif n == b"expect":
                self._expect = value.strip().lower() == b"100-continue"
            return
        if n == b"host":
            self._has_host = True
        elif n == b"cookie" and self.proxy.config.sticky:
            self._cookie = value
        self._head += name + b": " + value + _CRLF

    def on_headers_complete(self) -> None:
        if self.parser.should_upgrade():
            self._problem = (501, "protocol upgrade (e.g. WebSocket) is not supported")
        elif self._expect and self._problem is None and not self.queue:
            self.send(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > MAX_BODY and self._problem is None:
            self._problem = (413, f"request body larger than {MAX_BODY} bytes")
        if self._problem is None:
            self._body.append(body)

    def on_message_complete(self) -> None:
        p = self.parser
        method = p.get_method()
        problem = self._problem
        if problem is not None:
            ex = _Exchange(self, -1, b"")
            ex.local = _local(problem[0], problem[1], None, close=True)
            ex.close_after = True
            self._enqueue(ex)
            return
        proxy = self.proxy
        color = self._route()
        if color < 0:
            ex = _Exchange(self, -1, b"")
            ex.local = _local(400, "x-surge-color must be blue or green", None, close=False)
            ex.keep_alive = p.should_keep_alive()
            self._enqueue(ex)
            return
        body = b"".join(self._body) if self._body else b""
        length = b"content-length: %d\r\n" % len(body) if (body or self._framed) else b""
        data = b"%s %s%s%s%s\r\n%s" % (method, self._url, _HTTP11, self._head, length, body)
        ex = _Exchange(self, color, data)
        ex.keep_alive = p.should_keep_alive()
        ex.http10 = p.get_http_version() == "1.0"
        ex.head_only = method == b"HEAD"
        ex.needs_host = not self._has_host
        ex.set_cookie = self._picked and proxy.config.sticky
        proxy.stats_by_index[color].requests += 1
        self._enqueue(ex)

    # ours
    def _route(self) -> int:
        """Header override first, then the sticky cookie (while its color has weight)."""
        proxy = self.proxy
        self._picked = False
        override = self._override
        if override is not None:
            if override == b"blue":
                return 0
            if override == b"green":
                return 1
            return -1
        cookie = self._cookie
        if cookie is not None:
            i = cookie.find(_COOKIE)
            if i >= 0:
                value = cookie[i + len(_COOKIE) :].split(b";", 1)[0].strip()
                color = 0 if value == b"blue" else 1 if value == b"green" else -1
                if color >= 0 and proxy.weights[color] > 0:
                    return color
        self._picked = True
        return proxy.picker.pick()

    def _enqueue(self, ex: _Exchange) -> None:
        queue = self.queue
        queue.append(ex)
        if len(queue) == 1:
            self.proxy.dispatch(ex)
        elif len(queue) >= MAX_PIPELINE and not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    def _reject(self, status: int, message: str) -> None:
        """An unparseable request: answer after what is in flight, then close."""
        ex = _Exchange(self, -1, b"")
        ex.local = _local(status, message, None, close=True)
        ex.close_after = True
        if self.transport is not None and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()
        self._enqueue(ex)

    def send(self, data: bytes) -> None:
        t = self.transport
        if t is not None:
            t.write(data)

    def exchange_done(self, ex: _Exchange) -> None:
        queue = self.queue
        if queue and queue[0] is ex:
            queue.popleft()
        t = self.transport
        if t is None:
            return
        if ex.close_after or not ex.keep_alive:
            for rest in queue:
                rest.cancelled = True
            queue.clear()
            t.close()
            return
        if queue:
            self.proxy.dispatch(queue[0])
        elif self.read_paused:
            self.read_paused = False
            t.resume_reading()

    def close(self) -> None:
        t = self.transport
        if t is not None:
            if t.get_write_buffer_size():
                t.abort()
            else:
                t.close()


def _local(status: int, message: str, color: str | None, *, close: bool, **extra: Any) -> bytes:
    """A response made by the proxy itself (502s, 4xx), JSON, naming the color if any."""
    payload: dict[str, Any] = {"error": message}
    if color is not None:
        payload["color"] = color
    payload.update(extra)
    body = json.dumps(payload).encode()
    reason = {
        400: b"Bad Request",
        413: b"Content Too Large",
        414: b"URI Too Long",
        431: b"Request Header Fields Too Large",
        501: b"Not Implemented",
        502: b"Bad Gateway",
        503: b"Service Unavailable",
    }.get(status, b"Error")
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
        status,
        reason,
        len(body),
    )
    if color is not None:
        head += b"x-surge-upstream: " + color.encode() + _CRLF
    if close:
        head += b"connection: close\r\n"
    return head + _CRLF + body


# --------------------------------------------------------------------------- the proxy


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
        self.picker = SmoothWeighted(*config.weights)
        self.clients: set[_Client] = set()
        self.admins: set[_Admin] = set()
        self.closing = False
        self.groups: list[_Group] = []
        for color in COLORS:
            urls = getattr(config, color)
            insts = [
                Instance(self, color, i, url, addr)
                for i, (url, addr) in enumerate(zip(urls, config.upstreams[color], strict=True))
            ]
            self.groups.append(_Group(color, insts))
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self._admin: asyncio.Server | None = None
        self.port = config.port
        self.admin_port = config.admin_port

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        cfg = self.config
        self._server = await loop.create_server(
            lambda: _Client(self), cfg.host, cfg.port, reuse_address=True, backlog=4096
        )
        self.port = self._server.sockets[0].getsockname()[1]
        try:
            self._admin = await loop.create_server(
                lambda: _Admin(self), cfg.admin_host, cfg.admin_port, reuse_address=True
            )
        except OSError:
            self._server.close()
            self._server = None
            raise
        self.admin_port = self._admin.sockets[0].getsockname()[1]
        self.spawn(self._sweep())

    async def close(self) -> None:
        if self._server is None or self.closing:
            return
        self.closing = True
        servers = [s for s in (self._server, self._admin) if s is not None]
        for s in servers:
            s.close()
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
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for s in servers:
            await s.wait_closed()

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

    def instances(self) -> list[dict[str, Any]]:
        return [inst.as_dict() for g in self.groups for inst in g.instances]

    def stats_dict(self) -> dict[str, Any]:
        return {c: self.stats[c].as_dict() for c in COLORS}

    # -- routing (hot path) -------------------------------------------------------------

    def dispatch(self, ex: _Exchange) -> None:
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

    def upstream_failed(self, ex: _Exchange, inst: Instance, kind: str) -> None:
        """Refused, reset or timed out before any response byte: a 502 naming the color."""
        inst.failures += 1
        inst.stats.bad_gateway += 1
        inst.stats.status[5] += 1
        inst.mark_unhealthy(kind)
        self._reply_502(ex, inst.color, f"{inst.color} upstream failed: {kind}", inst)

    def truncated(self, ex: _Exchange, inst: Instance, kind: str) -> None:
        inst.failures += 1
        inst.stats.truncated += 1
        inst.mark_unhealthy(kind)
        ex.close_after = True
        ex.client.exchange_done(ex)

    def _reply_502(self, ex: _Exchange, color: str, message: str, inst: Instance | None) -> None:
        extra = {"upstream": inst.url} if inst is not None else {}
        ex.client.send(_local(502, message, color, close=not ex.keep_alive, **extra))
        ex.client.exchange_done(ex)

    # -- timeouts -----------------------------------------------------------------------

    async def _sweep(self) -> None:
        """Request timeouts and idle keep-alive clients, for all connections at once."""
        limit = max(1, round(self.config.timeout / SWEEP_INTERVAL))
        idle_limit = max(1, round(self.config.idle_timeout / SWEEP_INTERVAL))
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
                if client.seen:
                    client.seen = False
                    client.idle_ticks = 0
                else:
                    client.idle_ticks += 1
                    if client.idle_ticks > idle_limit:
                        client.close()

    def _expire(self, ex: _Exchange) -> None:
        if ex.up is not None:
            ex.up.expire()
            return
        inst = ex.inst
        if inst is not None and ex in inst.waiters:
            inst.waiters.remove(ex)
            self.upstream_failed(ex, inst, TIMEOUT)


def url_of(host: str, port: int) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


# --------------------------------------------------------------------------- admin API


class _Admin(asyncio.Protocol):
    """Plain JSON over HTTP/1.1 on its own address, so no route can clash with the SUT's.

    GET /weights, PUT /weights {"blue": 90, "green": 10}, GET /instances,
    PUT /instances {"blue": [0, 1], "green": [0]} (which are in service), GET /stats.
    """

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.proxy.admins.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._reply(400, {"error": "bad request"}, close=True)

    def on_message_begin(self) -> None:
        self.url = b""
        self.body = bytearray()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        if len(self.body) + len(body) <= 65536:
            self.body += body

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        path = self.url.decode("latin-1").split("?", 1)[0].rstrip("/") or "/"
        status, payload = self.handle(method, path, bytes(self.body))
        self._reply(status, payload, close=not self.parser.should_keep_alive())

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        proxy = self.proxy
        routes: dict[str, tuple[str, ...]] = {
            "/weights": ("GET", "PUT", "POST"),
            "/instances": ("GET", "PUT", "POST"),
            "/stats": ("GET",),
            "/": ("GET",),
        }
        if path not in routes:
            return 404, {"error": f"no route {path}", "routes": sorted(routes)}
        if method not in routes[path]:
            return 405, {"error": f"{method} not allowed on {path}"}
        if path == "/":
            return 200, {"proxy": proxy.url, "routes": sorted(routes)}
        if path == "/stats":
            return 200, {**proxy.stats_dict(), "weights": proxy.weights.as_dict()}
        if method == "GET":
            if path == "/weights":
                return 200, proxy.weights.as_dict()
            return 200, proxy.instances()
        try:
            data = json.loads(body or b"null")
        except ValueError:
            return 400, {"error": "body must be JSON"}
        if not isinstance(data, dict):
            return 400, {"error": "body must be a JSON object"}
        try:
            if path == "/weights":
                unknown = set(data) - set(COLORS)
                if unknown or len(data) != 2:
                    return 400, {"error": 'expected {"blue": N, "green": M}'}
                return 200, proxy.set_weights(data["blue"], data["green"]).as_dict()
            proxy.set_in_service(data)
            return 200, proxy.instances()
        except ConfigError as exc:
            return 400, {"error": exc.message}

    def _reply(self, status: int, payload: Any, *, close: bool) -> None:
        t = self.transport
        if t is None:
            return
        body = json.dumps(payload).encode()
        head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
            status,
            {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed"}.get(
                status, b"Error"
            ),
            len(body),
        )
        if close:
            head += b"connection: close\r\n"
        t.write(head + _CRLF + body)
        if close:
            t.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.proxy.admins.discard(self)


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `surge proxy`; values stay strings so config_from_args names the bad one."""
    parser.add_argument("--listen", default="127.0.0.1:8000", metavar="ADDR", help="HOST:PORT")
    parser.add_argument("--blue", required=True, metavar="URL[,URL...]", help="blue instances")
    parser.add_argument("--green", required=True, metavar="URL[,URL...]", help="green instances")
    parser.add_argument("--weights", default="100:0", metavar="B:G", help="e.g. 90:10")
    parser.add_argument("--admin", default="127.0.0.1:8001", metavar="ADDR", help="admin API")
    parser.add_argument(
        "--sticky", action="store_true", help="pin each client to a color (surge_color cookie)"
    )
    parser.add_argument("--timeout", default="30s", help="upstream response timeout")
    parser.add_argument("--connect-timeout", default="2s", help="upstream connect timeout")
    parser.add_argument(
        "--max-conns", default="256", help="upstream connections per instance at most"
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow non-loopback listen/admin addresses"
    )


def config_from_args(args: argparse.Namespace) -> ProxyConfig:
    """Parsed flags to a ProxyConfig; every bad value is a ConfigError naming its flag."""
    from engine.durations import parse_duration

    def seconds(flag: str, value: str) -> float:
        try:
            return parse_duration(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(flag, str(exc)) from None

    host, port = parse_addr(args.listen, "--listen")
    admin_host, admin_port = parse_addr(args.admin, "--admin")
    try:
        max_conns = int(args.max_conns)
    except ValueError:
        raise ConfigError("--max-conns", f"not an integer: {args.max_conns!r}") from None
    return ProxyConfig(
        blue=_split_urls(args.blue),
        green=_split_urls(args.green),
        weights=parse_weights(args.weights),
        host=host,
        port=port,
        admin_host=admin_host,
        admin_port=admin_port,
        sticky=bool(args.sticky),
        allow_remote=bool(args.allow_remote),
        timeout=seconds("--timeout", args.timeout),
        connect_timeout=seconds("--connect-timeout", args.connect_timeout),
        max_conns=max_conns,
    )


def _split_urls(text: str) -> tuple[str, ...]:
    return tuple(u.strip() for u in text.split(",") if u.strip())


def serve_forever(cfg: ProxyConfig) -> int:
    """Run until SIGINT/SIGTERM (exit 0); the stdout line announces both bound ports."""
    return serve.serve_forever(
        Proxy(cfg),
        "surge proxy",
        lambda p: f"surge proxy listening on {p.url} (admin {p.admin_url})",
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m engine.proxy.server`: the same flags as `surge proxy`, without the tui package."""
    parser = argparse.ArgumentParser(prog="surge proxy", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
    except ConfigError as exc:
        parser.error(str(exc))
    return serve_forever(cfg)


if __name__ == "__main__":
    sys.exit(main())
