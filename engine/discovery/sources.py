"""Where a pool comes from: parsed once, resolved many times."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from engine.addresses import parse_http_origin
from engine.errors import ConfigError

__all__ = [
    "FileSource",
    "Source",
    "SrvSource",
    "StaticSource",
    "Target",
    "is_registry",
    "parse_source",
]

REGISTRY_SCHEMES = ("srv://", "file://")


@dataclass(frozen=True, order=True)
class Target:
    """One instance a registry names: `host:port` (an address, or a name to resolve)."""

    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class StaticSource:
    """A list of URLs, as before discovery: resolved once, never changes."""

    targets: tuple[Target, ...]

    def describe(self) -> str:
        return ", ".join(t.url for t in self.targets)


@dataclass(frozen=True)
class SrvSource:
    """DNS SRV records of `name`, asked of `resolver:port` (None: the system resolver)."""

    name: str
    resolver: str | None = None
    port: int = 53

    def describe(self) -> str:
        at = f" at {self.resolver}:{self.port}" if self.resolver else ""
        return f"DNS SRV {self.name}{at}"


@dataclass(frozen=True)
class FileSource:
    """A Prometheus file_sd JSON file: `[{"targets": ["host:port", ...], "labels": {}}]`."""

    path: str

    def describe(self) -> str:
        return f"file_sd {self.path}"


Source = StaticSource | SrvSource | FileSource


def is_registry(text: str) -> bool:
    return text.startswith(REGISTRY_SCHEMES)


def parse_source(values: str | tuple[str, ...] | list[str], key: str = "pool") -> Source:
    """`srv://RESOLVER:PORT/NAME`, `srv:///NAME`, `file:///PATH`, or http:// URLs."""
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    values = list(values)
    registries = [v for v in values if is_registry(v)]
    if registries:
        if len(values) != 1:
            raise ConfigError(key, "a registry (srv:// or file://) is the whole pool: give one")
        return _registry(registries[0], key)
    targets = []
    for url in values:
        host, port = parse_http_origin(url, key)
        targets.append(Target(host, port))
    if not targets:
        raise ConfigError(key, "expected URLs, srv://RESOLVER:PORT/NAME or file:///PATH")
    return StaticSource(tuple(targets))


def _registry(text: str, key: str) -> Source:
    parts = urlsplit(text)
    if parts.scheme == "file":
        if not parts.path or parts.netloc not in ("", "localhost"):
            raise ConfigError(key, f"{text!r}: expected file:///absolute/path/targets.json")
        return FileSource(parts.path)
    name = parts.path.lstrip("/")
    if not name:
        raise ConfigError(key, f"{text!r}: no SRV name (srv://127.0.0.1:8600/_http._tcp.web)")
    if not parts.netloc:
        return SrvSource(name)
    try:
        port = parts.port or 53
    except ValueError:
        raise ConfigError(key, f"{text!r}: bad resolver port") from None
    if not parts.hostname:
        raise ConfigError(key, f"{text!r}: no resolver host")
    return SrvSource(name, parts.hostname, port)
