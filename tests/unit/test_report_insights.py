"""`[[insights]]` in the report: typed, written only when a run found something, read
back as written, listed by the summary and `report show`."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from engine.explore.model import Insight, InsightKind
from engine.report.document import read_report, write_toml
from engine.report.model import ReportError, parse_report
from engine.report.summary import render_report
from tests.report_fixtures import BASE

FOUND = (
    Insight(InsightKind.SATURATION, 4.0, 200.0, "throughput stops growing at 200 req/s"),
    Insight(InsightKind.ERRORS, 6.5, None, "errors rise to 10.0% at 100/s: mostly http 5xx"),
)


def test_insights_read_back_as_they_were_written(tmp_path: Path) -> None:
    report = replace(read_report(BASE), insights=FOUND)
    path = write_toml(report, tmp_path / "r.toml")
    saved = tomllib.loads(path.read_text())
    assert saved["insights"] == [
        {"kind": "saturation", "at": 4.0, "rate": 200.0, "text": FOUND[0].text},
        {"kind": "errors", "at": 6.5, "text": FOUND[1].text},  # no rate: none written
    ]
    assert read_report(path) == report


def test_a_run_without_findings_writes_no_table() -> None:
    saved = tomllib.loads(BASE.read_text(encoding="utf-8"))
    assert "insights" not in read_report(BASE).table() and "insights" not in saved


def test_a_kind_a_newer_surge_knows_is_left_out_and_a_bad_figure_named() -> None:
    data = read_report(BASE).table() | {
        "insights": [{"kind": "omens", "at": 1.0, "text": "?"}, {"kind": "knee", "at": 2}]
    }
    assert parse_report(data).insights == (Insight(InsightKind.KNEE, 2.0, None, ""),)
    data["insights"] = [{"kind": "knee", "at": "soon"}]
    with pytest.raises(ReportError, match=r"insights\[0\]\.at is not a number"):
        parse_report(data, "r.toml")


def test_the_summary_lists_them_in_80_columns() -> None:
    long = Insight(InsightKind.SERVER, 75.0, 90.0, "cpu at its limit (0.98/s), " + "x " * 40)
    text = render_report(replace(read_report(BASE), insights=(*FOUND, long)))
    lines = text.splitlines()
    at = lines.index("  █ INSIGHTS")
    assert lines[at + 2].split() == ["0:04", "saturation", *FOUND[0].text.split()]
    assert lines[at + 3].startswith("       0:06  errors      errors rise")
    assert lines[at + 4].startswith("       1:15  server      cpu at its limit")
    assert all(len(x) <= 77 for x in lines[at : at + 7])
    assert "INSIGHTS" not in render_report(read_report(BASE))
