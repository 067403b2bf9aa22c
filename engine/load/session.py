"""A VU's HTTP state beyond its one connection: its cookie jar, and the clients of the
other origins its redirects led to.

A redirect to another scheme, host or port (or a request to a profile's named host)
needs another connection; the VU keeps one client per origin it met, at most
MAX_ORIGINS besides its own (the least recently used is closed), so a chain across
many hosts cannot pile up sockets.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from engine.http.cookies import Jar
from engine.http.redirects import origin

if TYPE_CHECKING:
    from engine.load.run import ScenarioPlan
    from engine.load.vus import Client

MAX_ORIGINS = 8
_home_origin = lru_cache(maxsize=16)(origin)  # one tuple for every VU of a plan


class Session:
    """`home` is the VU's own client (the base URL's origin); `client_for` the one for
    any URL, made on first use by `make(origin_url)`."""

    __slots__ = ("_home_origin", "_make", "_others", "home", "jar")

    def __init__(self, home: Client, base_url: str, make: Callable[[str], Client]) -> None:
        self.home = home
        self.jar = Jar()
        self._home_origin = _home_origin(base_url)
        self._make = make
        self._others: OrderedDict[tuple[str, str, int], Client] | None = None  # made on use

    def client_for(self, url: str) -> Client:
        """The client that reaches `url`'s origin (ValueError on a bad port)."""
        key = origin(url)
        if key == self._home_origin:
            return self.home
        others = self._others
        if others is None:
            others = self._others = OrderedDict()
        client = others.get(key)
        if client is not None:
            others.move_to_end(key)
            return client
        if len(others) >= MAX_ORIGINS:
            _, oldest = others.popitem(last=False)
            oldest.close()
        scheme, host, port = key
        client = others[key] = self._make(f"{scheme}://{_netloc(host)}:{port}")
        return client

    def wrap_others(self, wrap: Callable[[Client], Client]) -> None:
        """Each client made from now on for another origin goes through `wrap` (so
        --http-debug shows a named host's requests and a redirect's hops there too)."""
        make = self._make
        self._make = lambda url: wrap(make(url))

    @property
    def others(self) -> int:
        """How many other origins' clients are open."""
        return len(self._others or ())

    def close(self) -> None:
        for client in (self._others or {}).values():
            client.close()
        self._others = None


def _netloc(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def elsewhere(base_url: str, lane: ScenarioPlan) -> bool:
    """Whether a request of `lane` may go to another origin than base_url's (a profile's
    `${hosts.NAME}/path`, a captured URL): then each request picks its client by origin,
    and a lane that never leaves home pays nothing."""
    home = _home_origin(base_url)
    if any(origin(r.url) != home for r in lane.requests):
        return True
    steps = lane.flow.steps if lane.flow is not None else ()
    return any(not step.path.parts[0].startswith("/") for step in steps)
