"""TOML reports: a run's typed Report (engine.report.model) built, written and read.

Histograms make two reports mergeable and comparable exactly, long after the run.
Written atomically (temp file + rename) so a crash never leaves half a report.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import tomli_w
from hdrh.histogram import HdrHistogram

from engine import __version__
from engine.explore.model import Insight
from engine.load.metrics import Bucket, Interval, encode_histogram, new_histogram
from engine.load.model import Figures, LatencyStats, RunModel, bucket_total
from engine.load.run import (
    DEFAULT_SCENARIO,
    SETUP_LANE,
    TEARDOWN_LANE,
    RunResult,
    ScenarioPlan,
    WorkPlan,
)
from engine.load.tags import TagIndex
from engine.report.deploy_section import DeployRecord, rollout_exit_code
from engine.report.model import (
    FORMAT,
    Checks,
    Cluster,
    GroupSection,
    Histograms,
    Meta,
    Report,
    ReportError,
    ReportHistograms,
    ScenarioSection,
    Section,
    Summary,
    ThresholdEntry,
    parse_report,
)

__all__ = ["FORMAT", "Report", "ReportError", "build_report", "read_report", "write_toml"]

# Format 2: http_req_duration is k6's (from the send; format 1's `service_time`), and
# `latency` the figure from the due time (format 1's http_req_duration). Format 1
# reports are read and upgraded in memory (`upgrade`), with a note saying so. Format 3
# is the typed report (engine.report.model): the same tables, read by one parser.
_READS = (1, 2, FORMAT)


def section_of(f: Figures) -> Section:
    """A section's figures, rounded as the report writes them."""
    return Section(
        requests=f.requests,
        failed=f.failed,
        error_rate=round(f.error_rate, 6),
        rps=round(f.rps, 3),
        data_received_bytes=f.bytes_in,
        data_sent_bytes=f.bytes_out,
        http_req_duration=_rounded(f.duration),
        http_req_duration_expected=_rounded(f.expected),  # {expected_response:true}
        latency=_rounded(f.latency),
        status={str(k): v for k, v in f.status.items()},
        errors=dict(f.errors),
    )


def _rounded(stats: LatencyStats) -> LatencyStats:
    return LatencyStats(**stats.as_dict())


def rounded_stats(h: Any, total_us: int) -> LatencyStats:
    return _rounded(LatencyStats.of(h, total_us))


def bucket_histograms(b: Bucket, whole: Interval | None = None) -> Histograms:
    """A section's histograms; the whole run's (`whole`) add its iterations' durations."""
    return Histograms(
        latency=encode_histogram(b.latency),
        latency_sum_us=b.latency_sum,
        http_req_duration=encode_histogram(b.duration),
        http_req_duration_sum_us=b.duration_sum,
        http_req_duration_expected=encode_histogram(b.expected),
        http_req_duration_expected_sum_us=b.expected_sum,
        iteration_duration=encode_histogram(whole.iteration_duration) if whole else None,
        iteration_duration_sum_us=whole.iteration_sum if whole else None,
    )


def scenario_section(
    how: ScenarioSection,
    section: Section,
    whole: Interval,
    ended_s: float,
    checks: Mapping[str, tuple[int, int]],
) -> ScenarioSection:
    """`[scenarios.NAME]`, of a run or a merge: how it ran (`how`: executor, options,
    startTime, exec, tags), its section and the iterations and checks of its `whole`."""
    return replace(
        how,
        **vars(section),
        iterations=whole.iterations,
        interrupted_iterations=whole.interrupted,
        dropped_iterations=whole.dropped,
        iteration_duration=rounded_stats(whole.iteration_duration, whole.iteration_sum),
        ended_s=round(ended_s, 3),
        checks={name: Checks(p, f) for name, (p, f) in checks.items()},
    )


def group_section(
    section: Section,
    hists: Histograms,
    duration: HdrHistogram,
    duration_sum: int,
    checks: Mapping[str, Checks],
) -> tuple[GroupSection, Histograms]:
    """`[groups."::NAME"]` and its histograms: its requests' (`section`, `hists`) and
    k6's group_duration (`duration`, its exact sum in us)."""
    group = GroupSection(
        **vars(section), group_duration=rounded_stats(duration, duration_sum), checks=dict(checks)
    )
    kept = encode_histogram(duration)
    return group, replace(hists, group_duration=kept, group_duration_sum_us=duration_sum)


