"""What `surge proxy` can be told (ProxyConfig), validated once, and the weights' spelling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.addresses import is_loopback, parse_http_origin
from engine.deploy.strategies import ALL_BLUE, COLORS, Weights
from engine.deploy.strategies.traffic import Mirror, Route
from engine.discovery import is_registry, parse_source
from engine.errors import ConfigError
from engine.proxy.mirror import check_mirror
from engine.proxy.routing import compile_regex

__all__ = ["ProxyConfig", "check_weights", "parse_weights"]


def check_weights(blue: Any, green: Any, key: str = "weights") -> Weights:
    """Integers 0..100 each with a positive sum: a zero sum would leave nothing to route."""
    for name, value in (("blue", blue), ("green", green)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"{name} weight must be an integer 0..100, got {value!r}")
        if not 0 <= value <= 100:
            raise ConfigError(key, f"{name} weight must be 0..100, got {value}")
    if blue + green == 0:
        raise ConfigError(key, "blue and green weights cannot both be 0")
    return Weights(blue, green)


def parse_weights(text: str, key: str = "--weights") -> Weights:
    """ "90:10" -> Weights(90, 10)."""
    b, sep, g = text.partition(":")
    try:
        if not sep:
            raise ValueError
        blue, green = int(b), int(g)
    except ValueError:
        raise ConfigError(key, f"expected BLUE:GREEN like 90:10, got {text!r}") from None
    return check_weights(blue, green, key)


@dataclass(frozen=True)
class ProxyConfig:
    """Everything `surge proxy` can be told; validated on construction (ConfigError)."""

    blue: tuple[str, ...]
    green: tuple[str, ...]
    weights: Weights = ALL_BLUE
    host: str = "127.0.0.1"
    port: int = 0
    admin_host: str = "127.0.0.1"
    admin_port: int = 0
    sticky: bool = False
    allow_remote: bool = False
    connect_timeout: float = 2.0
    timeout: float = 30.0
    max_conns: int = 256
    max_clients: int = 10_000
    probe_interval: float = 0.5
    idle_timeout: float = 60.0
    header_timeout: float = 10.0
    #: Cohort routes, first match wins (engine.proxy.routing), and the mirror to green.
    routes: tuple[Route, ...] = ()
    mirror: Mirror = field(default_factory=Mirror)
    #: Required (`Authorization: Bearer ...`) when set; must be set off loopback.
    admin_token: str | None = field(default=None, repr=False)

    def registry(self, color: str) -> str | None:
        """The color's registry (srv:// or file://), when its pool is not a URL list."""
        urls = getattr(self, color)
        return urls[0] if urls and is_registry(urls[0]) else None

    upstreams: Mapping[str, tuple[tuple[str, int], ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        resolved: dict[str, tuple[tuple[str, int], ...]] = {}
        for color in COLORS:
            urls = tuple(getattr(self, color))
            if isinstance(getattr(self, color), str):
                urls = (getattr(self, color),)
            if not urls:
                raise ConfigError(f"--{color}", "at least one upstream URL is required")
            object.__setattr__(self, color, urls)
            if any(is_registry(u) for u in urls):  # found at start (engine.proxy.discovery)
                parse_source(urls, f"--{color}")
                resolved[color] = ()
                continue
            resolved[color] = tuple(parse_http_origin(u, f"--{color}") for u in urls)
        object.__setattr__(self, "upstreams", resolved)
        object.__setattr__(self, "weights", check_weights(*self.weights, key="--weights"))
        if not self.allow_remote:
            for key, host in (("--listen", self.host), ("--admin", self.admin_host)):
                if not is_loopback(host):
                    raise ConfigError(
                        key, f"{host} is not a loopback address (pass --allow-remote to allow)"
                    )
        if self.admin_token is not None and (
            not self.admin_token or any(not 0x21 <= ord(c) <= 0x7E for c in self.admin_token)
        ):
            raise ConfigError("--admin-token", "must be printable ASCII without spaces")
        if self.admin_token is None and not is_loopback(self.admin_host):
            raise ConfigError(
                "--admin-token",
                f"required when the admin API binds {self.admin_host}, a non-loopback "
                "address (or set SURGE_ADMIN_TOKEN)",
            )
        for key in (
            "connect_timeout",
            "timeout",
            "probe_interval",
            "idle_timeout",
            "header_timeout",
        ):
            if not getattr(self, key) > 0:
                raise ConfigError(key, f"must be > 0, got {getattr(self, key)!r}")
        for route in self.routes:
            compile_regex(route, "--route")
        check_mirror(self.mirror, "--mirror-methods")
        for key in ("max_conns", "max_clients"):
            if getattr(self, key) < 1:
                raise ConfigError(key, f"must be >= 1, got {getattr(self, key)!r}")
