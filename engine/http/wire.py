"""The fast path: HTTP/1.1 keep-alive over a bare asyncio.Protocol, parsed by httptools.

One connection per virtual user and one request in flight on it, so the hot path
is a future, a write, a parse and a record (docs/ARCHITECTURE.md: asyncio streams halve the
rate, httpx collapses under concurrency). Timing is taken here, next to the
socket, so that what is measured is the server and not the generator's code.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import replace
from time import perf_counter
from urllib.parse import urlsplit

import httptools

from engine.http.body import DEFAULT_MAX_BODY, MAX_HEAD, BodySink, HeaderTooLarge
from engine.http.errors import ConnectionClosed, NoHttp2, ProtocolError
from engine.http.h2_conn import H2Conn
from engine.http.redirects import REDIRECTS, head_response
from engine.http.request import Prepared
from engine.http.response import Response
from engine.http.tls import TlsOptions, client_context

# The proxy's color header, in any case: its tail is the same in "-upstream:" and
# "-Upstream:", so one search per response finds either, then the name is checked.
_TAG = b"pstream:"
_TAG_NAME = b"x-surge-upstream:"
_END_OF_HEAD = b"\r\n\r\n"
_HEAD_METHOD = b"HEAD "
_SMALL_READ = 4096  # a first read this short is searched whole for the tag


class _Conn(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection; at most one request in flight.

    This base keeps the status, the upstream tag and byte counts only: no header
    or body callbacks from the parser (each is a Python call per header), for
    runs that check nothing. `_FullConn` keeps headers and body too. Timings and
    counts go straight into the owning client, which the caller reads: no copying
    per request.
    """

    PROTO = "HTTP/1.1"

    __slots__ = (
        "_head_done",
        "_headers",
        "_loop",
        "_parser",
        "batch",
        "bytes_in",
        "client",
        "closed",
        "fut",
        "got_bytes",
        "head",
        "on_response",
        "stream_data",
        "stream_head",
        "transport",
    )

    def __init__(self, client: WireClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.fut: asyncio.Future[Response] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[bytes, bytes]] = []
        self.closed = False
        self.got_bytes = False
        self.bytes_in = 0
        # The response's first chunk (its head, grown while the head spans chunks), and
        # the head already seen whole: for the header limit and close-delimited bodies.
        self.head = b""
        self._head_done: bytes | None = None
        self.on_response: Callable[[int], bool] | None = None
        self.stream_data = b""
        self.stream_head = False  # stream_data is a HEAD request
        self.batch: SendBatch | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # asyncio.get_running_loop() costs a getpid() syscall per call: ask once.
        self._loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        if not self.got_bytes:  # the head starts here: find the proxy's color tag in C
            self.client.first_at = perf_counter()  # k6's http_req_waiting ends here
            self.got_bytes = True
            self.head = data  # one read is bounded (the loop's read size)
            if len(data) <= _SMALL_READ:
                # One search, the whole read: cheaper than finding the head's end first
                # (~0.2 us a search), which only a tag found needs. A later read of this
                # response finds the end then (_head_too_large).
                i = data.find(_TAG)
                if i >= 0:
                    self._tag(data, i, data.find(_END_OF_HEAD))
            else:
                # Searched in the head only: a large body holds lookalikes, and scanning
                # 100 KB of it per response cost 75 us. Limits apply to a head that
                # spans reads, below.
                end = data.find(_END_OF_HEAD, 0, MAX_HEAD + 4)
                if end >= 0:
                    self._head_done = data
                i = data.find(_TAG, 0, end if end >= 0 else len(data))
                if i >= 0:
                    self._tag(data, i, end)
        elif self.head is not self._head_done and self._head_too_large(data):
            return  # a response of more than one chunk: once per response, not per chunk
        self.bytes_in += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"bad HTTP response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is None and self.fut is not None and self.got_bytes and self._close_delimited():
            self.on_message_complete()  # RFC 9112 6.3: the close ends this body
            return
        self._fail(exc if isinstance(exc, OSError) else ConnectionClosed("connection closed"))

    def _tag(self, data: bytes, i: int, end: int) -> None:
        """The color tag from the first "pstream:" at `i` and later ones before `end` (the
        head's end, -1: none in this read): the first named x-surge-upstream."""
        if end < 0:
            end = len(data)
        while 0 <= i < end:  # almost always once: the tag, or no "pstream:" at all
            if i >= 9 and data[i - 9 : i + 8].lower() == _TAG_NAME:
                stop = data.find(b"\r", i)
                self.client.upstream = data[i + 8 : stop].strip().decode("latin-1")
                return
            i = data.find(_TAG, i + 1, end)

    def _head_too_large(self, data: bytes) -> bool:
        """Grow `head` while it has no end; past MAX_HEAD fail the request and close."""
        head = self.head
        if _END_OF_HEAD not in head:
            head = self.head = head + data[: MAX_HEAD + 4]
        if head.find(_END_OF_HEAD, 0, MAX_HEAD + 4) >= 0:
            self._head_done = head
            return False
        if len(head) <= MAX_HEAD:
            return False
        self._fail(HeaderTooLarge(f"response head over {MAX_HEAD} bytes"))
        self.close()
        return True

    def _close_delimited(self) -> bool:
        """The pending response had its whole head, and neither Content-Length nor chunked:
        its body ran to the close (HTTP/1.0, `Connection: close`). Read again from `head`,
        on this rare path, so the hot path keeps no header callbacks."""
        probe = _Probe()
        probe.parser = httptools.HttpResponseParser(probe)
        try:
            probe.parser.feed_data(self.head)
        except httptools.HttpParserError:
            return False
        return probe.whole and not probe.framed

    # httptools callbacks
    def on_message_complete(self) -> None:
        # Timed here, as the last byte is parsed, not when the VU's task next runs:
        # the loop's scheduling delay is the generator's, not the server's.
        client = self.client
        client.done_at = perf_counter()
        status = self._parser.get_status_code()
        if status < 200 and status != 101:
            return  # interim (100 Continue, 103 Early Hints): never the answer
        client.bytes_in = self.bytes_in
        if status in REDIRECTS and client.redirects:
            # Rare: the worker follows it, so its Location and Set-Cookie are read again
            # from the saved head; a stream ends here and hands this response back.
            self.on_response = None
            self._complete(head_response(status, self.head))
            return
        on_response = self.on_response
        if on_response is None:
            self._complete(_BARE.get(status) or _bare_response(status))
            return
        # Streaming: the caller records this response and says whether the next
        # request goes out now, from this callback, with no task switch in between.
        go = on_response(status)
        if not self._parser.should_keep_alive():
            go = False
            self.close()
        if go:
            self.got_bytes = False
            self.bytes_in = 0
            client.upstream = None
            batch = self.batch  # queued for the batch's flush: no call per response
            batch.conns.append(self)  # type: ignore[union-attr]
            if not batch.scheduled:  # type: ignore[union-attr]
                batch.scheduled = True  # type: ignore[union-attr]
                self._loop.call_soon(batch.flush)  # type: ignore[union-attr]
            return
        self.on_response = None
        fut = self.fut
        self.fut = None
        if fut is not None and not fut.done():
            fut.set_result(_BARE.get(status) or _bare_response(status))

    def _complete(self, resp: Response) -> None:
        fut = self.fut
        self.fut = None
        if fut is not None and not fut.done():
            fut.set_result(resp)
        if not self._parser.should_keep_alive():
            self.close()

    # ours
    def submit(self, req: Prepared) -> asyncio.Future[Response]:
        """`send` the request's HTTP/1.1 bytes (the interface H2Conn shares)."""
        return self.send(req.wire)

    def send(self, data: bytes) -> asyncio.Future[Response]:
        if data.startswith(_HEAD_METHOD):
            self._expect_no_body()
        fut = self._loop.create_future()
        self.fut = fut
        self.got_bytes = False
        self.bytes_in = 0
        client = self.client
        client.upstream = None
        client.bytes_out += len(data)  # reset per request by WireClient.request
        client.sent_at = perf_counter()
        self.transport.write(data)  # type: ignore[union-attr]
        client.written_at = perf_counter()  # k6's http_req_sending: the write itself
        return fut

    def stream(
        self, data: bytes, on_response: Callable[[int], bool], batch: SendBatch
    ) -> asyncio.Future[Response]:
        """Send `data`, and again after each response while `on_response(status)` says so.

        The closed model's hot path: the callback that parsed a response queues the
        next request (`batch`), instead of a future, a task wake-up and two coroutine
        frames per request. The future ends the stream: the last response when
        `on_response` said stop (or the server closed), an error when a request failed.
        """
        fut = self.send(data)
        self.on_response = on_response
        self.stream_data = data
        self.stream_head = data.startswith(_HEAD_METHOD)
        self.batch = batch
        return fut

    def _expect_no_body(self) -> None:
        """The answer to a HEAD has no body, whatever its Content-Length says (RFC 9110
        9.3.2). httptools cannot be told so (its on_headers_complete's result is ignored),
        so a parser of its own reads this answer and ends it with its head (_HeadReply)."""
        reply = _HeadReply(self)
        reply.parser = self._parser = httptools.HttpResponseParser(reply)

    def _fail(self, exc: BaseException) -> None:
        self.on_response = None
        fut = self.fut
        self.fut = None
        if fut is not None and not fut.done():
            self.client.bytes_in = self.bytes_in  # what came before the failure came in
            fut.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self, exc: BaseException) -> None:
        """Fail the request in flight and drop the socket (timeouts, cancellation)."""
        self._fail(exc)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class _Probe:
    """Reads a saved head again: was it whole, was its body framed (length or chunks)?"""

    __slots__ = ("framed", "parser", "whole")

    def __init__(self) -> None:
        self.framed = False
        self.whole = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length" or (
            name == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self.framed = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()  # type: ignore[union-attr]
        if 100 <= status < 200 and status != 101:
            self.framed = False  # an interim response: the final one follows
        else:
            self.whole = True


