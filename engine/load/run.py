"""A run's plan, its live snapshots and its result: the values a front end holds.

Plain frozen data, so the CLI, the app and the reports read them without reaching
into the Controller that produces them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from engine.exit_codes import EXIT_ERROR, EXIT_OK, EXIT_THRESHOLDS
from engine.explore.capacity import CapacitySettings
from engine.explore.model import CapacityResult, CapacityStep, Insight
from engine.http.body import DEFAULT_MAX_BODY
from engine.http.redirects import DEFAULT_MAX_REDIRECTS
from engine.http.request import Prepared
from engine.http.tls import TlsOptions
from engine.load.checks import Check
from engine.load.executors import ExecutorConfig
from engine.load.executors.base import IterationsType
from engine.load.flow import Flow
from engine.load.model import Figures, Row, RunModel, ScenarioRow, ThresholdState
from engine.load.states import Ending, RunState, StopCause, StopReason, ending_of
from engine.load.steering import SteeringEvent
from engine.load.thresholds import Threshold
from engine.observe.config import ObserveSpec
from engine.observe.series import Series


class ClientKind(StrEnum):
    """The VUs' HTTP client."""

    WIRE = "wire"  # Surge's own: HTTP/1.1 and h2, the fastest
    HTTPX = "httpx"  # the httpx library: a second opinion


class OnWorkerLoss(StrEnum):
    """What a lost worker (a process, a Ray node) does to the run."""

    CONTINUE = "continue"  # the others go on; the report names the loss
    ABORT = "abort"  # the run ends at once


DEFAULT_SCENARIO = "default"  # k6's name for the one scenario of a test without `scenarios`
SETUP_LANE = "(setup)"  # parentheses: never a scenario's name (k6: [0-9a-zA-Z_-]+)
TEARDOWN_LANE = "(teardown)"


@dataclass(frozen=True)
class ScenarioPlan:
    """One workload (k6's scenario): its executor and what each iteration runs."""

    name: str  # "default" for a profile without [scenarios] (k6's name)
    executor: ExecutorConfig
    requests: tuple[Prepared, ...] = ()
    weights: tuple[float, ...] = ()
    checks: tuple[tuple[Check, ...], ...] = ()
    flow: Flow | None = None  # steps instead of weighted requests
    exec: str = ""  # the [flows.NAME] it runs; "" = the profile's default flow
    start_time: float = 0.0  # k6 startTime: seconds after setup() ends
    tags: tuple[tuple[str, str], ...] = ()  # the scenario's `tags`
    vu_base: int = 0  # test-wide VU ids: first id of this scenario is vu_base + 1
    # This worker's part `offset` of `stride` parts (split.py): VU ids interleave, and
    # in the open model this part runs the schedule's iterations offset, offset + stride...
    offset: int = 0
    stride: int = 1


@dataclass(frozen=True)
class WorkPlan:
    """What one worker runs: plain data, so it can cross to another process or host."""

    base_url: str
    scenarios: tuple[ScenarioPlan, ...]  # at least one; a plain profile: one "default"
    expected_statuses: tuple[tuple[int, int], ...] = ((200, 399),)
    client: ClientKind = ClientKind.WIRE
    timeout: float = 10.0
    connect_timeout: float = 5.0
    tls: TlsOptions = field(default_factory=TlsOptions)  # verification, CA bundle, client cert
    headers: tuple[tuple[str, str], ...] = ()  # the profile's, for flow steps
    max_body: int = DEFAULT_MAX_BODY  # body bytes kept for checks (decoded); the rest dropped
    max_redirects: int = DEFAULT_MAX_REDIRECTS  # hops followed per request (a step may say)
    # HTTP/2: None where TLS agrees on it (ALPN), True required, False never (http/1.1 only).
    http2: bool | None = None
    setup: Flow | None = None  # k6's setup(): once, before the first scenario
    teardown: Flow | None = None  # k6's teardown(): once, after the last
    setup_timeout: float = 60.0
    teardown_timeout: float = 60.0
    run_tags: tuple[tuple[str, str], ...] = ()  # --tag and the profile's `tags`
    http_debug: str | None = None  # "headers" | "full"

    @property
    def only(self) -> ScenarioPlan:
        """The one scenario of a plan that has one (every plan without [scenarios])."""
        if len(self.scenarios) != 1:
            names = ", ".join(s.name for s in self.scenarios)
            raise ValueError(f"a plan of one scenario expected, not ({names})")
        return self.scenarios[0]

    def with_only(self, **changes: Any) -> WorkPlan:
        """This plan with its one scenario changed (`executor=...`)."""
        return replace(self, scenarios=(replace(self.only, **changes),))


