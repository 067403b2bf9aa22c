"""A finished run as the app's summary screen shows it: just run here, or read from a report.

The summary screen takes one `Review` whichever way the run reached it, so a
report opened weeks later shows the figures its run ended with: latency from the
report's HDR histograms (read back as `surge report merge` reads them, so the
percentiles are the run's own, not copies rounded to a microsecond), threshold
verdicts and timeline rows as the run wrote them. A report keeps no exit code,
so a Review read from one has none rather than a guessed one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.load.executors import ExecutorConfig
from engine.load.model import Figures, LatencyStats, Row, ThresholdState
from engine.load.run import RunResult
from engine.load.steering import SteeringEvent
from engine.load.thresholds import parse_threshold
from engine.report.buckets import read_bucket
from engine.report.compare import ended_words
from engine.report.document import (
    ReportError,
    build_report,
    is_number,
    load_report,
    number,
    stats_of,
    steering_of,
)

_ROW_FIELDS = tuple((f.name, f.type) for f in fields(Row))


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
    ended: str  # engine.load.states.Ending: how the run ended, in the words users read
    steering: tuple[SteeringEvent, ...] = ()  # `[[meta.steering]]`: marks on its plots
    result: RunResult | None = None  # the run itself, when it ran in this process
    saved: Mapping[str, Any] | None = None  # the report as read from `source`
    source: Path | None = None

    @cached_property
    def report(self) -> Mapping[str, Any]:
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
        ended=str(result.ending),
        steering=result.steering,
        result=result,
    )


def read_review(path: str | Path) -> Review:
    """A report file as a Review; ReportError (one line, never a traceback) for anything off."""
    return review_report(load_report(path), Path(path))


def review_report(data: Mapping[str, Any], source: Path | None = None) -> Review:
    """`data` as `load_report` returns it (shape checked); damaged parts are ReportErrors."""
    where = str(source) if source is not None else "report"
    meta: Mapping[str, Any] = data.get("meta", {})
    histograms = data.get("histograms")
    total = histograms.get("total") if isinstance(histograms, Mapping) else None
    executor = executor_of(meta)
    return Review(
        name=str(meta.get("name", "?")),
        type_label=str(meta.get("test_type") or "custom"),
        open_model=executor is not None and executor.open_model,
        totals=_figures(data["summary"], total, f"{where}: [histograms.total]"),
        thresholds=tuple(
            _threshold(entry, f"{where}: thresholds[{i}]")
            for i, entry in enumerate(data.get("thresholds", []))
        ),
        timeline=tuple(row_of(r) for r in data.get("timeline", []) if isinstance(r, Mapping)),
        stop_reason=str(meta["stop_reason"]) if meta.get("stop_reason") else None,
        ended=ended_words(meta),
        steering=steering_of(meta, where),
        saved=data,
        source=source,
    )


def executor_of(meta: Mapping[str, Any]) -> ExecutorConfig | None:
    """The run's executor, or None for a report whose options this Surge cannot read."""
    options = meta.get("executor_options")
    if not isinstance(options, Mapping):
        return None
    try:
        return ExecutorConfig.from_options(options)
    except (ConfigError, TypeError, ValueError):
        return None


def threshold_state(entry: Mapping[str, Any]) -> ThresholdState:
    """A report's threshold entry as the run model held it; ConfigError if it does not parse."""
    th = parse_threshold(str(entry.get("metric")), str(entry.get("expression")))
    observed = entry.get("observed")
    return ThresholdState(
        th, entry.get("ok") is True, number(observed) if is_number(observed) else None
    )


def row_of(table: Mapping[str, Any]) -> Row:
    """A timeline row read back; a missing or non-numeric column reads 0."""
    return Row(
        **{
            name: _int(table.get(name)) if kind == "int" else number(table.get(name))
            for name, kind in _ROW_FIELDS
        }
    )


def _threshold(entry: Any, where: str) -> ThresholdState:
    if not isinstance(entry, Mapping):
        raise ReportError(f"{where}: not a table")
    try:
        return threshold_state(entry)
    except ConfigError as exc:
        raise ReportError(f"{where}: {exc}") from None


def _figures(summary: Mapping[str, Any], hist_table: Any, where: str) -> Figures:
    """The totals as the run model gave them; latency exact from the histograms when kept."""
    if isinstance(hist_table, Mapping):
        h = read_bucket(hist_table, summary, where)  # format 1: all its requests expected
        latency = LatencyStats.of(h.latency, h.latency_sum)
        duration = LatencyStats.of(h.duration, h.duration_sum)
        expected = LatencyStats.of(h.expected, h.expected_sum)
    else:  # trimmed by hand or made elsewhere: the tables' own (rounded) figures
        latency = stats_of(summary.get("latency_ms"))
        duration = stats_of(summary.get("http_req_duration_ms"))
        expected = stats_of(summary.get("http_req_duration_expected_ms", {}))
    requests, failed = _int(summary.get("requests")), _int(summary.get("failed"))
    status = summary.get("status")
    errors = summary.get("errors")
    return Figures(
        requests=requests,
        failed=failed,
        error_rate=failed / requests if requests else 0.0,
        rps=number(summary.get("rps")),
        latency=latency,
        duration=duration,
        expected=expected,
        status={
            int(k): _int(v)
            for k, v in (status.items() if isinstance(status, Mapping) else ())
            if str(k).isdigit()
        },
        errors={
            str(k): _int(v) for k, v in (errors.items() if isinstance(errors, Mapping) else ())
        },
        bytes_in=_int(summary.get("data_received_bytes")),
        bytes_out=_int(summary.get("data_sent_bytes")),
    )


def _int(value: Any) -> int:
    value = number(value)
    return int(value) if math.isfinite(value) else 0