def lane_tables(
    hows: Mapping[str, ScenarioSection], lanes: Mapping[str, RunModel], seconds: float
) -> tuple[dict[str, ScenarioSection], dict[str, Histograms]]:
    """`[scenarios.NAME]` and their histograms, from each lane's own RunModel (setup and
    teardown are lanes too); `hows` says how each ran. Rates are over the whole run's
    `seconds`, as k6 rates a scenario's counters over the test's duration."""
    sections, hists = {}, {}
    for name, lane in lanes.items():
        whole = lane.total
        bucket = bucket_total(whole.buckets.values())
        active = [r.t for r in lane.timeline if r.requests or r.iterations or r.vus or r.dropped]
        sections[name] = scenario_section(
            hows.get(name, ScenarioSection()),
            section_of(Figures.of(bucket, seconds)),
            whole,
            max(active, default=0.0),
            lane.checks(),
        )
        hists[name] = bucket_histograms(bucket, whole)
    return sections, hists


def group_tables(
    lanes: Mapping[str, RunModel],
    group_of: Mapping[tuple[str, str], str],
    durations: Mapping[str, tuple[HdrHistogram, int]],
    seconds: float,
) -> tuple[dict[str, GroupSection], dict[str, Histograms]]:
    """`[groups."::NAME"]` and their histograms: k6's group_duration (`durations`: path
    -> histogram and exact sum, us) and the requests and checks of the steps in each
    group (`group_of`: (lane, step) -> path)."""
    buckets = {path: Bucket() for path in durations}
    checks: dict[str, dict[str, Checks]] = {path: {} for path in durations}
    for lane_name, lane in lanes.items():
        for (step, _), b in lane.total.buckets.items():
            if path := group_of.get((lane_name, step)):
                buckets.setdefault(path, Bucket()).add(b)
        for (step, name), (p, f) in lane.total.checks.items():
            if path := group_of.get((lane_name, step)):
                was = checks.setdefault(path, {}).get(name, Checks())
                checks[path][name] = Checks(was.passes + p, was.fails + f)
    out = {
        path: group_section(
            section_of(Figures.of(b, seconds)),
            bucket_histograms(b),
            *durations.get(path, (new_histogram(), 0)),
            checks.get(path, {}),
        )
        for path, b in sorted(buckets.items())
    }
    return {p: g for p, (g, _) in out.items()}, {p: h for p, (_, h) in out.items()}


def summary_of(
    section: Section, whole: Interval, model: RunModel, vus_max: int, breaking_point: float | None
) -> Summary:
    """`[summary]`, of a run or a merge: the whole run's section and its iterations; the
    timeline's highest vus_max (`vus_max` without one)."""
    checks_rate = model.checks_rate()
    return Summary(
        **vars(section),
        iterations=whole.iterations,
        interrupted_iterations=whole.interrupted,
        dropped_iterations=whole.dropped,
        iteration_duration=rounded_stats(whole.iteration_duration, whole.iteration_sum),
        vus_max=max((r.vus_max for r in model.timeline), default=vus_max),
        phases={n: rounded_stats(h, whole.phase_sums[n]) for n, h in whole.phases.items()},
        checks_rate=round(checks_rate, 6) if checks_rate is not None else None,
        breaking_point_rps=round(breaking_point, 3) if breaking_point is not None else None,
    )