class _HeadReply:
    """The parser's callbacks for the answer to a HEAD: headers go to the connection, and
    the final head ends the response there (interim 1xx heads are skipped as usual). The
    connection then gets a fresh parser: this one would wait for the announced body."""

    __slots__ = ("conn", "on_header", "parser")

    def __init__(self, conn: _Conn) -> None:
        self.conn = conn
        self.parser: httptools.HttpResponseParser | None = None
        # Headers are kept only where the connection keeps them (_FullConn); unset, the
        # parser makes no call per header.
        if isinstance(conn, _FullConn):
            self.on_header = conn.on_header

    def on_headers_complete(self) -> None:
        conn, parser = self.conn, self.parser
        status = parser.get_status_code()  # type: ignore[union-attr]
        if status < 200 and status != 101:
            conn._headers = []  # interim: its headers are not the answer's
            return
        conn.on_message_complete()  # reads this parser's status and keep-alive
        # The next request's parser; a streamed HEAD's goes out later (SendBatch) and
        # takes its own then.
        conn._parser = httptools.HttpResponseParser(conn)

    def on_message_complete(self) -> None:
        pass  # an interim head, or a final one already ended above


class _FullConn(_Conn):
    """Keeps headers and body, for checks, captures and flows.

    The body only when something reads it (`WireClient.keep_body`), decoded and cut at
    `max_body` by a BodySink; interim 1xx responses are dropped whole.
    """

    __slots__ = ("_sink",)

    def __init__(self, client: WireClient) -> None:
        super().__init__(client)
        self._sink: BodySink | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        client = self.client
        if not client.keep_body:
            self._sink = None
            return
        encoding = None
        for name, value in self._headers:
            if name.lower() == b"content-encoding":
                encoding = value.decode("latin-1")
        self._sink = BodySink(client.max_body, encoding)

    def on_body(self, body: bytes) -> None:
        sink = self._sink
        if sink is not None:
            sink.feed(body)

    def on_message_complete(self) -> None:
        client = self.client
        client.done_at = perf_counter()
        status = self._parser.get_status_code()
        sink = self._sink
        self._sink = None
        if status < 200 and status != 101:
            self._headers = []  # interim: its headers are not the answer's
            return
        client.bytes_in = self.bytes_in
        if sink is None:
            resp = Response(status, self._headers)
        else:
            resp = sink.response(status, self._headers)
        self._headers = []
        self._complete(resp)


