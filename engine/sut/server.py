"""The embedded demo "system under test" behind `surge sut`.

A load tester needs something to point at that is never the bottleneck, behaves
identically on every machine and can be told to misbehave on cue (latency, errors,
stalls). Frameworks cost 5-10x what a raw `asyncio.Protocol` + `httptools` costs per
request (see DESIGN.md), so this server is hand-rolled: one protocol object per
connection, prebuilt bytes for the hottest responses, timers instead of sleeping
tasks for delays.

Everything here is deterministic where tests need to count (error injection uses an
integer schedule, not `random`), and bounded where a long soak test could otherwise
grow memory (tokens and jobs live in capped LRU-style dicts).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import random
import secrets
import ssl
import sys
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from fractions import Fraction
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, TypeVar, cast

import httptools

from engine import serve
from engine.durations import parse_duration

__all__ = [
    "ENDPOINTS",
    "BoundedDict",
    "EndpointOverride",
    "Latency",
    "SutConfig",
    "SutServer",
    "add_arguments",
    "config_from_args",
    "main",
    "serve_forever",
]

#: Names accepted by per-endpoint overrides; the routes they stand for are listed in
#: `_EXACT_ROUTES` / `_PREFIX_ROUTES` below.
ENDPOINTS: tuple[str, ...] = ("root", "login", "items", "item", "jobs", "job", "logout", "echo")

#: Request bodies beyond this are refused (413): the SUT must not be a memory sink.
MAX_BODY = 1 << 20
#: The longest /delay/{ms} honoured, so a typo cannot park a connection for days.
MAX_DELAY_MS = 600_000
#: Pipelined requests waiting on one connection before we stop reading from it.
_PENDING_HIGH = 1024
_PENDING_LOW = 256

K = TypeVar("K")
V = TypeVar("V")


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Latency:
    """A delay in seconds, fixed (low == high) or uniform in [low, high].

    A range is there so latency histograms in demos look like a real service rather
    than a spike at one value.
    """

    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"latency must be finite, got {self.low}-{self.high}")
        if self.low < 0 or self.high < self.low:
            raise ValueError(
                f"latency range must satisfy 0 <= low <= high, got {self.low}-{self.high}"
            )

    @classmethod
    def parse(cls, value: Latency | str | float | tuple[float, float] | None) -> Latency:
        """Accept every spelling a user or a profile may give ("20ms", "10ms-30ms", 0.02)."""
        if value is None:
            return cls()
        if isinstance(value, Latency):
            return value
        if isinstance(value, tuple):
            low, high = value
            return cls(float(low), float(high))
        if isinstance(value, str) and "-" in value.strip().lstrip("-"):
            text = value.strip()
            low_s, _, high_s = text.partition("-")
            try:
                return cls(parse_duration(low_s), parse_duration(high_s))
            except ValueError as exc:
                raise ValueError(
                    f"bad latency {value!r}: expected a duration like 20ms or a range like "
                    f"10ms-30ms ({exc})"
                ) from None
        try:
            d = parse_duration(value)
        except ValueError as exc:
            raise ValueError(
                f"bad latency {value!r}: expected a duration like 20ms or a range like "
                f"10ms-30ms ({exc})"
            ) from None
        return cls(d, d)

    @property
    def is_zero(self) -> bool:
        """Lets the hot path skip timers entirely when no latency is configured."""
        return self.high == 0.0

    def sample(self) -> float:
        """One delay; `random` is fine here because tests only check ranges."""
        if self.low == self.high:
            return self.low
        return random.uniform(self.low, self.high)

    def __str__(self) -> str:
        if self.low == self.high:
            return f"{self.low * 1000:g}ms"
        return f"{self.low * 1000:g}ms-{self.high * 1000:g}ms"


@dataclass(frozen=True)
class EndpointOverride:
    """Per-endpoint replacement for the global latency and/or error rate.

    A `None` field means "use the global value", so `--endpoint-latency login=50ms`
    does not silently switch off global error injection for login.
    """

    latency: Latency | None = None
    error_rate: float | None = None

    def __post_init__(self) -> None:
        if self.latency is not None and not isinstance(self.latency, Latency):
            object.__setattr__(self, "latency", Latency.parse(self.latency))
        if self.error_rate is not None:
            object.__setattr__(self, "error_rate", _check_rate(self.error_rate, "error rate"))


def _check_rate(value: float | str, what: str) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{what} must be between 0 and 1, got {value!r}")
    return rate


def _parse_stall(value: str | tuple[float, float]) -> tuple[float, float]:
    if isinstance(value, str):
        freeze_s, sep, period_s = value.partition("/")
        if not sep:
            raise ValueError(f"bad stall {value!r}: expected FREEZE/PERIOD, e.g. 0.5s/2s")
        try:
            freeze, period = parse_duration(freeze_s), parse_duration(period_s)
        except ValueError as exc:
            raise ValueError(f"bad stall {value!r}: {exc}") from None
    else:
        freeze, period = float(value[0]), float(value[1])
    if period <= 0 or freeze < 0 or freeze >= period:
        raise ValueError(f"bad stall {value!r}: need 0 <= freeze < period and period > 0")
    return freeze, period


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SutConfig:
    """Everything `surge sut` can be told; validated on construction.

    Fields accept the same spellings as the CLI (strings like "20ms" or "0.5s/2s")
    and are normalised in `__post_init__`, so a profile's `[deploy]` table and the
    command line end up with the same typed values.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    color: str | None = None
    latency: Latency | str | float = field(default_factory=Latency)
    error_rate: float = 0.0
    stall: tuple[float, float] | str | None = None
    endpoints: Mapping[str, EndpointOverride | tuple[Any, float | None]] = field(
        default_factory=dict
    )
    job_duration: float | str = 2.0
    allow_remote: bool = False
    max_entries: int = 100_000
    # HTTPS: a PEM certificate chain and its key; both or neither.
    tls_cert: str | None = None
    tls_key: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "latency", Latency.parse(self.latency))
        set_(self, "error_rate", _check_rate(self.error_rate, "error rate"))
        if self.stall is not None:
            set_(self, "stall", _parse_stall(self.stall))
        overrides: dict[str, EndpointOverride] = {}
        for name, ov in dict(self.endpoints).items():
            if name not in ENDPOINTS:
                raise ValueError(
                    f"unknown endpoint {name!r}: expected one of {', '.join(ENDPOINTS)}"
                )
            if isinstance(ov, tuple):
                lat, rate = ov
                ov = EndpointOverride(None if lat is None else Latency.parse(lat), rate)
            overrides[name] = ov
        set_(self, "endpoints", MappingProxyType(overrides))
        set_(self, "job_duration", parse_duration(self.job_duration))
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ValueError(f"port must be an integer, got {self.port!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {self.port}")
        if self.max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {self.max_entries}")
        if self.color is not None and not _is_token(self.color):
            raise ValueError(
                f"color must be a plain word (letters, digits, -_.), got {self.color!r}"
            )
        if not self.allow_remote and not _is_loopback(self.host):
            raise ValueError(
                f"refusing to listen on non-loopback host {self.host!r}: the demo SUT has no "
                "auth worth the name; pass --allow-remote (allow_remote=True) if you mean it"
            )


