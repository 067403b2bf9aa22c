"""The demo SUT's routes: a small shop API (login, items, jobs) and test helpers.

Each handler returns a Reply (status, body, content type, extra headers, extra delay);
`/delay/{ms}` and `/status/{code}` exist so tests can ask for a latency or a status.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.sut.messages import (
    JSON,
    TEXT,
    Reply,
    Request,
    bearer_token,
    error_reply,
    json_reply,
    reason_phrase,
)

if TYPE_CHECKING:
    from engine.sut.app import App

__all__ = ["EXACT_ROUTES", "MAX_DELAY_MS", "PREFIX_ROUTES", "Route"]

#: The longest /delay/{ms} honoured, so a typo cannot park a connection for days.
MAX_DELAY_MS = 600_000

Handler = Callable[["App", Request, str], Reply]
_UNAUTHORIZED: Reply = json_reply(401, {"error": "unauthorized"})


def _make_items() -> list[dict[str, Any]]:
    return [
        {"id": i, "name": f"item-{i}", "price": round(4.99 + 2.5 * i, 2), "stock": (i * 7) % 13}
        for i in range(1, 21)
    ]


_ITEMS = _make_items()
_ITEMS_BODY = json.dumps({"items": _ITEMS}, separators=(",", ":")).encode()
_ITEM_BODIES = {str(it["id"]): json.dumps(it, separators=(",", ":")).encode() for it in _ITEMS}


def _h_root(app: App, req: Request, arg: str) -> Reply:
    return 200, b"hello world\n", TEXT, b"", 0.0


def _h_echo(app: App, req: Request, arg: str) -> Reply:
    return 200, req.body, req.content_type or b"application/octet-stream", b"", 0.0


def _h_status(app: App, req: Request, arg: str) -> Reply:
    if not arg.isdigit() or not 200 <= int(arg) <= 599:
        return error_reply(400, "status code must be between 200 and 599")
    code = int(arg)
    return code, b"%d %s\n" % (code, reason_phrase(code)), TEXT, b"", 0.0


def _h_delay(app: App, req: Request, arg: str) -> Reply:
    if not arg.isdigit() or int(arg) > MAX_DELAY_MS:
        return error_reply(400, f"delay must be an integer number of ms <= {MAX_DELAY_MS}")
    ms = int(arg)
    return 200, b'{"delay_ms":%d}' % ms, JSON, b"", ms / 1000.0


def _h_login(app: App, req: Request, arg: str) -> Reply:
    try:
        data = json.loads(req.body)
    except ValueError:
        return error_reply(400, "body must be JSON")
    if not isinstance(data, dict):
        return error_reply(400, "body must be a JSON object")
    user, password = data.get("username"), data.get("password")
    if not isinstance(user, str) or not user or not isinstance(password, str) or not password:
        return error_reply(400, "username and password are required")
    if password == "wrong":
        return error_reply(401, "invalid credentials")
    token = secrets.token_hex(16)
    app.tokens[token] = user
    return json_reply(200, {"token": token, "user": user})


def _h_items(app: App, req: Request, arg: str) -> Reply:
    if app.user_of(req) is None:
        return _UNAUTHORIZED
    return 200, _ITEMS_BODY, JSON, b"", 0.0


def _h_item(app: App, req: Request, arg: str) -> Reply:
    if app.user_of(req) is None:
        return _UNAUTHORIZED
    body = _ITEM_BODIES.get(arg)
    if body is None:
        return error_reply(404, "no such item")
    return 200, body, JSON, b"", 0.0


def _h_jobs(app: App, req: Request, arg: str) -> Reply:
    if app.user_of(req) is None:
        return _UNAUTHORIZED
    if req.body.strip():
        try:
            json.loads(req.body)
        except ValueError:
            return error_reply(400, "body must be JSON")
    job_id = secrets.token_hex(8)
    app.jobs[job_id] = app.loop.time()
    return json_reply(
        201,
        {"id": job_id, "status": "running", "progress": 0},
        b"location: /api/jobs/" + job_id.encode() + b"\r\n",
    )


def _h_job(app: App, req: Request, arg: str) -> Reply:
    if app.user_of(req) is None:
        return _UNAUTHORIZED
    started = app.jobs.get(arg)
    if started is None:
        return error_reply(404, "no such job")
    elapsed = app.loop.time() - started
    duration = app.job_duration
    if elapsed >= duration:
        return json_reply(200, {"id": arg, "status": "done", "progress": 100})
    progress = min(99, int(elapsed / duration * 100))
    return json_reply(200, {"id": arg, "status": "running", "progress": progress})


def _h_logout(app: App, req: Request, arg: str) -> Reply:
    if app.user_of(req) is None:
        return _UNAUTHORIZED
    token = bearer_token(req)
    if token is not None:
        app.tokens.pop(token, None)
    return json_reply(200, {"status": "logged out"})


Route = tuple[str | None, dict[bytes, Handler]]

EXACT_ROUTES: dict[str, Route] = {
    "/": ("root", {b"GET": _h_root}),
    "/echo": ("echo", {b"GET": _h_echo, b"POST": _h_echo}),
    "/api/login": ("login", {b"POST": _h_login}),
    "/api/items": ("items", {b"GET": _h_items}),
    "/api/jobs": ("jobs", {b"POST": _h_jobs}),
    "/api/logout": ("logout", {b"POST": _h_logout}),
}
PREFIX_ROUTES: tuple[tuple[str, Route], ...] = (
    ("/api/items/", ("item", {b"GET": _h_item})),
    ("/api/jobs/", ("job", {b"GET": _h_job})),
    ("/status/", (None, {b"GET": _h_status})),
    ("/delay/", (None, {b"GET": _h_delay})),
)