class _Negotiation(asyncio.Protocol):
    """Stands in until TLS has agreed on a protocol (ALPN), then hands the transport to
    the connection that speaks it: H2Conn for `h2`, else the client's HTTP/1.1 one. The
    switch happens in `connection_made`, before any byte of the server's is read (asyncio
    and uvloop both call it first). `conn` stays None when HTTP/2 was required and not
    agreed; `alpn` says what was."""

    def __init__(self, client: WireClient) -> None:
        self.client = client
        self.conn: _Conn | H2Conn | None = None
        self.alpn: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        self.alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        client = self.client
        if self.alpn == "h2":
            conn: _Conn | H2Conn = H2Conn(client)
        elif client.http2:
            transport.close()
            return
        else:
            conn = client._protocol(client)
        transport.set_protocol(conn)
        conn.connection_made(transport)
        self.conn = conn


class SendBatch:
    """The requests streaming connections queued while their responses were parsed.

    They go out together once the loop has run this round's I/O callbacks, not from
    each callback: a request written mid-round would wait, timed, behind the rest of
    the round's parsing before its response is read, and that wait is the generator's,
    not the server's. One `call_soon` per round, where a task per request costs a
    future, a wake-up and its frames. The connection queues itself (`_Conn.
    on_message_complete`) and `flush` writes each one's request inline:
    two Python calls per request fewer.
    """

    __slots__ = ("conns", "scheduled")

    def __init__(self) -> None:
        self.conns: list[_Conn] = []
        self.scheduled = False

    def flush(self) -> None:
        """Each queued stream's next request (unless the stream failed meanwhile)."""
        conns, self.conns = self.conns, []
        self.scheduled = False
        for conn in conns:
            if conn.on_response is None:
                continue
            if conn.stream_head:
                conn._expect_no_body()
            client = conn.client
            client.sent_at = perf_counter()
            conn.transport.write(conn.stream_data)  # type: ignore[union-attr]
            client.written_at = perf_counter()


