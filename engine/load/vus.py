"""A virtual user and the client it holds: one connection per VU, as k6 does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Protocol

from engine.http.request import Prepared
from engine.http.response import Response
from engine.http.wire import SendBatch
from engine.load.checks import needs_body
from engine.load.run import ClientKind, ScenarioPlan, WorkPlan
from engine.load.session import Session


class Client(Protocol):
    sent_at: float  # the request's first byte went out
    written_at: float  # ... its last (k6's http_req_sending between the two)
    first_at: float  # the answer's first byte came in (http_req_waiting ends)
    done_at: float  # ... its last (http_req_receiving ends)
    opened: tuple[int, int, int, str] | None  # blocked, connecting, TLS (us), proto: a new one
    bytes_in: int  # of the last request: what came in (head and body as sent)
    bytes_out: int  # of the last request: what went out (0 when it never connected)
    upstream: str | None  # the proxy's x-surge-upstream tag of the last response

    def stream(
        self, data: bytes, on_response: Callable[[int], bool], batch: SendBatch
    ) -> asyncio.Future[Response] | None: ...
    def stale(self) -> bool: ...
    def drop(self) -> None: ...
    async def request(self, req: Prepared) -> Response: ...
    def close(self) -> None: ...


class VU:
    __slots__ = (
        "busy",
        "client",
        "index",
        "iterations",
        "last_values",
        "over_since",
        "session",
        "task",
        "values",
        "wake",
    )

    def __init__(self, index: int, client: Client, session: Session) -> None:
        self.index = index
        self.client = client  # the base URL's; another origin's while a redirect hop runs
        self.session = session
        self.task: asyncio.Task[None] | None = None
        self.wake: asyncio.Future[float | None] | None = None
        self.busy = False
        self.over_since: float | None = None
        self.iterations = 0
        self.values: dict[str, str] = {}
        self.last_values: dict[str, str] = {}  # its last flow pass's, captures and all


def make_vu(index: int, plan: WorkPlan, lane: ScenarioPlan) -> VU:
    """A VU of `lane` with its client for the base URL and a session for cookies and
    the other origins redirects lead to."""
    client = make_client(plan, lane)
    return VU(index, client, Session(client, plan.base_url, partial(make_client, plan, lane)))


def make_client(plan: WorkPlan, lane: ScenarioPlan, base_url: str | None = None) -> Client:
    """A client for `base_url` (default: the plan's), as the plan and the lane ask for."""
    base_url = base_url or plan.base_url
    keep_body = reads_body(lane) or plan.http_debug == "full"  # --http-debug=full shows it
    if plan.client == ClientKind.HTTPX:
        from engine.http.httpx_client import HttpxClient

        return HttpxClient(
            base_url,
            connect_timeout=plan.connect_timeout,
            timeout=plan.timeout,
            tls=plan.tls,
            keep_body=keep_body,
            max_body=plan.max_body,
        )
    from engine.http.wire import WireClient

    # Headers and bodies are parsed only when a check or a flow reads them.
    full = lane.flow is not None or any(lane.checks) or plan.http_debug is not None
    return WireClient(
        base_url,
        connect_timeout=plan.connect_timeout,
        tls=plan.tls,
        full=full,
        redirects=plan.max_redirects > 0,
        http2=plan.http2,
        keep_body=keep_body,
        max_body=plan.max_body,
        timeout=plan.timeout,
    )


def reads_body(lane: ScenarioPlan) -> bool:
    """Whether anything looks at response bodies: only then are they kept and decoded."""
    checks = [c for group in lane.checks for c in group]
    if lane.flow is not None:
        for step in lane.flow.steps:
            checks.extend(step.checks)
            if step.poll is not None:
                checks.append(step.poll.until)
            if any(c.kind != "header" for c in step.captures):
                return True
    return any(needs_body(c) for c in checks)
