"""Issue 23's smaller console items, each held by a test: what the screens say and how."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text

from engine.load.executors import ExecutorConfig
from engine.load.states import RunState, StopCause, StopReason
from engine.report.summary import progress_line
from tests.app.screen_text import screen_text
from tests.app.test_app import new_app, profiles, start_run, text_of, until
from tests.scripted import ScriptedFactory
from tests.unit.test_summary_text import _snapshot
from tui.app.app import leave_router
from tui.app.screens.summary import SummaryScreen, held_words
from tui.app.widgets.figures import in_ms
from tui.app.widgets.phrases import fit_phrases
from tui.app.widgets.progress import status_text

__all__ = ["profiles"]


class FakeDeploy:
    """Only what leave_router touches: an async finish() that records or fails."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.finished = 0

    async def finish(self) -> None:
        self.finished += 1
        if self.error is not None:
            raise self.error


async def test_leave_router_runs_even_from_a_caller_with_a_running_loop() -> None:
    """It was skipped in silence ("coroutine 'wait_for' was never awaited")."""
    deploy = FakeDeploy()
    leave_router(deploy)  # type: ignore[arg-type]
    assert deploy.finished == 1


def test_a_router_stop_that_fails_is_said_on_stderr(capsys: pytest.CaptureFixture[Any]) -> None:
    leave_router(FakeDeploy(RuntimeError("admin API gone")))  # type: ignore[arg-type]
    assert "surge: the router's graceful stop failed: admin API gone" in capsys.readouterr().err


def test_a_latency_is_in_ms_on_every_screen_as_the_thresholds_write_it() -> None:
    assert [in_ms(x) for x in (0.071, 4.927, 17.5, 1234.0)] == [
        "0.071ms",
        "4.93ms",
        "17.50ms",
        "1,234ms",
    ]


@pytest.mark.parametrize(
    ("n", "words"), [(1, "the 1 threshold held"), (2, "all 2 thresholds held")]
)
def test_thresholds_held_agrees_in_number(n: int, words: str) -> None:
    assert held_words(n) == words


def test_phrases_wrap_between_phrases_never_inside_one() -> None:
    phrases = [Text("■ STOPPED BY YOU: all 2 thresholds held so far"), Text("720 req")]
    phrases += [Text("latency p95 4.93ms, p99 17.52ms"), Text("0.69% errors")]
    lines = fit_phrases(phrases, 78).plain.splitlines()
    assert lines == [
        "■ STOPPED BY YOU: all 2 thresholds held so far · 720 req",
        "latency p95 4.93ms, p99 17.52ms · 0.69% errors",
    ]


async def test_the_summary_header_at_80_columns_keeps_each_phrase_whole(
    profiles: Path,
) -> None:
    """One unit (ms) and one label (latency) for the header's p95, the stop said once,
    and a line broken only between phrases."""
    factory = ScriptedFactory(intervals=3, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_run(pilot, factory, snapshots=2)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        screen = screen_text(app)
        text = text_of(app, "#summary-text")
    # the summary's own text too: `ran 3s, stopped by you`, then not `stopped by user`
    assert "stopped by you" in text and "stopped by user" not in text
    head = "\n".join(screen.splitlines()[1:4])
    assert "STOPPED BY YOU" in head and "stopped by user" not in head
    assert "latency p95 " in head and "µs" not in head
    for phrase in ("latency p95", "exit code 1"):
        assert any(phrase in line for line in head.splitlines()), head
    p99 = next(line for line in head.splitlines() if "p99" in line)
    assert p99.split("p99 ", 1)[1][:1].isdigit(), head  # `p99` and its figure on one line


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        (StopReason.INTERRUPTED, "interrupted (Ctrl+C)"),
        (StopReason.USER_STOP, "stopped by user"),
        (StopReason.DURATION, "finished"),
        (None, "finished"),
    ],
)
def test_a_run_stopped_early_is_not_said_finished(reason: StopReason | None, said: str) -> None:
    """The headless progress line and the run screen's status say the same word."""
    cause = StopCause(reason) if reason else None
    snap = replace(_snapshot(RunState.FINISHED), stop_reason=cause)
    assert f"[{said}]" in progress_line(snap, 200)
    cfg = ExecutorConfig(vus=1, duration=5.0)
    assert status_text(snap, cfg, RunState.FINISHED).plain.startswith(f"■ {said} ")
