"""A parsed request and a handler's reply, as the routes and the connection see them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

__all__ = [
    "JSON",
    "TEXT",
    "Reply",
    "Request",
    "bearer_token",
    "error_reply",
    "json_reply",
    "reason_phrase",
]


@dataclass(slots=True)
class Request:
    method: bytes
    path: str
    query: str
    content_type: bytes | None
    authorization: bytes | None
    body: bytes


#: (status, body, content type, extra header lines, extra delay in seconds)
Reply = tuple[int, bytes, bytes, bytes, float]

JSON = b"application/json"
TEXT = b"text/plain; charset=utf-8"


_REASONS: dict[int, bytes] = {int(s): s.phrase.encode() for s in HTTPStatus}


def reason_phrase(status: int) -> bytes:
    """Table lookup: HTTPStatus(status) costs a few microseconds on every response."""
    return _REASONS.get(status, b"Unknown")


def json_reply(status: int, obj: Any, extra: bytes = b"") -> Reply:
    return status, json.dumps(obj, separators=(",", ":")).encode(), JSON, extra, 0.0


def error_reply(status: int, message: str) -> Reply:
    return json_reply(status, {"error": message})


def bearer_token(req: Request) -> str | None:
    auth = req.authorization
    if not auth:
        return None
    scheme, _, token = auth.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
