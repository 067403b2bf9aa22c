"""The report as a type (format 3): every reader reads these, one parser makes them.

`parse_report` turns a TOML table into a `Report` and is the only place a report is
read by key: a missing figure reads its default (a hand-trimmed report shows zeros),
a figure of the wrong type is a ReportError naming the key. `Report.table()` is the
one writer's shape (the TOML, and the JSON outputs made from it). Top-level tables
this Surge does not know are kept in `extra` and written back, so a later issue adds
a section without a new format number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields, is_dataclass, replace
from typing import Any, TypeVar

from engine.explore.model import CapacityResult, Insight, InsightKind
from engine.load.metrics import PHASES
from engine.load.model import LatencyStats, Row
from engine.load.run import SETUP_LANE, TEARDOWN_LANE, ClientKind
from engine.load.states import Ending, StopCause, ending_of
from engine.load.steering import SteeringEvent
from engine.observe.series import Series
from engine.report.capacity_section import capacity_table, read_capacity
from engine.report.deploy_gates import hook_rows, metric_rows
from engine.report.deploy_section import (
    ColorWindow,
    DeployEventRow,
    DeployRecord,
    FleetRow,
    Outcome,
    StepRow,
    deploy_table,
    read_step_traffic,
)
from engine.report.observe_section import observe_table, read_observe

FORMAT = 3
_STATS = ("min", "mean", "p50", "p90", "p95", "p99", "p99_9", "max")
_ROW_FIELDS = tuple((f.name, f.type) for f in fields(Row))
T = TypeVar("T")
C = TypeVar("C", "ScenarioSection", "GroupSection")
_OPTIONAL = {"optional": True}  # a field left out of its table when empty
# Setup's and teardown's lanes: k6 tags their figures group ::setup / ::teardown.
LANE_GROUPS = {"::setup": SETUP_LANE, "::teardown": TEARDOWN_LANE}
# The report's sections, in the order it writes them; any other is kept in `extra`.
_KNOWN = ("meta", "summary", "thresholds", "checks", "steps", "upstreams", "timeline")
_KNOWN += ("scenarios", "groups", "histograms", "deploy", "observe", "capacity")
_KNOWN += ("insights",)  # [[insights]]: only for a run that found something


class ReportError(ValueError):
    """A report that cannot be read: damaged, or of an unknown format."""


# ------------------------------------------------------------------------- the type


@dataclass(frozen=True)
class Cluster:
    """`[meta.cluster]`: the Ray nodes a run's workers ran on; the pool's table kept whole."""

    nodes: int
    clock_offset_ms: float  # the largest offset of any worker's clock from Surge's
    table: Mapping[str, Any]

    @classmethod
    def of(cls, table: Mapping[str, Any]) -> Cluster:
        nodes = table.get("nodes")
        workers = table.get("workers")
        rows = [w for w in workers if isinstance(w, Mapping)] if isinstance(workers, list) else []
        offsets = [abs(w["clock_offset_ms"]) for w in rows if is_number(w.get("clock_offset_ms"))]
        return cls(int(nodes) if is_number(nodes) else 0, max(offsets, default=0.0), table)


@dataclass(frozen=True)
class Meta:
    """`[meta]`: what ran, against what, how it ended."""

    version: str = ""
    name: str = ""
    source: str = ""
    target: str = ""
    executor: str = ""
    executor_options: Mapping[str, Any] = field(default_factory=dict)
    test_type: str = ""
    environment: str = ""
    client: ClientKind | None = None  # None: a report that does not say (or a newer kind)
    start: str = ""
    duration_s: float = 0.0
    interval_s: float = 0.0
    aborted: bool = False
    ended: Ending = Ending.FINISHED  # derived from the flags for a report without it
    exit_code: int | None = None
    cpu_percent_max: float = 0.0
    workers: int = 0
    proto: str | None = None  # k6's `proto` tag of the connections the run opened
    worker_failures: tuple[str, ...] = ()
    cluster: Cluster | None = None
    stop_reason: str | None = None
    error: str | None = None
    steering: tuple[SteeringEvent, ...] = ()  # oldest first
    merged_from: tuple[str, ...] = ()
    upgraded_from: int | None = None
    notes: tuple[str, ...] = ()  # e.g. what changed since the format it was written in

    @property
    def label(self) -> str:
        """How a merge names this report when no file name is given."""
        return f"{self.name or '?'} @ {self.start or '?'}"


@dataclass(frozen=True)
class Section:
    """The figures of the whole run, one step or one upstream (latency in ms)."""

    requests: int = 0
    failed: int = 0
    error_rate: float = 0.0
    rps: float = 0.0
    data_received_bytes: int = 0
    data_sent_bytes: int = 0
    http_req_duration: LatencyStats = field(default_factory=LatencyStats)
    http_req_duration_expected: LatencyStats | None = None  # None: format 1 had no split
    latency: LatencyStats = field(default_factory=LatencyStats)
    status: Mapping[str, int] = field(default_factory=dict)
    errors: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Summary(Section):
    """`[summary]`: the whole run's figures and what only the whole run has."""

    iterations: int = 0
    interrupted_iterations: int = 0
    dropped_iterations: int = 0
    iteration_duration: LatencyStats = field(default_factory=LatencyStats)
    vus_max: int = 0
    phases: Mapping[str, LatencyStats] = field(default_factory=dict)  # k6's timing breakdown
    checks_rate: float | None = None
    breaking_point_rps: float | None = None


