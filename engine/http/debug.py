"""`--http-debug`: a request and its response as text, the way k6's flag prints them.

Heads only by default; `full` adds the bodies, each cut at 2 KB. Credentials never
show: an Authorization (or Proxy-Authorization) value keeps its scheme and loses the
rest, so a debug run can be pasted into an issue.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TextIO

from engine.http.request import Prepared
from engine.http.response import Response

HEADERS, FULL = "headers", "full"
BODY_CUT = 2048
_SECRET = frozenset({"authorization", "proxy-authorization"})


def masked(name: str, value: str) -> str:
    """A header's value as debug output shows it: credentials become `Basic ***`."""
    if name.lower() not in _SECRET:
        return value
    scheme, _, rest = value.partition(" ")
    return f"{scheme} ***" if rest else "***"


def show_request(req: Prepared, mode: str) -> str:
    """The request's head as it went out (its HTTP/1.1 form), and with `full` its body."""
    head = req.wire.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    lines = [head[0]]
    for line in head[1:]:
        name, _, value = line.partition(": ")
        lines.append(f"{name}: {masked(name, value)}")
    return _with_body("Request", lines, req.body, mode)


def show_response(resp: Response | None, error: str | None, mode: str) -> str:
    """The response's status line and headers (and with `full` its body, as decoded for
    checks), or the error that ended the request."""
    if resp is None:
        return f"Response:\n(no response: {error or 'failed'})\n"
    try:
        reason = HTTPStatus(resp.status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {resp.status} {reason}".rstrip()]
    for name, value in resp.headers:
        text = name.decode("latin-1")
        lines.append(f"{text}: {masked(text, value.decode('latin-1'))}")
    return _with_body("Response", lines, resp.body, mode)


def _with_body(title: str, lines: list[str], body: bytes | None, mode: str) -> str:
    out = f"{title}:\n" + "\n".join(lines) + "\n"
    if mode == FULL and body:
        cut = body[:BODY_CUT].decode("utf-8", "replace")
        more = f"\n... ({len(body) - BODY_CUT} more bytes)" if len(body) > BODY_CUT else ""
        out += f"\n{cut}{more}\n"
    return out


class DebugClient:
    """A VU's client that prints each request and response on `out` while `first()` holds
    (the VU's first iteration), then hands the VU back its own client (`done`). Everything
    else is the client's own: the worker times and counts through it as through any, so
    the run's figures are the same with or without the flag."""

    __slots__ = ("_done", "_first", "_inner", "_mode", "_out")

    def __init__(
        self,
        inner: Any,
        mode: str,
        first: Callable[[], bool],
        done: Callable[[], None],
        out: TextIO | None = None,
    ) -> None:
        for name, value in (
            ("_inner", inner),
            ("_mode", mode),
            ("_first", first),
            ("_done", done),
            ("_out", out),
        ):
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    async def request(self, req: Prepared) -> Response:
        if not self._first():
            self._done()
            return await self._inner.request(req)
        out = self._out or sys.stderr
        out.write(show_request(req, self._mode) + "\n")
        try:
            resp = await self._inner.request(req)
        except Exception as exc:
            out.write(show_response(None, f"{type(exc).__name__}: {exc}", self._mode) + "\n")
            out.flush()
            raise
        out.write(show_response(resp, None, self._mode) + "\n")
        out.flush()
        return resp
