"""A finished run as the app's summary screen shows it: just run here, or read from a report.

The summary screen takes one `Review` whichever way the run reached it, so a
report opened weeks later shows the figures its run ended with: latency from the
report's HDR histograms (read back as `surge report merge` reads them, so the
percentiles are the run's own, not copies rounded to a microsecond), threshold
verdicts and timeline rows as the run wrote them. A report keeps no exit code,
so a Review read from one has none rather than a guessed one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    """What the summary screen shows: a report (a run's, or read from `source`), its
    totals and verdicts in the run model's types, and the run when it ran here."""

    report: Report  # what `engine.report.compare` judges
    totals: Figures
    thresholds: tuple[ThresholdState, ...]
    result: RunResult | None = None
    source: Path | None = None

    @property
    def name(self) -> str:
        return self.report.meta.name or "?"

    @property
    def type_label(self) -> str:
        """The test type; "custom" when the executor came from elsewhere."""
        return self.report.meta.test_type or "custom"

    @property
    def open_model(self) -> bool:
        """Whether the run (any of its scenarios) had a target rate."""
        if self.result is not None:
            return any(p.executor.open_model for p in self.result.plan.work.scenarios)
        options = [self.report.meta.executor_options]
        options += [s.executor_options for s in self.report.scenarios.values()]
        return any(e is not None and e.open_model for e in map(executor_from, options))

    @property
    def timeline(self) -> tuple[Row, ...]:
        return self.report.timeline

    @property
    def stop_reason(self) -> str | None:
        return self.report.meta.stop_reason

    @property
    def ended(self) -> Ending:
        return self.report.meta.ended

    @property
    def steering(self) -> tuple[SteeringEvent, ...]:
        """`[[meta.steering]]`: marks on its plots."""
        return self.report.meta.steering

    @property
    def exit_code(self) -> int | None:
        """A report keeps the code `surge run` exits with, not the console's: None."""
        return self.result.exit_code if self.result is not None else None

    @property
    def length(self) -> float:
        """Seconds from the run's start to its last timeline row: where its plots end."""
        return self.timeline[-1].t if self.timeline else 0.0


def review_result(result: RunResult) -> Review:
    model = result.model
    return Review(build_report(result), model.figures(), tuple(model.states), result)


def read_review(path: str | Path) -> Review:
    """A report file as a Review; ReportError (one line, never a traceback) for anything off."""
    return review_report(read_report(path), Path(path))


def review_report(report: Report, source: Path | None = None) -> Review:
    """A read report as a Review; damaged histograms or thresholds are ReportErrors."""
    where = str(source) if source is not None else "report"
    return Review(
        report,
        _figures(report, f"{where}: [histograms.total]"),
        tuple(
            _threshold(entry, f"{where}: thresholds[{i}]")
            for i, entry in enumerate(report.thresholds)
        ),
        source=source,
    )


def executor_of(meta: Meta) -> ExecutorConfig | None:
    """The run's executor, or None for a report whose options this Surge cannot read."""
    return executor_from(meta.executor_options)


def executor_from(options: Mapping[str, Any]) -> ExecutorConfig | None:
    """An executor from its k6 options (the run's, a scenario's); None if unreadable."""
    if not options:
        return None
    try:
        return ExecutorConfig.from_options(options)
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