H2_ALPN = ("h2", "http/1.1")
H1_ALPN = ("http/1.1",)
_BARE: dict[int, Response] = {}


def _bare_response(status: int) -> Response:
    """One shared header-less Response per status: nothing reads more of it."""
    return _BARE.setdefault(status, Response(status))


class WireClient:
    """A virtual user's connection to one origin, reconnecting when the server closes it.

    After each request `sent_at`, `written_at`, `first_at` (the first byte of the
    answer), `done_at`, `bytes_in`, `bytes_out` and `upstream` describe it (the
    connection writes them), so the caller records timings without another clock
    read; `opened` holds the connect phases (us) of a connection the request opened, and
    its protocol as k6's `proto` tag names it ("HTTP/1.1", "HTTP/2.0").
    The byte counts are what went through the socket: nothing out when the connection
    failed, the head and the body as sent in; over TLS, the HTTP bytes inside the
    records (asyncio's SSL transport shows no others).
    """

    __slots__ = (
        "_conn",
        "_protocol",
        "_ssl",
        "_timer",
        "bytes_in",
        "bytes_out",
        "connect_timeout",
        "done_at",
        "first_at",
        "host",
        "http2",
        "keep_body",
        "max_body",
        "opened",
        "port",
        "redirects",
        "sent_at",
        "server_hostname",
        "timeout",
        "upstream",
        "written_at",
    )

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 5.0,
        insecure: bool = False,
        tls: TlsOptions | None = None,
        full: bool = True,
        keep_body: bool = True,
        max_body: int = DEFAULT_MAX_BODY,
        redirects: bool = True,
        http2: bool | None = None,
        timeout: float | None = None,
    ) -> None:
        """`full=False` when nothing reads headers or bodies: a cheaper parse;
        `keep_body=False` when headers are read but no body (status and header checks).
        `tls` beats `insecure` (kept for callers that only turn verification off).
        `redirects`: the caller follows redirects, so a 3xx ends a stream and comes with
        its headers even without `full`. `http2`: None speaks HTTP/2 where TLS agrees on it
        (ALPN offers h2 and http/1.1), True requires it (over http://: h2c with prior
        knowledge), False offers only http/1.1. `timeout`: each request's deadline from its
        send, body included (None: none)."""
        parts = urlsplit(base_url)
        https = parts.scheme == "https"
        options = tls if tls is not None else TlsOptions(insecure=insecure)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if https else 80)
        self.server_hostname = self.host if https else None
        self.http2 = http2
        alpn = H1_ALPN if http2 is False else H2_ALPN
        self._ssl: ssl.SSLContext | None = client_context(options, alpn=alpn) if https else None
        self._conn: _Conn | H2Conn | None = None
        self.connect_timeout = connect_timeout
        self.sent_at = self.written_at = self.first_at = self.done_at = 0.0
        self.opened: tuple[int, int, int, str] | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self.upstream: str | None = None
        self._protocol = _FullConn if full else _Conn
        self.keep_body = keep_body
        self.max_body = max_body
        self.redirects = redirects
        self.timeout = timeout
        self._timer: asyncio.TimerHandle | None = None

    async def _connect(self) -> _Conn | H2Conn:
        """Resolve, connect, then the TLS handshake, each timed (k6's http_req_blocked,
        _connecting, _tls_handshaking): once per connection, off the hot path. Over TLS
        the handshake picks the protocol (_Negotiation) unless only HTTP/1.1 is offered."""
        loop = asyncio.get_running_loop()
        t0 = perf_counter()
        async with asyncio.timeout(self.connect_timeout):
            addresses = await _resolve(loop, self.host, self.port)
            t1 = perf_counter()
            sock = await _open_socket(loop, addresses)
            t2 = perf_counter()
            try:
                _, proto = await loop.create_connection(
                    self._factory(),
                    sock=sock,
                    ssl=self._ssl,
                    server_hostname=self.server_hostname,
                )
            except BaseException:
                sock.close()
                raise
        t3 = perf_counter()
        conn = proto.conn if isinstance(proto, _Negotiation) else proto
        if conn is None:
            raise NoHttp2(f"HTTP/2 required; the server's ALPN chose {proto.alpn or 'nothing'}")
        tls = int((t3 - t2) * 1e6) if self._ssl is not None else 0
        self.opened = (int((t1 - t0) * 1e6), int((t2 - t1) * 1e6), tls, conn.PROTO)
        self._conn = conn
        return conn

    def _factory(self) -> Callable[[], asyncio.Protocol]:
        if self._ssl is not None and self.http2 is not False:
            return lambda: _Negotiation(self)
        if self.http2:
            return lambda: H2Conn(self)  # http:// with HTTP/2 required: h2c, prior knowledge
        return lambda: self._protocol(self)

    def stream(
        self, data: bytes, on_response: Callable[[int], bool], batch: SendBatch
    ) -> asyncio.Future[Response] | None:
        """`_Conn.stream` on the live connection, or None when there is none: then
        `request()` connects."""
        conn = self._conn
        if conn is None or conn.closed or type(conn) is not _Conn:
            return None  # headers and bodies read (_FullConn), or HTTP/2: one at a time
        if self._timer is None:
            self._arm(conn._loop)
        return conn.stream(data, on_response, batch)

    def stale(self) -> bool:
        """The last request died before any byte came back: the server had closed the
        idle keep-alive connection, so one retry on a fresh socket is safe (as browsers
        and httpx do)."""
        conn = self._conn
        return conn is not None and not conn.got_bytes

    async def request(self, req: Prepared) -> Response:
        """On the live connection, else a new one; a request the server's closing of an
        idle keep-alive connection killed (`stale()`) is retried once on a fresh one.
        A request with its own `timeout` has that deadline instead of the client's."""
        if req.timeout is not None:
            return await self._request_within(req)
        self.bytes_in = self.bytes_out = 0  # a refused connection sent and got nothing
        conn = self._conn
        if conn is not None and not conn.closed:
            if self._timer is None:
                self._arm(conn._loop)
            try:
                return await conn.submit(req)
            except ConnectionError:
                if not self.stale():
                    raise
            except BaseException:
                self.drop()
                raise
        conn = await self._connect()
        if self._timer is None:
            self._arm(conn._loop)
        try:
            return await conn.submit(req)
        except BaseException:
            conn.abort(asyncio.CancelledError())
            raise

    async def _request_within(self, req: Prepared) -> Response:
        """`req` under its own deadline: the timer is re-armed for it, and again for the
        client's own after it (a shorter deadline must not wait for a longer one's timer)."""
        saved = self.timeout
        self.timeout = req.timeout
        self._disarm()
        try:
            return await self.request(replace(req, timeout=None))
        finally:
            self.timeout = saved
            self._disarm()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def drop(self) -> None:
        """Abandon the request in flight (cancelled): its late answer must not reach the next."""
        if self._conn is not None:
            self._conn.abort(asyncio.CancelledError())

    def _arm(self, loop: asyncio.AbstractEventLoop, after: float | None = None) -> None:
        """The deadline timer: at most one per client, never later than the deadline of the
        request in flight. A request that starts while it is armed (at an earlier request's
        deadline) costs nothing; when it fires before this request's deadline it moves to
        it. So a timeout fires at its deadline (the loop's lateness only), with no timer
        made and cancelled per request and no periodic sweep over every VU."""
        if self.timeout is not None:
            delay = self.timeout if after is None else after
            self._timer = loop.call_at(loop.time() + delay, self._deadline, loop)

    def _deadline(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        conn = self._conn
        if conn is None or conn.fut is None:
            return  # idle: the next request arms it again
        left = self.sent_at + self.timeout - perf_counter()  # type: ignore[operator]
        if left > 0:
            self._arm(loop, left)  # a later request is in flight: its own deadline
        else:
            conn.abort(TimeoutError("request timed out"))

    def close(self) -> None:
        self._disarm()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


async def _resolve(
    loop: asyncio.AbstractEventLoop, host: str, port: int
) -> list[tuple[int, int, int, tuple]]:
    """(family, type, proto, address) to try in order; an IP literal without a lookup
    (getaddrinfo runs in a thread: a hop per connection for nothing)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [(fam, kind, proto, addr) for fam, kind, proto, _, addr in infos]
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, (host, port))]


async def _open_socket(
    loop: asyncio.AbstractEventLoop, addresses: list[tuple[int, int, int, tuple]]
) -> socket.socket:
    """The first address that accepts a connection; else the last address's error."""
    error: OSError = OSError(f"no address for {addresses}")
    for family, kind, proto, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error
