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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from engine.load.metrics import PHASES
from engine.load.model import LatencyStats, Row
from engine.load.states import StopCause, ending_of
from engine.load.steering import SteeringEvent
from engine.report.deploy_section import (
    ColorWindow,
    DeployEventRow,
    DeployRecord,
    FleetRow,
    Outcome,
    StepRow,
    deploy_table,
)

FORMAT = 3
_STATS = ("min", "mean", "p50", "p90", "p95", "p99", "p99_9", "max")
_ROW_FIELDS = tuple((f.name, f.type) for f in fields(Row))
T = TypeVar("T")


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
    client: str = ""
    start: str = ""
    duration_s: float = 0.0
    interval_s: float = 0.0
    aborted: bool = False
    ended: str = ""  # engine.load.states.Ending's words (derived for older reports)
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

    def table(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.requests,
            "failed": self.failed,
            "error_rate": self.error_rate,
            "rps": self.rps,
            "data_received_bytes": self.data_received_bytes,
            "data_sent_bytes": self.data_sent_bytes,
            "http_req_duration_ms": self.http_req_duration.as_dict(),
        }
        if self.http_req_duration_expected is not None:  # {expected_response:true}
            out["http_req_duration_expected_ms"] = self.http_req_duration_expected.as_dict()
        out["latency_ms"] = self.latency.as_dict()
        return out | {"status": dict(self.status), "errors": dict(self.errors)}


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

    def table(self) -> dict[str, Any]:
        out = super().table() | {
            "iterations": self.iterations,
            "interrupted_iterations": self.interrupted_iterations,
            "dropped_iterations": self.dropped_iterations,
            "iteration_duration_ms": self.iteration_duration.as_dict(),
            "vus_max": self.vus_max,
        }
        out |= {f"{name}_ms": stats.as_dict() for name, stats in self.phases.items()}
        if self.checks_rate is not None:
            out["checks_rate"] = self.checks_rate
        if self.breaking_point_rps is not None:
            out["breaking_point_rps"] = self.breaking_point_rps
        return out


@dataclass(frozen=True)
class ThresholdEntry:
    """One `[[thresholds]]` verdict; `recomputed` only in a merged report."""

    metric: str
    expression: str
    ok: bool
    observed: float | None  # None: "no data"
    abort_on_fail: bool = False
    recomputed: bool | None = None


@dataclass(frozen=True)
class Checks:
    passes: int = 0
    fails: int = 0


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
    iteration_duration: str | None = None  # the total's only
    iteration_duration_sum_us: int | None = None

    def table(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


@dataclass(frozen=True)
class ReportHistograms:
    total: Histograms | None  # None: the table is missing (found where it is decoded)
    steps: Mapping[str, Histograms] = field(default_factory=dict)
    upstreams: Mapping[str, Histograms] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    meta: Meta
    summary: Summary
    thresholds: tuple[ThresholdEntry, ...] = ()
    checks: Mapping[str, Checks] = field(default_factory=dict)
    steps: Mapping[str, Section] = field(default_factory=dict)
    upstreams: Mapping[str, Section] = field(default_factory=dict)
    timeline: tuple[Row, ...] = ()
    histograms: ReportHistograms | None = None  # None: trimmed by hand or made elsewhere
    deploy: DeployRecord | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # sections this Surge does not know

    def section(self, kind: str, name: str) -> Section | None:
        """A step's (`kind` "step") or an upstream's figures."""
        return (self.steps if kind == "step" else self.upstreams).get(name)

    def table(self) -> dict[str, Any]:
        """The report as TOML holds it (and the JSON outputs show it)."""
        out: dict[str, Any] = {
            "meta": _meta_table(self.meta),
            "summary": self.summary.table(),
        }
        out["thresholds"] = [_threshold_table(t) for t in self.thresholds]
        out["checks"] = {n: {"passes": c.passes, "fails": c.fails} for n, c in self.checks.items()}
        out["steps"] = {n: s.table() for n, s in self.steps.items()}
        out["upstreams"] = {n: s.table() for n, s in self.upstreams.items()}
        out["timeline"] = [row_table(r) for r in self.timeline]
        if self.histograms is not None:
            h = self.histograms
            out["histograms"] = {
                "total": h.total.table() if h.total is not None else {},
                "steps": {n: s.table() for n, s in h.steps.items()},
                "upstreams": {n: s.table() for n, s in h.upstreams.items()},
            }
        if self.deploy is not None:
            out["deploy"] = deploy_table(self.deploy)
        return out | dict(self.extra)


# ------------------------------------------------------------------------- writing


def _meta_table(m: Meta) -> dict[str, Any]:
    out: dict[str, Any] = {
        "format": FORMAT,
        "version": m.version,
        "name": m.name,
        "source": m.source,
        "target": m.target,
        "executor": m.executor,
        "executor_options": dict(m.executor_options),
        "test_type": m.test_type,
        "environment": m.environment,
        "client": m.client,
        "start": m.start,
        "duration_s": m.duration_s,
        "interval_s": m.interval_s,
        "aborted": m.aborted,
        "ended": m.ended,
    }
    if m.exit_code is not None:
        out["exit_code"] = m.exit_code
    out |= {"cpu_percent_max": m.cpu_percent_max, "workers": m.workers}
    optional = {
        "proto": m.proto,
        "worker_failures": list(m.worker_failures),
        "cluster": m.cluster.table if m.cluster is not None else None,
        "stop_reason": m.stop_reason,
        "error": m.error,
        "steering": [e.as_table() for e in m.steering],
        "merged_from": list(m.merged_from),
        "upgraded_from": m.upgraded_from,
        "notes": list(m.notes),
    }
    return out | {k: v for k, v in optional.items() if v}


def _threshold_table(t: ThresholdEntry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "metric": t.metric,
        "expression": t.expression,
        "ok": t.ok,
        "observed": t.observed if t.observed is not None else "no data",
        "abort_on_fail": t.abort_on_fail,
    }
    if t.recomputed is not None:
        out["recomputed"] = t.recomputed
    return out


def row_table(row: Row) -> dict[str, Any]:
    """A timeline row as the report writes it."""
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(row).items()}


