"""The demo SUT's application: routing, shared state and fault injection.

One `App` per server, shared by every connection: latency (global, per endpoint),
the stall windows, the error schedules, and the prebuilt bytes of `GET /`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from engine.durations import parse_duration
from engine.sut.capacity import CapacityQueue
from engine.sut.config import EndpointOverride, Latency, SutConfig, parse_stall
from engine.sut.faults import ErrorSchedule
from engine.sut.messages import (
    JSON,
    TEXT,
    Reply,
    Request,
    bearer_token,
    error_reply,
    json_reply,
    reason_phrase,
)
from engine.sut.metrics import CONTENT_TYPE, Connection, metrics_text
from engine.sut.routes import EXACT_ROUTES, PREFIX_ROUTES
from engine.sut.state import BoundedDict

__all__ = ["App"]

_KEEP_ALIVE_10 = b"connection: keep-alive\r\n"
_CLOSE = b"connection: close\r\n"
_INJECTED: Reply = json_reply(500, {"error": "injected"})


class App:
    """Routing, state and fault injection shared by every connection of one server."""

    def __init__(
        self,
        cfg: SutConfig,
        loop: asyncio.AbstractEventLoop,
        conns: Collection[Connection] = (),
    ) -> None:
        self.cfg = cfg
        self.loop = loop
        self.started_at = loop.time()
        self.requests = 0  # every request received: sut_requests_total on /metrics
        self.injected = 0  # faults answered (--error-rate): sut_injected_errors_total
        self.metrics = metrics_text(lambda: self.requests, conns, lambda: self.injected)
        self.tokens: BoundedDict[str, str] = BoundedDict(cfg.max_entries)
        self.jobs: BoundedDict[str, float] = BoundedDict(cfg.max_entries)
        self.color_header = (
            b"x-surge-upstream: " + cfg.color.encode() + b"\r\n" if cfg.color else b""
        )
        self.global_errors = ErrorSchedule(cfg.error_rate)
        self.endpoint_errors: dict[str, ErrorSchedule] = {}
        self.endpoint_latency: dict[str, Latency] = {}
        for name, ov in cfg.endpoints.items():
            assert isinstance(ov, EndpointOverride)  # normalised by SutConfig.__post_init__
            if ov.error_rate is not None:
                self.endpoint_errors[name] = ErrorSchedule(ov.error_rate)
            if ov.latency is not None:
                self.endpoint_latency[name] = ov.latency
        self.latency = Latency.parse(cfg.latency)
        self.stall = parse_stall(cfg.stall) if cfg.stall is not None else None
        self.job_duration = parse_duration(cfg.job_duration)
        self.capacity = CapacityQueue(cfg.capacity) if cfg.capacity else None
        root_ov = cfg.endpoints.get("root")
        #: True when GET / can be answered with prebuilt bytes, no timers, no counters.
        self.root_fast = (
            self.latency.is_zero
            and self.stall is None
            and cfg.error_rate == 0.0
            and self.capacity is None
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
        self.root_responses = {mode: self.encode(200, body, TEXT, b"", mode) for mode in (0, 1, 2)}

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
            reason_phrase(status),
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

    def handle(self, req: Request) -> tuple[int, bytes, bytes, bytes, float]:
        """Route, inject faults, run the handler; returns the reply and its total delay."""
        path = req.path
        if path == "/health":
            if req.method == b"GET":
                return 200, b'{"status":"ok"}', JSON, b"", 0.0
            return *error_reply(405, "method not allowed")[:3], b"allow: GET\r\n", 0.0
        if path == "/metrics" and req.method == b"GET":  # no faults: a scrape must not skew them
            return 200, self.metrics(), CONTENT_TYPE, b"", 0.0
        route = EXACT_ROUTES.get(path)
        arg = ""
        if route is None:
            for prefix, r in PREFIX_ROUTES:
                if path.startswith(prefix) and len(path) > len(prefix):
                    route, arg = r, path[len(prefix) :]
                    break
        endpoint = route[0] if route is not None else None

        latency = self.endpoint_latency.get(endpoint, self.latency) if endpoint else self.latency
        delay = latency.sample()
        if self.stall is not None:
            delay += self.stall_wait(self.loop.time())
        if self.capacity is not None and path != "/metrics":
            delay += self.capacity.wait(self.loop.time())
        schedule = self.global_errors
        if endpoint:
            schedule = self.endpoint_errors.get(endpoint, schedule)
        if schedule.next_fails():
            self.injected += 1
            status, body, ctype, extra, _ = _INJECTED
            return status, body, ctype, extra, delay

        if route is None:
            status, body, ctype, extra, _ = error_reply(404, "not found")
            return status, body, ctype, extra, delay
        methods = route[1]
        handler = methods.get(req.method)
        if handler is None:
            allow = b", ".join(methods)
            status, body, ctype, _, _ = error_reply(405, "method not allowed")
            return status, body, ctype, b"allow: " + allow + b"\r\n", delay
        status, body, ctype, extra, more = handler(self, req, arg)
        return status, body, ctype, extra, delay + more

    # -- auth helpers ---------------------------------------------------------------

    def user_of(self, req: Request) -> str | None:
        token = bearer_token(req)
        return self.tokens.get(token) if token else None
