"""The capacity search: the highest arrival rate at which the thresholds (the SLO) hold.

Pure functions over the steps so far (as vegeta's pacer is over the time so far), so
the driver in the Controller only holds rates and reports steps, and the search is
table- and property-tested against a simulated server without any load:

- exponential steps from `start` (x2) until the first step that fails, or `max`;
- then bisection between the highest rate that held and the lowest that failed until
  they are within `precision` of each other (5%: (failed - held) / failed <= 0.05);
- the lowest failure, once it is the edge (within `precision` above the rate that
  held, or the first step), is run again: when it holds then, the failure was noise
  (a GC pause, a neighbour's burst) and the search goes on above it; one noisy window
  does not decide the answer, and only the step that would decide it costs a repeat;
- a step Surge could not drive (its CPU above 90%, or iterations dropped while the
  thresholds held: no free VU) is `generator_limited`: the search goes no higher,
  but the rate is not the server's limit (`failed_at` never names it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.explore.model import CapacityResult, CapacityStep

__all__ = [
    "CPU_LIMIT",
    "CapacitySettings",
    "judge_step",
    "next_rate",
    "result",
]

GROWTH = 2.0  # the exponential phase doubles the rate
CPU_LIMIT = 90.0  # the generator's busiest worker above this: it measures itself
MAX_STEPS = 64  # a search that has not converged by then stops where it is


@dataclass(frozen=True)
class CapacitySettings:
    """`capacity = { hold = "15s", start = 10, max = 100000, precision = 0.05 }`."""

    hold: float = 15.0  # seconds each step is held
    start: float = 10.0  # iterations/s of the first step
    max: float = 100_000.0  # the search goes no higher
    precision: float = 0.05  # relative gap between held and failed when it stops

    def __post_init__(self) -> None:
        if not (math.isfinite(self.hold) and self.hold > 0):
            raise ValueError(f"hold must be a positive duration, got {self.hold!r}")
        if not (math.isfinite(self.start) and self.start > 0):
            raise ValueError(f"start must be a positive rate, got {self.start!r}")
        if not (math.isfinite(self.max) and self.max >= self.start):
            raise ValueError(f"max must be at least start ({self.start:g}), got {self.max!r}")
        if not 0 < self.precision < 1:
            raise ValueError(f"precision must be between 0 and 1, got {self.precision!r}")


@dataclass(frozen=True)
class _State:
    held: float | None  # the highest rate that held
    failed: float | None  # the lowest rate above it that the server failed
    limit: float | None  # the lowest rate the generator could not drive
    confirmed: bool  # `failed` failed twice


def _walk(steps: Sequence[CapacityStep]) -> _State:
    held = limit = None
    fails: dict[float, int] = {}
    for step in steps:
        rate = step.rate
        if step.generator_limited:
            limit = rate if limit is None else min(limit, rate)
        elif step.held:
            held = rate if held is None else max(held, rate)
            fails.pop(rate, None)  # it held when run again: that failure was noise
        else:
            fails[rate] = fails.get(rate, 0) + 1
    above = [r for r in fails if held is None or r > held]
    failed = min(above) if above else None
    return _State(held, failed, limit, failed is not None and fails[failed] > 1)


def next_rate(s: CapacitySettings, steps: Sequence[CapacityStep]) -> float | None:
    """The rate of the next step; None when the search is done."""
    if len(steps) >= MAX_STEPS:
        return None
    st = _walk(steps)
    bounds = [r for r in (st.failed, st.limit) if r is not None]
    hi = min(bounds) if bounds else None
    edge = st.failed is not None and hi == st.failed and not st.confirmed
    if st.held is None:
        if hi is None:
            return s.start
        return st.failed if edge else None  # the first step failed: once more, then done
    if hi is None:
        return min(st.held * GROWTH, s.max) if st.held < s.max else None
    if hi <= st.held or (hi - st.held) / hi <= s.precision:
        return hi if edge else None  # the failure that decides counts when it fails again
    return _between(st.held, hi)


def _between(lo: float, hi: float) -> float:
    """The middle, rounded to three significant figures where that stays inside."""
    mid = (lo + hi) / 2
    digits = 2 - math.floor(math.log10(mid))
    rounded = round(mid, digits)
    return rounded if lo < rounded < hi else mid


def result(s: CapacitySettings, steps: Sequence[CapacityStep]) -> CapacityResult:
    """The answer so far: the highest rate that held and the lowest the server failed."""
    st = _walk(steps)
    return CapacityResult(
        rate=st.held, failed_at=st.failed, precision=s.precision, steps=tuple(steps)
    )


def judge_step(
    rate: float,
    *,
    thresholds_ok: bool,
    values: Mapping[str, float | None],
    achieved_rate: float,
    latency: tuple[float, float, float],
    error_rate: float,
    dropped: int,
    cpu_percent: float,
    start: float,
    end: float,
) -> CapacityStep:
    """One step's verdict. Drops count against it; drops while the thresholds held, or
    the generator's CPU above CPU_LIMIT, make it the generator's limit, not the server's."""
    generator_limited = cpu_percent > CPU_LIMIT or (dropped > 0 and thresholds_ok)
    p50, p95, p99 = latency
    return CapacityStep(
        rate=rate,
        held=thresholds_ok and not dropped and not generator_limited,
        achieved_rate=achieved_rate,
        p50=p50,
        p95=p95,
        p99=p99,
        error_rate=error_rate,
        dropped=dropped,
        generator_limited=generator_limited,
        start=start,
        end=end,
        values=dict(values),
    )