def _is_token(text: str) -> bool:
    """Header values must not smuggle CR/LF; a plain word is all a color needs."""
    return bool(text) and all(c.isalnum() or c in "-_." for c in text) and text.isascii()


# --------------------------------------------------------------------------- state


class BoundedDict(MutableMapping[K, V]):
    """A dict that forgets its oldest entries beyond `cap`.

    Tokens and jobs are created per virtual-user iteration; a 24 h soak would
    otherwise grow them without bound. OrderedDict is used rather than dict because
    repeatedly deleting a plain dict's first key leaves holes that make
    `next(iter(d))` progressively slower.
    """

    __slots__ = ("_d", "cap")

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("cap must be >= 1")
        self.cap = cap
        self._d: OrderedDict[K, V] = OrderedDict()

    def __getitem__(self, key: K) -> V:
        return self._d[key]

    def __setitem__(self, key: K, value: V) -> None:
        d = self._d
        if key in d:
            d.move_to_end(key)
        d[key] = value
        while len(d) > self.cap:
            d.popitem(last=False)

    def __delitem__(self, key: K) -> None:
        del self._d[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: object) -> bool:
        return key in self._d


class _ErrorSchedule:
    """Deterministic error injection: request n fails iff floor(n*r) > floor((n-1)*r).

    Exact rational arithmetic (the rate's decimal spelling, not its binary float)
    makes 0.1 over 1000 requests exactly 100 failures, which tests rely on.
    """

    __slots__ = ("_den", "_n", "_num")

    def __init__(self, rate: float) -> None:
        frac = Fraction(repr(rate)).limit_denominator(10**9)
        self._num = frac.numerator
        self._den = frac.denominator
        self._n = 0

    def next_fails(self) -> bool:
        if self._num == 0:
            return False
        self._n = n = self._n + 1
        return (n * self._num) // self._den > ((n - 1) * self._num) // self._den


