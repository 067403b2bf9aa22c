"""A finished run as the app's summary screen shows it: just run here, or read from a report.

The summary screen takes one `Review` whichever way the run reached it, so a
report opened weeks later shows the figures its run ended with: latency from the
report's HDR histograms (read back as `surge report merge` reads them, so the
percentiles are the run's own, not copies rounded to a microsecond), threshold
verdicts and timeline rows as the run wrote them. A report keeps no exit code,
so a Review read from one has none rather than a guessed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from engine.errors import ConfigError
from engine.load.executors import ExecutorConfig
from engine.load.model import Figures, LatencyStats, Row, ThresholdState
from engine.load.run import RunResult
from engine.load.states import Ending
from engine.load.steering import SteeringEvent
from engine.load.thresholds import parse_threshold
from engine.report.buckets import read_bucket
from engine.report.document import build_report, read_report
from engine.report.model import Meta, Report, ReportError, Summary, ThresholdEntry


@dataclass(frozen=True)
class Review:
    """What the summary screen shows; `result` or `saved` says which way it came."""

    name: str
    type_label: str  # the test type; "custom" when the executor came from elsewhere
    open_model: bool
    totals: Figures
    thresholds: tuple[ThresholdState, ...]
    timeline: tuple[Row, ...]
    stop_reason: str | None
    ended: Ending  # how the run ended, in the words users read
    steering: tuple[SteeringEvent, ...] = ()  # `[[meta.steering]]`: marks on its plots
    result: RunResult | None = None  # the run itself, when it ran in this process
    saved: Report | None = None  # the report as read from `source`
    source: Path | None = None

    @cached_property
    def report(self) -> Report:
        """What `engine.report.compare` judges; built from a run only when first compared,
        since building it walks every histogram and timeline row."""
        if self.saved is not None:
            return self.saved
        assert self.result is not None, "a Review holds a run or a report"
        return build_report(self.result)

    @property
    def exit_code(self) -> int | None:
        return self.result.exit_code if self.result is not None else None

    @property
    def length(self) -> float:
        """Seconds from the run's start to its last timeline row: where its plots end."""
        return self.timeline[-1].t if self.timeline else 0.0


def review_result(result: RunResult) -> Review:
    plan, model = result.plan, result.model
    return Review(
        name=plan.name,
        type_label=plan.test_type or "custom",
        open_model=plan.work.executor.open_model,
        totals=model.figures(),
        thresholds=tuple(model.states),
        timeline=tuple(model.timeline),
        stop_reason=str(result.stop_reason) if result.stop_reason else None,
        ended=result.ending,
        steering=result.steering,
        result=result,
    )


def read_review(path: str | Path) -> Review:
    """A report file as a Review; ReportError (one line, never a traceback) for anything off."""
    return review_report(read_report(path), Path(path))


def review_report(report: Report, source: Path | None = None) -> Review:
    """A read report as a Review; damaged histograms or thresholds are ReportErrors."""
    where = str(source) if source is not None else "report"
    meta = report.meta
    executor = executor_of(meta)
    return Review(
        name=meta.name or "?",
        type_label=meta.test_type or "custom",
        open_model=executor is not None and executor.open_model,
        totals=_figures(report, f"{where}: [histograms.total]"),
        thresholds=tuple(
            _threshold(entry, f"{where}: thresholds[{i}]")
            for i, entry in enumerate(report.thresholds)
        ),
        timeline=report.timeline,
        stop_reason=meta.stop_reason,
        ended=meta.ended,
        steering=meta.steering,
        saved=report,
        source=source,
    )


def executor_of(meta: Meta) -> ExecutorConfig | None:
    """The run's executor, or None for a report whose options this Surge cannot read."""
    if not meta.executor_options:
        return None
    try:
        return ExecutorConfig.from_options(meta.executor_options)
    except (ConfigError, TypeError, ValueError):
        return None


def threshold_state(entry: ThresholdEntry) -> ThresholdState:
    """A report's threshold entry as the run model held it; ConfigError if it does not parse."""
    th = parse_threshold(entry.metric, entry.expression)
    return ThresholdState(th, entry.ok, entry.observed)


def _threshold(entry: ThresholdEntry, where: str) -> ThresholdState:
    try:
        return threshold_state(entry)
    except ConfigError as exc:
        raise ReportError(f"{where}: {exc}") from None


def _figures(report: Report, where: str) -> Figures:
    """The totals as the run model gave them; latency exact from the histograms when kept."""
    s: Summary = report.summary
    latency, duration = s.latency, s.http_req_duration
    expected = s.http_req_duration_expected or LatencyStats()
    if report.histograms is not None:
        h = read_bucket(report.histograms.total, s, where)  # format 1: all requests expected
        latency = LatencyStats.of(h.latency, h.latency_sum)
        duration = LatencyStats.of(h.duration, h.duration_sum)
        expected = LatencyStats.of(h.expected, h.expected_sum)
    return Figures(
        requests=s.requests,
        failed=s.failed,
        error_rate=s.failed / s.requests if s.requests else 0.0,
        rps=s.rps,
        latency=latency,
        duration=duration,
        expected=expected,
        status={int(k): v for k, v in s.status.items() if k.isdigit()},
        errors=dict(s.errors),
        bytes_in=s.data_received_bytes,
        bytes_out=s.data_sent_bytes,
    )
