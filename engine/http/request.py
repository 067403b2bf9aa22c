"""A request prepared once, in the forms both clients need."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

USER_AGENT = "surge/0.1"


@dataclass(frozen=True, slots=True)
class Prepared:
    name: str  # the step (endpoint) name metrics are kept under
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    wire: bytes = field(repr=False)  # the whole HTTP/1.1 request, encoded once


def prepare(
    name: str,
    method: str,
    url: str,
    headers: tuple[tuple[str, str], ...] | list[tuple[str, str]],
    body: bytes | None,
) -> Prepared:
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host = parts.netloc.rsplit("@", 1)[-1]
    headers = tuple(headers)
    names = {k.lower() for k, _ in headers}
    if "user-agent" not in names:
        headers = (("User-Agent", USER_AGENT), *headers)
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {host}")
    lines.extend(f"{k}: {v}" for k, v in headers)
    if (body is not None or method in ("POST", "PUT", "PATCH")) and "content-length" not in names:
        lines.append(f"Content-Length: {len(body or b'')}")
    wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
    return Prepared(name, method, url, headers, body, wire)