@dataclass(frozen=True)
class Checks:
    """`[checks.NAME]`."""

    passes: int = 0
    fails: int = 0


@dataclass(frozen=True)
class ScenarioSection(Section):
    """`[scenarios.NAME]`: one scenario's figures, as the whole run's, and its plan (k6's
    option names in `executor_options`). Setup and teardown are `(setup)`/`(teardown)`:
    their requests, no iterations (k6 counts none for them)."""

    executor: str = ""
    executor_options: Mapping[str, Any] = field(default_factory=dict)
    start_time_s: float = 0.0  # k6's startTime
    exec: str = ""  # the flow it runs; "" the profile's default flow
    tags: Mapping[str, str] = field(default_factory=dict)
    iterations: int = 0
    interrupted_iterations: int = 0
    dropped_iterations: int = 0
    iteration_duration: LatencyStats = field(default_factory=LatencyStats)
    ended_s: float = 0.0  # run seconds when its last active interval ended
    checks: Mapping[str, Checks] = field(default_factory=dict, metadata=_OPTIONAL)


@dataclass(frozen=True)
class GroupSection(Section):
    """`[groups."::NAME"]`: the requests of a group's steps and k6's `group_duration`;
    `checks` are the group's own (k6's summary nests them under the group)."""

    group_duration: LatencyStats = field(default_factory=LatencyStats)
    checks: Mapping[str, Checks] = field(default_factory=dict, metadata=_OPTIONAL)


@dataclass(frozen=True)
class ThresholdEntry:
    """One `[[thresholds]]` verdict; `recomputed` only in a merged report."""

    metric: str = "?"
    expression: str = "?"
    ok: bool = False
    observed: float | None = field(default=None, metadata={"none": "no data"})
    abort_on_fail: bool = False
    recomputed: bool | None = None


@dataclass(frozen=True)
class Histograms:
    """One section's encoded HDR histograms (us) and the exact sums of their values;
    None where the report has none (an expected split before format 2, sums before
    they were kept)."""

    latency: str | None = None
    http_req_duration: str | None = None
    http_req_duration_expected: str | None = None
    latency_sum_us: int | None = None
    http_req_duration_sum_us: int | None = None
    http_req_duration_expected_sum_us: int | None = None
    iteration_duration: str | None = None  # the total's and a scenario's only
    iteration_duration_sum_us: int | None = None
    group_duration: str | None = None  # a group's only
    group_duration_sum_us: int | None = None


