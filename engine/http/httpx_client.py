"""The httpx path (`client = "httpx"`): HTTP/2, redirects, cookies, TLS options.

Slower by two orders of magnitude under concurrency (docs/ARCHITECTURE.md), so only where a
profile asks for what the wire client does not speak. One AsyncClient per VU, as
the wire client keeps one connection per VU.
"""

from __future__ import annotations

import asyncio
import socket
from time import perf_counter

import httpx

from engine.http.body import DEFAULT_MAX_BODY, BodySink, HeaderTooLarge
from engine.http.request import Prepared
from engine.http.response import Response


class HttpxClient:
    """One VU's httpx client. `timeout` bounds each whole request, body included (httpx's
    own timeouts are per read, so a body at one byte a second never ends them); the body
    is read raw, kept up to `max_body` and decoded by Surge only when `keep_body`."""

    __slots__ = (
        "_client",
        "_closing",
        "bytes_in",
        "done_at",
        "keep_body",
        "max_body",
        "sent_at",
        "timeout",
        "upstream",
    )

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 5.0,
        timeout: float = 10.0,
        insecure: bool = False,
        http2: bool = True,
        keep_body: bool = True,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self._client = httpx.AsyncClient(
            http2=http2,
            verify=not insecure,
            follow_redirects=True,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self.sent_at = 0.0
        self.done_at = 0.0
        self.bytes_in = 0
        self.upstream: str | None = None
        self.timeout = timeout
        self.keep_body = keep_body
        self.max_body = max_body

    async def request(self, req: Prepared) -> Response:
        self.sent_at = perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                return await self._exchange(req)
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc) or "timed out") from exc
        except httpx.ConnectError as exc:
            raise _unwrap(exc) from exc
        except httpx.RemoteProtocolError as exc:
            if "too long" in str(exc).lower() or "too large" in str(exc).lower():
                raise HeaderTooLarge(str(exc)) from exc
            raise ConnectionResetError(str(exc) or "connection reset") from exc
        except (httpx.ReadError, httpx.WriteError) as exc:
            raise ConnectionResetError(str(exc) or "connection reset") from exc

    async def _exchange(self, req: Prepared) -> Response:
        request = self._client.build_request(
            req.method, req.url, headers=list(req.headers), content=req.body
        )
        r = await self._client.send(request, stream=True)
        try:
            sink = None
            if self.keep_body:
                sink = BodySink(self.max_body, r.headers.get("content-encoding"))
            async for chunk in r.aiter_raw():
                if sink is not None:
                    sink.feed(chunk)
        finally:
            await r.aclose()
        self.done_at = perf_counter()
        self.bytes_in = r.num_bytes_downloaded  # as sent: compressed bytes stay compressed
        self.upstream = r.headers.get("x-surge-upstream")
        if sink is None:
            return Response(r.status_code, list(r.headers.raw))
        return Response(
            r.status_code, list(r.headers.raw), sink.body(), sink.kept if sink.over else None
        )

    def stream(self, data: bytes, on_response: object, batch: object) -> None:
        return None

    def stale(self) -> bool:
        return False

    def drop(self) -> None:
        pass

    def in_flight_since(self) -> float | None:
        return None  # request() holds its own deadline (asyncio.timeout)

    def expire(self) -> None:
        pass

    def close(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._closing = loop.create_task(self._client.aclose())


def _unwrap(exc: httpx.ConnectError) -> BaseException:
    """httpx wraps the OSError; the error classifier wants the original kind."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if cause is not None:
        return cause
    text = str(exc).lower()
    if "refused" in text:
        return ConnectionRefusedError(str(exc))
    if "name or service" in text or "nodename" in text or "resolve" in text:
        return socket.gaierror(str(exc))
    return ConnectionError(str(exc))
