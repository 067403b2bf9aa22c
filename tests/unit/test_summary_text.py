"""The words and lines of the text summary: pure functions, table-tested."""

from __future__ import annotations

import fcntl
import io
import os
import struct
import termios
from dataclasses import replace

import pytest

from engine.load.executors import ExecutorConfig
from engine.load.metrics import decode_histogram, encode_histogram, new_histogram
from engine.load.model import Figures, LatencyStats, Row
from engine.load.run import Snapshot
from engine.load.states import RunState
from engine.report.compare import PER_S, format_value
from engine.report.deploy_section import (
    ColorWindow,
    DeployRecord,
    Outcome,
    StepRow,
    render_deploy,
    render_step,
)
from engine.report.model import GroupSection, Meta, Report, ScenarioSection, Summary, ThresholdEntry
from engine.report.summary import (
    failure_banner,
    generator_limited,
    latency_note,
    progress_line,
    recorded_values,
    render_report,
    verdict_line,
)
from tui.cli.progress import Progress


@pytest.mark.parametrize(
    ("requests", "failed", "errors", "expected"),
    [
        (
            212_988,
            212_988,
            {"connection refused": 212_988},
            "all 212,988 requests failed: connection refused at 127.0.0.1:1",
        ),
        (
            100,
            60,
            {"http 5xx": 50, "timeout": 10},
            "60% of 100 requests failed: http 5xx (50), timeout (10) at 127.0.0.1:1",
        ),
        (100, 49, {"http 5xx": 49}, None),  # most passed: nothing to shout about
        (0, 0, {}, None),
    ],
)
def test_failure_banner(requests: int, failed: int, errors: dict, expected: str | None) -> None:
    assert failure_banner(requests, failed, errors, "http://127.0.0.1:1/") == expected


def _snapshot(state: RunState, bad_thresholds: int = 0) -> Snapshot:
    row = Row(**{f: 0 for f in Row.__dataclass_fields__} | {"t": 3.0, "dt": 1.0, "rps": 41234.5})
    totals = Figures(0, 0, 0.0, 0.0, *(LatencyStats(),) * 3, {}, {}, 0, 0)
    return Snapshot(
        elapsed=3.0,
        state=state,
        progress=0.3,
        row=row,
        totals=totals,
        thresholds=(),
        checks={},
        scale=1.0,
        cpu_percent=87.0,
        worker_cpu=(87.0,),
        failures=(),
        stop_reason=None,
    )


@pytest.mark.parametrize("width", [40, 80, 160])
def test_the_progress_line_never_wraps(width: int) -> None:
    """A wrapped line cannot be rewritten in place with \\r: it piles up."""
    line = progress_line(_snapshot(RunState.RUNNING), width)
    assert len(line) <= width - 1
    assert "req/s" in line
    assert ("cpu" in line) is (width >= 160)


def test_the_finished_line_has_no_cpu_of_gone_workers() -> None:
    assert "cpu" not in progress_line(_snapshot(RunState.FINISHED), 200)


def test_counts_have_thousands_separators() -> None:
    """`152,770.1 req/s`, `requests 367,161`, `blue 32,845 req`, as k6 prints them."""
    snap = _snapshot(RunState.RUNNING)
    assert "41,234.5 req/s" in progress_line(replace(snap, row=replace(snap.row, rps=41234.5)))
    assert format_value(367161, "count") == "367,161"
    assert format_value(152770.1, PER_S) == "152,770.1/s"
    color = ColorWindow(requests=32845, p50_ms=1, p95_ms=2, p99_ms=3)
    step = StepRow(5, None, 90, 10, 0, color, color, "passed", "")
    assert "blue   32,845 req" in render_step(step)
    deploy = _record(instances={"blue-0": {"requests": 45824, "errors": 1200}})
    assert "      blue-0: 45,824 requests, 1,200 errors" in render_deploy(deploy)


def _record(**fields: object) -> DeployRecord:
    """A canary rollout's record with `fields` set."""
    empty: dict = {"router": "r", "start": "", "end": "", "blue_weight": None, "green_weight": None}
    return DeployRecord(**{"strategy": "canary", "outcome": Outcome.PROMOTED, **empty, **fields})


OPEN = {"executor": "constant-arrival-rate", "rate": 1000, "timeUnit": "1s", "duration": "10s"}
OPEN |= {"preAllocatedVUs": 10}


