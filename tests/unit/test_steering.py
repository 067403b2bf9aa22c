"""Steering by hand on record: the log, `[[meta.steering]]` written and read back, and
what the summary, `report show`, `report compare` and `report merge` make of it."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from engine.load.states import StopReason, threshold_abort
from engine.load.steering import (
    Steer,
    SteeringEvent,
    SteeringLog,
    fmt_target,
    steering_words,
)
from engine.report.compare import compare
from engine.report.document import ReportError, read_report, write_toml
from engine.report.merge import merge_reports
from engine.report.model import Report
from engine.report.review import read_review
from engine.report.summary import render_report
from tests.report_fixtures import BASE, NEW
from tui.cli import main as cli

STEERED = (
    SteeringEvent(3.2, Steer.PAUSE),
    SteeringEvent(5.1, Steer.RESUME),
    SteeringEvent(5.4, Steer.TARGET, 200.0, 240.0),
    SteeringEvent(9.0, Steer.TARGET, 240.0, 50.0),
    SteeringEvent(12.2, Steer.STOP),
)
SAID = "steered by hand: paused 0:03-0:05, 240 at 0:05, 50 at 0:09"


def steered(path: Path, events: tuple[SteeringEvent, ...] = STEERED) -> Report:
    """A real report (the fixture's) as if these commands had been given during its run."""
    report = read_report(path)
    return replace(report, meta=replace(report.meta, steering=events))


def test_the_log_times_each_command_and_keeps_only_stops_given_by_hand() -> None:
    times = iter((3.2, 5.1, 5.4, 8.0, 8.0))
    log = SteeringLog(lambda: next(times))
    log.add(Steer.PAUSE)
    log.add(Steer.RESUME)
    log.add(Steer.TARGET, 200.0, 240.0)
    log.stopped(StopReason.TERMINATED)  # a signal, not a hand
    log.stopped(threshold_abort("http_req_failed", "rate<0.01").kind, abort=True)
    log.stopped(StopReason.INTERRUPTED)  # Ctrl+C
    log.stopped(StopReason.INTERRUPTED_TWICE, abort=True)
    assert log.events == [
        SteeringEvent(3.2, Steer.PAUSE),
        SteeringEvent(5.1, Steer.RESUME),
        SteeringEvent(5.4, Steer.TARGET, 200.0, 240.0),
        SteeringEvent(8.0, Steer.STOP),
        SteeringEvent(8.0, Steer.ABORT),
    ]


@pytest.mark.parametrize(
    ("events", "words"),
    [
        (STEERED, ["paused 0:03-0:05", "240 at 0:05", "50 at 0:09"]),  # the stop: its ending
        ((SteeringEvent(61.0, Steer.PAUSE),), ["paused at 1:01"]),  # never resumed
        ((SteeringEvent(2.0, Steer.STOP),), []),
        ((SteeringEvent(2.0, Steer.TARGET, 10, 12, run="b.toml"),), ["12 at 0:02 (b.toml)"]),
    ],
)
def test_steering_in_words(events: tuple[SteeringEvent, ...], words: list[str]) -> None:
    assert steering_words(events) == words


@pytest.mark.parametrize(
    ("value", "shown"), [(66.7355, "66.7"), (240.0, "240"), (1500.0, "1,500"), (0.25, "0.2")]
)
def test_a_target_is_shown_rounded(value: float, shown: str) -> None:
    assert fmt_target(value) == shown


def test_meta_steering_is_written_and_read_back_and_old_reports_have_none(
    tmp_path: Path,
) -> None:
    path = write_toml(steered(NEW), tmp_path / "steered.toml")
    entries = tomllib.loads(path.read_text())["meta"]["steering"]
    assert entries[2] == {"t": 5.4, "what": "target", "from": 200.0, "to": 240.0}
    assert entries[0] == {"t": 3.2, "what": "pause"}  # TOML has no null: no from, no to
    assert read_report(path).meta.steering == STEERED
    assert read_review(path).steering == STEERED  # the summary screen's marks
    assert read_report(BASE).meta.steering == ()
    assert read_review(BASE).steering == ()


@pytest.mark.parametrize(
    ("steering", "error"),
    [
        ({"t": 1}, "meta.steering is not a list"),
        ([{"t": 1, "what": "pause"}, {"t": 2, "what": "jump"}], "meta.steering[1]: what: 'jump'"),
        ([{"what": "pause"}], "meta.steering[0]: t: missing"),
        ([{"t": 1, "what": "target", "to": "fast"}], "meta.steering[0]: to: expected a number"),
    ],
)
def test_a_damaged_steering_entry_is_one_line_naming_it(
    tmp_path: Path, steering: Any, error: str
) -> None:
    data = read_report(BASE).table()
    data["meta"]["steering"] = steering
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(data))
    with pytest.raises(ReportError) as caught:
        read_report(path)
    assert str(caught.value).startswith(str(path)) and error in str(caught.value)


