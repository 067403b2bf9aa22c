"""The report's `[observe.series.NAME]`: typed, round-trip, only when a run observed;
`report show` and the summary print it within 80 columns, `report compare` pairs it."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from engine.observe.series import Series
from engine.report.document import read_report, write_toml
from engine.report.model import ReportError, parse_report
from engine.report.observe_section import render_observed, render_observed_pair, sparkline
from engine.report.summary import render_report
from engine.report.text import Paint
from tests.report_fixtures import BASE

CPU = Series("cpu", "http://127.0.0.1:8080/metrics", "%", (1.0, 2.0, 3.0), (10.0, 55.5, 99.0))
DOWN = Series(
    "host_memory@127.0.0.1:9100",
    "http://127.0.0.1:9100/metrics",
    "bytes",
    (0.0, 1.0),
    (2.5e9, 2.6e9),
    "127.0.0.1:9100 down since 2s (Connection refused)",
)


def test_series_round_trip_through_toml(tmp_path: Path) -> None:
    report = replace(read_report(BASE), observe={"cpu": CPU, DOWN.name: DOWN})
    path = write_toml(report, tmp_path / "r.toml")
    text = path.read_text()
    assert "[observe.series.cpu]" in text
    assert '[observe.series."host_memory@127.0.0.1:9100"]' in text
    assert read_report(path).observe == {"cpu": CPU, DOWN.name: DOWN}


def test_a_report_without_observing_writes_no_observe_table() -> None:
    report = read_report(BASE)
    assert report.observe == {}
    assert "observe" not in report.table()


@pytest.mark.parametrize(
    ("table", "what"),
    [
        ({"series": {"cpu": {"times": [1, 2], "values": [1]}}}, "2 times for 1 values"),
        ({"series": {"cpu": {"times": [1], "values": ["x"]}}}, "lists of numbers"),
        ({"series": {"cpu": {"unit": 3}}}, "strings"),
        ({"series": 3}, "[observe.series] is not a table"),
    ],
)
def test_a_damaged_observe_table_names_the_key(table: dict[str, object], what: str) -> None:
    data = tomllib.loads(BASE.read_text()) | {"observe": table}
    with pytest.raises(ReportError, match="observe") as info:
        parse_report(data, "r.toml")
    assert what in str(info.value)


def test_show_prints_each_series_and_the_outage_within_80_columns() -> None:
    lines = render_observed({"cpu": CPU, DOWN.name: DOWN}, Paint(False))
    assert lines[0].strip() == "█ SERVER SIDE"
    cpu = next(x for x in lines if x.strip().startswith("cpu"))
    assert "▁▅█" in cpu and "10.0% / 54.8% / 99.0%" in cpu
    at = lines.index("    host_memory@127.0.0.1:9100")  # a long name: on a line of its own
    assert lines[at + 1].endswith("2.5 GB / 2.5 GB / 2.6 GB")
    assert any("down since 2s" in x for x in lines)
    assert all(len(x) <= 80 for x in lines)
    summary = render_report(replace(read_report(BASE), observe={"cpu": CPU}))
    assert "█ SERVER SIDE" in summary
    assert "SERVER SIDE" not in render_report(read_report(BASE))


def test_compare_pairs_series_on_one_scale() -> None:
    hotter = replace(CPU, values=(80.0, 90.0, 99.0))
    lines = render_observed_pair({"cpu": CPU}, {"cpu": hotter, "memory": DOWN})
    cpu = next(x for x in lines if x.strip().startswith("cpu"))
    assert "54.8%" in cpu and "89.7%" in cpu and "+64%" in cpu
    assert cpu.split()[-2:] == ["▁▅█", "▇▇█"]  # one scale: NEW's 80% is high on BASE's bars too
    assert any(x.strip().startswith("memory") and "–" in x for x in lines)  # only in NEW
    assert all(len(x) <= 80 for x in lines)


def test_sparkline_means_its_share_of_many_values() -> None:
    assert sparkline([0.0] * 50 + [10.0] * 50, 4, 0.0, 10.0) == "▁▁██"
    assert sparkline([5.0, 5.0], 24, 5.0, 5.0) == "▁▁"
