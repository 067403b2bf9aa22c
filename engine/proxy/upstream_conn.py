"""The upstream side: one pooled keep-alive connection to an instance, streaming back.

Failures here (refused, reset, timed out, cut short) are reported to the proxy, which
answers a 502 naming the color and marks the instance unhealthy.

Interim answers (1xx) are never taken for the final one. 103 Early Hints and other
1xx are forwarded to HTTP/1.1 clients (they help a browser start early); 100 Continue
is dropped, because the proxy answers `Expect: 100-continue` itself and does not send
Expect upstream; HTTP/1.0 clients get no 1xx at all (RFC 9110 15.2). A 101 is a
protocol error here: the proxy never forwards Upgrade.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httptools

from engine.errors import TIMEOUT, classify
from engine.proxy.http1 import (
    CHUNKED,
    CRLF,
    KEEP_ALIVE_VALUES,
    LAST_CHUNK,
    LENGTH,
    MAX_HEAD,
    NO_BODY,
    RESP_SKIP,
    UNTIL_CLOSE,
    connection_options,
    drop_headers,
)

if TYPE_CHECKING:
    from engine.proxy.exchange import Exchange
    from engine.proxy.mirror import MirrorPair
    from engine.proxy.upstreams import Instance

__all__ = ["UpstreamConnection"]


#: Response heads remembered per instance (Instance.heads) before the memory starts over.
HEADS_KEPT = 64


class _HeadDone(Exception):
    """Raised from a parser callback to stop parsing (HEAD response, oversized head)."""


class _Known:
    """The protocol of the parser for a response whose head is known: no per-header
    callbacks (httptools only calls back for the methods its protocol has)."""

    __slots__ = ("on_body", "on_headers_complete", "on_message_complete")

    def __init__(self, up: UpstreamConnection) -> None:
        self.on_headers_complete = up.known_head_complete
        self.on_body = up.on_body
        self.on_message_complete = up.on_message_complete


class UpstreamConnection(asyncio.Protocol):
    """One pooled keep-alive connection to an instance; one exchange at a time.

    The response is streamed, not buffered: the head is rewritten (hop-by-hop headers
    out, `x-surge-upstream` in) and body pieces are relayed as they arrive, re-chunked
    when the upstream used chunked encoding or closes to end the body.

    An upstream answers the same head again and again (nginx's changes with its Date,
    once a second), so a length-framed head is rewritten once and remembered by its
    bytes in `Instance.heads`: a response whose first read starts with a known head is
    parsed by a second parser with no per-header callbacks, which was the largest
    part of the proxy's own CPU per request. Both parsers stop between responses, so
    each response may take either.
    """

    __slots__ = (
        "attached",
        "closed",
        "complete",
        "conn_opts",
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
        "key",
        "known",
        "known_parser",
        "mode",
        "out",
        "pair",
        "parser",
        "parsing",
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
        self.known_parser = httptools.HttpResponseParser(_Known(self))
        self.ex: Exchange | None = None
        self.out: list[bytes] = []
        self.head = bytearray()
        self.closed = False
        self.paused = False
        self.attached = False  # counted in inst.conns (set once the connect succeeded)
        self.pair: MirrorPair | None = None  # the exchange's, when it is mirrored
        self._reset()

    def _reset(self) -> None:
        self.head.clear()
        self.head_size = 0
        self.head_sent = False
        self.has_length = False
        self.te_chunked = False
        self.conn_opts: set[bytes] | None = None
        self.eof_body = False
        self.complete = False
        self.keep = False
        self.interim = False
        self.mode = NO_BODY
        self.status = 0
        self.reason = b""
        self.got = False
        self.fail_kind: str | None = None
        self.parsing = self.parser  # the parser of this response
        self.key: bytes | None = None  # its head's bytes, to remember what it became
        self.known: tuple[int, bytes] | None = None  # (status, head) when already known

    def begin(self, ex: Exchange, reused: bool) -> None:
        self.ex = ex
        ex.up = self
        self.reused = reused
        self.pair = pair = ex.pair
        if pair is not None:
            pair.blue_start()
        data = ex.data
        if ex.needs_host:
            line_end = data.index(CRLF) + 2
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
        parser = self.parsing
        if not self.got:  # the first read of this response
            self.got = True
            end = data.find(b"\r\n\r\n")
            if end > 0:
                key = data[:end]
                known = self.inst.heads.get(key)
                if known is None:
                    self.key = key
                else:
                    self.known = known
                    parser = self.parsing = self.known_parser
        head_done = False
        try:
            parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _HeadDone):
                raise
            head_done = self.fail_kind is None  # a HEAD response ends at its head
        except httptools.HttpParserError:
            self.fail_kind = "protocol"
        if not self.head_sent and self.fail_kind is None:  # a head still arriving: bound it
            self.head_size += len(data)
            if self.head_size > MAX_HEAD:
                self.fail_kind = "response head too large"
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
            if self.mode == CHUNKED:  # the body was delimited by the close
                self.out.append(LAST_CHUNK)
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
        """Called per header (nine from nginx), so: in-place appends, no temporaries; the
        head's size is bounded per read in data_received, not here."""
        if self.head_sent:
            return  # trailers: dropped (the body is re-chunked without them)
        n = name.lower()
        if n in RESP_SKIP:
            if n == b"transfer-encoding":
                self.te_chunked = b"chunked" in value.lower()
            elif n == b"connection" and value not in KEEP_ALIVE_VALUES:  # names headers?
                named = connection_options(value)
                if named:
                    self.conn_opts = (self.conn_opts or set()).union(named)
            return
        if n == b"content-length":
            self.has_length = True
        head = self.head
        head += name
        head += b": "
        head += value
        head += CRLF

    def on_headers_complete(self) -> None:
        ex = self.ex
        assert ex is not None
        if len(self.head) > MAX_HEAD:  # arrived in one read
            self.fail_kind = "response head too large"
            raise _HeadDone
        status = self.parser.get_status_code()
        if self.conn_opts is not None:  # headers named in Connection are hop-by-hop too
            self.head[:] = drop_headers(self.head, self.conn_opts)
            self.conn_opts = None
        if status < 200:
            if status == 101:
                self.fail_kind = "protocol (101 without an Upgrade request)"
                raise _HeadDone
            self.interim = True  # the final head follows; see the module docstring
            if status != 100 and not ex.http10:
                self.out.append(b"HTTP/1.1 %d %s\r\n%s\r\n" % (status, self.reason, self.head))
            self.head.clear()
            self.reason = b""
            self.key = None  # the bytes the next head is remembered by are not known
            self.head_size = 0
            self.has_length = self.te_chunked = False
            return
        head = b"HTTP/1.1 %d %s\r\n%s" % (status, self.reason, self.head)
        if self.key is not None and self.has_length and not self.te_chunked:
            heads = self.inst.heads
            if len(heads) >= HEADS_KEPT:
                heads.clear()
            heads[self.key] = (status, head)
        self._send_head(ex, status, head)

    def known_head_complete(self) -> None:
        """on_headers_complete of a response whose head is in Instance.heads."""
        status, head = self.known  # type: ignore[misc]
        self.has_length = True
        self._send_head(self.ex, status, head)  # type: ignore[arg-type]

    def _send_head(self, ex: Exchange, status: int, head: bytes) -> None:
        """The status line and kept headers, then the proxy's own lines: into `out`, which
        data_received joins with the body's first piece."""
        self.status = status
        inst = self.inst
        out = self.out
        at = len(out)
        out.append(head)
        out.append(inst.tag_line if ex.cohort is None else inst.cohort_line(ex.cohort))
        if ex.set_cookie:
            out.append(inst.proxy.groups[ex.color].cookie_line)
        no_body = ex.head_only or status == 204 or status == 304
        if self.has_length and not self.te_chunked and not no_body:
            mode = LENGTH  # the common case, tested first
        elif no_body:
            mode = NO_BODY
        elif self.te_chunked:
            mode = UNTIL_CLOSE if ex.http10 else CHUNKED
            if self.has_length:  # both: Transfer-Encoding wins (RFC 9112 6.3)
                out[at] = _drop_content_length(head)
        else:
            self.eof_body = True
            mode = UNTIL_CLOSE if ex.http10 else CHUNKED
        self.mode = mode
        if mode == CHUNKED:
            out.append(b"transfer-encoding: chunked\r\n")
        if mode == UNTIL_CLOSE or not ex.keep_alive:
            ex.close_after = True
            out.append(b"connection: close\r\n")
        elif ex.http10:
            out.append(b"connection: keep-alive\r\n")
        out.append(CRLF)
        self.head_sent = True
        if ex.head_only:
            raise _HeadDone  # llhttp cannot know a HEAD response has no body

    def on_body(self, body: bytes) -> None:
        if self.pair is not None:
            self.pair.blue_body(body)
        if self.mode == CHUNKED:
            self.out.append(b"%x\r\n%s\r\n" % (len(body), body))
        else:
            self.out.append(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        if self.mode == CHUNKED:
            self.out.append(LAST_CHUNK)
        self.complete = True  # finished in data_received, once the output is flushed
        self.keep = self.parsing.should_keep_alive()  # only valid inside the callback

    # ours
    def finish(self, *, keep: bool) -> None:
        ex = self.ex
        if ex is None:
            return
        self.ex = None
        ex.up = None
        self.inst.stats.status[self.status // 100] += 1
        if self.status >= 500:
            self.inst.status_5xx += 1
        pair = self.pair
        if pair is not None:
            self.pair = None
            pair.status = self.status
            pair.blue_done()
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


def _drop_content_length(head: bytes) -> bytes:
    lines = head.split(CRLF)
    return CRLF.join(x for x in lines if not x.lower().startswith(b"content-length:"))
