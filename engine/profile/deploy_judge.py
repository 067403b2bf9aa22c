"""`[deploy] judge`: which judge reads each analysis window, and the statistical one's
settings (engine/deploy/strategies/analysis.py, README "Which judge").

A module of its own so `[deploy]`'s parser (engine/profile/deploy.py) only names the
keys and makes one call; the judge is chosen here, once, when the profile is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.deploy.strategies.analysis import BOUNDS, Judge, StatisticalJudge
from engine.profile import fields
from engine.profile.fields import Invalid, describe
from engine.profile.locate import KeyPath

JUDGES = ("bounds", "statistical")
JUDGE_KEYS = ("judge", "confidence", "min_latency_shift", "min_error_shift")
_STATISTICAL_KEYS = JUDGE_KEYS[1:]
# the bounds judge's own: the statistical one compares green with blue, by no fixed bound
_BOUNDS_KEYS = (
    "min_success_rate",
    "max_p99_ms",
    "max_p99_ratio",
    "p99_floor_ms",
    "max_success_drop",
)


def judge_named(name: str) -> Judge:
    """A judge by its `[deploy] judge` name, with its defaults (`surge demo --judge`)."""
    return BOUNDS if name == "bounds" else StatisticalJudge()


def parse_judge(t: Mapping[str, Any], path: KeyPath) -> Judge:
    """The judge the table names (bounds by default); its settings only with "statistical"."""
    name = t.get("judge", "bounds")
    if name not in JUDGES:
        raise Invalid(
            (*path, "judge"), f"expected one of {', '.join(JUDGES)}, got {describe(name)}"
        )
    if name == "bounds":
        for key in _STATISTICAL_KEYS:
            if key in t:
                raise Invalid((*path, key), 'applies to judge = "statistical"')
        return BOUNDS
    for key in _BOUNDS_KEYS:
        if key in t:
            message = 'applies to judge = "bounds" (the statistical judge compares with blue)'
            raise Invalid((*path, key), message)
    d = StatisticalJudge()
    confidence = fields.fraction(t.get("confidence", d.confidence), (*path, "confidence"))
    if not 0.5 <= confidence < 1:
        raise Invalid((*path, "confidence"), f"expected 0.5 <= confidence < 1, got {confidence:g}")
    return StatisticalJudge(
        confidence=confidence,
        min_latency_shift=fields.fraction(
            t.get("min_latency_shift", d.min_latency_shift), (*path, "min_latency_shift")
        ),
        min_error_shift=fields.fraction(
            t.get("min_error_shift", d.min_error_shift), (*path, "min_error_shift")
        ),
    )
