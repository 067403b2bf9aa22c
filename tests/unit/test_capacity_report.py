"""The report's [capacity] (typed, read back as written) and the summary's line."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from engine.explore.model import CapacityResult, CapacityStep
from engine.load.model import Figures, LatencyStats, Row, ThresholdState
from engine.load.run import Snapshot
from engine.load.states import RunState
from engine.load.steering import Steer, SteeringEvent
from engine.load.thresholds import parse_threshold
from engine.report.capacity_section import capacity_line
from engine.report.document import read_report, write_toml
from engine.report.model import Meta, Report, ReportError, Summary, parse_report
from engine.report.summary import progress_line, render_report, verdict_line

P99 = "http_req_duration p(99)<50"


def step(rate: float, held: bool, p99: float, **kw: object) -> CapacityStep:
    return CapacityStep(
        rate, held, achieved_rate=rate * 0.99, p50=p99 / 4, p95=p99 / 2, p99=p99,
        values={P99: p99}, start=1.0, end=3.0, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


RESULT = CapacityResult(
    rate=4200.0,
    failed_at=4450.0,
    precision=0.05,
    steps=(
        step(1000, True, 3.0),
        step(2000, True, 4.5),
        step(4000, True, 12.0),
        step(8000, False, 900.0, dropped=12, error_rate=0.25),
        step(4450, False, 61.0),
        step(4200, True, 31.0),
        step(4450, False, 64.0),
    ),
)


def report(c: CapacityResult | None) -> Report:
    return Report(Meta(name="shop", test_type="capacity"), Summary(requests=10), capacity=c)


def test_capacity_reads_back_as_it_was_written(tmp_path: Path) -> None:
    path = write_toml(report(RESULT), tmp_path / "r.toml")
    saved = tomllib.loads(path.read_text())
    assert saved["capacity"]["rate"] == 4200 and saved["capacity"]["failed_at"] == 4450
    assert (
        saved["capacity"]["steps"][3]["p99_ms"] == 900
        and saved["capacity"]["steps"][3]["held"] is False
    )
    assert saved["capacity"]["steps"][0]["values"] == {P99: 3.0}
    assert read_report(path).capacity == RESULT


def test_no_answer_and_no_failure_are_left_out(tmp_path: Path) -> None:
    none = CapacityResult(rate=None, failed_at=None, precision=0.05, steps=(step(10, False, 80.0),))
    path = write_toml(report(none), tmp_path / "r.toml")
    assert "rate" not in tomllib.loads(path.read_text())["capacity"]
    assert read_report(path).capacity == none


def test_a_report_without_a_search_has_no_capacity_table() -> None:
    assert "capacity" not in report(None).table()
    assert parse_report(report(None).table()).capacity is None


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (
            lambda t: t["capacity"]["steps"][1].update(p99_ms="slow"),
            r"capacity\.steps\[1\]\.p99_ms",
        ),
        (lambda t: t["capacity"].update(rate=True), r"capacity\.rate"),
        (lambda t: t["capacity"].update(steps=3), r"capacity\.steps is not a list"),
        (lambda t: t.update(capacity=3), r"capacity"),
    ],
)
def test_a_figure_of_the_wrong_type_names_its_key(change: object, needle: str) -> None:
    table = report(RESULT).table()
    change(table)  # type: ignore[operator]
    with pytest.raises(ReportError, match=needle):
        parse_report(table, "r.toml")


def test_the_summary_says_it_in_one_line() -> None:
    assert capacity_line(RESULT) == "holds 4,200/s with p99 < 50 ms; fails at 4,450/s: p99 61 ms"
    first = CapacityResult(None, 10.0, 0.05, (step(10, False, 80.0), step(10, False, 75.0)))
    assert capacity_line(first) == "even the first step (10/s) failed: p99 80 ms"
    limited = CapacityResult(
        300.0, None, 0.05, (step(300, True, 2.0), step(320, False, 3.0, generator_limited=True))
    )
    assert capacity_line(limited) == (
        "holds 300/s with p99 < 50 ms; Surge could not drive 320/s: not the server's limit"
    )
    rate = CapacityResult(
        100.0,
        200.0,
        0.05,
        (
            step(100, True, 1.0),
            CapacityStep(200, False, values={"http_req_failed rate<0.01": 0.25}),
        ),
    )
    assert capacity_line(rate).endswith("fails at 200/s: http_req_failed rate 0.25")


def test_the_summary_shows_the_steps_and_the_verdict_the_answer() -> None:
    steered = SteeringEvent(2.0, Steer.TARGET, 1000.0, 2000.0)
    r = report(RESULT)
    text = render_report(replace(r, meta=replace(r.meta, steering=(steered,))))
    assert "by hand" not in text and "STEERED" not in text  # the steps say it
    assert "█ CAPACITY" in text and "holds 4,200/s" in text
    # its executor is a day at one rate, never said: the search is
    assert "capacity search, a rate held step by step:" in text and "86400" not in text
    rows = [line for line in text.splitlines() if line.strip().startswith(("4 ", "6 "))]
    assert "8,000/s" in rows[0] and "no" in rows[0] and "yes" in rows[1]
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "holds 4,200/s" in verdict_line(report(RESULT), 0)


def test_the_progress_line_says_the_search_not_its_failed_thresholds() -> None:
    row = Row(**dict.fromkeys(Row.__dataclass_fields__, 0) | {"t": 3.0, "dt": 1.0})
    totals = Figures(0, 0, 0.0, 0.0, *(LatencyStats(),) * 3, {}, {}, 0, 0)
    failed = ThresholdState(parse_threshold("http_req_duration", "p(99)<50"), False, 61.0)
    snap = Snapshot(3.0, RunState.RUNNING, 0.0, row, totals, (failed,), {}, 1.0, 20.0)
    assert "thresholds ✗1" in progress_line(snap)
    line = progress_line(replace(snap, capacity_steps=RESULT.steps[:5]))
    assert "step 6, holds 4,000/s" in line and "thresholds" not in line
