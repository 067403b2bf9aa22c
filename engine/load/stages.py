"""Stage math: targets over time and arrival times for ramping rates.

Pure functions over (start, stages) so executors and previews share one truth and
tests can table them. A stage ramps linearly from the previous target to its own
over its duration, as in k6.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from engine.durations import format_duration, parse_duration


@dataclass(frozen=True)
class Stage:
    duration: float  # seconds
    target: float


def parse_stages(text: str) -> tuple[Stage, ...]:
    """`"30s:50,1m:50,30s:0"` -> stages; the CLI form of k6's stages array."""
    if not text.strip():
        raise ValueError('no stages given (expected e.g. "30s:50,1m:50,30s:0")')
    stages = []
    for part in text.split(","):
        dur, sep, target = part.strip().partition(":")
        if not sep:
            raise ValueError(f"bad stage {part.strip()!r} (expected DURATION:TARGET, e.g. 30s:50)")
        try:
            value = float(target)
        except ValueError:
            raise ValueError(f"bad stage target {target!r} in {part.strip()!r}") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"stage target must be a finite number >= 0 in {part.strip()!r}")
        stages.append(Stage(parse_duration(dur), value))
    return tuple(stages)


def format_stages(stages: Sequence[Stage]) -> str:
    return ",".join(f"{format_duration(s.duration)}:{s.target:g}" for s in stages)


def total_duration(stages: Sequence[Stage]) -> float:
    return sum(s.duration for s in stages)


def segments(start: float, stages: Sequence[Stage]) -> Iterator[tuple[float, float, float, float]]:
    """(t0, duration, from, to) for each stage."""
    t0, prev = 0.0, start
    for s in stages:
        yield t0, s.duration, prev, s.target
        t0 += s.duration
        prev = s.target


def value_at(start: float, stages: Sequence[Stage], t: float) -> float:
    """The target at time t (linear within a stage; the last target after the end)."""
    prev = start
    for t0, d, a, b in segments(start, stages):
        if t < t0 + d:
            if d <= 0:
                return b
            return a + (b - a) * max(0.0, t - t0) / d
        prev = b
    return prev


def vus_at(start: float, stages: Sequence[Stage], t: float) -> int:
    return math.floor(value_at(start, stages, t) + 0.5)


def arrivals_until(start_rate: float, stages: Sequence[Stage], t: float, time_unit: float) -> float:
    """Iterations due in [0, t): the integral of the rate (per time_unit) up to t."""
    total = 0.0
    for t0, d, a, b in segments(start_rate, stages):
        if t <= t0:
            break
        x = min(t - t0, d)
        slope = (b - a) / d if d > 0 else 0.0
        total += (a * x + slope * x * x / 2) / time_unit
    return total


def arrival_time(
    start_rate: float, stages: Sequence[Stage], n: float, time_unit: float
) -> float | None:
    """When the n-th iteration (0-based) is due, or None if the stages end first.

    The inverse of `arrivals_until`: iteration n starts when n iterations have
    accumulated, so a constant 10/s starts one at 0.0, 0.1, 0.2, ... and, as k6 does,
    one at the schedule's very end (10/s for 1 s: 11).
    """
    return ArrivalTable(start_rate, stages, time_unit).time_of(n)


class ArrivalTable:
    """`arrival_time` for a schedule asked again and again with growing n.

    The scheduler asks once per iteration (20,000 times a second at 20k req/s), so
    the segments are laid out once with their cumulative counts, and a cursor
    remembers the segment of the last answer: a lookup is a few float operations.
    """

    __slots__ = ("_k", "_segs")

    def __init__(self, start_rate: float, stages: Sequence[Stage], time_unit: float) -> None:
        segs = []
        done = 0.0
        for t0, d, a, b in segments(start_rate, stages):
            ra, rb = a / time_unit, b / time_unit
            seg = (ra + rb) / 2 * d
            segs.append((done, done + seg - 1e-12, t0, d, ra, rb))
            done += seg
        if segs:  # the schedule's end is inclusive, as in k6: 50/s for 5 s starts 251
            done, _, t0, d, ra, rb = segs[-1]
            segs[-1] = (done, done + (ra + rb) / 2 * d + 1e-9, t0, d, ra, rb)
        self._segs = segs
        self._k = 0

    def time_of(self, n: float) -> float | None:
        segs = self._segs
        k = self._k
        if k >= len(segs) or n < segs[k][0]:
            k = 0
        while k < len(segs) and n >= segs[k][1]:
            k += 1
        if k == len(segs):
            return None
        self._k = k
        done, _, t0, d, ra, rb = segs[k]
        c = n - done
        if c <= 0:
            return t0
        half_slope = (rb - ra) / (2 * d)
        if abs(half_slope) < 1e-15:
            return t0 + c / ra
        # Stable root of half_slope*x^2 + ra*x - c = 0.
        disc = ra * ra + 4 * half_slope * c
        return t0 + 2 * c / (ra + math.sqrt(max(disc, 0.0)))
