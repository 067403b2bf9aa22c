"""A canary's steps as typed values, one type per variant, and the mirror step's judgement.

A weight step moves green's share; a cohort step turns the profile's routes on (from
that step on) and keeps the weights, judged on the cohort's own requests; a mirror step
keeps the weights and copies requests to green, judged on the pairs the router compared
(engine.deploy.strategies.traffic.MirrorCounts). Plain ints in a list of steps are
weight steps, so `steps = [10, 50, 100]` reads as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.deploy.strategies.analysis import (
    Analysis,
    ColorFigures,
    FiguresByColor,
    Verdict,
    judge,
)
from engine.deploy.strategies.base import EventKind

__all__ = [
    "COHORT",
    "MIRROR",
    "CohortStep",
    "MirrorFigures",
    "MirrorStep",
    "Step",
    "WeightStep",
    "as_steps",
    "judge_cohort",
    "judge_mirror",
]

#: The figures key of green's cohort requests (every `green+NAME` tag), which a cohort
#: step judges instead of green's whole window.
COHORT = "green+"
#: The figures key of a mirror window's pairs (a MirrorFigures), which a mirror step judges.
MIRROR = "mirror"


@dataclass(frozen=True)
class WeightStep:
    """Green takes `percent` of the traffic."""

    percent: int

    def __str__(self) -> str:
        return f"green {self.percent}%"


@dataclass(frozen=True)
class CohortStep:
    """The profile's routes on (from here on), the weights as they are."""

    def __str__(self) -> str:
        return "cohort"


@dataclass(frozen=True)
class MirrorStep:
    """Green gets a copy of `percent` of the requests for `seconds` (None: the interval)."""

    percent: int = 100
    seconds: float | None = None

    def __str__(self) -> str:
        return f"mirror {self.percent}%" + (f" {self.seconds:g}s" if self.seconds else "")


Step = WeightStep | CohortStep | MirrorStep


def as_steps(steps: Sequence[int | Step]) -> tuple[Step, ...]:
    """Typed steps; ints are weight steps. ValueError for a bad list: weights 1..100 and
    increasing, one cohort step at most, mirror shares 1..100."""
    if not steps:
        raise ValueError("steps must not be empty")
    out: list[Step] = []
    last = 0
    for s in steps:
        if isinstance(s, bool):
            raise ValueError(f"steps must be integers 1..100, got {s!r}")
        step = WeightStep(s) if isinstance(s, int) else s
        if isinstance(step, WeightStep):
            if not isinstance(step.percent, int) or not 1 <= step.percent <= 100:
                raise ValueError(f"steps must be integers 1..100, got {step.percent!r}")
            if step.percent <= last:
                raise ValueError(f"steps must increase, got {step.percent} after {last}")
            last = step.percent
        elif isinstance(step, MirrorStep):
            if not 1 <= step.percent <= 100:
                raise ValueError(f"a mirror step's share must be 1..100, got {step.percent!r}")
        elif isinstance(step, CohortStep):
            if any(isinstance(o, CohortStep) for o in out):
                raise ValueError("one cohort step at most: the routes stay on after it")
        else:
            raise ValueError(f"steps must be integers 1..100 or step values, got {s!r}")
        out.append(step)
    return tuple(out)


@dataclass(frozen=True)
class MirrorFigures(ColorFigures):
    """A mirror window as green's figures: `requests` the pairs, `failed` the pairs whose
    answers differ (green's errors, status and body mismatches), `p99_ms` green's on the
    same requests as `blue_p99_ms`."""

    errors: int = 0
    status_mismatch: int = 0
    body_mismatch: int = 0
    blue_p99_ms: float = 0.0


def judge_cohort(analysis: Analysis, figures: FiguresByColor | None) -> Verdict:
    """A cohort step: green's window is the cohort's requests, judged like a weight step."""
    f = dict(figures or {})
    f["green"] = f.get(COHORT, ColorFigures())
    verdict = judge(analysis, f)
    return Verdict(verdict.outcome, f"cohort: {verdict.reason}")


def judge_mirror(analysis: Analysis, figures: FiguresByColor | None) -> Verdict:
    """A mirror step: the pairs' differences against the success bounds, green's p99
    against the max and against blue's on the same requests. A router that cannot compare
    pairs (Envoy drops the shadow's answers: no MIRROR figures) judges green's own."""
    m = (figures or {}).get(MIRROR)
    if not isinstance(m, MirrorFigures):
        verdict = judge(analysis, figures)
        note = "mirror (the router drops green's answers: judged on green's own figures)"
        return Verdict(verdict.outcome, f"{note}: {verdict.reason}")
    if m.requests < analysis.min_requests:
        reason = f"mirror: {m.requests} pairs compared, need {analysis.min_requests} to judge"
        return Verdict(EventKind.ANALYSIS_INCONCLUSIVE, reason)
    alike = m.success_rate or 0.0
    problems: list[str] = []
    if analysis.min_success_rate is not None and alike < analysis.min_success_rate:
        problems.append(
            f"pairs alike {alike:.2%} < {analysis.min_success_rate:.2%} ({_differences(m)})"
        )
    if analysis.max_p99_ms is not None and m.p99_ms > analysis.max_p99_ms:
        problems.append(f"green p99 {m.p99_ms:.1f} ms > {analysis.max_p99_ms:g} ms")
    ratio = analysis.max_p99_ratio
    if ratio is not None and m.p99_ms > max(m.blue_p99_ms, analysis.p99_floor_ms) * ratio:
        problems.append(
            f"green p99 {m.p99_ms:.1f} ms > {ratio:g}x blue's {m.blue_p99_ms:.1f} ms "
            "on the same requests"
        )
    if problems:
        return Verdict(EventKind.ANALYSIS_FAILED, "mirror: " + "; ".join(problems))
    return Verdict(
        EventKind.ANALYSIS_PASSED,
        f"mirror: {m.requests:,} pairs, {_differences(m)}, "
        f"p99 green {m.p99_ms:.1f} ms vs blue {m.blue_p99_ms:.1f} ms",
    )


def _differences(m: MirrorFigures) -> str:
    return (
        f"{m.errors:,} errors, {m.status_mismatch:,} status and {m.body_mismatch:,} body mismatches"
    )