@dataclass(frozen=True)
class ReportHistograms:
    total: Histograms | None  # None: the table is missing (found where it is decoded)
    steps: Mapping[str, Histograms] = field(default_factory=dict)
    upstreams: Mapping[str, Histograms] = field(default_factory=dict)
    scenarios: Mapping[str, Histograms] = field(default_factory=dict, metadata=_OPTIONAL)
    groups: Mapping[str, Histograms] = field(default_factory=dict, metadata=_OPTIONAL)


@dataclass(frozen=True)
class Report:
    meta: Meta
    summary: Summary
    thresholds: tuple[ThresholdEntry, ...] = ()
    checks: Mapping[str, Checks] = field(default_factory=dict)
    steps: Mapping[str, Section] = field(default_factory=dict)
    upstreams: Mapping[str, Section] = field(default_factory=dict)
    timeline: tuple[Row, ...] = ()
    # Only for a run of several scenarios, setup/teardown or groups: a run of the one
    # `default` scenario writes neither, so its report reads as before they existed.
    scenarios: Mapping[str, ScenarioSection] = field(default_factory=dict, metadata=_OPTIONAL)
    groups: Mapping[str, GroupSection] = field(default_factory=dict, metadata=_OPTIONAL)
    histograms: ReportHistograms | None = None  # None: trimmed by hand or made elsewhere
    deploy: DeployRecord | None = None
    observe: Mapping[str, Series] = field(default_factory=dict)  # [observe.series.NAME]
    capacity: CapacityResult | None = None  # --type capacity's answer and its steps
    insights: tuple[Insight, ...] = field(default=(), metadata=_OPTIONAL)  # why it broke
    extra: Mapping[str, Any] = field(default_factory=dict)  # sections this Surge does not know

    def section(self, kind: str, name: str) -> Section | None:
        """A step's (`kind` "step") or an upstream's figures."""
        return (self.steps if kind == "step" else self.upstreams).get(name)

    def table(self) -> dict[str, Any]:
        """The report as TOML holds it (and the JSON outputs show it)."""
        out: dict[str, Any] = {"meta": {"format": FORMAT} | _table(self.meta)}
        empty = [
            f.name for f in fields(self) if f.metadata.get("optional") and not getattr(self, f.name)
        ]
        own = ("meta", "deploy", "observe", "capacity", *empty)  # these: their own writers
        out |= {k: _value(getattr(self, k)) for k in _KNOWN if k not in own}
        if self.deploy is not None:
            out["deploy"] = deploy_table(self.deploy)
        if self.observe:  # only a run that observed: every other report as before
            out["observe"] = observe_table(self.observe)
        if self.capacity is not None:
            out["capacity"] = capacity_table(self.capacity)
        return {k: v for k, v in out.items() if v is not None} | dict(self.extra)


# ------------------------------------------------------------------------- writing


def _key(f: Field[Any]) -> str:
    """A field's key in its table: latency figures say their unit."""
    return f"{f.name}_ms" if "LatencyStats" in str(f.type) and f.name != "phases" else f.name


