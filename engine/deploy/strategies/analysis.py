"""Judging green over one analysis window: against fixed bounds, then against blue, or
against the baseline when the rollout runs one (a fresh instance of blue's version).

Two judges behind one interface (`Judge`), chosen once when the profile is read
(`[deploy] judge`): `BoundsJudge` compares green's p99 and success rate with fixed
bounds and ratios of blue's; `StatisticalJudge` compares green with blue by
significance tests on the window's exact histograms (engine/stats.py), failing only a
change that is both significant and large enough to matter. README: "Which judge".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from engine.deploy.strategies.base import EventKind
from engine.stats import pair_tests


@dataclass(frozen=True)
class ColorFigures:
    """One color's figures over one analysis window (what the judgement reads)."""

    requests: int = 0
    failed: int = 0
    p99_ms: float = 0.0
    # keyword-only: the positional three stay what every caller and subclass builds on
    counts: Mapping[int, int] = field(default_factory=dict, kw_only=True)  # HDR index -> count
    p50_ms: float = field(default=0.0, kw_only=True)  # what sizes a latency shift

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
    judge: Judge = field(default_factory=lambda: BOUNDS)

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


class Judge(Protocol):
    """One way to judge a window; `Analysis.judge` holds the one the profile chose."""

    def verdict(self, analysis: Analysis, figures: FiguresByColor | None) -> Verdict: ...


def judge(analysis: Analysis, figures: FiguresByColor | None) -> Verdict:
    """The window's verdict by the analysis's own judge."""
    return analysis.judge.verdict(analysis, figures)


def _quiet(analysis: Analysis, green: ColorFigures | None) -> Verdict | None:
    """Inconclusive while green has served too few requests to judge."""
    if green is not None and green.requests >= analysis.min_requests:
        return None
    n = 0 if green is None else green.requests
    return Verdict(
        EventKind.ANALYSIS_INCONCLUSIVE,
        f"green served {n} requests, need {analysis.min_requests} to judge",
    )


def _absolute(analysis: Analysis, green: ColorFigures) -> list[str]:
    """The fixed bounds green breaks, whatever blue does."""
    rate = green.success_rate or 0.0
    problems: list[str] = []
    if analysis.min_success_rate is not None and rate < analysis.min_success_rate:
        problems.append(f"success rate {rate:.2%} < {analysis.min_success_rate:.2%}")
    if analysis.max_p99_ms is not None and green.p99_ms > analysis.max_p99_ms:
        problems.append(f"p99 {green.p99_ms:.1f} ms > {analysis.max_p99_ms:g} ms")
    return problems


def _reference(figures: FiguresByColor) -> tuple[str, ColorFigures | None]:
    """The baseline (a fresh instance of blue's version beside the canary) when there is
    one, else blue."""
    against = "baseline" if "baseline" in figures else "blue"
    return against, figures.get(against)


@dataclass(frozen=True)
class BoundsJudge:
    """Green against fixed bounds, then against blue by ratios; every failed bound named."""

    def verdict(self, analysis: Analysis, figures: FiguresByColor | None) -> Verdict:
        figures = figures or {}
        green = figures.get("green")
        if (quiet := _quiet(analysis, green)) is not None:
            return quiet
        assert green is not None
        rate = green.success_rate or 0.0
        problems = _absolute(analysis, green)
        against, ref = _reference(figures)
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
        summary = (
            f"green {green.requests:,} requests, success {rate:.2%}, p99 {green.p99_ms:.1f} ms"
        )
        return Verdict(EventKind.ANALYSIS_PASSED, ", ".join([summary, *notes]))


BOUNDS = BoundsJudge()