@dataclass(frozen=True)
class RunPlan:
    """A run as the user asked for it."""

    name: str  # profile name, or the URL for ad-hoc runs
    source: str  # the profile file or "<url>"
    work: WorkPlan
    thresholds: tuple[Threshold, ...] = ()
    test_type: str | None = None
    environment: str | None = None
    interval: float = 1.0
    workers: int = 1
    in_process: bool = True  # one worker in this loop; False = worker processes always
    worker_log: str | None = None  # worker processes' stderr goes here (the app's screen is fd 2)
    # `ray://HOST:PORT` or "auto": the workers as Ray actors (engine/load/pools/ray_pool.py)
    cluster: str | None = None
    on_worker_loss: OnWorkerLoss = OnWorkerLoss.CONTINUE
    # the server's side: [observe], --observe
    observe: ObserveSpec = field(default_factory=ObserveSpec)
    capacity: CapacitySettings | None = None  # --type capacity: the search's settings

    @property
    def breakpoint(self) -> bool:
        return self.test_type == "breakpoint"


@dataclass(frozen=True)
class Snapshot:
    """What a front end needs once per interval; immutable, safe to hand to a UI."""

    elapsed: float
    state: RunState
    progress: float
    row: Row
    totals: Figures
    thresholds: tuple[ThresholdState, ...]
    checks: dict[str, tuple[int, int]]
    scale: float
    cpu_percent: float  # the busiest worker's; above 90% the generator measures itself
    worker_cpu: tuple[float, ...] = ()
    worker_nodes: tuple[str, ...] = ()  # each worker's machine on a Ray cluster, else ()
    failures: tuple[str, ...] = ()
    stop_reason: StopCause | None = None
    scenarios: tuple[ScenarioRow, ...] = ()  # one a scenario; () for a plan of one
    capacity_steps: tuple[CapacityStep, ...] = ()  # a capacity search's steps so far
    observed: Mapping[str, Series] = field(default_factory=dict)  # the server's side so far
    insights: tuple[Insight, ...] = ()  # findings so far


def scenario_rows(model: RunModel, work: WorkPlan, *, finished: bool) -> tuple[ScenarioRow, ...]:
    """Each scenario's row for a snapshot; () for a plan of one (its figures are the run's)."""
    if len(work.scenarios) < 2:
        return ()
    rows = []
    for sc in work.scenarios:
        kind, cfg = sc.executor.kind, sc.executor
        end = sc.start_time + kind.planned_duration(cfg)
        budget = kind.total_iterations(cfg) if isinstance(kind, IterationsType) else 0
        row = model.scenario_row(
            sc.name, kind.name, sc.start_time, end, finished=finished, iterations=budget
        )
        rows.append(row)
    return tuple(rows)


@dataclass
class RunResult:
    plan: RunPlan
    model: RunModel
    started_at: dt.datetime
    duration: float
    aborted: bool
    stop_reason: StopCause | None
    breaking_point_rps: float | None = None
    error: str | None = None
    cpu_percent_max: float = 0.0
    workers: int = 1
    failures: list[str] = field(default_factory=list)
    cluster: dict[str, Any] | None = None  # where each worker ran (a Ray cluster's nodes)
    steering: tuple[SteeringEvent, ...] = ()  # pause, resume, new targets, stops by hand
    capacity: CapacityResult | None = None  # a capacity search's answer (--type capacity)
    observed: Mapping[str, Series] = field(default_factory=dict)  # the server's side, by name
    insights: tuple[Insight, ...] = ()  # why it broke

    @property
    def ending(self) -> Ending:
        return ending_of(self.aborted, self.stop_reason, self.error)

    @property
    def exit_code(self) -> int:
        if self.stop_reason is not None and self.stop_reason.kind is StopReason.SETUP_FAILED:
            return EXIT_ERROR  # nothing ran: its thresholds judged nothing
        if self.capacity is not None:
            # The steps beyond the capacity failed the thresholds by design: the answer
            # decides (none: even the first step failed); a search cut short is no answer.
            done = self.stop_reason is not None and self.stop_reason.kind is StopReason.CAPACITY
            found = done and self.error is None and self.capacity.rate is not None
            return EXIT_OK if found else EXIT_ERROR
        if not self.model.passed():
            return EXIT_THRESHOLDS
        if self.error is not None or (self.aborted and self.plan.test_type != "breakpoint"):
            return EXIT_ERROR
        return EXIT_OK
