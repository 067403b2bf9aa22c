"""Who gets green besides the weights: cohort routes and mirroring, as plain values.

A route sends every request that matches it to one color whatever the weights (Argo
Rollouts' `setHeaderRoute`, Flagger's A/B `match`); a mirror sends green a copy of each
idempotent request and answers the client from blue (Argo's `setMirrorRoute`, Envoy's
shadowing). These values are shared by the profile, the strategies, the routers and the
proxy, so they live here, beside `Weights`, with no I/O.

Precedence on Surge's proxy (README: Cohorts): the `x-surge-color` header pin, then
routes (the first that matches), then a sticky cookie, then weights.

A request a route sent is tagged `x-surge-upstream: COLOR+COHORT` (`green+beta`), so
the load's figures split by cohort without a second header on the hot path;
`split_upstream` reads the tag back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "IDEMPOTENT",
    "TAG_RE",
    "Mirror",
    "MirrorCounts",
    "MirrorExample",
    "Route",
    "RouteKind",
    "parse_route",
    "split_upstream",
]

#: Methods a mirror copies unless the profile lists others: duplicated writes are the
#: known danger of mirroring.
IDEMPOTENT: tuple[str, ...] = ("GET", "HEAD", "OPTIONS")
_COLORS = ("blue", "green")
#: A cohort's name, and an instance's tag (engine.proxy): both are written into the
#: `x-surge-upstream` response header and name figures, so a short lowercase word
#: (never CR/LF, never `+`).
TAG_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")


class RouteKind(StrEnum):
    HEADER = "header"
    COOKIE = "cookie"
    QUERY = "query"


@dataclass(frozen=True)
class Route:
    """Requests whose header, cookie or query parameter `name` equals `value` (or
    matches `regex`, Python `re.fullmatch`) go to `color`; `cohort` names them in figures."""

    kind: RouteKind
    name: str
    color: str
    value: str | None = None
    regex: str | None = None
    cohort: str = ""  # default: the parameter's name, e.g. "x-beta" (TAG_RE)

    def __post_init__(self) -> None:
        if self.color not in _COLORS:
            raise ValueError(f"color must be blue or green, got {self.color!r}")
        if (self.value is None) == (self.regex is None):
            raise ValueError("give exactly one of value or regex")
        if not self.name:
            raise ValueError("the header, cookie or query name is empty")
        cohort = self.cohort
        if not cohort:  # named after the parameter: `utm_source` gives `utm-source`
            cohort = self.name.lower().replace("_", "-").replace(".", "-")[:32]
            object.__setattr__(self, "cohort", cohort)
        if not TAG_RE.fullmatch(cohort):
            raise ValueError(
                f"cohort {cohort!r}: expected a short lowercase name "
                "(a letter, then letters, digits or '-', 32 at most)"
            )

    def spec(self) -> str:
        """The `--route` text that gives this route back (`header:x-beta=1:green`)."""
        op, text = ("=", self.value) if self.value is not None else ("~=", self.regex)
        return f"{self.kind.value}:{self.name}{op}{text}:{self.color}"

    def as_dict(self) -> dict[str, str]:
        """The admin API's and the report's shape: `{"header": "x-beta", "value": "1", ...}`."""
        out = {self.kind.value: self.name, "color": self.color, "cohort": self.cohort}
        if self.value is not None:
            out["value"] = self.value
        else:
            out["regex"] = str(self.regex)
        return out


def parse_route(text: str) -> Route:
    """`KIND:NAME=VALUE:COLOR` (or `~=` for a regex), split at the first and last colon so
    a value may hold colons; ValueError says what is wrong."""
    first, last = text.find(":"), text.rfind(":")
    if first < 0 or first == last:
        raise ValueError(f"expected KIND:NAME=VALUE:COLOR, got {text!r}")
    kind_text, middle, color = text[:first], text[first + 1 : last], text[last + 1 :]
    try:
        kind = RouteKind(kind_text)
    except ValueError:
        kinds = ", ".join(k.value for k in RouteKind)
        raise ValueError(f"unknown kind {kind_text!r} (one of {kinds})") from None
    eq = middle.find("=")
    if eq <= 0:
        raise ValueError(f"expected NAME=VALUE or NAME~=REGEX, got {middle!r}")
    if middle[eq - 1] == "~":
        return Route(kind, middle[: eq - 1], color, regex=middle[eq + 1 :])
    return Route(kind, middle[:eq], color, value=middle[eq + 1 :])


@dataclass(frozen=True)
class Mirror:
    """A copy of each request whose method is in `methods` goes to green for `percent`
    of requests (0: off); the client is answered by the weights' choice, never waiting."""

    percent: int = 0
    methods: tuple[str, ...] = IDEMPOTENT

    def __post_init__(self) -> None:
        if not 0 <= self.percent <= 100:
            raise ValueError(f"percent must be 0..100, got {self.percent!r}")

    @property
    def on(self) -> bool:
        return self.percent > 0


@dataclass(frozen=True)
class MirrorExample:
    """One pair whose answers differed, for the report: where, and both statuses."""

    path: str
    blue_status: int
    green_status: int  # 0: green gave no answer (an error)


@dataclass(frozen=True)
class MirrorCounts:
    """A router's mirror counters, cumulative since it started: a window is the difference
    (`since`), as engine.deploy.marks does for the load's figures. `blue` and `green` are
    the mirrored pairs' latencies as HDR histogram counts (index -> count, the indexes of
    engine.load.metrics.new_histogram(), as in `Mark.counts`)."""

    mirrored: int = 0
    status_mismatch: int = 0
    body_mismatch: int = 0
    errors: int = 0  # green gave no whole answer (refused, reset, timed out)
    blue: Mapping[int, int] = field(default_factory=dict)
    green: Mapping[int, int] = field(default_factory=dict)
    examples: tuple[MirrorExample, ...] = ()  # the first few mismatches

    def since(self, base: MirrorCounts) -> MirrorCounts:
        """The pairs added after `base`; all of them if a counter went back (a restart)."""
        if self.mirrored < base.mirrored:
            return self

        def minus(now: Mapping[int, int], then: Mapping[int, int]) -> dict[int, int]:
            return {i: n - then.get(i, 0) for i, n in now.items() if n > then.get(i, 0)}

        seen = set(base.examples)
        return MirrorCounts(
            self.mirrored - base.mirrored,
            self.status_mismatch - base.status_mismatch,
            self.body_mismatch - base.body_mismatch,
            self.errors - base.errors,
            minus(self.blue, base.blue),
            minus(self.green, base.green),
            tuple(e for e in self.examples if e not in seen),
        )


def split_upstream(tag: str) -> tuple[str, str | None]:
    """`green+beta` -> ("green", "beta"); `green` -> ("green", None)."""
    color, plus, cohort = tag.partition("+")
    return color, (cohort if plus else None)
