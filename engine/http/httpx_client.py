"""The httpx path (`client = "httpx"`): HTTP/2, TLS options.

Slower by two orders of magnitude under concurrency (docs/ARCHITECTURE.md), so only where a
profile asks for what the wire client does not speak. One AsyncClient per VU, as
the wire client keeps one connection per VU. Redirects and cookies are the worker's, as
for the wire client (engine/load/follow.py): httpx follows none and keeps no cookie, so
both clients count each hop and send the same cookies.

Bytes are counted where httpcore reads and writes its network stream (`_CountingStream`),
so `data_sent` and `data_received` are the HTTP bytes that went out and came in (heads,
bodies as sent, HTTP/2 frames), as the wire client counts them, not httpx's view of a
body. Over TLS that is the plaintext inside the TLS records: handshake and record
overhead are not counted (anyio's TLS stream hides the raw socket).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from http.cookiejar import CookieJar, DefaultCookiePolicy
from time import perf_counter
from typing import Any

import certifi
import httpcore
import httpx

from engine.http.body import DEFAULT_MAX_BODY, BodySink, HeaderTooLarge
from engine.http.request import Prepared
from engine.http.response import Response
from engine.http.tls import TlsOptions, client_context


class HttpxClient:
    """One VU's httpx client. `timeout` bounds each whole request, body included (httpx's
    own timeouts are per read, so a body at one byte a second never ends them); the body
    is read raw, kept up to `max_body` and decoded by Surge only when `keep_body`."""

    __slots__ = (
        "_client",
        "_closing",
        "bytes_in",
        "bytes_out",
        "done_at",
        "first_at",
        "keep_body",
        "max_body",
        "opened",
        "sent_at",
        "timeout",
        "upstream",
        "written_at",
    )

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 5.0,
        timeout: float = 10.0,
        insecure: bool = False,
        tls: TlsOptions | None = None,
        http2: bool = True,
        keep_body: bool = True,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        """`tls` beats `insecure` (kept for callers that only turn verification off)."""
        self._client = httpx.AsyncClient(
            http2=http2,
            verify=_verify(tls or TlsOptions(insecure=insecure)),
            follow_redirects=False,
            cookies=CookieJar(_NoCookies()),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        _count_bytes(self._client, self)
        # Timed where httpcore writes and reads (_CountingStream), as the wire client
        # times next to its socket: the send, the first byte back, the last.
        self.sent_at = self.written_at = self.first_at = self.done_at = 0.0
        # Connect phases (us) and protocol of a new connection, as wire's.
        self.opened: tuple[int, int, int, str] | None = None
        self.bytes_in = 0  # of the last request, counted by _CountingStream
        self.bytes_out = 0
        self.upstream: str | None = None
        self.timeout = timeout
        self.keep_body = keep_body
        self.max_body = max_body

    async def request(self, req: Prepared) -> Response:
        self.sent_at = perf_counter()  # until the first write says when it went out
        self.written_at = self.first_at = 0.0
        self.bytes_in = self.bytes_out = 0  # one request at a time per VU: these are its
        try:
            async with asyncio.timeout(req.timeout or self.timeout):
                return await self._exchange(req)
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc) or "timed out") from exc
        except httpx.ConnectError as exc:
            raise _unwrap(exc) from exc
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
            if (tls := _tls_cause(exc)) is not None:
                raise tls from exc  # a TLS alert on read (no client certificate): "tls"
            text = str(exc).lower()
            too_long = "too long" in text or "too large" in text
            if isinstance(exc, httpx.RemoteProtocolError) and too_long:
                raise HeaderTooLarge(str(exc)) from exc
            raise ConnectionResetError(str(exc) or "connection reset") from exc

    async def _exchange(self, req: Prepared) -> Response:
        request = self._client.build_request(
            req.method, req.url, headers=list(req.headers), content=req.body
        )
        if req.timeout is not None:  # httpx's own per-read timeouts: no shorter than its own
            connect = self._client.timeout.connect
            request.extensions["timeout"] = httpx.Timeout(req.timeout, connect=connect).as_dict()
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
        self.upstream = r.headers.get("x-surge-upstream")
        if sink is None:
            return Response(r.status_code, list(r.headers.raw))
        return sink.response(r.status_code, list(r.headers.raw))

    def stream(self, data: bytes, on_response: object, batch: object) -> None:
        return None

    def stale(self) -> bool:
        return False

    def drop(self) -> None:
        pass

    def close(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._closing = loop.create_task(self._client.aclose())


class _NoCookies(DefaultCookiePolicy):
    """httpx's client-level jar keeps nothing and sends nothing: the VU's jar does."""

    def set_ok(self, cookie: object, request: object) -> bool:
        return False

    def return_ok(self, cookie: object, request: object) -> bool:
        return False


def _unwrap(exc: httpx.ConnectError) -> BaseException:
    """httpx wraps the OSError; the error classifier wants the original kind: the deepest
    OSError, since anyio wraps a refusal in "All connection attempts failed" (an OSError
    over an exception group, one member per address tried)."""
    found: OSError | None = None
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if isinstance(cause, BaseExceptionGroup) and cause.exceptions:
            cause = cause.exceptions[0]
            continue
        if isinstance(cause, OSError):
            found = cause
        cause = cause.__cause__ or cause.__context__
    if found is not None:
        return found
    text = str(exc).lower()
    if "refused" in text:
        return ConnectionRefusedError(str(exc))
    if "name or service" in text or "nodename" in text or "resolve" in text:
        return socket.gaierror(str(exc))
    return ConnectionError(str(exc))


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error under an httpx read or write error, if one is."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    return cause


def _verify(tls: TlsOptions) -> ssl.SSLContext | bool:
    """httpx's `verify=`: its own default (certifi's roots) unless a CA file or a client
    certificate asks for a context; then one shared per process (tls.client_context)."""
    if tls.cacert is None and tls.cert is None:
        return not tls.insecure
    return client_context(tls, None if tls.cacert else certifi.where())


def _count_bytes(client: httpx.AsyncClient, counter: HttpxClient) -> None:
    """Count bytes on every pool of `client` (its own and any proxy mount's).

    httpx takes no network backend, so its pools' is wrapped in place: `_transport`,
    `_mounts`, `_pool` and `_network_backend` are httpx's and httpcore's (1.x) own names;
    tests/integration/test_bytes.py fails if they move.
    """
    for transport in (client._transport, *client._mounts.values()):
        pool = getattr(transport, "_pool", None)
        if pool is not None:
            pool._network_backend = _CountingBackend(pool._network_backend, counter)


class _CountingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's backend, with every stream it opens counted into `counter`."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, counter: HttpxClient) -> None:
        self._inner = inner
        self._counter = counter

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        t0 = perf_counter()
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        connecting = int((perf_counter() - t0) * 1e6)  # resolving included
        self._counter.opened = (0, connecting, 0, "HTTP/1.1")
        return _CountingStream(stream, self._counter)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(path, timeout, socket_options)
        return _CountingStream(stream, self._counter)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CountingStream(httpcore.AsyncNetworkStream):
    """A network stream that adds what it reads and writes to its client's counts."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, counter: HttpxClient) -> None:
        self._inner = inner
        self._counter = counter

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._inner.read(max_bytes, timeout)
        c = self._counter
        if not c.first_at and data:
            c.first_at = perf_counter()
        c.bytes_in += len(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        c = self._counter
        if not c.written_at:
            c.sent_at = perf_counter()  # the request's first byte, after any connect
        await self._inner.write(buffer, timeout)
        c.written_at = perf_counter()
        c.bytes_out += len(buffer)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # The TLS stream wraps the raw one inside anyio: what is counted from here on is
        # the plaintext (HTTP) inside the records, not the records themselves.
        t0 = perf_counter()
        stream = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        c = self._counter
        blocked, connecting, _, _ = c.opened or (0, 0, 0, "")
        ssl_object = stream.get_extra_info("ssl_object")
        h2 = ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2"
        proto = "HTTP/2.0" if h2 else "HTTP/1.1"
        c.opened = (blocked, connecting, int((perf_counter() - t0) * 1e6), proto)
        return _CountingStream(stream, c)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)
