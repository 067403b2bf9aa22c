"""The HTTP/1.1 bytes and limits both sides of the proxy share, and its own responses.

Prebuilt byte strings because every request passes through them; the proxy's own
answers (502s naming the color, 4xx for requests it cannot forward) are JSON so a
load report can show why a request failed.
"""

from __future__ import annotations

import json
from typing import Any

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
# Hop-by-hop headers (RFC 9110 7.6.1) and the ones the proxy itself consumes or sets.
REQ_SKIP = frozenset(
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
RESP_SKIP = frozenset(
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
NO_BODY, LENGTH, CHUNKED, UNTIL_CLOSE = 0, 1, 2, 3


def local_response(
    status: int, message: str, color: str | None, *, close: bool, **extra: Any
) -> bytes:
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
        head += b"x-surge-upstream: " + color.encode() + CRLF
    if close:
        head += b"connection: close\r\n"
    return head + CRLF + body
