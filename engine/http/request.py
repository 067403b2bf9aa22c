"""A request prepared once, in the forms both clients need.

Surge frames every request itself, so nothing a user writes can break the framing:
Content-Length is computed (a user's one that disagrees with the body is refused,
one that agrees is dropped and recomputed), Transfer-Encoding is refused, a header
with CR, LF, NUL or a non-ASCII character is refused naming the header, and the
path and query are percent-encoded as RFC 3986 says (UTF-8; an existing %XX kept).
A user `Host` header is sent as the Host (virtual hosts, as k6 does); the connection
still goes to the base URL's host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

USER_AGENT = "surge/0.1"

# RFC 3986 pchar (unreserved, sub-delims, ":" "@") and "/" stay; so does "%", whose
# stray uses (not followed by two hex digits) are then encoded as %25.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


class RequestError(ValueError):
    """A request Surge will not send, because it would break HTTP framing; `key` names
    the header or part at fault."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True, slots=True)
class Prepared:
    name: str  # the step (endpoint) name metrics are kept under
    method: str
    url: str  # with the path and query percent-encoded
    headers: tuple[tuple[str, str], ...]  # without Content-Length: each client computes it
    body: bytes | None
    wire: bytes = field(repr=False)  # the whole HTTP/1.1 request, encoded once
    timeout: float | None = None  # its own deadline (a step's `timeout`); None: the client's
    tags: tuple[tuple[str, str], ...] = ()  # an endpoint's own k6 tags (thresholds select them)


def encode_target(path: str, query: str) -> str:
    """The request target, percent-encoded (RFC 3986 3.3, 3.4); idempotent."""
    target = _STRAY_PERCENT.sub("%25", quote(path or "/", safe=_PATH_SAFE))
    if query:
        target += "?" + _STRAY_PERCENT.sub("%25", quote(query, safe=_QUERY_SAFE))
    return target


def header_problem(name: str, value: str) -> str | None:
    """Why a header cannot be sent as written, or None."""
    if not name or any(c in name for c in "\r\n\0:") or not name.isascii() or " " in name:
        return f"bad header name {name!r}"
    if any(c in value for c in "\r\n\0"):
        return f"header {name} has a line break or NUL in its value"
    if not value.isascii():
        return f"header {name} has a non-ASCII value {value!r} (percent-encode it, or RFC 8187)"
    return None


def prepare(
    name: str,
    method: str,
    url: str,
    headers: tuple[tuple[str, str], ...] | list[tuple[str, str]],
    body: bytes | None,
    *,
    timeout: float | None = None,
    tags: tuple[tuple[str, str], ...] = (),
) -> Prepared:
    """Encode a request once; RequestError when it would break framing."""
    parts = urlsplit(url)
    target = encode_target(parts.path, parts.query)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if not netloc.isascii():
        host = (parts.hostname or "").encode("idna").decode("ascii")
        netloc = f"{host}:{parts.port}" if parts.port else host
    url = urlunsplit((parts.scheme, netloc, target.partition("?")[0], target.partition("?")[2], ""))
    kept: list[tuple[str, str]] = []
    for k, v in headers:
        problem = header_problem(k, v)
        if problem is not None:
            raise RequestError(k, problem)
        low = k.lower()
        if low == "content-length":
            _check_length(k, v, body)
            continue  # recomputed below, and by httpx from the body
        if low == "transfer-encoding":
            raise RequestError(k, "Surge frames the body itself (Content-Length); leave it out")
        kept.append((k, v))
    names = {k.lower() for k, _ in kept}
    if "user-agent" not in names:
        kept.insert(0, ("User-Agent", USER_AGENT))
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {netloc}")
    lines.extend(f"{k}: {v}" for k, v in kept)
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    wire = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body or b"")
    return Prepared(name, method, url, tuple(kept), body, wire, timeout, tags)


def _check_length(name: str, value: str, body: bytes | None) -> None:
    size = len(body or b"")
    if value.strip() != str(size):
        raise RequestError(
            name,
            f"{value.strip()} disagrees with the body's {size} bytes; "
            "leave it out, Surge computes it",
        )
