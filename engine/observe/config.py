"""What a run observes (`[observe]`, `--observe URL`): typed, checked where it is read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

__all__ = [
    "SERIES_NAME",
    "ObserveSpec",
    "PromQuery",
    "Selector",
    "selector",
    "server_url",
    "target_url",
]

_SELECTOR = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(?P<labels>[^{}]*)\})?")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
SERIES_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a bare TOML key in the report


@dataclass(frozen=True)
class PromQuery:
    """PromQL against a Prometheus server's HTTP API, one instant query an interval each."""

    url: str  # the server's base URL: {url}/api/v1/query
    exprs: tuple[tuple[str, str], ...]  # (series name, PromQL expression)


@dataclass(frozen=True)
class ObserveSpec:
    """The server's side of a run: Prometheus text endpoints and PromQL queries."""

    targets: tuple[str, ...] = ()  # /metrics URLs scraped every interval
    metrics: tuple[str, ...] = ()  # metric names or selectors; () = the curated set
    query: PromQuery | None = None

    def __bool__(self) -> bool:
        return bool(self.targets or self.query)


@dataclass(frozen=True)
class Selector:
    """A metric by name, its label sets narrowed as PromQL's `=` and `!=` do:
    `node_cpu_seconds_total{mode!="idle"}`."""

    name: str
    matchers: tuple[tuple[str, str, str], ...] = ()  # (label, "=" or "!=", value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all((labels.get(k, "") == v) == (op == "=") for k, op, v in self.matchers)


def selector(text: str) -> Selector:
    """`name` or `name{label="v",other!="w"}`; ValueError says what is wrong."""
    found = _SELECTOR.fullmatch(text.strip())
    if found is None:
        raise ValueError(f'expected a metric name, or name{{label="value"}}: {text!r}')
    matchers, rest = [], found["labels"] or ""
    while rest.strip():
        m = _MATCHER.match(rest)
        if m is None:
            raise ValueError(f'expected label="value" or label!="value" in {text!r}')
        value = m[3].replace('\\"', '"').replace("\\\\", "\\")
        matchers.append((m[1], m[2], value))
        rest = rest[m.end() :]
    return Selector(found["name"], tuple(matchers))


def target_url(text: str) -> str:
    """A scrape target's URL: http(s), its path `/metrics` when none is given."""
    parts = _http(text)
    path = parts.path if parts.path not in ("", "/") else "/metrics"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def server_url(text: str) -> str:
    """A Prometheus server's base URL (its API is under `/api/v1`)."""
    parts = _http(text)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _http(text: str) -> SplitResult:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
    return parts
