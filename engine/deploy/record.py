"""What a rollout leaves on record: its judged windows as rows, its end as an outcome.

Pure functions from the driver's state to the report's values
(engine.report.deploy_section), so the same record is written by `surge run`, the
app and `surge demo`, and read back by `surge report show` and `compare`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from engine.deploy.marks import Mark, p99_of
from engine.deploy.strategies import Event, EventKind, Phase, Weights
from engine.deploy.strategies.traffic import MirrorCounts
from engine.report.deploy_gates import HookRow, MetricRow
from engine.report.deploy_section import (
    ColorWindow,
    DeployEventRow,
    DeployRecord,
    FleetRow,
    MirrorExampleRow,
    MirrorWindow,
    Outcome,
    StepRow,
    rollout_exit_code,
)

__all__ = [
    "VERDICTS",
    "build_record",
    "color_window",
    "mirror_window",
    "outcome_of",
    "rollout_exit_code",
    "step_row",
]

VERDICTS: dict[EventKind, str] = {
    EventKind.ANALYSIS_PASSED: "passed",
    EventKind.ANALYSIS_FAILED: "failed",
    EventKind.ANALYSIS_INCONCLUSIVE: "inconclusive",
}


def color_window(mark: Mark) -> ColorWindow:
    pct = mark.percentiles((50.0, 95.0, 99.0))
    return ColorWindow(mark.requests, mark.failed, pct[50.0], pct[95.0], pct[99.0])


def mirror_window(counts: MirrorCounts) -> MirrorWindow:
    """A mirror window's pairs for the report: p99s from the pairs' latency counts."""
    return MirrorWindow(
        counts.mirrored,
        counts.status_mismatch,
        counts.body_mismatch,
        counts.errors,
        p99_of(counts.blue),
        p99_of(counts.green),
        tuple(MirrorExampleRow(e.path, e.blue_status, e.green_status) for e in counts.examples),
    )


def step_row(
    event: Event,
    at_s: float,
    weights: Weights,
    window_s: float,
    marks: Mapping[str, Mark],
    mirror: MirrorCounts | None = None,
) -> StepRow:
    """A verdict event and the window it judged (the weights that window ran at): each
    color's figures, each named cohort's (`green+beta`) with requests, a mirror's pairs."""
    return StepRow(
        at_s=at_s,
        step=event.step,
        blue_weight=weights.blue,
        green_weight=weights.green,
        window_s=window_s,
        blue=color_window(marks.get("blue", Mark())),
        green=color_window(marks.get("green", Mark())),
        verdict=VERDICTS[event.kind],
        reason=event.message,
        cohorts={
            key: color_window(m)
            for key, m in marks.items()
            if "+" in key and not key.endswith("+") and m.requests
        },
        mirror=None if mirror is None else mirror_window(mirror),
    )


def outcome_of(
    phase: Phase,
    exited: bool,
    load_ended: bool = False,
    confirmed: bool = True,
    *,
    refused: bool = False,
) -> Outcome:
    """`exited`: Surge ended mid-rollout and applied `on_exit` (so not the analysis' doing);
    `load_ended`: because the load ran out before the verdict, not the user or a signal;
    `confirmed`: the router took the weights the rollout ended at (else nothing it says
    of the end happened: a failure, whatever the strategy decided); `refused`: a gate
    hook (pre_rollout, pre_promotion) refused last, and the rollout never promoted."""
    if not confirmed and (exited or phase in (Phase.PROMOTED, Phase.ROLLED_BACK)):
        return Outcome.ROUTER_FAILED
    if refused and phase is not Phase.PROMOTED:
        return Outcome.GATE_REFUSED
    if exited:
        return Outcome.UNFINISHED if load_ended else Outcome.STOPPED
    if phase is Phase.PROMOTED:
        return Outcome.PROMOTED
    if phase is Phase.ROLLED_BACK:
        return Outcome.ROLLED_BACK
    return Outcome.RUNNING


# A decision the router never took is on record as such, not as what it meant to do.
NOT_APPLIED = {
    EventKind.ROLLED_BACK: "rollback not applied",
    EventKind.PROMOTED: "promotion not applied",
}


def build_record(
    *,
    strategy: str,
    router: str,
    started: dt.datetime,
    ended: dt.datetime,
    outcome: Outcome,
    weights: Weights | None,
    on_exit: str,
    steps: Iterable[StepRow],
    events: Iterable[tuple[float, Event]],
    notes: Iterable[str] = (),
    instances: Mapping[str, Mapping[str, int]] | None = None,
    fleet: FleetRow | None = None,
    unconfirmed_after: float | None = None,
    metrics: tuple[MetricRow, ...] = (),
    hooks: tuple[HookRow, ...] = (),
) -> DeployRecord:
    """`unconfirmed_after`: the router took no weights after this time (seconds, as the
    events' `at`); a promotion or rollback decided later is recorded as not applied."""

    def kind(at: float, e: Event) -> str:
        late = unconfirmed_after is not None and at > unconfirmed_after
        return NOT_APPLIED[e.kind] if late and e.kind in NOT_APPLIED else e.kind.value

    return DeployRecord(
        strategy=strategy,
        router=router,
        start=started.replace(microsecond=0).isoformat(),
        end=ended.replace(microsecond=0).isoformat(),
        outcome=outcome,
        blue_weight=weights.blue if weights is not None else None,
        green_weight=weights.green if weights is not None else None,
        on_exit=on_exit,
        steps=tuple(steps),
        events=tuple(DeployEventRow(at, kind(at, e), e.message) for at, e in events),
        notes=tuple(notes),
        instances={k: dict(v) for k, v in (instances or {}).items()},
        fleet=fleet,
        metrics=metrics,
        hooks=hooks,
    )