@pytest.mark.parametrize(
    ("options", "summary", "limited"),
    [
        (
            {"executor": "constant-vus", "vus": 10, "duration": "10s"},
            {"iterations": 500_000},
            False,  # closed: flat out
        ),
        (OPEN, {"iterations": 10_000, "dropped_iterations": 0}, False),  # kept up
        (OPEN, {"iterations": 9_000, "dropped_iterations": 1_000}, True),  # fell short
        (OPEN, {"iterations": 9_995, "dropped_iterations": 5}, False),  # within 1%
    ],
)
def test_saturated_only_when_the_generator_held_the_run_back(
    options: dict, summary: dict, limited: bool
) -> None:
    assert generator_limited(Meta(executor_options=options), Summary(**summary)) is limited
    report = Report(
        Meta(workers=1, cpu_percent_max=100.0, executor_options=options), Summary(**summary)
    )
    assert ("saturated" in render_report(report)) is limited


@pytest.mark.parametrize(
    ("thresholds", "deploy", "ended", "code", "expected"),
    [
        ([], None, "finished", 0, "verdict: no thresholds; exit code 0"),
        ([{"metric": "a", "ok": True}] * 2, None, "finished", 0, "all 2 thresholds held"),
        ([{"metric": "a", "ok": True}], None, "finished", 0, "verdict: the threshold held;"),
        (
            [{"metric": "http_req_duration", "ok": False}, {"metric": "b", "ok": True}],
            {"outcome": "rolled_back"},
            "finished",
            99,
            "verdict: 1 of 2 thresholds failed (http_req_duration), rollout rolled back; "
            "exit code 99",
        ),
        ([], {"outcome": "promoted"}, "stopped", 1, "rollout promoted, run stopped; exit code 1"),
    ],
)
def test_the_verdict_line(
    thresholds: list, deploy: dict | None, ended: str, code: int, expected: str
) -> None:
    report = Report(
        Meta(ended=ended),
        Summary(),
        thresholds=tuple(ThresholdEntry(t["metric"], "", t["ok"], None) for t in thresholds),
        deploy=_record(outcome=Outcome(deploy["outcome"])) if deploy else None,
    )
    line = verdict_line(report, code)
    assert line.startswith("verdict: ") and expected in line and "\n" not in line


def test_progress_into_a_pipe_is_a_plain_line_every_ten_seconds() -> None:
    live = Progress(io.StringIO())
    snap = _snapshot(RunState.RUNNING)
    texts = {t: live.text(replace(snap, elapsed=float(t))) for t in range(1, 26)}
    assert [t for t, text in texts.items() if text] == [1, 11, 21]
    assert all("\r" not in text and text.endswith("\n") for text in texts.values() if text)
    assert live.end() == ""


def test_progress_on_a_60_column_terminal_fits_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The width is the terminal's where the line goes (stderr), whatever stdout is."""
    monkeypatch.delenv("COLUMNS", raising=False)
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
    with os.fdopen(follower, "w") as terminal:
        text = Progress(terminal).text(_snapshot(RunState.RUNNING))
    os.close(leader)
    assert text.startswith("\r\x1b[2K") and "req/s" in text
    assert len(text.removeprefix("\r\x1b[2K")) <= 59


def test_a_judged_window_fits_80_columns() -> None:
    """The worst case: seven-digit counts, every error, a long reason; under `surge
    run`'s "  deploy " and in the summary's DEPLOY section alike."""
    color = ColorWindow(requests=1_234_567, failed=1_234_567, p50_ms=12345.6, p99_ms=999.9)
    reason = "p99 40.1 ms > 35 ms; p99 40.1 ms > 3x blue's 5.0 ms; success rate 90.00% < 99.00%"
    row = StepRow(1234.5, None, 75, 25, 5, color, color, "inconclusive", reason)
    printed = ("  deploy " + render_step(row)).splitlines()
    assert printed[0] == "  deploy 1234.5s  75:25  inconclusive (window 5.0s)"
    assert printed[1].split()[:2] == ["blue", "1,234,567"]
    assert printed[2].split()[:2] == ["green", "1,234,567"]
    first, *more = reason.split("; ")
    assert [line.strip() for line in printed[3:]] == [f"— {first}", *more]  # a problem a line
    summary = render_deploy(_record(steps=(row,), blue_weight=75, green_weight=25))
    assert max(len(line) for line in [*printed, *summary]) <= 80


def test_the_banner_names_only_kinds_counted_in_http_req_failed() -> None:
    """A poll out of tries is not a failed request: it never explains the failures."""
    errors = {"http 5xx": 60, "until: 3 tries": 80, "capture token": 5}
    assert failure_banner(100, 60, errors, "http://127.0.0.1:1/") == (
        "60% of 100 requests failed: http 5xx at 127.0.0.1:1"
    )


