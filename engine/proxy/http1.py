"""The HTTP/1.1 bytes and limits both sides of the proxy share, and its own responses.

Prebuilt byte strings because every request passes through them; the proxy's own
answers (502s naming the color, 4xx for requests it cannot forward) are JSON so a
load report can show why a request failed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.addresses import is_loopback

#: Request line plus headers, per request; beyond this the client gets a 431.
MAX_HEAD = 64 * 1024
#: Request bodies are buffered (so a retry can resend them); beyond this, 413.
MAX_BODY = 16 * 1024 * 1024
#: Parsed-but-unanswered pipelined requests per client before we stop reading.
MAX_PIPELINE = 32

HTTP11_TAIL = b" HTTP/1.1\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CRLF = b"\r\n"
LAST_CHUNK = b"0\r\n\r\n"
# Hop-by-hop headers (RFC 9110 7.6.1; those named in Connection are dropped too, per
# message), and below, the ones the proxy itself consumes or sets in each direction.
HOP_BY_HOP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    )
)
REQ_SKIP = HOP_BY_HOP | {b"expect", b"content-length", b"x-surge-color"}
RESP_SKIP = HOP_BY_HOP | {b"x-surge-upstream"}
#: The `Connection` values nearly every message carries, which name no other header.
KEEP_ALIVE_VALUES = frozenset((b"keep-alive", b"Keep-Alive", b"close", b"Close"))
#: Connection options that name no other header, or one the proxy must keep (Host).
NOT_NAMED = frozenset((b"close", b"keep-alive", b"upgrade", b"host", b""))
#: RFC 9112 3.2 / RFC 3986 3.2.2: uri-host [":" port]; an IP literal, or a reg-name.
HOST_RE = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{0,5})?")

# Response framing towards the client.
NO_BODY, LENGTH, CHUNKED, UNTIL_CLOSE = 0, 1, 2, 3


def local_response(
    status: int,
    message: str,
    color: str | None,
    *,
    close: bool,
    tag: str | None = None,
    **extra: Any,
) -> bytes:
    """A response made by the proxy itself (502s, 4xx), JSON, naming the color if any;
    `tag` is its `x-surge-upstream` when not the color (`green+beta`, a route's)."""
    payload: dict[str, Any] = {"error": message}
    if color is not None:
        payload["color"] = color
    payload.update(extra)
    body = json.dumps(payload).encode()
    reason = {
        400: b"Bad Request",
        408: b"Request Timeout",
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
        head += b"x-surge-upstream: " + (tag or color).encode() + CRLF
    if close:
        head += b"connection: close\r\n"
    return head + CRLF + body


def connection_options(value: bytes) -> list[bytes]:
    """The header names a `Connection` value declares hop-by-hop (RFC 9110 7.6.1)."""
    names = (t.strip().lower() for t in value.split(b","))
    return [n for n in names if n not in NOT_NAMED]


def drop_headers(head: bytes | bytearray, names: frozenset[bytes] | set[bytes]) -> bytes:
    """`head` (lines "name: value\\r\\n") without the named headers; only off the fast path."""
    kept = [
        line
        for line in bytes(head).split(CRLF)
        if line and line.split(b":", 1)[0].strip().lower() not in names
    ]
    return b"".join(line + CRLF for line in kept)


_WILDCARD = ("", "0.0.0.0", "::")
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def own_authorities(host: str, port: int) -> frozenset[bytes] | None:
    """The `Host` values naming a bound address (host:port); None for a wildcard bind.

    A loopback bind answers to 127.0.0.1, localhost and [::1] alike; a wildcard bind
    (0.0.0.0, ::) has no knowable name, so any host with the right port passes.
    """
    if host in _WILDCARD:
        return None
    names = {f"[{host}]" if ":" in host else host}
    if is_loopback(host):
        names.update(_LOOPBACK_NAMES)
    out = {f"{n}:{port}".lower().encode() for n in names}
    if port == 80:
        out |= {n.lower().encode() for n in names}
    return frozenset(out)


def is_own(authority: bytes, own: frozenset[bytes] | None, port: int) -> bool:
    """Whether a Host value (or an absolute-form target's authority) names this address."""
    a = authority.strip().lower()
    if own is not None:
        return a in own
    if not HOST_RE.fullmatch(a):
        return False
    end = a.rfind(b"]")
    host_end = a.find(b":", end + 1)
    given = a[host_end + 1 :] if host_end >= 0 else b""
    return (int(given) if given else 80) == port