def _table(obj: Any) -> dict[str, Any]:
    """A dataclass's table: None and empty lists left out (TOML has no null); `phases`
    spread into one `NAME_ms` table each."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name == "phases":
            out |= {f"{name}_ms": stats.as_dict() for name, stats in value.items()}
        elif value is None and "none" in f.metadata:
            out[f.name] = f.metadata["none"]
        elif value is not None and value != () and not (f.metadata.get("optional") and not value):
            out[_key(f)] = _value(value)
    return out


def _value(value: Any) -> Any:
    if isinstance(value, LatencyStats):
        return value.as_dict()
    if isinstance(value, Row):
        return row_table(value)
    if isinstance(value, SteeringEvent):
        return value.as_table()
    if isinstance(value, Cluster):
        return dict(value.table)
    if is_dataclass(value):
        return _table(value)
    if isinstance(value, tuple | list):
        return [_value(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _value(v) for k, v in value.items()}
    return value


def row_table(row: Row) -> dict[str, Any]:
    """A timeline row as the report writes it."""
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(row).items()}


def parse_report(data: Mapping[str, Any], where: str = "report") -> Report:
    """A report's tables (format 2 or 3, a format 1 upgraded) as a Report; ReportError
    names `where` and the key for anything of the wrong shape."""
    r = _Reader(where)
    summary = data.get("summary")
    if not isinstance(summary, Mapping) or not is_number(summary.get("requests")):
        raise ReportError(f"{where}: not a valid report ([summary] has no requests count)")
    hists = data.get("histograms")
    return Report(
        meta=r.meta(r.table(data, "meta")),
        summary=Summary(
            **r.fill(Summary, summary, "summary"),
            phases={
                n: r.stats(summary[f"{n}_ms"], f"summary.{n}_ms")
                for n in PHASES
                if f"{n}_ms" in summary
            },
        ),
        thresholds=tuple(
            ThresholdEntry(**r.fill(ThresholdEntry, e, f"thresholds[{i}]"))
            for i, e in enumerate(r.seq(data, "thresholds"))
        ),
        checks=r.named(Checks, data, "checks"),
        steps=r.named(Section, data, "steps"),
        upstreams=r.named(Section, data, "upstreams"),
        timeline=tuple(r.row(x) for x in r.seq(data, "timeline") if isinstance(x, Mapping)),
        scenarios=r.checked(ScenarioSection, data, "scenarios"),
        groups=r.checked(GroupSection, data, "groups"),
        histograms=ReportHistograms(
            total=Histograms(**r.fill(Histograms, hists["total"], "histograms.total"))
            if isinstance(hists.get("total"), Mapping)
            else None,
            steps=r.named(Histograms, hists, "steps", "histograms."),
            upstreams=r.named(Histograms, hists, "upstreams", "histograms."),
            scenarios=r.named(Histograms, hists, "scenarios", "histograms."),
            groups=r.named(Histograms, hists, "groups", "histograms."),
        )
        if isinstance(hists, Mapping)
        else None,
        deploy=r.deploy(data["deploy"]) if isinstance(data.get("deploy"), Mapping) else None,
        observe=read_observe(data["observe"], r.fail) if "observe" in data else {},
        capacity=r.capacity(data["capacity"]) if "capacity" in data else None,
        insights=r.insights(r.seq(data, "insights")),
        extra={k: v for k, v in data.items() if k not in _KNOWN},
    )


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_SKIP = object()


class _Reader:
    """Typed values out of untrusted tables; every error names the report and the key."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, what: str) -> ReportError:
        return ReportError(f"{self.where}: not a valid report ({what})")

    def is_table(self, value: Any, key: str) -> bool:
        if not isinstance(value, Mapping):
            raise self.fail(f"[{key}] is not a table")
        return True

    def table(self, data: Mapping[str, Any], key: str, path: str = "") -> Mapping[str, Any]:
        value = data.get(key, {})
        self.is_table(value, path + key)
        return value

    def seq(self, data: Mapping[str, Any], key: str, path: str = "") -> list[Any]:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"{path}{key} is not a list")
        return value

    def num(self, t: Mapping[str, Any], key: str, path: str, default: float = 0.0) -> float:
        value = t.get(key, default)
        if not is_number(value):
            raise self.fail(f"{path}.{key} is not a number: {value!r}")
        return float(value)

    def whole(self, t: Mapping[str, Any], key: str, path: str) -> int:
        value = self.num(t, key, path)
        return int(value) if math.isfinite(value) else 0

    def stats(self, value: Any, path: str) -> LatencyStats:
        """A `*_ms` table; zeros when missing (trimmed by hand)."""
        if not isinstance(value, Mapping):
            return LatencyStats()
        return LatencyStats(**{k: self.num(value, k, path) for k in _STATS})

    def fill(self, cls: type, t: Any, path: str) -> dict[str, Any]:
        """The fields of dataclass `cls` that table `t` holds, read by their types; one
        it lacks keeps its default."""
        self.is_table(t, path)
        out: dict[str, Any] = {}
        for f in fields(cls):
            key, kind = _key(f), str(f.type)
            if key not in t:
                continue
            none = f.metadata.get("none")  # how the table says None ("no data")
            value = None if none is not None and t[key] == none else self.value(kind, t, key, path)
            if value is not _SKIP and (value is not None or "None" in kind):
                out[f.name] = value
        return out

    def value(self, kind: str, t: Mapping[str, Any], key: str, path: str) -> Any:
        value, at = t[key], f"{path}.{key}"
        if kind.startswith("LatencyStats"):
            return self.stats(value, at) if isinstance(value, Mapping) else None
        if kind.startswith("int"):
            return self.whole(t, key, path)
        if kind.startswith("float"):
            return self.num(t, key, path)
        if kind.startswith("bool"):
            return value if isinstance(value, bool) else None
        if kind.startswith("str"):
            return str(value) if value != "" or kind == "str" else None
        if kind == "Mapping[str, int]":
            return {str(k): self.whole(value, k, at) for k in self.table(t, key, path)}
        if kind == "Mapping[str, str]":
            return {str(k): str(v) for k, v in self.table(t, key, path).items()}
        if kind == "tuple[str, ...]":
            return tuple(str(x) for x in self.seq(t, key, path + "."))
        if kind == "Mapping[str, Any]":
            return value if isinstance(value, Mapping) else {}
        return _SKIP  # the caller's to read: steering, the cluster, the phases

    def named(
        self, cls: type[T], data: Mapping[str, Any], key: str, path: str = ""
    ) -> dict[str, T]:
        """`[KEY.NAME]` tables, each a `cls`."""
        return {
            str(n): cls(**self.fill(cls, t, f"{path}{key}.{n}"))
            for n, t in self.table(data, key, path).items()
        }

    def checked(self, cls: type[C], data: Mapping[str, Any], key: str) -> dict[str, C]:
        """`[KEY.NAME]` tables (scenarios, groups), each with its own `checks` tables."""
        return {
            name: replace(s, checks=self.named(Checks, data[key][name], "checks", f"{key}.{name}."))
            for name, s in self.named(cls, data, key).items()
        }

    def meta(self, m: Mapping[str, Any]) -> Meta:
        meta = Meta(**self.fill(Meta, m, "meta"))
        cause = StopCause.parse(meta.stop_reason) if meta.stop_reason else None
        ended = m.get("ended")  # a newer Surge's words for an ending: derived here
        client = m.get("client")
        cluster = m.get("cluster")
        return replace(
            meta,
            ended=Ending(ended)
            if ended in list(Ending)
            else ending_of(meta.aborted, cause, meta.error),
            cluster=Cluster.of(cluster) if isinstance(cluster, Mapping) else None,
            steering=self.steering(m),
            client=ClientKind(client) if client in list(ClientKind) else None,
        )

    def steering(self, m: Mapping[str, Any]) -> tuple[SteeringEvent, ...]:
        entries = m.get("steering", [])
        if not isinstance(entries, list):
            raise self.fail("meta.steering is not a list")
        out = []
        for i, entry in enumerate(entries):
            try:
                out.append(SteeringEvent.of_table(entry))
            except ValueError as exc:
                raise ReportError(f"{self.where}: meta.steering[{i}]: {exc}") from None
        return tuple(sorted(out, key=lambda e: e.t))

    def capacity(self, t: Any) -> CapacityResult:
        self.is_table(t, "capacity")
        try:
            return read_capacity(t, self.where)
        except ValueError as exc:
            raise ReportError(f"{self.where}: {exc}") from None

    def row(self, t: Mapping[str, Any]) -> Row:
        """A timeline row; a missing or non-numeric column reads 0."""
        values = {k: float(t[k]) if is_number(t.get(k)) else 0.0 for k, _ in _ROW_FIELDS}
        return Row(
            **{
                k: (int(v) if math.isfinite(v) else 0) if kind == "int" else v
                for (k, kind), v in zip(_ROW_FIELDS, values.values(), strict=True)
            }
        )

    def insights(self, entries: list[Any]) -> tuple[Insight, ...]:
        """`[[insights]]`; a kind this Surge does not know (a newer one's) is left out."""
        out = []
        for i, e in enumerate(entries):
            path = f"insights[{i}]"
            if self.is_table(e, path) and e.get("kind") in list(InsightKind):
                rate = self.num(e, "rate", path) if "rate" in e else None
                at = self.num(e, "at", path)
                out.append(Insight(InsightKind(e["kind"]), at, rate, str(e.get("text", ""))))
        return tuple(out)

    def deploy(self, d: Mapping[str, Any]) -> DeployRecord:
        try:
            outcome = Outcome(d.get("outcome"))
        except ValueError:
            raise self.fail(f"deploy.outcome {d.get('outcome')!r} is unknown") from None
        fleet = d.get("fleet")
        blue, green = self.pair(d, "final_weights")
        return DeployRecord(
            **(
                {"strategy": "?", "router": "?", "start": "?", "end": "?"}
                | self.fill(DeployRecord, d, "deploy")
            ),
            outcome=outcome,
            blue_weight=blue,
            green_weight=green,
            steps=tuple(
                self.step(s, f"deploy.steps[{i}]")
                for i, s in enumerate(self.seq(d, "steps", "deploy."))
            ),
            events=tuple(
                DeployEventRow(**self.fill(DeployEventRow, e, f"deploy.events[{i}]"))
                for i, e in enumerate(self.seq(d, "events", "deploy."))
            ),
            instances={
                str(n): {str(k): self.whole(v, k, f"deploy.instances.{n}") for k in v}
                for n, v in self.table(d, "instances", "deploy.").items()
                if self.is_table(v, f"deploy.instances.{n}")
            },
            fleet=FleetRow(
                self.whole(fleet, "peak_instances", "deploy.fleet"),
                tuple(
                    (self.num(c, "at_s", p), self.whole(c, "blue", p), self.whole(c, "green", p))
                    for i, c in enumerate(self.seq(fleet, "capacity", "deploy.fleet."))
                    if self.is_table(c, p := f"deploy.fleet.capacity[{i}]")
                ),
            )
            if isinstance(fleet, Mapping)
            else None,
            metrics=metric_rows(d.get("metrics")),
            hooks=hook_rows(d.get("hooks")),
        )

    def pair(self, t: Mapping[str, Any], key: str) -> tuple[int, int] | tuple[None, None]:
        """Blue's and green's weights, `[blue, green]`; (None, None) when not kept."""
        w = t.get(key)
        ok = isinstance(w, list) and len(w) == 2 and all(map(is_number, w))
        return (int(w[0]), int(w[1])) if ok else (None, None)

    def step(self, s: Any, p: str) -> StepRow:
        blue, green = self.pair(s, "weights")
        return StepRow(
            **(
                {"at_s": 0.0, "step": None, "window_s": 0.0, "verdict": "?", "reason": ""}
                | self.fill(StepRow, s, p)
            ),
            blue_weight=blue or 0,
            green_weight=green or 0,
            blue=ColorWindow(**self.fill(ColorWindow, s.get("blue", {}), f"{p}.blue")),
            green=ColorWindow(**self.fill(ColorWindow, s.get("green", {}), f"{p}.green")),
            **read_step_traffic(s),
        )