@pytest.mark.parametrize("values", [[1], [5, 5, 5], [1, 10, 100, 1_000, 10_000, 3_600_000_000]])
def test_the_histogram_s_buckets_are_those_hdrh_s_iterator_walks(values: list[int]) -> None:
    """recorded_values reads the counts array at once; it must give what the (slow)
    recorded iterator gives, fresh and after an encode/decode as in a saved report."""
    h = new_histogram()
    for i, v in enumerate(values):
        h.record_value(v, i + 1)
    for hist in (h, decode_histogram(encode_histogram(h))):
        walked = [
            (item.value_iterated_to, item.count_at_value_iterated_to)
            for item in hist.get_recorded_iterator()
        ]
        assert recorded_values(hist) == walked


@pytest.mark.parametrize(
    ("options", "p95s", "dropped", "said"),
    [
        ({"executor": "constant-vus", "vus": 2, "duration": "1s"}, (9, 1), 5, None),
        (OPEN | {"maxVUs": 20}, (2, 2), 7, "7 iterations dropped: no free VU at their due time"),
        (OPEN | {"queue": True}, (30, 2), 0, "iterations waited for a free VU (queue, maxVUs 10)"),
        (OPEN | {"queue": True}, (2.1, 2), 0, None),  # waited no more than noise
    ],
)
def test_the_latency_note_reads_the_executor(
    options: dict, p95s: tuple[float, float], dropped: int, said: str | None
) -> None:
    executor = ExecutorConfig.from_options(options)
    latency, duration = (LatencyStats(p95=p) for p in p95s)
    note = latency_note(latency, duration, dropped, executor)
    assert note == said if said is None else note is not None and note.startswith(said)


def test_a_row_per_scenario_and_group_within_80_columns() -> None:
    """The headless summary and `report show` of a run of several scenarios: each its own
    row of executor, iterations, dropped, rate, p95 and errors; long names cut, never wrapped."""
    slow = LatencyStats(p95=12345.6, mean=999.9, max=99999.0)
    browse = ScenarioSection(
        requests=9_876_543,
        failed=9_876,
        error_rate=0.001,
        rps=123_456.7,
        http_req_duration=slow,
        executor="constant-arrival-rate",
        iterations=9_876_543,
        dropped_iterations=1_234_567,
    )
    scenarios = {
        "browse": browse,
        "a-very-long-scenario-name": replace(browse, executor="ramping-vus", requests=0),
        "(setup)": ScenarioSection(requests=1, rps=0.2, http_req_duration=slow),
    }
    groups = {
        "::checkout": GroupSection(group_duration=slow),
        "::a::b::c::d::e::f::g::h::i": GroupSection(),
    }
    report = Report(
        Meta(name="shop", executor="scenarios"), Summary(), scenarios=scenarios, groups=groups
    )
    text = render_report(report)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 77
    assert lines[1] == "    2 scenarios: browse, a-very-long-scenario-name"
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("    ")}
    assert rows["browse"] == [
        "constant-arrival-rate",
        "9.9M",
        "1.2M",
        "123,457",
        "12346",
        "0.1%",
    ]
    assert rows["a-very-long…"] == [
        "ramping-vus",
        "9.9M",
        "1.2M",
        "123,457",
        "–",
        "0.1%",
    ]
    assert rows["(setup)"] == ["–", "0", "0", "0.2", "12346", "0.0%"]
    assert rows["::checkout"][0] == "1000" and rows["::a::b::c::d::e::f::g::…"][0] == "–"
    assert "█ SCENARIOS" not in render_report(replace(report, scenarios={}, groups={}))


def test_a_scenario_that_dropped_iterations_says_so_as_a_run_would() -> None:
    """A run of several scenarios has no one executor: each open-model scenario's drops
    are named, and they mark a busy generator as the one that held the run back."""
    options = {"executor": "constant-arrival-rate", "rate": 20, "duration": 4.0}
    browse = ScenarioSection(
        executor="constant-arrival-rate",
        executor_options=options | {"preAllocatedVUs": 1, "maxVUs": 1},
        iterations=8,
        dropped_iterations=32,
    )
    admin = ScenarioSection(executor="per-vu-iterations", iterations=6)
    meta = Meta(executor="scenarios", workers=1, cpu_percent_max=95.0)
    report = Report(meta, Summary(iterations=14), scenarios={"browse": browse, "admin": admin})
    text = render_report(report)
    assert max(len(line) for line in text.splitlines()) <= 77
    note = " ".join(text.split("⚠ browse: ")[1].split("\n\n")[0].split())
    assert note.startswith("32 iterations dropped: no free VU at their due time (maxVUs 1)")
    assert "admin:" not in text and "⚠ saturated" in text
    calm = replace(report, scenarios={"browse": replace(browse, dropped_iterations=0)})
    assert "⚠" not in render_report(calm)
