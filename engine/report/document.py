"""TOML reports: every figure a summary shows, plus the encoded HDR histograms.

Histograms make two reports mergeable and comparable exactly, long after the run.
Written atomically (temp file + rename) so a crash never leaves half a report.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import tomli_w

from engine import __version__
from engine.load.metrics import Bucket, encode_histogram
from engine.load.model import Figures, LatencyStats, bucket_total
from engine.load.run import RunResult
from engine.load.steering import SteeringEvent
from engine.report.deploy_section import DeployRecord, deploy_table, rollout_exit_code

# Format 2: http_req_duration is k6's (from the send; format 1's `service_time`), and
# `latency` the figure from the due time (format 1's http_req_duration). Format 1
# reports are read and upgraded in memory (`upgrade`), with a note saying so.
FORMAT = 2
_READS = (1, 2)


class ReportError(ValueError):
    """A report that cannot be read: damaged, or of an unknown format."""


def _figures(f: Figures) -> dict[str, Any]:
    return {
        "requests": f.requests,
        "failed": f.failed,
        "error_rate": round(f.error_rate, 6),
        "rps": round(f.rps, 3),
        "data_received_bytes": f.bytes_in,
        "data_sent_bytes": f.bytes_out,
        "http_req_duration_ms": f.duration.as_dict(),
        "http_req_duration_expected_ms": f.expected.as_dict(),  # {expected_response:true}
        "latency_ms": f.latency.as_dict(),
        "status": {str(k): v for k, v in f.status.items()},
        "errors": dict(f.errors),
    }


def _histograms(b: Bucket) -> dict[str, Any]:
    return {
        "latency": encode_histogram(b.latency),
        "http_req_duration": encode_histogram(b.duration),
        "http_req_duration_expected": encode_histogram(b.expected),
        "latency_sum_us": b.latency_sum,
        "http_req_duration_sum_us": b.duration_sum,
        "http_req_duration_expected_sum_us": b.expected_sum,
    }


def build_report(result: RunResult, deploy: DeployRecord | None = None) -> dict[str, Any]:
    """The report of a run; `deploy`, the rollout that went with it, as `[deploy]`."""
    plan, model = result.plan, result.model
    cfg = plan.work.executor
    total = model.total
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": __version__,
        "name": plan.name,
        "source": plan.source,
        "target": plan.work.base_url,
        "executor": cfg.executor,
        "executor_options": cfg.options(),
        "test_type": plan.test_type or "",
        "environment": plan.environment or "",
        "client": plan.work.client,
        "start": result.started_at.replace(microsecond=0).isoformat(),
        "duration_s": round(result.duration, 3),
        "interval_s": plan.interval,
        "aborted": result.aborted,
        "ended": str(result.ending),  # engine.load.states.Ending: the words users read
        "exit_code": rollout_exit_code(result.exit_code, deploy),  # as `surge run` exits
        "cpu_percent_max": round(result.cpu_percent_max, 1),
        "workers": result.workers,
    }
    if total.protocols:  # k6's `proto` tag, of the connections the run opened
        meta["proto"] = ", ".join(sorted(total.protocols))
    if result.failures:
        meta["worker_failures"] = result.failures
    if result.cluster:
        meta["cluster"] = result.cluster
    if result.stop_reason:
        meta["stop_reason"] = str(result.stop_reason)
    if result.error:
        meta["error"] = result.error
    if result.steering:
        meta["steering"] = steering_tables(result.steering)
    summary = _figures(model.figures())
    summary.update(
        iterations=total.iterations,
        interrupted_iterations=total.interrupted,
        dropped_iterations=total.dropped,
        iteration_duration_ms=_stats(total.iteration_duration, total.iteration_sum),
        vus_max=max((r.vus_max for r in model.timeline), default=0),
    )
    for name, h in total.phases.items():  # k6's timing breakdown
        summary[f"{name}_ms"] = _stats(h, total.phase_sums[name])
    if model.checks_rate() is not None:
        summary["checks_rate"] = round(model.checks_rate() or 0.0, 6)
    if result.breaking_point_rps is not None:
        summary["breaking_point_rps"] = round(result.breaking_point_rps, 3)
    report: dict[str, Any] = {"meta": meta, "summary": summary}
    report["thresholds"] = [
        {
            "metric": s.threshold.key,
            "expression": s.threshold.expression,
            "ok": s.ok,
            "observed": round(s.observed, 6) if s.observed is not None else "no data",
            "abort_on_fail": s.threshold.abort_on_fail,
        }
        for s in model.states
    ]
    report["checks"] = {name: {"passes": p, "fails": f} for name, (p, f) in model.checks().items()}
    report["steps"] = {s: _figures(model.figures((("step", s),))) for s in model.steps()}
    report["upstreams"] = {
        u: _figures(model.figures((("upstream", u),))) for u in model.upstreams()
    }
    report["timeline"] = [
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(r).items()}
        for r in model.timeline
    ]
    report["histograms"] = {
        "total": _histograms(bucket_total(total.buckets.values()))
        | {
            "iteration_duration": encode_histogram(total.iteration_duration),
            "iteration_duration_sum_us": total.iteration_sum,
        },
        "steps": {
            s: _histograms(bucket_total(b for k, b in total.buckets.items() if k[0] == s))
            for s in model.steps()
        },
        "upstreams": {
            u: _histograms(bucket_total(b for k, b in total.buckets.items() if k[1] == u))
            for u in model.upstreams()
        },
    }
    if deploy is not None:
        report["deploy"] = deploy_table(deploy)
    return report


def steering_tables(events: Sequence[SteeringEvent]) -> list[dict[str, Any]]:
    """`[[meta.steering]]`: t, what, from, to (and run, in a merged report)."""
    return [e.as_table() for e in events]


def steering_of(meta: Mapping[str, Any], where: str = "report") -> tuple[SteeringEvent, ...]:
    """A report's steering by hand, oldest first; none in reports from before it was kept.
    ReportError naming the entry for a damaged one."""
    entries = meta.get("steering", [])
    if not isinstance(entries, list):
        raise ReportError(f"{where}: not a valid report (meta.steering is not a list)")
    out = []
    for i, entry in enumerate(entries):
        try:
            out.append(SteeringEvent.of_table(entry))
        except ValueError as exc:
            raise ReportError(f"{where}: meta.steering[{i}]: {exc}") from None
    return tuple(sorted(out, key=lambda e: e.t))


def _stats(h: Any, total_us: int) -> dict[str, float]:
    return LatencyStats.of(h, total_us).as_dict()


def write_report(result: RunResult, path: str | Path, deploy: DeployRecord | None = None) -> Path:
    return write_toml(build_report(result, deploy), path)


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
    result: RunResult, path: str | Path, deploy: DeployRecord | None = None
) -> tuple[Path, str | None]:
    """Write the report; if that fails (the folder went away, the disk filled), write it
    in the current folder or the temp folder instead and say so: a run is never lost."""
    data = build_report(result, deploy)
    wanted = Path(path)
    try:
        return write_toml(data, wanted), None
    except OSError as exc:
        reason = exc.strerror or str(exc)
    stamp = result.started_at.strftime("%Y%m%dT%H%M%SZ")
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


def write_toml(data: dict[str, Any], path: str | Path) -> Path:
    """Atomically: a temp file in the same folder, fsync, then rename over the target.

    mkstemp makes the file 0600; the report gets what `open()` would have given it
    (0666 less the umask), so a shared reports folder stays readable as the user set it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            tomli_w.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_report(path: str | Path) -> dict[str, Any]:
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
    return upgrade(data)


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
    """A format 1 report as format 2, in memory; `meta.upgraded_from` and a note say so
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
    meta["format"] = FORMAT
    meta["upgraded_from"] = 1
    meta["notes"] = [*meta.get("notes", []), FORMAT_1_NOTE]
    return data


def _rename(table: Any, names: Mapping[str, str]) -> None:
    if isinstance(table, dict):
        for old, new in names.items():
            if old in table and new not in table:
                table[new] = table.pop(old)


def load_report(path: str | Path) -> dict[str, Any]:
    """`read_report`, plus the shape every reader relies on: a clear error, not a KeyError."""
    data = read_report(path)
    summary = data["summary"]
    if not isinstance(summary, Mapping) or not is_number(summary.get("requests")):
        raise ReportError(f"{path}: not a valid report ([summary] has no requests count)")
    for key in ("meta", "steps", "upstreams", "checks"):
        if key in data and not isinstance(data[key], Mapping):
            raise ReportError(f"{path}: not a valid report ([{key}] is not a table)")
    for key in ("thresholds", "timeline"):
        if key in data and not isinstance(data[key], list):
            raise ReportError(f"{path}: not a valid report ({key} is not a list)")
    steering_of(data.get("meta", {}), str(path))
    return data


def stats_of(table: Any) -> LatencyStats:
    """A `*_ms` table read back, tolerant of missing keys: a hand-trimmed report shows
    zeros, not a traceback."""
    if not isinstance(table, Mapping):
        return LatencyStats()
    fields = ("min", "mean", "p50", "p90", "p95", "p99", "p99_9", "max")
    return LatencyStats(**{k: number(table.get(k)) for k in fields})


def is_number(value: Any) -> bool:
    """A TOML number: bool is an int to Python, never a figure to a report."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def number(value: Any) -> float:
    """A figure read back; anything else (missing, a string) reads 0."""
    return float(value) if is_number(value) else 0.0
