"""Each color's figures out of the run model: cumulative marks, windows and live points.

Why difference the cumulative histograms instead of summing snapshots: the app lets a
newer snapshot replace an unhandled older one, so a driver that added up what it was
shown would lose intervals and misjudge a window. The cumulative model never loses any,
so "now minus window start" is exact for counts and exact to the histogram's precision
for percentiles, however few snapshots the driver saw.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from engine.deploy.strategies import ColorFigures
from engine.deploy.strategies.traffic import split_upstream
from engine.load.metrics import Interval, new_histogram
from engine.stats import hdr_counts as nonzero_counts

__all__ = [
    "ColorLive",
    "FiguresSource",
    "Mark",
    "ModelFigures",
    "RunFigures",
    "mark_of",
    "nonzero_counts",
    "p99_of",
    "selects",
]

PERCENTILE_NOTE = "per-color percentiles from Surge's own load (the x-surge-upstream header)"

_TEMPLATE = new_histogram()  # index <-> value arithmetic only; never recorded into


@dataclass(frozen=True)
class Mark:
    """One color's cumulative counts at a moment: what a window or an interval subtracts."""

    t: float = 0.0
    requests: int = 0
    failed: int = 0
    counts: Mapping[int, int] = field(default_factory=dict)  # histogram index -> count

    def since(self, earlier: Mark) -> Mark:
        counts = {i: c - earlier.counts.get(i, 0) for i, c in self.counts.items()}
        return Mark(
            self.t - earlier.t,
            self.requests - earlier.requests,
            self.failed - earlier.failed,
            {i: c for i, c in counts.items() if c > 0},
        )

    def percentiles(self, wanted: Iterable[float]) -> dict[float, float]:
        """Milliseconds, as HdrHistogram reports them (highest equivalent value)."""
        total = sum(self.counts.values())
        out = dict.fromkeys(wanted, 0.0)
        if not total:
            return out
        targets = sorted((max(1, math.ceil(p / 100 * total)), p) for p in out)
        running = 0
        k = 0
        for index in sorted(self.counts):
            running += self.counts[index]
            while k < len(targets) and running >= targets[k][0]:
                value = _TEMPLATE.get_value_from_index(index)
                out[targets[k][1]] = _TEMPLATE.get_highest_equivalent_value(value) / 1000
                k += 1
            if k == len(targets):
                break
        return out

    def figures(self) -> ColorFigures:
        pct = self.percentiles((50.0, 99.0))
        return ColorFigures(
            self.requests, self.failed, pct[99.0], counts=self.counts, p50_ms=pct[50.0]
        )


def p99_of(counts: Mapping[int, int]) -> float:
    """The p99 of histogram counts (index -> count), milliseconds."""
    return Mark(counts=counts).percentiles((99.0,))[99.0]


class RunFigures(Protocol):
    """What the driver reads of a run: its cumulative figures (engine.load.model.RunModel)."""

    @property
    def total(self) -> Interval: ...


class FiguresSource(Protocol):
    """Each color's cumulative Mark for the deploy driver: the run's, or a router's
    counters; `note` says which in the report's `[deploy].notes`."""

    @property
    def note(self) -> str: ...

    def __call__(self, run: RunFigures | None, color: str, t: float) -> Mark: ...

    async def aclose(self) -> None: ...


class ModelFigures:
    """The run's own figures, split by the x-surge-upstream header (the default source)."""

    note = PERCENTILE_NOTE

    def __call__(self, run: RunFigures | None, color: str, t: float) -> Mark:
        return Mark(t) if run is None else mark_of(run, color, t)

    async def aclose(self) -> None:
        return None


def selects(key: str | None, upstream: str | None) -> bool:
    """Whether an answer tagged `upstream` counts for `key`: a color counts its cohorts'
    answers too (`green+beta` is green's), `green+beta` only that cohort's, `green+`
    every cohort's of green, None every answer (an untagged one, None, only then)."""
    if key is None or key == upstream:
        return True
    if upstream is None:
        return False
    color, cohort = split_upstream(upstream)
    return cohort is not None and key in (color, f"{color}+")


def mark_of(model: RunFigures, color: str | None, t: float) -> Mark:
    """A color's (or a cohort's: `selects`) cumulative figures from a run's model; every
    upstream's for `None`."""
    requests = failed = 0
    counts: dict[int, int] = {}
    for (_step, upstream), b in model.total.buckets.items():
        if not selects(color, upstream):
            continue
        requests += b.requests
        failed += b.failed
        for i, c in nonzero_counts(b.latency):
            counts[i] = counts.get(i, 0) + c
    return Mark(t, requests, failed, counts)


@dataclass(frozen=True)
class ColorLive:
    """One color over the last snapshot: what its column and its plot show."""

    t: float
    rps: float
    p50: float
    p95: float
    p99: float
    error_rate: float
    requests: int

    @classmethod
    def of(cls, t: float, delta: Mark) -> ColorLive:
        pct = delta.percentiles((50.0, 95.0, 99.0))
        return cls(
            t=t,
            rps=delta.requests / delta.t if delta.t > 0 else 0.0,
            p50=pct[50.0],
            p95=pct[95.0],
            p99=pct[99.0],
            error_rate=delta.failed / delta.requests if delta.requests else 0.0,
            requests=delta.requests,
        )
