"""Following a response's redirects, hop by hop, through the worker's own request path.

Each hop is a request of its own in every figure (http_reqs, the step's figures, bytes,
http_req_failed judged with the step's expected statuses): the worker's `send` sends
and records it as it records any request. The chain's last response is the answer its
checks and captures see. The rules of one hop are engine/http/redirects.py's; the
cookies a redirect sets go with the next hop (engine/http/cookies.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from engine.http.redirects import RedirectError, follows, next_hop
from engine.http.request import Prepared
from engine.http.response import Response

if TYPE_CHECKING:
    from engine.load.vus import VU

Answer = tuple[Response | None, str | None, bool]  # response (None: failed), upstream, failed
Send = Callable[[Prepared], Awaitable[Answer]]
Fail = Callable[[Prepared, Exception], None]


async def follow(
    vu: VU,
    first: Prepared,
    answer: Answer,
    limit: int,
    send: Send,
    fail: Fail,
    *,
    flow: bool,
) -> Answer:
    """Follow `answer` (the response to `first`) for at most `limit` hops.

    `flow`: a flow of steps, whose responses the worker already stores in the jar (and
    whose jar lives for the whole iteration); otherwise only the chain's redirects
    are stored here and the jar is emptied when the chain ends, so the next
    iteration starts with none, as in k6. A hop to another origin goes out on the
    VU's client for it (`vu.client` while the hop runs, so the timeout sweep sees it).
    """
    session = vu.session
    jar = session.jar
    resp = answer[0]
    req = first
    strip = False
    hops = 0
    try:
        while resp is not None and hops < limit and (location := follows(resp)) is not None:
            if not flow:
                jar.store(req.url, resp)
            try:
                req, strip = next_hop(first, req, resp.status, location, strip)
                vu.client = session.client_for(req.url)
            except RedirectError as exc:
                fail(req, exc)
                return None, None, True
            except ValueError as exc:  # a Location Surge cannot encode (bad port, IDNA)
                fail(req, RedirectError(str(exc)))
                return None, None, True
            hops += 1
            answer = await send(req)
            resp = answer[0]
    finally:
        vu.client = session.home
        if not flow:
            jar.clear()
    return answer