def parse_report(data: Mapping[str, Any], where: str = "report") -> Report:
    """A report's tables (format 2 or 3, a format 1 upgraded) as a Report; ReportError
    names `where` and the key for anything of the wrong shape."""
    r = _Reader(where)
    meta = r.table(data, "meta")
    summary = data.get("summary")
    if not isinstance(summary, Mapping) or not is_number(summary.get("requests")):
        raise ReportError(f"{where}: not a valid report ([summary] has no requests count)")
    hists = data.get("histograms")
    return Report(
        meta=r.meta(meta),
        summary=r.summary(summary),
        thresholds=tuple(
            r.threshold(e, f"thresholds[{i}]") for i, e in enumerate(r.seq(data, "thresholds"))
        ),
        checks={
            str(n): Checks(
                r.whole(pf, "passes", f"checks.{n}"), r.whole(pf, "fails", f"checks.{n}")
            )
            for n, pf in r.table(data, "checks").items()
            if r.is_table(pf, f"checks.{n}")
        },
        steps=r.sections(data, "steps"),
        upstreams=r.sections(data, "upstreams"),
        timeline=tuple(r.row(x) for x in r.seq(data, "timeline") if isinstance(x, Mapping)),
        histograms=r.histograms(hists) if isinstance(hists, Mapping) else None,
        deploy=r.deploy(data["deploy"]) if isinstance(data.get("deploy"), Mapping) else None,
        extra={k: v for k, v in data.items() if k not in _KNOWN},
    )