def build_report(result: RunResult, deploy: DeployRecord | None = None) -> Report:
    """The report of a run; `deploy`, the rollout that went with it, as `[deploy]`."""
    plan, model = result.plan, result.model
    plans = plan.work.scenarios
    cfg = plans[0].executor if len(plans) == 1 else None  # several: each its own
    total = model.total
    scenarios, scenario_hists = {}, {}
    groups, group_hists = {}, {}
    if total.groups or set(model.lanes) - {DEFAULT_SCENARIO}:
        hows = {p.name: _how(p) for p in plans}
        order = [SETUP_LANE, *hows, TEARDOWN_LANE]  # as they ran: setup first
        lanes = {n: model.lanes[n] for n in sorted(model.lanes, key=_rank(order))}
        scenarios, scenario_hists = lane_tables(hows, lanes, model.elapsed)
        durations = {path: (h, total.group_sums.get(path, 0)) for path, h in total.groups.items()}
        groups, group_hists = group_tables(  # one `default` lane: the run is its model
            model.lanes or {DEFAULT_SCENARIO: model},
            _group_paths(plan.work),
            durations,
            model.elapsed,
        )
    meta = Meta(
        version=__version__,
        name=plan.name,
        source=plan.source,
        target=plan.work.base_url,
        executor=cfg.executor if cfg else "scenarios",
        executor_options=cfg.options() if cfg else {},
        test_type=plan.test_type or "",
        environment=plan.environment or "",
        client=plan.work.client,
        start=result.started_at.replace(microsecond=0).isoformat(),
        duration_s=round(result.duration, 3),
        interval_s=plan.interval,
        aborted=result.aborted,
        ended=result.ending,
        exit_code=rollout_exit_code(result.exit_code, deploy),  # as `surge run` exits
        cpu_percent_max=round(result.cpu_percent_max, 1),
        workers=result.workers,
        proto=", ".join(sorted(total.protocols)) or None,  # k6's `proto` tag
        worker_failures=tuple(result.failures),
        cluster=Cluster.of(result.cluster) if result.cluster else None,
        stop_reason=str(result.stop_reason) if result.stop_reason else None,
        error=result.error or None,
        steering=tuple(result.steering),
    )
    return Report(
        meta=meta,
        summary=summary_of(section_of(model.figures()), total, model, 0, result.breaking_point_rps),
        thresholds=tuple(
            ThresholdEntry(
                metric=s.threshold.key,
                expression=s.threshold.expression,
                ok=s.ok,
                observed=round(s.observed, 6) if s.observed is not None else None,
                abort_on_fail=s.threshold.abort_on_fail,
            )
            for s in model.states
        ),
        checks={name: Checks(p, f) for name, (p, f) in model.checks().items()},
        steps={s: section_of(model.figures((("step", s),))) for s in model.steps()},
        upstreams={u: section_of(model.figures((("upstream", u),))) for u in model.upstreams()},
        timeline=tuple(model.timeline),
        scenarios=scenarios,
        groups=groups,
        histograms=ReportHistograms(
            total=bucket_histograms(bucket_total(total.buckets.values()), total),
            steps={
                s: bucket_histograms(bucket_total(b for k, b in total.buckets.items() if k[0] == s))
                for s in model.steps()
            },
            upstreams={
                u: bucket_histograms(bucket_total(b for k, b in total.buckets.items() if k[1] == u))
                for u in model.upstreams()
            },
            scenarios=scenario_hists,
            groups=group_hists,
        ),
        deploy=deploy,
        observe=dict(result.observed),
        capacity=result.capacity,
        insights=tuple(_rounded_insight(f) for f in result.insights),
    )


def _rounded_insight(f: Insight) -> Insight:
    return replace(f, at=round(f.at, 3), rate=round(f.rate, 3) if f.rate is not None else None)


def _rank(order: list[str]) -> Callable[[str], int]:
    """A sort key: a name's place in `order`, any other after them."""
    return lambda name: order.index(name) if name in order else len(order)


def _how(plan: ScenarioPlan) -> ScenarioSection:
    """How a scenario ran, as its report section says it (k6's option names)."""
    cfg = plan.executor
    return ScenarioSection(
        executor=cfg.executor,
        executor_options=cfg.options(),
        start_time_s=plan.start_time,
        exec=plan.exec,
        tags=dict(plan.tags),
    )


def _group_paths(work: WorkPlan) -> dict[tuple[str, str], str]:
    """(lane, step) -> the k6 group path of a step in a group (`::checkout`, in setup
    `::setup::login`), as the run's tags say it (a lane's root, ::setup, is no group)."""
    lanes = TagIndex.of_plan(work).lanes.values()
    return {
        (lane.name, step.name): step.group
        for lane in lanes
        for step in lane.steps
        if step.group and step.group != lane.group
    }


def unwritable(path: str | Path) -> str | None:
    """Why a report cannot be written at `path`, checked before a run starts, or None."""
    path = Path(path)
    if path.is_dir():
        return "is a folder (give a file name, e.g. reports/run.toml)"
    if path.exists() and not os.access(path, os.W_OK):
        return "is not writable"
    folder = path.resolve().parent
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"cannot write to {folder}"
    return None