@dataclass(slots=True)
class _Request:
    method: bytes
    path: str
    query: str
    content_type: bytes | None
    authorization: bytes | None
    body: bytes


#: (status, body, content type, extra header lines, extra delay in seconds)
_Reply = tuple[int, bytes, bytes, bytes, float]
_Handler = Callable[["_App", _Request, str], _Reply]

_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"
_KEEP_ALIVE_10 = b"connection: keep-alive\r\n"
_CLOSE = b"connection: close\r\n"


_REASONS: dict[int, bytes] = {int(s): s.phrase.encode() for s in HTTPStatus}


def _reason(status: int) -> bytes:
    """Table lookup: HTTPStatus(status) costs a few microseconds on every response."""
    return _REASONS.get(status, b"Unknown")


def _json(status: int, obj: Any, extra: bytes = b"") -> _Reply:
    return status, json.dumps(obj, separators=(",", ":")).encode(), _JSON, extra, 0.0


def _error(status: int, message: str) -> _Reply:
    return _json(status, {"error": message})


_UNAUTHORIZED: _Reply = _json(401, {"error": "unauthorized"})
_INJECTED: _Reply = _json(500, {"error": "injected"})


def _make_items() -> list[dict[str, Any]]:
    return [
        {"id": i, "name": f"item-{i}", "price": round(4.99 + 2.5 * i, 2), "stock": (i * 7) % 13}
        for i in range(1, 21)
    ]


_ITEMS = _make_items()
_ITEMS_BODY = json.dumps({"items": _ITEMS}, separators=(",", ":")).encode()
_ITEM_BODIES = {str(it["id"]): json.dumps(it, separators=(",", ":")).encode() for it in _ITEMS}


