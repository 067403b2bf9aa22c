"""Judging green over one analysis window: against fixed bounds, then against blue, or
against the baseline when the rollout runs one (a fresh instance of blue's version)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from engine.deploy.strategies.base import EventKind


@dataclass(frozen=True)
class ColorFigures:
    """One color's figures over one analysis window (what the judgement reads)."""

    requests: int = 0
    failed: int = 0
    p99_ms: float = 0.0

    @property
    def success_rate(self) -> float | None:
        return None if self.requests == 0 else 1.0 - self.failed / self.requests

    @classmethod
    def of(cls, figures: Any) -> ColorFigures:
        """From an `engine.load.model.Figures` (duck-typed: this module imports no engine state)."""
        return cls(int(figures.requests), int(figures.failed), float(figures.latency.p99))


FiguresByColor = Mapping[str, ColorFigures]


@dataclass(frozen=True)
class Analysis:
    """Bounds that judge green over one window; None switches a bound off.

    The comparison with blue is skipped while blue has too few requests to compare
    (e.g. during a smoke run at 0% green, blue still serves; at 100% green it does
    not). `p99_floor_ms` keeps sub-millisecond loopback noise from failing a 2x ratio:
    green's p99 is compared with max(blue p99, floor) * ratio. `max_inconclusive`
    bounds how many windows in a row a step may stay inconclusive (too few green
    requests): one more counts as a failed analysis, so a green that takes no traffic
    (a router that never sends it any) cannot hold a rollout forever.
    """

    interval: float = 60.0
    min_requests: int = 50
    min_success_rate: float | None = 0.99
    max_p99_ms: float | None = None
    max_p99_ratio: float | None = 2.0
    p99_floor_ms: float = 5.0
    max_success_drop: float | None = 0.01
    max_inconclusive: int = 3

    def __post_init__(self) -> None:
        if not (math.isfinite(self.interval) and self.interval > 0):
            raise ValueError(f"interval must be > 0, got {self.interval!r}")
        if self.min_requests < 1:
            raise ValueError(f"min_requests must be >= 1, got {self.min_requests!r}")
        if self.max_inconclusive < 0:
            raise ValueError(f"max_inconclusive must be >= 0, got {self.max_inconclusive!r}")


class Verdict(NamedTuple):
    outcome: EventKind  # ANALYSIS_PASSED, ANALYSIS_FAILED or ANALYSIS_INCONCLUSIVE
    reason: str


def judge(analysis: Analysis, figures: FiguresByColor | None) -> Verdict:
    """Green against fixed bounds, then against blue; every failed bound is named."""
    green = (figures or {}).get("green")
    if green is None or green.requests < analysis.min_requests:
        n = 0 if green is None else green.requests
        return Verdict(
            EventKind.ANALYSIS_INCONCLUSIVE,
            f"green served {n} requests, need {analysis.min_requests} to judge",
        )
    rate = green.success_rate or 0.0
    problems: list[str] = []
    if analysis.min_success_rate is not None and rate < analysis.min_success_rate:
        problems.append(f"success rate {rate:.2%} < {analysis.min_success_rate:.2%}")
    if analysis.max_p99_ms is not None and green.p99_ms > analysis.max_p99_ms:
        problems.append(f"p99 {green.p99_ms:.1f} ms > {analysis.max_p99_ms:g} ms")
    # a baseline (a fresh instance of blue's version beside the canary) when there is one
    against = "baseline" if "baseline" in (figures or {}) else "blue"
    ref = (figures or {}).get(against)
    notes: list[str] = []
    if ref is not None and ref.requests >= analysis.min_requests:
        ref_rate = ref.success_rate or 0.0
        drop = analysis.max_success_drop
        if drop is not None and rate < ref_rate - drop:
            problems.append(f"success rate {rate:.2%} vs {against}'s {ref_rate:.2%}")
        ratio = analysis.max_p99_ratio
        if ratio is not None:
            bound = max(ref.p99_ms, analysis.p99_floor_ms) * ratio
            if green.p99_ms > bound:
                problems.append(
                    f"p99 {green.p99_ms:.1f} ms > {ratio:g}x {against}'s {ref.p99_ms:.1f} ms"
                )
        if against == "baseline":
            notes.append(f"vs baseline ({ref.requests:,} requests, p99 {ref.p99_ms:.1f} ms)")
    elif analysis.max_p99_ratio is not None or analysis.max_success_drop is not None:
        notes.append(f"{against} too quiet to compare")
    if problems:
        return Verdict(EventKind.ANALYSIS_FAILED, "; ".join(problems))
    summary = f"green {green.requests:,} requests, success {rate:.2%}, p99 {green.p99_ms:.1f} ms"
    return Verdict(EventKind.ANALYSIS_PASSED, ", ".join([summary, *notes]))


def escalate(analysis: Analysis, verdict: Verdict, streak: int) -> tuple[Verdict, int]:
    """Count inconclusive windows in a row; past `max_inconclusive` one is a failure.

    Returns the verdict to act on and the new streak (reset by any conclusive window,
    and by the escalated failure itself, so the next window starts counting again).
    """
    if verdict.outcome is not EventKind.ANALYSIS_INCONCLUSIVE:
        return verdict, 0
    streak += 1
    if streak <= analysis.max_inconclusive:
        return verdict, streak
    limit = analysis.max_inconclusive
    reason = f"inconclusive {streak} windows in a row (max_inconclusive {limit}): {verdict.reason}"
    return Verdict(EventKind.ANALYSIS_FAILED, reason), 0
