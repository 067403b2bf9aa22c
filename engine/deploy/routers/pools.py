"""Instances as routers name them, and how a color's weight is shared among them.

Pure functions, so the arithmetic every router needs (HAProxy's integer server
weights, Envoy's cluster weights) is a table test, not a load test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from engine.deploy.strategies import InService, Weights

__all__ = [
    "MAX_SERVER_WEIGHT",
    "Instance",
    "color_of",
    "instance_name",
    "instances",
    "server_weights",
]

MAX_SERVER_WEIGHT = 256  # HAProxy's bound on a server's weight


@dataclass(frozen=True)
class Instance:
    """One upstream: `blue-0` at 127.0.0.1:8081. The name starts with the color, so the
    header a router adds (`x-surge-upstream`, the name's color part) splits figures."""

    color: str
    name: str
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def color_of(name: str) -> str:
    return name.split("-", 1)[0]


def instances(color: str, urls: Sequence[str], *, by_address: bool = False) -> list[Instance]:
    """`http://HOST:PORT` origins as named instances, in order: `blue-0` (index =
    position, what rolling strategies count), or `blue-HOST:PORT` for a pool a registry
    gave (`by_address`), whose members come and go."""
    out = []
    for i, url in enumerate(urls):
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        name = instance_name(color, host, port) if by_address else f"{color}-{i}"
        out.append(Instance(color, name, host, port))
    return out


def instance_name(color: str, host: str, port: int) -> str:
    """A discovered instance's name: the color, then its address (HAProxy allows : and .)."""
    return f"{color}-{host}:{port}"


def server_weights(
    weights: Weights,
    names: Mapping[str, Sequence[str]],
    in_service: InService | None = None,
    *,
    ceiling: int = MAX_SERVER_WEIGHT,
) -> dict[str, int]:
    """Each server's integer weight so that each color's share is `weights` and the
    servers of a color share it equally (out-of-service ones get 0).

    Each in-service server of a color with n servers gets W_color * L / n, with L the
    least common multiple of the counts, then all are scaled down to fit `ceiling`:
    exact whenever it fits (90:10 over 1 and 1 server is 90 and 10), within a
    rounding of 1/ceiling otherwise.
    """
    serving: dict[str, list[str]] = {}
    for color, all_names in names.items():
        wanted = None if in_service is None else set(getattr(in_service, color, ()))
        serving[color] = [n for i, n in enumerate(all_names) if wanted is None or i in wanted]
    counts = [len(v) for v in serving.values() if v]
    lcm = math.lcm(*counts) if counts else 1
    raw: dict[str, int] = {}
    for color, all_names in names.items():
        share = weights.as_dict().get(color, 0)
        n = len(serving[color])
        for name in all_names:
            raw[name] = share * lcm // n if name in serving[color] and n else 0
    top = max(raw.values(), default=0)
    if top <= ceiling:
        divisor = math.gcd(*raw.values()) or 1
        return {k: v // divisor for k, v in raw.items()}
    return {k: (max(1, round(v * ceiling / top)) if v else 0) for k, v in raw.items()}
