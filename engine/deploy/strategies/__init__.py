"""Deployment strategies as pure state machines: blue/green switch, canary, linear,
rolling (with or without an additional batch) and manual.

Why pure: a rollout is a sequence of decisions over time and figures, and such logic
breaks at its edges (the last step, a pause during analysis, a failure limit of one).
With no clock, socket or event loop inside, each edge is a row in a table test, and
the app, the CLI and a test drive the very same code by calling `step(now, figures)`
at whatever cadence they like (the app does it on every snapshot, ~4 per second).

Every call returns a `Decision`: the weights to set now (idempotent: setting them
again is harmless), the events that happened (for the log), and `new_window`, which
tells the driver to restart the analysis window, so the figures passed at the next
judgement cover exactly one window of the current step.

A driver, in short (the proxy's admin API or `Proxy` object on the other side):

    strategy = profile.deploy.build()     # a DeployPlan, from engine.profile.deploy
    apply(strategy.start(now))
    # on every snapshot:
    apply(strategy.step(now, {"blue": ColorFigures(...), "green": ColorFigures(...)}))

    def apply(d):
        proxy.set_weights(*d.weights)                       # PUT /weights
        if d.in_service: proxy.set_in_service(d.in_service.as_dict())  # PUT /instances
        if d.new_window: restart the per-color window (histograms, counts)
        if d.smoke: send smoke requests with `x-surge-color: green`
        log(d.events)
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.deploy.strategies.analysis import Analysis, ColorFigures, Verdict, judge
from engine.deploy.strategies.base import (
    ALL_BLUE,
    ALL_GREEN,
    COLORS,
    Decision,
    Event,
    EventKind,
    InService,
    OnExit,
    Phase,
    Strategy,
    Weights,
)
from engine.deploy.strategies.manual import Manual
from engine.deploy.strategies.progressive import (
    Canary,
    Linear,
    Progressive,
    canary_steps,
    linear_steps,
)
from engine.deploy.strategies.rolling import Rolling, RollingWithAdditionalBatch, rolling_plan
from engine.deploy.strategies.steps import (
    COHORT,
    MIRROR,
    CohortStep,
    MirrorFigures,
    MirrorStep,
    Step,
    WeightStep,
)
from engine.deploy.strategies.switch import Switch
from engine.errors import did_you_mean

__all__ = [
    "ALL_BLUE",
    "ALL_GREEN",
    "COHORT",
    "COLORS",
    "MIRROR",
    "RENAMED",
    "STRATEGIES",
    "Analysis",
    "Canary",
    "CohortStep",
    "ColorFigures",
    "Decision",
    "Event",
    "EventKind",
    "InService",
    "Linear",
    "Manual",
    "MirrorFigures",
    "MirrorStep",
    "OnExit",
    "Phase",
    "Progressive",
    "Rolling",
    "RollingWithAdditionalBatch",
    "Step",
    "Strategy",
    "Switch",
    "Verdict",
    "WeightStep",
    "Weights",
    "canary_steps",
    "judge",
    "linear_steps",
    "rolling_plan",
    "strategy_name",
]


# The names a `[deploy]` table may give as `strategy`, one per variant, in menu order.
STRATEGIES: tuple[str, ...] = tuple(
    cls.name for cls in (Switch, Canary, Linear, Rolling, RollingWithAdditionalBatch, Manual)
)
# Old names still read, each with a note: bluegreen was `switch` (the seed's and Argo's
# word won: one name everywhere).
RENAMED = {"switch": Switch.name}


def strategy_name(given: str, known: Sequence[str] = STRATEGIES) -> tuple[str, str | None]:
    """`given` as the current name, and a note when it was an old one; ValueError with
    "did you mean" for an unknown one."""
    if given in RENAMED:
        return RENAMED[given], f"{given!r} is now called {RENAMED[given]!r} (still read, for now)"
    if given not in known:
        hint = did_you_mean(given, known)
        raise ValueError(f"unknown strategy {given!r}{hint} (one of {', '.join(known)})")
    return given, None