_KNOWN = frozenset(
    ("meta", "summary", "thresholds", "checks", "steps", "upstreams", "timeline")
) | {"histograms", "deploy"}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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

    def opt(self, t: Mapping[str, Any], key: str, path: str, kind: Callable[..., T]) -> T | None:
        return kind(t, key, path) if key in t else None

    def stats(self, t: Mapping[str, Any], key: str, path: str) -> LatencyStats:
        """A `*_ms` table; zeros when missing (trimmed by hand)."""
        value = t.get(key)
        if not isinstance(value, Mapping):
            return LatencyStats()
        return LatencyStats(**{k: self.num(value, k, f"{path}.{key}") for k in _STATS})

    def section(self, t: Mapping[str, Any], path: str) -> dict[str, Any]:
        """The fields of a Section, to make a Section or a Summary of."""
        expected = t.get("http_req_duration_expected_ms")
        return {
            **{
                k: self.whole(t, k, path)
                for k in ("requests", "failed", "data_received_bytes", "data_sent_bytes")
            },
            "error_rate": self.num(t, "error_rate", path),
            "rps": self.num(t, "rps", path),
            "http_req_duration": self.stats(t, "http_req_duration_ms", path),
            "http_req_duration_expected": (
                self.stats(t, "http_req_duration_expected_ms", path)
                if isinstance(expected, Mapping)
                else None
            ),
            "latency": self.stats(t, "latency_ms", path),
            "status": self.counts(t, "status", path),
            "errors": self.counts(t, "errors", path),
        }

    def counts(self, t: Mapping[str, Any], key: str, path: str) -> dict[str, int]:
        table = t.get(key)
        if not isinstance(table, Mapping):
            return {}
        return {str(k): self.whole(table, k, f"{path}.{key}") for k in table}

    def summary(self, t: Mapping[str, Any]) -> Summary:
        p = "summary"
        return Summary(
            **self.section(t, p),
            **{
                k: self.whole(t, k, p)
                for k in ("iterations", "interrupted_iterations", "dropped_iterations", "vus_max")
            },
            iteration_duration=self.stats(t, "iteration_duration_ms", p),
            phases={n: self.stats(t, f"{n}_ms", p) for n in PHASES if f"{n}_ms" in t},
            checks_rate=self.opt(t, "checks_rate", p, self.num),
            breaking_point_rps=self.opt(t, "breaking_point_rps", p, self.num),
        )

    def sections(self, data: Mapping[str, Any], key: str) -> dict[str, Section]:
        return {
            str(n): Section(**self.section(s, f"{key}.{n}"))
            for n, s in self.table(data, key).items()
            if self.is_table(s, f"{key}.{n}")
        }

    def meta(self, m: Mapping[str, Any]) -> Meta:
        text = {k: str(m[k]) for k in _META_TEXT if m.get(k) not in (None, "")}
        aborted = bool(m.get("aborted"))
        stop, error = m.get("stop_reason"), m.get("error")
        ended = m.get("ended")
        if not isinstance(ended, str) or not ended:
            ended = str(
                ending_of(
                    aborted,
                    StopCause.parse(str(stop)) if stop else None,
                    str(error) if error else None,
                )
            )
        options = m.get("executor_options")
        cluster = m.get("cluster")
        return Meta(
            **text,
            executor_options=options if isinstance(options, Mapping) else {},
            duration_s=self.num(m, "duration_s", "meta"),
            interval_s=self.num(m, "interval_s", "meta"),
            aborted=aborted,
            ended=ended,
            exit_code=self.opt(m, "exit_code", "meta", self.whole),
            cpu_percent_max=self.num(m, "cpu_percent_max", "meta"),
            workers=self.whole(m, "workers", "meta"),
            proto=str(m["proto"]) if m.get("proto") else None,
            worker_failures=tuple(str(f) for f in m.get("worker_failures") or ()),
            cluster=Cluster.of(cluster) if isinstance(cluster, Mapping) else None,
            stop_reason=str(stop) if stop else None,
            error=str(error) if error else None,
            steering=self.steering(m),
            merged_from=tuple(str(s) for s in self.seq(m, "merged_from", "meta.")),
            upgraded_from=self.opt(m, "upgraded_from", "meta", self.whole),
            notes=tuple(str(n) for n in self.seq(m, "notes", "meta.")),
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

    def threshold(self, e: Any, path: str) -> ThresholdEntry:
        self.is_table(e, path)
        observed = e.get("observed")
        recomputed = e.get("recomputed")
        return ThresholdEntry(
            metric=str(e.get("metric", "?")),
            expression=str(e.get("expression", "?")),
            ok=e.get("ok") is True,
            observed=float(observed) if is_number(observed) else None,
            abort_on_fail=bool(e.get("abort_on_fail")),
            recomputed=recomputed if isinstance(recomputed, bool) else None,
        )

    def row(self, t: Mapping[str, Any]) -> Row:
        """A timeline row; a missing or non-numeric column reads 0."""
        values = {k: float(t[k]) if is_number(t.get(k)) else 0.0 for k, _ in _ROW_FIELDS}
        return Row(
            **{
                k: (int(v) if math.isfinite(v) else 0) if kind == "int" else v
                for (k, kind), v in zip(_ROW_FIELDS, values.values(), strict=True)
            }
        )

    def histograms(self, h: Mapping[str, Any]) -> ReportHistograms:
        return ReportHistograms(
            total=self.hists(h.get("total")),
            steps={str(n): self.hists(s) for n, s in self.table(h, "steps", "histograms.").items()},
            upstreams={
                str(n): self.hists(s) for n, s in self.table(h, "upstreams", "histograms.").items()
            },
        )

    def named_hists(self, h: Mapping[str, Any], key: str) -> dict[str, Histograms]:
        tables = self.table(h, key, "histograms.")
        return {str(n): x for n, t in tables.items() if (x := self.hists(t)) is not None}

    def hists(self, t: Any) -> Histograms | None:
        """Kept as written: a missing or damaged histogram is found where it is decoded."""
        if not isinstance(t, Mapping):
            return None
        return Histograms(
            **{
                f.name: t[f.name]
                if isinstance(t.get(f.name), str if not f.name.endswith("_us") else int)
                and not isinstance(t.get(f.name), bool)
                else None
                for f in fields(Histograms)
            }
        )

    def deploy(self, d: Mapping[str, Any]) -> DeployRecord:
        p = "deploy"
        try:
            outcome = Outcome(d.get("outcome"))
        except ValueError:
            raise self.fail(f"deploy.outcome {d.get('outcome')!r} is unknown") from None
        weights = d.get("final_weights")
        final = (
            (int(weights[0]), int(weights[1]))
            if isinstance(weights, list) and len(weights) == 2 and all(map(is_number, weights))
            else (None, None)
        )
        fleet = d.get("fleet")
        return DeployRecord(
            strategy=str(d.get("strategy", "?")),
            router=str(d.get("router", "?")),
            start=str(d.get("start", "?")),
            end=str(d.get("end", "?")),
            outcome=outcome,
            blue_weight=final[0],
            green_weight=final[1],
            on_exit=str(d.get("on_exit", "?")),
            steps=tuple(
                self.step(s, f"deploy.steps[{i}]") for i, s in enumerate(self.seq(d, "steps", p))
            ),
            events=tuple(
                DeployEventRow(
                    self.num(e, "at_s", p), str(e.get("kind", "?")), str(e.get("message", ""))
                )
                for e in self.seq(d, "events", "deploy.")
                if self.is_table(e, "deploy.events")
            ),
            notes=tuple(str(n) for n in self.seq(d, "notes", "deploy.")),
            instances={
                str(n): {str(k): self.whole(v, k, f"deploy.instances.{n}") for k in v}
                for n, v in self.table(d, "instances", "deploy.").items()
                if self.is_table(v, f"deploy.instances.{n}")
            },
            fleet=self.fleet(fleet) if isinstance(fleet, Mapping) else None,
        )

    def step(self, s: Any, p: str) -> StepRow:
        self.is_table(s, p)
        weights = s.get("weights")
        blue, green = (
            (int(weights[0]), int(weights[1]))
            if isinstance(weights, list) and len(weights) == 2 and all(map(is_number, weights))
            else (0, 0)
        )
        return StepRow(
            at_s=self.num(s, "at_s", p),
            step=self.opt(s, "step", p, self.whole),
            blue_weight=blue,
            green_weight=green,
            window_s=self.num(s, "window_s", p),
            blue=self.window(s.get("blue"), f"{p}.blue"),
            green=self.window(s.get("green"), f"{p}.green"),
            verdict=str(s.get("verdict", "?")),
            reason=str(s.get("reason") or ""),
        )

    def window(self, c: Any, p: str) -> ColorWindow:
        if not isinstance(c, Mapping):
            return ColorWindow()
        return ColorWindow(
            requests=self.whole(c, "requests", p),
            failed=self.whole(c, "failed", p),
            **{k: self.num(c, k, p) for k in ("p50_ms", "p95_ms", "p99_ms")},
        )

    def fleet(self, f: Mapping[str, Any]) -> FleetRow:
        return FleetRow(
            peak=self.whole(f, "peak_instances", "deploy.fleet"),
            capacity=tuple(
                (
                    self.num(c, "at_s", "deploy.fleet"),
                    self.whole(c, "blue", "deploy.fleet"),
                    self.whole(c, "green", "deploy.fleet"),
                )
                for c in self.seq(f, "capacity", "deploy.fleet.")
                if self.is_table(c, "deploy.fleet.capacity")
            ),
        )


_META_TEXT = ("version", "name", "source", "target", "executor", "test_type")
_META_TEXT += ("environment", "client", "start")