class _App:
    """Routing, state and fault injection shared by every connection of one server."""

    def __init__(self, cfg: SutConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.cfg = cfg
        self.loop = loop
        self.started_at = loop.time()
        self.tokens: BoundedDict[str, str] = BoundedDict(cfg.max_entries)
        self.jobs: BoundedDict[str, float] = BoundedDict(cfg.max_entries)
        self.color_header = (
            b"x-surge-upstream: " + cfg.color.encode() + b"\r\n" if cfg.color else b""
        )
        self.global_errors = _ErrorSchedule(cfg.error_rate)
        self.endpoint_errors: dict[str, _ErrorSchedule] = {}
        self.endpoint_latency: dict[str, Latency] = {}
        for name, ov in cfg.endpoints.items():
            assert isinstance(ov, EndpointOverride)  # normalised by SutConfig.__post_init__
            if ov.error_rate is not None:
                self.endpoint_errors[name] = _ErrorSchedule(ov.error_rate)
            if ov.latency is not None:
                self.endpoint_latency[name] = ov.latency
        self.latency = Latency.parse(cfg.latency)
        self.stall = _parse_stall(cfg.stall) if cfg.stall is not None else None
        self.job_duration = parse_duration(cfg.job_duration)
        root_ov = cfg.endpoints.get("root")
        #: True when GET / can be answered with prebuilt bytes, no timers, no counters.
        self.root_fast = (
            self.latency.is_zero
            and self.stall is None
            and cfg.error_rate == 0.0
            and (
                root_ov is None
                or (
                    isinstance(root_ov, EndpointOverride)
                    and root_ov.error_rate in (None, 0.0)
                    and root_ov.latency is None
                )
            )
        )
        body = b"hello world\n"
        self.root_responses = {mode: self.encode(200, body, _TEXT, b"", mode) for mode in (0, 1, 2)}

    # -- responses -----------------------------------------------------------------

    def encode(self, status: int, body: bytes, ctype: bytes, extra: bytes, mode: int) -> bytes:
        """Serialise one response; mode 0 = HTTP/1.1 keep-alive, 1 = 1.0 keep-alive, 2 = close.

        HTTP/1.0 keep-alive clients (ab -k) only reuse a connection when the response
        says so explicitly, hence mode 1.
        """
        conn = b"" if mode == 0 else (_KEEP_ALIVE_10 if mode == 1 else _CLOSE)
        if status in (204, 304):
            body = b""  # these statuses never carry a body; 204 must not even announce one
        length = b"" if status == 204 else b"content-length: %d\r\n" % len(body)
        return b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\n%s%s%s%s\r\n%s" % (
            status,
            _reason(status),
            ctype,
            length,
            self.color_header,
            extra,
            conn,
            body,
        )

    def stall_wait(self, now: float) -> float:
        """Seconds until the current freeze ends (0 outside a freeze)."""
        if self.stall is None:
            return 0.0
        freeze, period = self.stall
        phase = (now - self.started_at) % period
        return freeze - phase if phase < freeze else 0.0

    def handle(self, req: _Request) -> tuple[int, bytes, bytes, bytes, float]:
        """Route, inject faults, run the handler; returns the reply and its total delay."""
        path = req.path
        if path == "/health":
            if req.method == b"GET":
                return 200, b'{"status":"ok"}', _JSON, b"", 0.0
            return *_error(405, "method not allowed")[:3], b"allow: GET\r\n", 0.0
        route = _EXACT_ROUTES.get(path)
        arg = ""
        if route is None:
            for prefix, r in _PREFIX_ROUTES:
                if path.startswith(prefix) and len(path) > len(prefix):
                    route, arg = r, path[len(prefix) :]
                    break
        endpoint = route[0] if route is not None else None

        latency = self.endpoint_latency.get(endpoint, self.latency) if endpoint else self.latency
        delay = latency.sample()
        if self.stall is not None:
            delay += self.stall_wait(self.loop.time())
        schedule = self.global_errors
        if endpoint:
            schedule = self.endpoint_errors.get(endpoint, schedule)
        if schedule.next_fails():
            status, body, ctype, extra, _ = _INJECTED
            return status, body, ctype, extra, delay

        if route is None:
            status, body, ctype, extra, _ = _error(404, "not found")
            return status, body, ctype, extra, delay
        methods = route[1]
        handler = methods.get(req.method)
        if handler is None:
            allow = b", ".join(methods)
            status, body, ctype, _, _ = _error(405, "method not allowed")
            return status, body, ctype, b"allow: " + allow + b"\r\n", delay
        status, body, ctype, extra, more = handler(self, req, arg)
        return status, body, ctype, extra, delay + more

    # -- auth helpers ---------------------------------------------------------------

    def user_of(self, req: _Request) -> str | None:
        token = _bearer(req)
        return self.tokens.get(token) if token else None