@dataclass(frozen=True)
class StatisticalJudge:
    """Green against blue (or the baseline) by significance, as Kayenta judges a canary.

    Latency: Mann-Whitney U on the window's histograms; errors: a two-proportion
    z-test; Holm's correction over the two. A figure fails only when its change is
    significant at `confidence`, worse, and at least the smallest shift worth failing
    for: `min_latency_shift` of green's median over the reference's (relative), and
    `min_error_shift` of error rate (absolute: 0.01 is one point). Why the median for
    the size: it is the location the rank test tests, it is O(buckets), and it stands
    still where the tail does not: on a shared 2-core machine one 15%-slower green's
    p95 shift ranged from -12% to +34% window by window (stalls slow both colors alike)
    while its p50 shift stayed at +12..+22%. A change in the tail alone is the bounds
    judge's to catch (max_p99_ms, max_p99_ratio).

    No fixed bound applies: a shared machine's stalls slow both colors alike, and a
    bound would roll back a good green for them (bench/README.md, judge_ab.py). So a
    reference too quiet to compare with is inconclusive: with nothing to compare, no pass.
    """

    confidence: float = 0.99
    min_latency_shift: float = 0.10
    min_error_shift: float = 0.01

    def __post_init__(self) -> None:
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, got {self.confidence!r}")
        if self.min_latency_shift < 0 or self.min_error_shift < 0:
            raise ValueError("the smallest shifts worth failing for must be >= 0")

    def verdict(self, analysis: Analysis, figures: FiguresByColor | None) -> Verdict:
        figures = figures or {}
        green = figures.get("green")
        if (quiet := _quiet(analysis, green)) is not None:
            return quiet
        assert green is not None
        against, ref = _reference(figures)
        if ref is None or ref.requests < analysis.min_requests:
            # no reference, no evidence: never a pass (green may be all errors)
            n = 0 if ref is None else ref.requests
            need = f"{n:,} requests, need {analysis.min_requests:,}"
            return Verdict(
                EventKind.ANALYSIS_INCONCLUSIVE, f"{against} too quiet to compare: {need}"
            )
        failed, passed = self.compare(green, ref)
        if against == "baseline":
            passed.insert(0, f"vs baseline ({ref.requests:,} requests)")
        if failed:
            return Verdict(EventKind.ANALYSIS_FAILED, "; ".join(failed))
        return Verdict(EventKind.ANALYSIS_PASSED, "; ".join(passed))

    def compare(self, green: ColorFigures, ref: ColorFigures) -> tuple[list[str], list[str]]:
        """(what fails, what passes), each a reason that says why."""
        tests = pair_tests(
            green.counts, green.requests, green.failed, ref.counts, ref.requests, ref.failed
        )
        failed: list[str] = []
        passed: list[str] = []
        alpha = 1 - self.confidence
        at = f"significant at {self.confidence:g}"
        if tests.latency is None or tests.latency_p is None:
            passed.append("latency: no histogram, not judged")
        else:
            g50, r50 = green.p50_ms, ref.p50_ms
            shift = g50 / r50 - 1 if r50 > 0 else 0.0
            what = f"p50 {shift:+.0%} ({g50:.2f} vs {r50:.2f} ms)"
            if tests.latency_p >= alpha:
                passed.append(f"{what}, not significant (p {tests.latency_p:.2g})")
            elif tests.latency.z > 0 and shift >= self.min_latency_shift:
                failed.append(f"{what}, {at}: fail")
            elif tests.latency.z > 0:
                passed.append(f"{what}, {at} but under {self.min_latency_shift:.0%}")
            else:
                passed.append(f"{what}, {at}: faster")
        g_rate, r_rate = green.failed / green.requests, ref.failed / ref.requests
        if tests.errors is None or tests.errors_p is None:
            passed.append(
                f"errors: {green.failed:,} vs {ref.failed:,} in {green.requests:,} vs "
                f"{ref.requests:,} requests: too few to judge"
            )
        else:
            what = f"errors {g_rate:.1%} vs {r_rate:.1%}"
            gap = g_rate - r_rate
            if tests.errors_p >= alpha:
                passed.append(f"{what}, not significant (p {tests.errors_p:.2g})")
            elif gap >= self.min_error_shift:
                failed.append(f"{what}, {at}: fail")
            elif gap > 0:
                points = self.min_error_shift * 100
                under = f"{points:g} point{'' if points == 1 else 's'}"
                passed.append(f"{what}, {at} but under {under}")
            else:
                passed.append(f"{what}, {at}: fewer")
        return failed, passed


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