def test_the_summary_says_the_shape_was_steered_and_lists_each_command() -> None:
    text = render_report(steered(NEW))
    assert SAID in " ".join(text.split())  # the shape line, wrapped to fit
    assert all(len(line) <= 77 for line in text.splitlines())
    section = text[text.index("█ STEERED BY HAND") : text.index("█ THRESHOLDS")]
    assert [line.split() for line in section.splitlines()[2:] if line.strip()] == [
        ["0:03", "paused"],
        ["0:05", "resumed"],
        ["0:05", "target", "200", "→", "240", "iters/s"],
        ["0:09", "target", "240", "→", "50", "iters/s"],
        ["0:12", "stopped"],
    ]
    plain = render_report(read_report(NEW))
    assert "steered" not in plain and "STEERED" not in plain
    stopped = render_report(steered(NEW, STEERED[-1:]))  # only stopped: its ending says it
    assert "steered" not in stopped and "STEERED" not in stopped


def test_compare_flags_a_run_steered_by_hand_on_either_side() -> None:
    said = SAID.removeprefix("steered by hand: ")
    assert f"NEW was steered by hand: {said}" in compare(read_report(BASE), steered(NEW)).warnings
    assert f"BASE was steered by hand: {said}" in compare(steered(BASE), read_report(NEW)).warnings
    plain = compare(read_report(BASE), read_report(NEW)).warnings
    assert not any("steered" in w for w in plain)


def test_merge_keeps_every_inputs_steering_on_one_time_axis_with_its_source() -> None:
    other = (SteeringEvent(4.0, Steer.TARGET, 200.0, 100.0),)
    merged = merge_reports([steered(BASE), steered(NEW, other)], ["a.toml", "b.toml"])
    events = merged.meta.steering
    assert [(e.t, e.what, e.run) for e in events] == [
        (3.2, Steer.PAUSE, "a.toml"),
        (4.0, Steer.TARGET, "b.toml"),
        (5.1, Steer.RESUME, "a.toml"),
        (5.4, Steer.TARGET, "a.toml"),
        (9.0, Steer.TARGET, "a.toml"),
        (12.2, Steer.STOP, "a.toml"),
    ]
    again = merge_reports([merged, read_report(BASE)], ["ab.toml", "c.toml"])
    assert again.meta.steering == events  # an input's own sources are kept
    assert "100 at 0:04 (b.toml)" in " ".join(render_report(merged).split())


def test_report_show_lists_the_commands_and_marks_them_on_its_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    path = write_toml(steered(NEW), tmp_path / "steered.toml")
    assert cli.main(["report", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert SAID in " ".join(out.split()) and "0:09  target 240 → 50 iters/s" in out
    assert out.count("seconds (│ steered by hand)") == 4  # every chart says what │ is
    assert cli.main(["report", "show", str(NEW)]) == 0
    assert "steered" not in capsys.readouterr().out
