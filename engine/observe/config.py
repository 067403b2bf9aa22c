"""What a run observes (`[observe]`, `--observe URL`): typed, checked where it is read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

__all__ = ["METRIC_NAME", "SERIES_NAME", "ObserveSpec", "PromQuery", "server_url", "target_url"]

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")  # Prometheus's own rule
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
    metrics: tuple[str, ...] = ()  # metric names to keep; () = the curated set
    query: PromQuery | None = None

    def __bool__(self) -> bool:
        return bool(self.targets or self.query)


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
