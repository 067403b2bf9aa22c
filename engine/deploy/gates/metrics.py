"""`[[deploy.metrics]]`: numbers from where a team already keeps them, judged as Argo
Rollouts' AnalysisTemplate judges its metrics, one analysis window at a time.

A measurement is `successful`, `failed`, `inconclusive` (both conditions given and
neither holds) or `error` (the source failed, or gave no number). At each window's
judgement a metric's window verdict is (`window_verdict`, pure):
- failed when its failed measurements in the window exceed `failure_limit` (Argo's
  failureLimit, default 0), or its errors in a row exceed `consecutive_error_limit`
  (Argo's consecutiveErrorLimit, default 4; counted across windows, as a run of
  errors is one outage);
- inconclusive when its inconclusive measurements exceed `inconclusive_limit`, or it is
  still measuring: fewer than `count` measurements (at least one) came back in the
  window (Argo keeps a run going until `count` is reached; a window cannot wait, so
  it is inconclusive and the strategy's `max_inconclusive` bounds how long that lasts);
- passed otherwise.

Measuring runs in the background on the driver's loop (`MetricGate.start`), one task
per metric, every `every` seconds from each window's start, at most `count` times a
window; a snapshot never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from time import monotonic

import httpx

from engine.deploy.gates.spec import MetricSpec
from engine.deploy.record import VERDICTS
from engine.deploy.strategies.analysis import Verdict
from engine.deploy.strategies.base import EventKind
from engine.report.deploy_gates import MeasurementRow, MetricRow, MetricWindowRow

__all__ = ["MetricGate", "MetricSpec", "Phase", "assess", "combine", "window_verdict"]


class Phase(StrEnum):
    """A measurement's phase, under Argo's names."""

    SUCCESSFUL = "successful"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


def assess(spec: MetricSpec, value: float) -> tuple[Phase, str]:
    """Argo's evaluation: a met failure condition fails; else a met success condition
    succeeds; with both given and neither met, inconclusive; with only `success`, not
    meeting it fails; with only `failure`, not meeting it succeeds."""
    shown = f"{spec.name}: result {value:g}"
    if spec.failure is not None and spec.failure.holds(value):
        return Phase.FAILED, f'{shown} meets failure "{spec.failure}"'
    if spec.success is not None:
        if spec.success.holds(value):
            return Phase.SUCCESSFUL, f'{shown} meets success "{spec.success}"'
        if spec.failure is None:
            return Phase.FAILED, f'{shown} misses success "{spec.success}"'
        return Phase.INCONCLUSIVE, f"{shown} meets neither condition"
    return Phase.SUCCESSFUL, shown


@dataclass(frozen=True)
class MetricVerdict:
    outcome: EventKind  # ANALYSIS_PASSED, ANALYSIS_FAILED or ANALYSIS_INCONCLUSIVE
    reason: str


def window_verdict(
    spec: MetricSpec, window: Sequence[MeasurementRow], errors_in_a_row: int
) -> MetricVerdict:
    """One metric over one window (module docstring: the order of the rules)."""
    by = {p: [m for m in window if m.phase == p] for p in Phase}
    failed, inconclusive = by[Phase.FAILED], by[Phase.INCONCLUSIVE]
    if len(failed) > spec.failure_limit:
        limit = f" ({len(failed)} failed, failure_limit {spec.failure_limit})"
        return MetricVerdict(
            EventKind.ANALYSIS_FAILED, failed[-1].message + (limit if spec.failure_limit else "")
        )
    if errors_in_a_row > spec.consecutive_error_limit:
        last = by[Phase.ERROR][-1].message if by[Phase.ERROR] else "error"
        return MetricVerdict(
            EventKind.ANALYSIS_FAILED,
            f"{spec.name}: {errors_in_a_row} errors in a row "
            f"(consecutive_error_limit {spec.consecutive_error_limit}): {last}",
        )
    if len(inconclusive) > spec.inconclusive_limit:
        return MetricVerdict(EventKind.ANALYSIS_INCONCLUSIVE, inconclusive[-1].message)
    measured = [m for m in window if m.phase != Phase.ERROR]
    if len(measured) < spec.needed:
        error = f", last error: {by[Phase.ERROR][-1].message}" if by[Phase.ERROR] else ""
        return MetricVerdict(
            EventKind.ANALYSIS_INCONCLUSIVE,
            f"{spec.name}: still measuring ({len(measured)} of {spec.needed}){error}",
        )
    return MetricVerdict(EventKind.ANALYSIS_PASSED, measured[-1].message)


_RANK = {
    EventKind.ANALYSIS_PASSED: 0,
    EventKind.ANALYSIS_INCONCLUSIVE: 1,
    EventKind.ANALYSIS_FAILED: 2,
}


def combine(surge: Verdict, metrics: Sequence[MetricVerdict]) -> Verdict:
    """A window passes when Surge's analysis and every metric pass; else the worst
    verdict wins, with the reasons of those that gave it (Surge's first)."""
    worst = max([surge.outcome, *(m.outcome for m in metrics)], key=_RANK.__getitem__)
    if worst is EventKind.ANALYSIS_PASSED:
        reasons = [surge.reason, *(m.reason for m in metrics)]
    else:
        reasons = [surge.reason] if surge.outcome is worst else []
        reasons += [m.reason for m in metrics if m.outcome is worst]
    return Verdict(worst, "; ".join(r for r in reasons if r))


@dataclass
class _Run:
    """One metric's measurements, the current window's, and its verdicts."""

    spec: MetricSpec
    rows: list[MeasurementRow] = field(default_factory=list)
    window: list[MeasurementRow] = field(default_factory=list)
    errors_in_a_row: int = 0
    windows: list[MetricWindowRow] = field(default_factory=list)
    restart: asyncio.Event = field(default_factory=asyncio.Event)
    windows_begun: int = 0  # so a reading in flight across a new window is not counted in it

    def took(self, row: MeasurementRow) -> None:
        self.rows.append(row)
        self.window.append(row)
        self.errors_in_a_row = self.errors_in_a_row + 1 if row.phase == Phase.ERROR else 0

    def row(self) -> MetricRow:
        s = self.spec
        return MetricRow(
            s.name,
            s.provider.kind,
            s.provider.describe(),
            str(s.success or ""),
            str(s.failure or ""),
            tuple(self.rows),
            tuple(self.windows),
        )


class MetricGate:
    """Every metric of a rollout, measured in the background and judged per window.

    The driver starts it with the rollout (`start`, on its loop), hands it each
    verdict of Surge's own analysis (`judge`: a strategy's `window_gate`), tells it of
    each new window (`new_window`) and closes it with the rollout (`aclose`)."""

    def __init__(self, specs: Sequence[MetricSpec], clock: Callable[[], float] = monotonic):
        self.clock = clock
        self.runs = [_Run(s) for s in specs]
        self._t0 = clock()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None

    def start(self, t0: float) -> None:
        """Measuring begins (needs the running loop; once)."""
        if self._tasks:
            return
        self._t0 = t0
        self._client = httpx.AsyncClient(trust_env=False)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._measure(run)) for run in self.runs]

    def judge(self, verdict: Verdict) -> Verdict:
        """Surge's verdict on the window with every metric's own, on record."""
        at = self.clock() - self._t0
        mine = []
        for run in self.runs:
            v = window_verdict(run.spec, run.window, run.errors_in_a_row)
            run.windows.append(MetricWindowRow(at, VERDICTS[v.outcome], v.reason))
            mine.append(v)
        return combine(verdict, mine)

    def new_window(self) -> None:
        for run in self.runs:
            run.window = []
            run.windows_begun += 1
            run.restart.set()

    def rows(self) -> tuple[MetricRow, ...]:
        return tuple(run.row() for run in self.runs)

    def stop(self) -> None:
        """The rollout is decided: nothing more to measure."""
        for task in self._tasks:
            task.cancel()

    async def aclose(self) -> None:
        self.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()

    async def _measure(self, run: _Run) -> None:
        """Every `every` s from the window's start, at most `count` times a window."""
        spec = run.spec
        while True:
            run.restart.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.restart.wait(), spec.every)
                continue  # a new window: its first measurement `every` s from now
            if spec.count is not None and len(run.window) >= spec.count:
                await run.restart.wait()
                continue
            begun = run.windows_begun
            row = await self._once(spec)
            if run.windows_begun != begun:
                continue  # taken partly in the last window: dropped, not put in this one
            run.took(row)

    async def _once(self, spec: MetricSpec) -> MeasurementRow:
        assert self._client is not None
        try:
            value = await asyncio.wait_for(spec.provider.measure(self._client), spec.timeout)
        except TimeoutError:
            return self._row(None, Phase.ERROR, f"{spec.name}: timed out after {spec.timeout:g}s")
        except Exception as exc:  # any failure of the source is an error measurement
            reason = str(exc) or type(exc).__name__
            return self._row(None, Phase.ERROR, f"{spec.name}: {reason}")
        phase, message = assess(spec, value)
        return self._row(value, phase, message)

    def _row(self, value: float | None, phase: Phase, message: str) -> MeasurementRow:
        return MeasurementRow(self.clock() - self._t0, value, phase.value, message)
