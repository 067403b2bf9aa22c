"""What `surge sut` can be told (SutConfig), validated on construction, and its spellings.

Fields accept the same spellings as the command line ("20ms", "10ms-30ms", "0.5s/2s"),
so a profile's `[deploy]` table and `surge sut` flags end up with the same typed values.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engine.addresses import is_loopback
from engine.durations import parse_duration

__all__ = ["ENDPOINTS", "EndpointOverride", "Latency", "SutConfig", "check_rate", "parse_stall"]

#: Names accepted by per-endpoint overrides; the routes they stand for are listed in
#: `EXACT_ROUTES` / `PREFIX_ROUTES` in engine.sut.routes.
ENDPOINTS: tuple[str, ...] = ("root", "login", "items", "item", "jobs", "job", "logout", "echo")


@dataclass(frozen=True)
class Latency:
    """A delay in seconds, fixed (low == high) or uniform in [low, high].

    A range is there so latency histograms in demos look like a real service rather
    than a spike at one value.
    """

    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"latency must be finite, got {self.low}-{self.high}")
        if self.low < 0 or self.high < self.low:
            raise ValueError(
                f"latency range must satisfy 0 <= low <= high, got {self.low}-{self.high}"
            )

    @classmethod
    def parse(cls, value: Latency | str | float | tuple[float, float] | None) -> Latency:
        """Accept every spelling a user or a profile may give ("20ms", "10ms-30ms", 0.02)."""
        if value is None:
            return cls()
        if isinstance(value, Latency):
            return value
        if isinstance(value, tuple):
            low, high = value
            return cls(float(low), float(high))
        if isinstance(value, str) and "-" in value.strip().lstrip("-"):
            text = value.strip()
            low_s, _, high_s = text.partition("-")
            try:
                return cls(parse_duration(low_s), parse_duration(high_s))
            except ValueError as exc:
                raise ValueError(
                    f"bad latency {value!r}: expected a duration like 20ms or a range like "
                    f"10ms-30ms ({exc})"
                ) from None
        try:
            d = parse_duration(value)
        except ValueError as exc:
            raise ValueError(
                f"bad latency {value!r}: expected a duration like 20ms or a range like "
                f"10ms-30ms ({exc})"
            ) from None
        return cls(d, d)

    @property
    def is_zero(self) -> bool:
        """Lets the hot path skip timers entirely when no latency is configured."""
        return self.high == 0.0

    def sample(self) -> float:
        """One delay; `random` is fine here because tests only check ranges."""
        if self.low == self.high:
            return self.low
        return random.uniform(self.low, self.high)

    def __str__(self) -> str:
        if self.low == self.high:
            return f"{self.low * 1000:g}ms"
        return f"{self.low * 1000:g}ms-{self.high * 1000:g}ms"


@dataclass(frozen=True)
class EndpointOverride:
    """Per-endpoint replacement for the global latency and/or error rate.

    A `None` field means "use the global value", so `--endpoint-latency login=50ms`
    does not silently switch off global error injection for login.
    """

    latency: Latency | None = None
    error_rate: float | None = None

    def __post_init__(self) -> None:
        if self.latency is not None and not isinstance(self.latency, Latency):
            object.__setattr__(self, "latency", Latency.parse(self.latency))
        if self.error_rate is not None:
            object.__setattr__(self, "error_rate", check_rate(self.error_rate, "error rate"))


def check_rate(value: float | str, what: str) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{what} must be between 0 and 1, got {value!r}")
    return rate


def parse_stall(value: str | tuple[float, float]) -> tuple[float, float]:
    if isinstance(value, str):
        freeze_s, sep, period_s = value.partition("/")
        if not sep:
            raise ValueError(f"bad stall {value!r}: expected FREEZE/PERIOD, e.g. 0.5s/2s")
        try:
            freeze, period = parse_duration(freeze_s), parse_duration(period_s)
        except ValueError as exc:
            raise ValueError(f"bad stall {value!r}: {exc}") from None
    else:
        freeze, period = float(value[0]), float(value[1])
    if period <= 0 or freeze < 0 or freeze >= period:
        raise ValueError(f"bad stall {value!r}: need 0 <= freeze < period and period > 0")
    return freeze, period


@dataclass(frozen=True)
class SutConfig:
    """Everything `surge sut` can be told; validated on construction.

    Fields accept the same spellings as the CLI (strings like "20ms" or "0.5s/2s")
    and are normalised in `__post_init__`, so a profile's `[deploy]` table and the
    command line end up with the same typed values.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    color: str | None = None
    latency: Latency | str | float = field(default_factory=Latency)
    error_rate: float = 0.0
    stall: tuple[float, float] | str | None = None
    endpoints: Mapping[str, EndpointOverride | tuple[Any, float | None]] = field(
        default_factory=dict
    )
    job_duration: float | str = 2.0
    allow_remote: bool = False
    max_entries: int = 100_000
    # HTTPS: a PEM certificate chain and its key; both or neither.
    tls_cert: str | None = None
    tls_key: str | None = None
    capacity: float | None = None  # at most this many requests/s served; the rest queue

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "latency", Latency.parse(self.latency))
        set_(self, "error_rate", check_rate(self.error_rate, "error rate"))
        if self.stall is not None:
            set_(self, "stall", parse_stall(self.stall))
        overrides: dict[str, EndpointOverride] = {}
        for name, ov in dict(self.endpoints).items():
            if name not in ENDPOINTS:
                raise ValueError(
                    f"unknown endpoint {name!r}: expected one of {', '.join(ENDPOINTS)}"
                )
            if isinstance(ov, tuple):
                lat, rate = ov
                ov = EndpointOverride(None if lat is None else Latency.parse(lat), rate)
            overrides[name] = ov
        set_(self, "endpoints", MappingProxyType(overrides))
        set_(self, "job_duration", parse_duration(self.job_duration))
        if self.capacity is not None and not (math.isfinite(self.capacity) and self.capacity > 0):
            raise ValueError(f"capacity must be a positive number, got {self.capacity!r}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ValueError(f"port must be an integer, got {self.port!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {self.port}")
        if self.max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {self.max_entries}")
        if self.color is not None and not _is_token(self.color):
            raise ValueError(
                f"color must be a plain word (letters, digits, -_.), got {self.color!r}"
            )
        if not self.allow_remote and not is_loopback(self.host):
            raise ValueError(
                f"refusing to listen on non-loopback host {self.host!r}: the demo SUT has no "
                "auth worth the name; pass --allow-remote (allow_remote=True) if you mean it"
            )


def _is_token(text: str) -> bool:
    """Header values must not smuggle CR/LF; a plain word is all a color needs."""
    return bool(text) and all(c.isalnum() or c in "-_." for c in text) and text.isascii()