def write_report_or_fallback(
    data: Report, path: str | Path, started_at: dt.datetime
) -> tuple[Path, str | None]:
    """Write the report; if that fails (the folder went away, the disk filled), write it
    in the current folder or the temp folder instead and say so: a run is never lost."""
    wanted = Path(path)
    try:
        return write_toml(data, wanted), None
    except OSError as exc:
        reason = exc.strerror or str(exc)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    name = f"surge-report-{stamp}.toml"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        try:
            written = write_toml(data, folder / name)
        except OSError:
            continue
        return written, f"could not write {wanted} ({reason}); wrote {written} instead"
    raise OSError(f"could not write {wanted} ({reason}), nor a copy in . or the temp folder")


def current_umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux):
    os.umask() can only be read by setting it, a race with threads that create files
    (the app writes reports from a thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_toml(report: Report, path: str | Path) -> Path:
    """The report's TOML, written atomically (`write_atomic`)."""
    return write_atomic(tomli_w.dumps(report.table()).encode(), path)


def write_atomic(data: bytes, path: str | Path) -> Path:
    """Atomically: a temp file in the same folder, fsync, then rename over the target, so a
    crash mid-write leaves the old file or the new one, never half of one.

    mkstemp makes the file 0600; the file gets what `open()` would have given it
    (0666 less the umask), so a shared reports folder stays readable as the user set it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_report(path: str | Path) -> Report:
    """Parse and check a report; ReportError (never a traceback) for anything off."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not a valid report (damaged TOML: {exc})") from None
    except RecursionError:
        raise ReportError(f"{path}: not a valid report (nested too deeply)") from None
    except OSError as exc:  # a folder, no permission: typed paths in the app hit these too
        raise ReportError(f"{path}: cannot read ({exc.strerror or exc})") from None
    meta = data.get("meta")
    if not isinstance(meta, dict) or "format" not in meta or "summary" not in data:
        raise ReportError(f"{path}: not a Surge report (no [meta] format or [summary])")
    if meta["format"] not in _READS:
        raise ReportError(
            f"{path}: report format {meta['format']!r} is not supported by this Surge "
            f"(reads formats {', '.join(map(str, _READS))}); upgrade Surge to read it"
        )
    return parse_report(upgrade(data), str(path))


FORMAT_1_NOTE = (
    "written in format 1: its http_req_duration was the latency from the due time "
    "(now `latency`) and its service_time is now http_req_duration (k6's meaning); "
    "no {expected_response:true} split"
)
_RENAMED_1 = {"service_time_ms": "http_req_duration_ms"}
_RENAMED_HIST_1 = {
    "service_time": "http_req_duration",
    "service_time_sum_us": "http_req_duration_sum_us",
}
_RENAMED_ROW_1 = {"service_p50": "duration_p50", "service_p99": "duration_p99"}


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A format 1 report's tables as format 2's, in memory; `meta.upgraded_from` and a note say so
    (compare and merge print it). The metric names changed meaning, not the figures."""
    meta = data["meta"]
    if meta.get("format") != 1:
        return data
    sections = [data.get("summary")]
    for key in ("steps", "upstreams"):
        table = data.get(key)
        if isinstance(table, Mapping):
            sections.extend(table.values())
    for section in sections:
        _rename(section, _RENAMED_1)
    hists = data.get("histograms")
    if isinstance(hists, Mapping):
        _rename(hists.get("total"), _RENAMED_HIST_1)
        for key in ("steps", "upstreams"):
            table = hists.get(key)
            for section in table.values() if isinstance(table, Mapping) else ():
                _rename(section, _RENAMED_HIST_1)
    for row in data.get("timeline") or ():
        _rename(row, _RENAMED_ROW_1)
    for th in data.get("thresholds") or ():
        if isinstance(th, dict) and isinstance(th.get("metric"), str):
            name = th["metric"]
            if name.startswith("http_req_duration"):
                th["metric"] = "latency" + name[len("http_req_duration") :]
            elif name.startswith("service_time"):
                th["metric"] = "http_req_duration" + name[len("service_time") :]
    meta["upgraded_from"] = 1
    meta["notes"] = [*meta.get("notes", []), FORMAT_1_NOTE]
    return data


def _rename(table: Any, names: Mapping[str, str]) -> None:
    if isinstance(table, dict):
        for old, new in names.items():
            if old in table and new not in table:
                table[new] = table.pop(old)
