"""Reports written before format 2 still open, compare and merge, saying what changed."""

from __future__ import annotations

import tomllib
from pathlib import Path

from engine.report.compare import compare
from engine.report.document import FORMAT, read_report
from engine.report.merge import merge_reports

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reports"
OLD = FIXTURES / "format1-shop.toml"  # written by format 1 (kept as it was, not generated)
NEW = FIXTURES / "shop-new.toml"


def test_a_format_1_report_reads_as_format_2_under_the_new_names() -> None:
    raw = tomllib.loads(OLD.read_text(encoding="utf-8"))
    data = read_report(OLD)
    assert raw["meta"]["format"] == 1 and data.table()["meta"]["format"] == FORMAT == 3
    assert data.meta.upgraded_from == 1
    # Its service_time was k6's http_req_duration; its http_req_duration was the latency.
    assert data.summary.http_req_duration.as_dict() == raw["summary"]["service_time_ms"]
    assert data.summary.latency.as_dict() == raw["summary"]["latency_ms"]
    assert "service_time_ms" not in data.table()["summary"]
    assert data.thresholds[0].metric == "latency"
    assert raw["thresholds"][0]["metric"] == "http_req_duration"
    hist = data.histograms.total if data.histograms is not None else None
    assert hist is not None
    assert hist.http_req_duration == raw["histograms"]["total"]["service_time"]
    row = data.timeline[0]
    assert row.duration_p99 == raw["timeline"][0]["service_p99"]


def test_compare_and_merge_of_an_old_report_say_what_changed() -> None:
    old, new = read_report(OLD), read_report(NEW)
    warnings = compare(old, new).warnings
    assert any(w.startswith("BASE report written in format 1") for w in warnings), warnings
    merged = merge_reports([old, new])
    assert merged.table()["meta"]["format"] == FORMAT
    assert merged.summary.requests == old.summary.requests + new.summary.requests
    # The old report has no {expected_response:true} split, so the merge has none either.
    assert merged.summary.http_req_duration_expected is None
    assert new.summary.http_req_duration_expected is not None