def _bearer(req: _Request) -> str | None:
    auth = req.authorization
    if not auth:
        return None
    scheme, _, token = auth.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


# --------------------------------------------------------------------------- handlers


def _h_root(app: _App, req: _Request, arg: str) -> _Reply:
    return 200, b"hello world\n", _TEXT, b"", 0.0


def _h_echo(app: _App, req: _Request, arg: str) -> _Reply:
    return 200, req.body, req.content_type or b"application/octet-stream", b"", 0.0


def _h_status(app: _App, req: _Request, arg: str) -> _Reply:
    if not arg.isdigit() or not 200 <= int(arg) <= 599:
        return _error(400, "status code must be between 200 and 599")
    code = int(arg)
    return code, b"%d %s\n" % (code, _reason(code)), _TEXT, b"", 0.0


def _h_delay(app: _App, req: _Request, arg: str) -> _Reply:
    if not arg.isdigit() or int(arg) > MAX_DELAY_MS:
        return _error(400, f"delay must be an integer number of ms <= {MAX_DELAY_MS}")
    ms = int(arg)
    return 200, b'{"delay_ms":%d}' % ms, _JSON, b"", ms / 1000.0


def _h_login(app: _App, req: _Request, arg: str) -> _Reply:
    try:
        data = json.loads(req.body)
    except ValueError:
        return _error(400, "body must be JSON")
    if not isinstance(data, dict):
        return _error(400, "body must be a JSON object")
    user, password = data.get("username"), data.get("password")
    if not isinstance(user, str) or not user or not isinstance(password, str) or not password:
        return _error(400, "username and password are required")
    if password == "wrong":
        return _error(401, "invalid credentials")
    token = secrets.token_hex(16)
    app.tokens[token] = user
    return _json(200, {"token": token, "user": user})


def _h_items(app: _App, req: _Request, arg: str) -> _Reply:
    if app.user_of(req) is None:
        return _UNAUTHORIZED
    return 200, _ITEMS_BODY, _JSON, b"", 0.0


def _h_item(app: _App, req: _Request, arg: str) -> _Reply:
    if app.user_of(req) is None:
        return _UNAUTHORIZED
    body = _ITEM_BODIES.get(arg)
    if body is None:
        return _error(404, "no such item")
    return 200, body, _JSON, b"", 0.0


def _h_jobs(app: _App, req: _Request, arg: str) -> _Reply:
    if app.user_of(req) is None:
        return _UNAUTHORIZED
    if req.body.strip():
        try:
            json.loads(req.body)
        except ValueError:
            return _error(400, "body must be JSON")
    job_id = secrets.token_hex(8)
    app.jobs[job_id] = app.loop.time()
    return _json(
        201,
        {"id": job_id, "status": "running", "progress": 0},
        b"location: /api/jobs/" + job_id.encode() + b"\r\n",
    )


def _h_job(app: _App, req: _Request, arg: str) -> _Reply:
    if app.user_of(req) is None:
        return _UNAUTHORIZED
    started = app.jobs.get(arg)
    if started is None:
        return _error(404, "no such job")
    elapsed = app.loop.time() - started
    duration = app.job_duration
    if elapsed >= duration:
        return _json(200, {"id": arg, "status": "done", "progress": 100})
    progress = min(99, int(elapsed / duration * 100))
    return _json(200, {"id": arg, "status": "running", "progress": progress})


def _h_logout(app: _App, req: _Request, arg: str) -> _Reply:
    if app.user_of(req) is None:
        return _UNAUTHORIZED
    token = _bearer(req)
    if token is not None:
        app.tokens.pop(token, None)
    return _json(200, {"status": "logged out"})


_Route = tuple[str | None, dict[bytes, _Handler]]

