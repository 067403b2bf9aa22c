"""Which color a request goes to: the pin, cohort routes, sticky cookie, then exact shares.

Precedence (README: Cohorts): the `x-surge-color` header pin, then the cohort routes
(the first that matches), then the sticky cookie, then the weights. A pin is how a
person reaches a color on purpose, so nothing overrides it; a route names a cohort
whatever the weights, so it comes before a cookie the weights once set.

The color is chosen by smooth weighted round-robin (nginx's algorithm), which makes the
shares exact over any window of `blue + green` requests, where coin flips wander by
a few percent over a thousand requests and would make a 1% canary look like 0% or 3%.

Routes cost the hot path nothing while there are none: the client connection keeps
the values of only the headers the routes name (`RouteTable.wanted`), and the query
is parsed only when a query route exists. The Cookie header is split on `;` by hand,
as the sticky code does: http.cookies.SimpleCookie gives up on a whole header at the
first value it finds malformed, which real browsers' headers often hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from engine.deploy.strategies import COLORS, Weights
from engine.deploy.strategies.traffic import Route, RouteKind
from engine.errors import ConfigError

__all__ = ["RouteTable", "SmoothWeighted", "choose_color", "route_from_dict"]

_COOKIE = b"surge_color="


class SmoothWeighted:
    """nginx's smooth weighted round-robin over the two colors.

    Each pick adds every weight to its running credit and takes the color with the
    most credit, which then pays the total. The sequence repeats every `blue + green`
    picks with exact counts, and in any window the count of a color is within one of
    its share. Setting weights resets the credits, so the new split holds from the
    very next request.
    """

    __slots__ = ("_blue", "_cb", "_cg", "_green", "_total")

    def __init__(self, blue: int, green: int) -> None:
        self.set(blue, green)

    def set(self, blue: int, green: int) -> None:
        self._blue = blue
        self._green = green
        self._total = blue + green
        self._cb = 0
        self._cg = 0

    def pick(self) -> int:
        """0 for blue, 1 for green."""
        cb = self._cb + self._blue
        cg = self._cg + self._green
        if cb >= cg:
            self._cb = cb - self._total
            self._cg = cg
            return 0
        self._cb = cb
        self._cg = cg - self._total
        return 1


def choose_color(
    override: bytes | None, cookie: bytes | None, weights: Weights, picker: SmoothWeighted
) -> tuple[int, bool]:
    """(color index, picked by weight): -1 for an override that names no color.

    The `x-surge-color` header wins; then the sticky cookie, while its color still has
    weight (a rolled-back green must not keep its pinned clients); then the picker.
    """
    if override is not None:
        if override == b"blue":
            return 0, False
        if override == b"green":
            return 1, False
        return -1, False
    if cookie is not None:
        i = cookie.find(_COOKIE)
        if i >= 0:
            value = cookie[i + len(_COOKIE) :].split(b";", 1)[0].strip()
            color = 0 if value == b"blue" else 1 if value == b"green" else -1
            if color >= 0 and weights[color] > 0:
                return color, False
    return picker.pick(), True


def route_from_dict(data: Any, key: str = "routes") -> Route:
    """`{"header": "x-beta", "value": "1", "color": "green"}` (Route.as_dict's shape, with
    `regex` instead of `value`, `cookie` or `query` instead of `header`, optional
    `cohort`) to a Route; ConfigError says what is wrong. The regex is compiled here."""
    if not isinstance(data, Mapping):
        raise ConfigError(key, f"expected a route object, got {data!r}")
    kinds = [k for k in RouteKind if k.value in data]
    allowed = {k.value for k in RouteKind} | {"value", "regex", "color", "cohort"}
    if len(kinds) != 1 or set(data) - allowed:
        raise ConfigError(
            key,
            'expected {"header"|"cookie"|"query": NAME, "value"|"regex": TEXT, '
            f'"color": "blue"|"green"}}, got {dict(data)!r}',
        )
    fields = {f: data.get(f) for f in ("value", "regex", "color", "cohort")}
    name = data[kinds[0].value]
    if not all(isinstance(v, str) for v in (name, *(v for v in fields.values() if v is not None))):
        raise ConfigError(key, f"route values must be strings, got {dict(data)!r}")
    try:
        route = Route(kinds[0], name, **{k: v for k, v in fields.items() if v is not None})
    except (TypeError, ValueError) as exc:
        raise ConfigError(key, str(exc)) from None
    compile_regex(route, key)
    return route


def compile_regex(route: Route, key: str) -> re.Pattern[str] | None:
    """The route's regex compiled (ConfigError when it does not), None for an exact value."""
    if route.regex is None:
        return None
    try:
        return re.compile(route.regex)
    except re.error as exc:
        raise ConfigError(key, f"bad regex {route.regex!r}: {exc}") from None


class _Compiled:
    """One route, ready to test: a lowered header name, its color index, its tag."""

    __slots__ = ("cohort", "color", "key", "kind", "name", "pattern", "route", "value")

    def __init__(self, route: Route) -> None:
        self.route = route
        self.kind = route.kind
        self.name = route.name.lower() if route.kind is RouteKind.HEADER else route.name
        self.key = self.name.encode("latin-1", "replace")  # a header's name on the wire
        self.value = route.value
        self.pattern = compile_regex(route, "routes")
        self.color = COLORS.index(route.color)
        self.cohort = route.cohort.encode("latin-1", "replace")

    def matches(self, text: str | None) -> bool:
        if text is None:
            return False
        if self.pattern is not None:
            return self.pattern.fullmatch(text) is not None
        return text == self.value


class RouteTable:
    """The cohort routes, compiled once; `match` gives the first that matches, or None.

    `wanted` is what the client connection must keep of each request head: the lowered
    names of the headers the routes read, plus `cookie` when a cookie route exists.
    """

    __slots__ = ("compiled", "query", "routes", "wanted")

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self.routes = routes
        self.compiled = tuple(_Compiled(r) for r in routes)
        wanted = {c.key for c in self.compiled if c.kind is RouteKind.HEADER}
        if any(c.kind is RouteKind.COOKIE for c in self.compiled):
            wanted.add(b"cookie")
        self.wanted = frozenset(wanted)
        self.query = any(c.kind is RouteKind.QUERY for c in self.compiled)

    def match(
        self, headers: Mapping[bytes, bytes] | None, cookie: bytes | None, url: bytes
    ) -> _Compiled | None:
        """The first route the request matches: `headers` holds the first value of each
        wanted header, `cookie` the Cookie header(s), `url` the request target."""
        cookies: dict[str, str] | None = None
        query: dict[str, list[str]] | None = None
        for c in self.compiled:
            if c.kind is RouteKind.HEADER:
                raw = headers.get(c.key) if headers else None
                text = raw.decode("latin-1") if raw is not None else None
            elif c.kind is RouteKind.COOKIE:
                if cookies is None:
                    cookies = parse_cookies(cookie)
                text = cookies.get(c.name)
            else:
                if query is None:
                    _, _, q = url.partition(b"?")
                    query = parse_qs(q.split(b"#", 1)[0].decode("latin-1"), keep_blank_values=True)
                found = query.get(c.name)
                text = found[0] if found else None
            if c.matches(text):
                return c
        return None


def parse_cookies(header: bytes | None) -> dict[str, str]:
    """Cookie pairs (`a=1; b=2`), the first of each name; pieces without `=` are skipped."""
    out: dict[str, str] = {}
    if not header:
        return out
    for piece in header.decode("latin-1").split(";"):
        name, eq, value = piece.partition("=")
        name = name.strip()
        if eq and name and name not in out:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out[name] = value
    return out
