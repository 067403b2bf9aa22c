"""Cohort and mirror steps in a canary: weights kept, routes and mirror on the decisions,
each judged on its own traffic (engine.deploy.strategies.steps)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.deploy.strategies import (
    ALL_BLUE,
    ALL_GREEN,
    COHORT,
    MIRROR,
    Analysis,
    Canary,
    CohortStep,
    ColorFigures,
    EventKind,
    MirrorFigures,
    MirrorStep,
    Phase,
    Weights,
    WeightStep,
)
from engine.deploy.strategies.steps import as_steps, judge_mirror

A = Analysis(interval=10.0, min_requests=50, min_success_rate=0.95, max_p99_ratio=2.0)
BLUE = ColorFigures(1000, 1, 20.0)
COHORT_OK = {"blue": BLUE, "green": ColorFigures(100, 0, 22.0), COHORT: ColorFigures(100, 0, 22.0)}
# green's whole window is fine, its cohort's is not: the cohort step must read the cohort's
COHORT_BAD = {"blue": BLUE, "green": ColorFigures(900, 0, 22.0), COHORT: ColorFigures(100, 20, 22)}
PAIRS_OK = {"blue": BLUE, MIRROR: MirrorFigures(200, 0, 8.0, blue_p99_ms=6.0)}
PAIRS_DIFFER = {"blue": BLUE, MIRROR: MirrorFigures(200, 30, 8.0, 0, 20, 10, 6.0)}
PAIRS_SLOW = {"blue": BLUE, MIRROR: MirrorFigures(200, 0, 80.0, blue_p99_ms=6.0)}
FEW_PAIRS = {"blue": BLUE, MIRROR: MirrorFigures(3, 0, 8.0, blue_p99_ms=6.0)}
S, P, F, INC = (
    EventKind.STEP_STARTED,
    EventKind.ANALYSIS_PASSED,
    EventKind.ANALYSIS_FAILED,
    EventKind.ANALYSIS_INCONCLUSIVE,
)


def run(steps: list[Any], script: list[tuple[float, Any]]) -> list[tuple[Any, ...]]:
    """One row per decision: weights, phase, routes on, mirror share, event kinds."""
    canary = Canary(A, steps=steps)
    rows = []
    for now, figures in [(0.0, None), *script]:
        d = canary.start(now) if figures is None else canary.step(now, figures)
        rows.append((d.weights, d.phase, d.routes_on, d.mirror, [e.kind for e in d.events]))
    return rows


@pytest.mark.parametrize(
    ("steps", "script", "rows"),
    [
        (  # the cohort first at 100:0, routes stay on through the weights, off once promoted
            ["cohort", 50],
            [(10, COHORT_OK), (20, COHORT_OK)],
            [
                (ALL_BLUE, Phase.RUNNING, True, 0, [S]),
                (Weights(50, 50), Phase.RUNNING, True, 0, [P, S]),
                (ALL_GREEN, Phase.PROMOTED, False, 0, [P, EventKind.PROMOTED]),
            ],
        ),
        (  # the cohort judged on its own requests: a failing cohort rolls back, routes off
            [CohortStep(), 50],
            [(10, COHORT_BAD)],
            [
                (ALL_BLUE, Phase.RUNNING, True, 0, [S]),
                (ALL_BLUE, Phase.ROLLED_BACK, False, 0, [F, EventKind.ROLLED_BACK]),
            ],
        ),
        (  # a cohort step after a weight keeps that weight
            [10, "cohort", 50],
            [(10, COHORT_OK), (20, COHORT_OK)],
            [
                (Weights(90, 10), Phase.RUNNING, False, 0, [S]),
                (Weights(90, 10), Phase.RUNNING, True, 0, [P, S]),
                (Weights(50, 50), Phase.RUNNING, True, 0, [P, S]),
            ],
        ),
        (  # a mirror step: weights kept, mirror on for its own time (30 s), then off
            [MirrorStep(100, 30.0), 50],
            [(10, PAIRS_OK), (30, PAIRS_OK), (40, COHORT_OK)],
            [
                (ALL_BLUE, Phase.RUNNING, False, 100, [S]),
                (ALL_BLUE, Phase.RUNNING, False, 100, []),  # not due before 30 s
                (Weights(50, 50), Phase.RUNNING, False, 0, [P, S]),
                (ALL_GREEN, Phase.PROMOTED, False, 0, [P, EventKind.PROMOTED]),
            ],
        ),
        (  # pairs that differ fail the mirror step
            [MirrorStep(50), 50],
            [(10, PAIRS_DIFFER)],
            [
                (ALL_BLUE, Phase.RUNNING, False, 50, [S]),
                (ALL_BLUE, Phase.ROLLED_BACK, False, 0, [F, EventKind.ROLLED_BACK]),
            ],
        ),
        (  # too few pairs hold the mirror step, mirror still on
            [MirrorStep(100), 50],
            [(10, FEW_PAIRS)],
            [
                (ALL_BLUE, Phase.RUNNING, False, 100, [S]),
                (ALL_BLUE, Phase.RUNNING, False, 100, [INC]),
            ],
        ),
    ],
)
def test_cohort_and_mirror_steps(steps: list[Any], script: Any, rows: list[Any]) -> None:
    assert run([CohortStep() if s == "cohort" else s for s in steps], script) == rows


def test_step_messages_name_the_step() -> None:
    canary = Canary(A, steps=[CohortStep(), MirrorStep(100, 30.0), 50])
    first = canary.start(0).events[0].message
    second = canary.step(10, COHORT_OK).events[-1].message
    assert first == "step 1/3: cohort (routes on, green 0%)"
    assert second == "step 2/3: mirror 100% 30s"
    assert "step 3/3: green 50%" in canary.step(40, PAIRS_OK).events[-1].message


@pytest.mark.parametrize(
    ("figures", "outcome", "reason"),
    [
        (PAIRS_OK, P, "mirror: 200 pairs, 0 errors, 0 status and 0 body mismatches"),
        (PAIRS_DIFFER, F, "pairs alike 85.00% < 95.00% (0 errors, 20 status and 10 body"),
        (PAIRS_SLOW, F, "green p99 80.0 ms > 2x blue's 6.0 ms on the same requests"),
        (FEW_PAIRS, INC, "mirror: 3 pairs compared, need 50"),
        # Envoy: no pairs, green's own figures, and the verdict says so
        ({"blue": BLUE, "green": ColorFigures(100, 0, 9.0)}, P, "judged on green's own"),
    ],
)
def test_judge_mirror(figures: Any, outcome: EventKind, reason: str) -> None:
    verdict = judge_mirror(A, figures)
    assert verdict.outcome is outcome
    assert reason in verdict.reason


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([CohortStep(), CohortStep()], "one cohort step at most"),
        ([MirrorStep(0)], "share must be 1..100"),
        ([50, MirrorStep(100), 40], "must increase, got 40 after 50"),
        ([True], "integers 1..100"),
        (["cohort"], "integers 1..100 or step values"),
    ],
)
def test_bad_steps(steps: list[Any], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        as_steps(steps)
    assert message in str(exc.value)


def test_ints_are_weight_steps() -> None:
    assert as_steps([10, MirrorStep(100), 50]) == (WeightStep(10), MirrorStep(100), WeightStep(50))
