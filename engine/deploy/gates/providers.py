"""Where a metric's number comes from: one interface, one type per source.

`PrometheusProvider` asks an instant query (engine.observe.promql, the observer's own
reading of the answer) and sums a vector's series, as `[observe].query` does;
`WebProvider` GETs a URL answering JSON and follows a path to the number.
Both run on the driver's loop with an httpx AsyncClient bounded by its timeout.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from engine.observe.promql import instant_request, instant_values

if TYPE_CHECKING:  # a profile's metrics are read without loading httpx
    import httpx

__all__ = ["NoData", "PrometheusProvider", "Provider", "WebProvider", "parse_json_path"]


class NoData(ValueError):
    """The source answered, but with no number (an empty vector, NaN, a null)."""


class Provider(Protocol):
    kind: str

    def describe(self) -> str: ...

    async def measure(self, client: httpx.AsyncClient) -> float: ...


@dataclass(frozen=True)
class PrometheusProvider:
    url: str
    query: str
    kind: str = "prometheus"

    def describe(self) -> str:
        return f"{self.url}: {self.query}"

    async def measure(self, client: httpx.AsyncClient) -> float:
        url, params = instant_request(self.url, self.query)
        values = instant_values(await client.get(url, params=params))
        if not values:
            raise NoData("no data (an empty vector or NaN)")
        return sum(values)


# `$.data.errors`, `data.errors`, `items[0].value`, `$['a key']`
_STEP = re.compile(
    r"\.?(?P<name>[A-Za-z_][\w-]*)|\[(?P<index>-?\d+)\]|\[['\"](?P<key>[^'\"]+)['\"]\]"
)


def parse_json_path(text: str) -> tuple[str | int, ...]:
    """A dotted path to a number in a JSON answer: keys by `.name` or `['name']`, list
    items by `[i]`, an optional leading `$` (JSONPath's root). ValueError when unreadable."""
    path = text.strip()
    path = path[1:] if path.startswith("$") else path
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            raise ValueError(f"cannot read {path[pos:]!r} (write e.g. '$.data.errors')")
        if m.group("index") is not None:
            steps.append(int(m.group("index")))
        else:
            steps.append(m.group("name") or m.group("key"))
        pos = m.end()
    if not steps:
        raise ValueError("empty path (write e.g. '$.data.errors')")
    return tuple(steps)


def follow(body: Any, path: tuple[str | int, ...]) -> float:
    """The number at `path` in `body`; a string holding a number counts (Argo's web
    provider reads them alike)."""
    here = body
    for i, step in enumerate(path):
        try:
            here = here[step]
        except (KeyError, IndexError, TypeError):
            where = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path[: i + 1])
            raise ValueError(f"no ${where} in the answer") from None
    if here is None:
        raise NoData("null")
    if isinstance(here, bool) or not isinstance(here, int | float | str):
        raise ValueError(f"not a number: {str(here)[:40]}")
    try:
        value = float(here)
    except ValueError:
        raise ValueError(f"not a number: {here[:40]!r}") from None
    if math.isnan(value):
        raise NoData("NaN")
    return value


@dataclass(frozen=True)
class WebProvider:
    url: str
    json: str
    path: tuple[str | int, ...]
    kind: str = "web"

    def describe(self) -> str:
        return f"{self.url}: {self.json}"

    async def measure(self, client: httpx.AsyncClient) -> float:
        response = await client.get(self.url)
        response.raise_for_status()
        try:
            body = response.json()
        except ValueError:
            raise ValueError(f"HTTP {response.status_code}, not JSON") from None
        return follow(body, self.path)
