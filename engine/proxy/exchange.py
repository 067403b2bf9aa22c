"""One client request on its way through the proxy, shared by both connection sides."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.proxy.client import ClientConnection
    from engine.proxy.mirror import MirrorPair
    from engine.proxy.upstream_conn import UpstreamConnection
    from engine.proxy.upstreams import Instance


class Exchange:
    """One client request on its way through; exists from parse to last byte written."""

    __slots__ = (
        "cancelled",
        "client",
        "close_after",
        "cohort",
        "color",
        "data",
        "head_only",
        "http10",
        "inst",
        "keep_alive",
        "local",
        "needs_host",
        "pair",
        "retried",
        "set_cookie",
        "ticks",
        "up",
    )

    def __init__(
        self,
        client: ClientConnection,
        color: int,
        data: bytes,
        keep_alive: bool = True,
        http10: bool = False,
        head_only: bool = False,
    ) -> None:
        self.client = client
        self.color = color
        self.data = data
        self.keep_alive = keep_alive
        self.http10 = http10
        self.head_only = head_only
        self.close_after = False
        self.set_cookie = False
        self.needs_host = False
        self.retried = False
        self.cancelled = False
        self.local: bytes | None = None
        self.inst: Instance | None = None
        self.up: UpstreamConnection | None = None
        self.ticks = 0
        self.cohort: bytes | None = None  # the route's cohort, when a route chose the color
        self.pair: MirrorPair | None = None  # a mirrored request: blue's half of the pair