_EXACT_ROUTES: dict[str, _Route] = {
    "/": ("root", {b"GET": _h_root}),
    "/echo": ("echo", {b"GET": _h_echo, b"POST": _h_echo}),
    "/api/login": ("login", {b"POST": _h_login}),
    "/api/items": ("items", {b"GET": _h_items}),
    "/api/jobs": ("jobs", {b"POST": _h_jobs}),
    "/api/logout": ("logout", {b"POST": _h_logout}),
}
_PREFIX_ROUTES: tuple[tuple[str, _Route], ...] = (
    ("/api/items/", ("item", {b"GET": _h_item})),
    ("/api/jobs/", ("job", {b"GET": _h_job})),
    ("/status/", (None, {b"GET": _h_status})),
    ("/delay/", (None, {b"GET": _h_delay})),
)


# --------------------------------------------------------------------------- protocol


class _Slot:
    """One response waiting for its turn; pipelined replies must leave in order."""

    __slots__ = ("close", "data", "handle", "ready")

    def __init__(self, data: bytes, close: bool) -> None:
        self.data = data
        self.close = close
        self.ready = False
        self.handle: asyncio.TimerHandle | None = None


class _HttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: parse with httptools, answer in request order."""

    __slots__ = (
        "_app",
        "_auth",
        "_body",
        "_closing",
        "_conns",
        "_ctype",
        "_keep_alive",
        "_mode",
        "_parser",
        "_paused",
        "_pending",
        "_too_large",
        "_transport",
        "_url",
    )

    def __init__(self, app: _App, conns: set[_HttpProtocol]) -> None:
        self._app = app
        self._conns = conns
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._pending: deque[_Slot] = deque()
        self._closing = False
        self._paused = 0  # bit 1: peer not reading, bit 2: too many pending requests
        self._url = b""
        self._body = b""
        self._ctype: bytes | None = None
        self._auth: bytes | None = None
        self._mode = 0
        self._keep_alive = True
        self._too_large = False

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only look-alikes.
        self._transport = cast(asyncio.Transport, transport)
        self._conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._conns.discard(self)
        self._closing = True
        for slot in self._pending:
            if slot.handle is not None:
                slot.handle.cancel()
        self._pending.clear()
        self._transport = None

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No upgrades here; the request itself was answered, then we hang up.
            self._finish_after_pending()
        except httptools.HttpParserError:
            self._enqueue(
                self._app.encode(400, b'{"error":"bad request"}', _JSON, b"", 2), 0.0, True
            )

    def pause_writing(self) -> None:
        self._set_paused(1, True)

    def resume_writing(self) -> None:
        self._set_paused(1, False)

    def _set_paused(self, bit: int, on: bool) -> None:
        """Stop reading while the peer is not draining responses: bounded buffers."""
        before = self._paused
        self._paused = before | bit if on else before & ~bit
        t = self._transport
        if t is None or self._closing:
            return
        if before == 0 and self._paused:
            t.pause_reading()
        elif before and self._paused == 0:
            t.resume_reading()

    # -- httptools callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._body = b""
        self._ctype = None
        self._auth = None
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        n = name.lower()
        if n == b"authorization":
            self._auth = value
        elif n == b"content-type":
            self._ctype = value

    def on_headers_complete(self) -> None:
        p = self._parser
        self._keep_alive = ka = p.should_keep_alive()
        self._mode = 2 if not ka else (1 if p.get_http_version() == "1.0" else 0)

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        if len(self._body) + len(body) > MAX_BODY:
            self._too_large = True
            self._body = b""
            return
        self._body += body

    def on_message_complete(self) -> None:
        if self._closing:
            return
        app = self._app
        url = self._url
        method = self._parser.get_method()
        mode = self._mode
        # Hot path: a plain GET / with no faults configured costs one dict lookup.
        if url == b"/" and method == b"GET" and app.root_fast and not self._pending:
            self._transport.write(app.root_responses[mode])  # type: ignore[union-attr]
            if mode == 2:
                self._finish_after_pending()
            return
        if self._too_large:
            data = app.encode(413, b'{"error":"body too large"}', _JSON, b"", 2)
            self._enqueue(data, 0.0, True)
            return
        path, _, query = url.decode("latin-1").partition("?")
        head = method == b"HEAD"  # answered as GET, announcing the body but never sending it
        req = _Request(b"GET" if head else method, path, query, self._ctype, self._auth, self._body)
        status, body, ctype, extra, delay = app.handle(req)
        data = app.encode(status, body, ctype, extra, mode)
        if head:
            data = data[: data.index(b"\r\n\r\n") + 4]
        self._enqueue(data, delay, mode == 2)

    # -- ordered output -----------------------------------------------------------------

    def _enqueue(self, data: bytes, delay: float, close: bool) -> None:
        t = self._transport
        if t is None:
            return
        if close:
            self._closing = True
        if delay <= 0.0 and not self._pending:
            t.write(data)
            if close:
                t.close()
            return
        slot = _Slot(data, close)
        self._pending.append(slot)
        if delay <= 0.0:
            slot.ready = True
        else:
            slot.handle = self._app.loop.call_later(delay, self._ready, slot)
        if len(self._pending) >= _PENDING_HIGH:
            self._set_paused(2, True)

    def _ready(self, slot: _Slot) -> None:
        slot.ready = True
        slot.handle = None
        self._flush()

    def _flush(self) -> None:
        t = self._transport
        pending = self._pending
        while pending and pending[0].ready and t is not None:
            slot = pending.popleft()
            t.write(slot.data)
            if slot.close:
                t.close()
                return
        if len(pending) <= _PENDING_LOW and self._paused & 2:
            self._set_paused(2, False)
        if not pending and self._closing and t is not None:
            t.close()

    def _finish_after_pending(self) -> None:
        self._closing = True
        if not self._pending and self._transport is not None:
            self._transport.close()

    def close(self) -> None:
        """Server shutdown: drop the connection now (in-flight delayed replies are lost).

        A peer that stopped reading would keep a graceful close (and so shutdown)
        waiting forever, so such connections are aborted instead.
        """
        t = self._transport
        if t is None:
            return
        self._closing = True
        if t.get_write_buffer_size():
            t.abort()
        else:
            t.close()


# --------------------------------------------------------------------------- server


class SutServer:
    """The demo SUT as an object, for tests and for in-process demos.

    `async with SutServer(cfg) as srv:` binds on enter (so `srv.port` is real even
    when cfg.port is 0) and closes every connection on exit.
    """

    def __init__(self, cfg: SutConfig | None = None) -> None:
        self.cfg = cfg or SutConfig()
        self._server: asyncio.Server | None = None
        self._conns: set[_HttpProtocol] = set()
        self._app: _App | None = None
        self.port: int = self.cfg.port
        self.host: str = self.cfg.host

    @property
    def url(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.cfg.tls_cert else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def started_at(self) -> float:
        """Loop time of `start()`; stall windows are measured from here."""
        if self._app is None:
            raise RuntimeError("server not started")
        return self._app.started_at

    async def start(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        app = _App(self.cfg, loop)
        conns = self._conns
        tls = None
        if self.cfg.tls_cert:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(self.cfg.tls_cert, self.cfg.tls_key)
        self._server = await loop.create_server(
            lambda: _HttpProtocol(app, conns),
            self.cfg.host,
            self.cfg.port,
            reuse_address=True,
            backlog=4096,
            ssl=tls,
        )
        self._app = app
        sockets = self._server.sockets
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self._conns):
            conn.close()
        await server.wait_closed()

    async def __aenter__(self) -> SutServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `surge sut`; values stay strings so config_from_args can explain errors."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only)")
    parser.add_argument("--port", default="8080", help="port to bind; 0 picks a free port")
    parser.add_argument("--color", default=None, help="sets header x-surge-upstream: COLOR")
    parser.add_argument(
        "--latency", default="0", help="delay added to every response: 20ms or 10ms-30ms"
    )
    parser.add_argument(
        "--error-rate", default="0", help="fraction 0..1 of requests answered 500 (exact)"
    )
    parser.add_argument(
        "--stall", default=None, help="FREEZE/PERIOD, e.g. 0.5s/2s: freeze at each period start"
    )
    parser.add_argument(
        "--endpoint-latency",
        action="append",
        default=[],
        metavar="NAME=DUR",
        help=f"per-endpoint latency (repeatable); NAME in {', '.join(ENDPOINTS)}",
    )
    parser.add_argument(
        "--endpoint-errors",
        action="append",
        default=[],
        metavar="NAME=RATE",
        help="per-endpoint error rate 0..1 (repeatable)",
    )
    parser.add_argument("--job-duration", default="2s", help="how long a demo job runs")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate chain")
    parser.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback address"
    )


def _pairs(items: list[str] | None, flag: str) -> Iterator[tuple[str, str]]:
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"{flag}: expected NAME=VALUE, got {item!r}")
        name = name.strip()
        if name not in ENDPOINTS:
            raise ValueError(f"{flag}: unknown endpoint {name!r} (one of {', '.join(ENDPOINTS)})")
        yield name, value.strip()


def config_from_args(args: argparse.Namespace) -> SutConfig:
    """Turn parsed flags into a SutConfig; every bad value is a ValueError naming its flag."""
    try:
        port = int(str(args.port))
    except ValueError:
        raise ValueError(f"--port: not an integer: {args.port!r}") from None
    try:
        latency = Latency.parse(args.latency if args.latency is not None else "0")
    except ValueError as exc:
        raise ValueError(f"--latency: {exc}") from None
    try:
        rate = _check_rate(args.error_rate if args.error_rate is not None else 0, "error rate")
    except ValueError as exc:
        raise ValueError(f"--error-rate: {exc}") from None
    stall = None
    if args.stall:
        try:
            stall = _parse_stall(args.stall)
        except ValueError as exc:
            raise ValueError(f"--stall: {exc}") from None
    lat_ov: dict[str, Latency] = {}
    for name, value in _pairs(args.endpoint_latency, "--endpoint-latency"):
        try:
            lat_ov[name] = Latency.parse(value)
        except ValueError as exc:
            raise ValueError(f"--endpoint-latency {name}: {exc}") from None
    err_ov: dict[str, float] = {}
    for name, value in _pairs(args.endpoint_errors, "--endpoint-errors"):
        try:
            err_ov[name] = _check_rate(value, "error rate")
        except ValueError as exc:
            raise ValueError(f"--endpoint-errors {name}: {exc}") from None
    endpoints = {
        name: EndpointOverride(lat_ov.get(name), err_ov.get(name))
        for name in sorted(set(lat_ov) | set(err_ov))
    }
    try:
        job_duration = parse_duration(args.job_duration if args.job_duration is not None else 2.0)
    except ValueError as exc:
        raise ValueError(f"--job-duration: {exc}") from None
    # What is left to check (host, port range, color) SutConfig explains by itself.
    return SutConfig(
        host=args.host,
        port=port,
        color=args.color or None,
        latency=latency,
        error_rate=rate,
        stall=stall,
        endpoints=endpoints,
        job_duration=job_duration,
        allow_remote=bool(getattr(args, "allow_remote", False)),
        tls_cert=getattr(args, "tls_cert", None),
        tls_key=getattr(args, "tls_key", None),
    )


def serve_forever(cfg: SutConfig) -> int:
    """Run the SUT until SIGINT/SIGTERM; the stdout line announces the bound port."""
    return serve.serve_forever(
        SutServer(cfg), "surge sut", lambda s: f"surge sut listening on {s.url}"
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m engine.sut.server`: the same flags as `surge sut`, without the TUI package."""
    parser = argparse.ArgumentParser(prog="surge sut", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    return serve_forever(cfg)


if __name__ == "__main__":
    sys.exit(main())
