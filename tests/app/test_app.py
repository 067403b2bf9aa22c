"""The live console, driven by Pilot with a scripted controller: every key, every screen.

No test here sends traffic except the last, which runs a real 3-second load
against the demo server through the app and reads back the report it saves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from time import monotonic
from typing import Any

import psutil
import pytest
from rich.console import Console
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static, TextArea

from engine.load.executors import ExecutorConfig
from engine.load.stages import Stage
from engine.profile.plan import Overrides
from engine.report.document import read_report
from tests.scripted import ScriptedFactory
from tui.app.app import SurgeApp, make_app
from tui.app.form import field_for
from tui.app.goal import parse_goal
from tui.app.messages import SnapshotReceived
from tui.app.screens.modals import ErrorModal, SaveModal, TargetModal, UnsavedModal
from tui.app.screens.picker import PickerScreen
from tui.app.screens.run import RunScreen
from tui.app.screens.summary import SummaryScreen
from tui.app.widgets.progress import stage_text, status_text
from tui.cli import main as cli

SIZE = (120, 36)
NOW = dt.datetime(2025, 1, 1, 12, 0, 0)

SHOP = """\
name = "shop"
description = "A small shop"
base_url = "http://127.0.0.1:9"
vus = 4
rate = 50
time_scale = 0.01

[thresholds]
http_req_duration = ["p(95)<500"]
http_req_failed = ["rate<0.05"]

[[endpoints]]
name = "home"
path = "/"
weight = 3
checks = [{ status = 200 }]

[[endpoints]]
name = "items"
path = "/api/items"
checks = [{ status = 200, name = "items ok" }]

[environments.staging]
base_url = "http://127.0.0.1:10"
"""

BROKEN = 'name = "broken"\nbase_url = 12\n'


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "shop.toml").write_text(SHOP)
    (folder / "zz-broken.toml").write_text(BROKEN)
    return folder


def new_app(profiles: Path, factory: ScriptedFactory | None = None, **kwargs: object) -> SurgeApp:
    return make_app(
        search_default_dirs=False,
        profiles=[profiles],
        controller_factory=factory or ScriptedFactory(intervals=5, hold=True),
        report_dir=profiles.parent / "reports",
        now=lambda: NOW,
        **kwargs,  # type: ignore[arg-type]
    )


async def until(pilot: Pilot, ok: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a state of the app (then one more turn, so a new screen is mounted)."""
    deadline = monotonic() + timeout
    while not ok():
        assert monotonic() < deadline, f"timed out waiting for the app on {pilot.app.screen!r}"
        await pilot.pause(0.02)
    await pilot.pause()


async def exited(app: App[Any], timeout: float = 30.0) -> None:
    """Wait for the app to end. Not with pilot.pause(): it first waits for every widget to
    take its pending messages, which a screen torn down by the exit never does (a 30 s
    WaitForScreenTimeout, seen in CI)."""
    deadline = monotonic() + timeout
    while app.is_running:
        assert monotonic() < deadline, f"the app did not exit; on {app.screen!r}"
        await asyncio.sleep(0.02)


async def save_and_quit(pilot: Pilot, target: Path) -> None:
    """From the summary: `w`, the report's path typed, enter, then `q` until the app ends."""
    app = pilot.app
    await pilot.press("w")
    assert isinstance(app.screen, SaveModal)
    app.screen.query_one("#save-path", Input).value = str(target)
    await pilot.press("enter")
    await until(pilot, lambda: target.exists())
    await pilot.press("q")
    await exited(app)


def text_of(app: SurgeApp, selector: str) -> str:
    """What a Static shows, as plain text (tables included)."""
    console = Console(width=200, no_color=True, record=True)
    console.print(app.screen.query_one(selector, Static).content)
    return console.export_text()


async def start_run(pilot: Pilot, factory: ScriptedFactory, snapshots: int = 1) -> RunScreen:
    await pilot.press("ctrl+r")
    await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
    screen = pilot.app.screen
    assert isinstance(screen, RunScreen)
    await until(pilot, lambda: screen.snapshots_seen >= snapshots)
    return screen


# ------------------------------------------------------------------ picker
async def test_picker_shows_profiles_goal_types_and_starts_on_enter(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=2, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        options = app.screen.query_one("#profiles", OptionList)
        first = str(options.get_option_at_index(0).prompt)
        assert "shop" in first and "http://127.0.0.1:9" in first
        assert "4 VUs · 50/s" in first and "envs: staging" in first
        broken = str(options.get_option_at_index(1).prompt)
        assert "✗ zz-broken.toml" in broken and "base_url" in broken
        goal = app.screen.query_one("#goal", TextArea).text
        assert goal.splitlines() == ["http_req_duration:p(95)<500", "http_req_failed:rate<0.05"]
        assert "constant-vus: 3 VUs" in text_of(app, "#plan-describe")  # smoke comes first
        for key, wanted in (
            ("ctrl+g", "goal"),
            ("ctrl+l", "f-vus"),
            ("ctrl+o", "profiles"),
            ("ctrl+t", "types"),
        ):
            await pilot.press(key)
            assert app.focused is not None and app.focused.id == wanted
        await pilot.press("down")  # average: the preview follows the highlight
        assert "ramping-arrival-rate: up to 50 iters/s" in text_of(app, "#plan-describe")
        assert "iterations/s" in str(app.screen.query_one("#preview").border_title)
        await pilot.press("down", "enter")  # stress, and enter starts it
        await until(pilot, lambda: bool(factory.made))
        assert isinstance(app.screen, RunScreen)
        assert factory.last.plan.test_type == "stress"
        assert factory.last.plan.work.only.executor.executor == "ramping-arrival-rate"


async def test_bad_input_is_explained_where_it_is_and_blocks_the_start(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=2, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+l", "t", "e", "n")  # VUs: "ten"
        await pilot.pause()
        assert app.screen.query_one("#e-vus").display
        assert "expected a whole number, got 'ten'" in text_of(app, "#e-vus")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen) and not factory.made
        assert any("fix the marked fields" in n.message for n in app._notifications)
        app.screen.query_one("#f-vus", Input).value = ""
        # an engine ConfigError lands beside the field it names
        await pilot.press("ctrl+t", "end")  # custom: the executor comes from the form
        app.screen.query_one("#f-executor", Select).value = "constant-vus"
        app.screen.query_one("#f-max_vus", Input).value = "20"
        await pilot.pause()
        assert "applies only to arrival-rate" in text_of(app, "#e-max_vus")
        app.screen.query_one("#f-max_vus", Input).value = ""
        # a bad goal line is explained under the goal
        app.screen.query_one("#goal", TextArea).load_text("http_req_duration:p95<5\n")
        await pilot.pause()
        assert "line 1" in text_of(app, "#goal-error") and "bad threshold" in text_of(
            app, "#goal-error"
        )
        # a broken profile says why when chosen, and cannot start
        await pilot.press("ctrl+o", "down", "enter")
        await pilot.pause()
        assert any("base_url" in n.message for n in app._notifications)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen) and not factory.made
        await pilot.press("ctrl+q")  # nothing to lose: quits at once
        await exited(app)
    assert app.return_value == 0


async def test_the_goal_and_the_environment_shape_the_plan(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=1, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#f-env", Select).value = "staging"
        app.screen.query_one("#goal", TextArea).load_text(
            "http_req_duration:p(99)<100 abortOnFail\nchecks:rate>0.9\n"
        )
        await pilot.pause()
        assert "127.0.0.1:10" in str(app.screen.sub_title)
        assert not app.screen.query_one("#goal-error").display
        await start_run(pilot, factory)
        plan = factory.last.plan
        assert plan.work.base_url == "http://127.0.0.1:10" and plan.environment == "staging"
        assert [(t.key, t.expression, t.abort_on_fail) for t in plan.thresholds] == [
            ("http_req_duration", "p(99)<100", True),
            ("checks", "rate>0.9", False),
        ]


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("--rate", "rate"),
        ("maxVUs", "max_vus"),
        ("--max-vus", "max_vus"),
        ("preAllocatedVUs", "vus"),
        ("vus", "vus"),
        ("duration", "duration"),
        ("--stages", "executor"),
        ("timeUnit", ""),
    ],
)
def test_engine_errors_map_to_the_form_field_they_name(key: str, field: str) -> None:
    assert field_for(key) == field


def test_stage_progress_says_where_the_run_is_in_its_shape() -> None:
    cfg = ExecutorConfig(
        executor="ramping-arrival-rate",
        start_rate=0.0,
        stages=(Stage(10, 100), Stage(20, 100), Stage(10, 0)),
        pre_allocated_vus=5,
        max_vus=50,
    )
    assert stage_text(cfg, 0.1) == "stage 1/3: 0 → 100/s"
    assert stage_text(cfg, 0.5) == "stage 2/3: hold 100/s"
    assert stage_text(cfg, 0.99) == "stage 3/3: 100 → 0/s"
    assert "0:40 left" in status_text(None, cfg, "running").plain
    paused = status_text(None, cfg, "paused", scale=1.2).plain
    assert "paused" in paused and "target ×1.20" in paused


def test_unchanged_goal_lines_keep_their_original_threshold() -> None:
    from engine.load.thresholds import parse_threshold

    original = parse_threshold("latency", "p(95)<10", abort_on_fail=True, delay_abort_eval="5s")
    kept, errors = parse_goal("latency:p(95)<10 abortOnFail\n# a note\n\n", (original,))
    assert kept == (original,) and not errors


# --------------------------------------------------------------------- run
async def test_steering_keys_while_the_run_goes_on(profiles: Path) -> None:
    """Live panels, then p, +, -, =, t, w (partial report) and s, each doing what it says."""
    factory = ScriptedFactory(intervals=4, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        screen = await start_run(pilot, factory, snapshots=1)
        await until(
            pilot, lambda: screen.session.last is not None and screen.session.last.elapsed >= 4
        )
        figures = text_of(app, "#figures")
        assert "req/s" in figures and "p99" in figures and "dropped" in figures
        thresholds = text_of(app, "#thresholds")
        assert "✓ p(95)<500" in thresholds and "p(95)=" in thresholds
        checks = text_of(app, "#checks")
        assert "status is 200" in checks and "items ok" in checks
        statuses = text_of(app, "#statuses")
        assert "200" in statuses and "500" in statuses and "timeout" in statuses
        assert app.screen.query_one("#steps").display
        assert "home" in text_of(app, "#steps") and "items" in text_of(app, "#steps")
        status = text_of(app, "#progress")
        assert "running" in status and "0:04" in status and "left" in status
        assert "CPU" in text_of(app, "#cpu")
        c = factory.last

        await pilot.press("p")
        assert c.state == "paused" and "paused" in text_of(app, "#progress")
        actions = {b.binding.action for b in screen.active_bindings.values()}
        assert "resume" in actions and "pause" not in actions
        await pilot.press("p")
        assert c.state == "running"

        await pilot.press("plus", "plus", "minus", "equals_sign")
        assert [x[1] for x in c.calls[2:]] == [1.1, 1.2, 1.1, 1.2]
        await pilot.press(*["minus"] * 13)
        scales = [x[1] for x in c.calls[6:]]
        assert len(scales) == 11 and scales[-1] == pytest.approx(0.1)  # floor: 10% of the plan

        del c.calls[:]
        await pilot.press("t")
        assert isinstance(app.screen, TargetModal)
        await pilot.press("a", "b", "enter")
        assert "expected a number" in text_of(app, "#target-error")
        app.screen.query_one("#target-value", Input).value = "6"
        await pilot.press("enter")
        assert isinstance(app.screen, RunScreen) and c.calls == [("set_target", 6.0)]
        await pilot.press("t", "escape")
        assert isinstance(app.screen, RunScreen) and len(c.calls) == 1

        await pilot.press("w")
        assert isinstance(app.screen, SaveModal)
        path_input = app.screen.query_one("#save-path", Input)
        assert path_input.value == str(profiles.parent / "reports/shop-smoke-20250101-120000.toml")
        partial = profiles.parent / "partial.toml"
        path_input.value = str(partial)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        data = read_report(partial)
        assert data.meta.aborted is True and data.summary.requests > 0
        assert data.meta.stop_reason.startswith("partial: saved while running")
        assert c.state == "running"

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert c.calls[-1] == ("stop", "stopped by user")
        verdict = text_of(app, "#verdict")
        assert "STOPPED BY YOU" in verdict and "stopped by user" not in verdict  # said once
        summary = text_of(app, "#summary-text")
        assert "TOTAL RESULTS" in summary and "http_reqs" in summary
        assert "not saved yet" in text_of(app, "#saved")

        await pilot.press("w")  # the summary saves to the default path
        assert isinstance(app.screen, SaveModal)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        data = read_report(profiles.parent / "reports" / "shop-smoke-20250101-120000.toml")
        assert data.meta.test_type == "smoke" and data.meta.aborted is True
        assert "report saved to" in text_of(app, "#saved")
        await pilot.press("q")  # saved: no question asked
        await exited(app)
    assert app.return_value == 0  # the user quit the console (the report says "stopped")


async def test_x_aborts_then_r_runs_again_and_n_goes_back_in_80_by_24(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=2, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.query_one("#types").region.height > 0
        screen = await start_run(pilot, factory)
        for selector in ("#latency-plot", "#rate-plot", "#load-plot", "#figures"):
            region = screen.query_one(selector).region
            assert region.width >= 30 and region.height >= 5, selector
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert factory.last.calls == [("abort", "aborted by user")]
        assert "aborted by user" in text_of(app, "#verdict")
        # 80x24: the text gets the body (it had 5 rows beside the plots); g shows the plots
        assert app.screen.query_one("#summary-text-box").region.height >= 15
        await pilot.press("g")
        await pilot.pause()
        assert app.screen.query_one("#summary-latency").region.height >= 5
        assert app.screen.query_one("#summary-latency").region.width >= 78
        assert app.screen.query_one("#summary-text-box").region.height == 0
        await pilot.press("g")
        await pilot.pause()
        assert app.screen.query_one("#summary-text-box").region.height >= 15
        await pilot.press("r")  # unsaved: asks first
        assert isinstance(app.screen, UnsavedModal)
        await pilot.press("d")
        await until(pilot, lambda: len(factory.made) == 2 and isinstance(app.screen, RunScreen))
        assert factory.made[0].plan == factory.made[1].plan
        assert len(app.screen_stack) == 3  # default, picker, run: screens do not pile up
        await until(pilot, lambda: app.screen.snapshots_seen >= 1)  # type: ignore[attr-defined]
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        await pilot.press("n")
        assert isinstance(app.screen, UnsavedModal)
        await pilot.press("w")  # save first, then back to the picker
        await until(pilot, lambda: isinstance(app.screen, PickerScreen))
        assert (profiles.parent / "reports" / "shop-smoke-20250101-120000.toml").is_file()


async def test_a_run_that_ends_under_a_dialog_and_an_unwritable_path(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=3, hold=True)
    app = new_app(profiles, factory)
    blocker = profiles.parent / "a-file"
    blocker.write_text("not a folder")
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory, snapshots=1)
        await pilot.press("w")
        factory.last.finish()  # the run reaches its end while the dialog is open...
        await until(pilot, lambda: factory.last.state == "finished")
        assert isinstance(app.screen, SaveModal)
        await pilot.press("escape")  # ...and the summary follows once it closes
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        verdict = text_of(app, "#verdict")
        assert "PASSED: all 2 thresholds held" in verdict and "exit code 0" in verdict
        await pilot.press("w")
        app.screen.query_one("#save-path", Input).value = str(blocker / "run.toml")
        await pilot.press("enter")
        await until(pilot, lambda: "cannot write" in text_of(app, "#save-error"))
        assert isinstance(app.screen, SaveModal)
        app.screen.query_one("#save-path", Input).value = str(profiles.parent)
        await pilot.press("enter")
        assert "is a folder" in text_of(app, "#save-error")
        await pilot.press("escape")
        assert isinstance(app.screen, SummaryScreen)


async def test_an_unreachable_target_and_an_abort_on_fail_threshold_say_why(
    profiles: Path,
) -> None:
    """A dead target is counted and announced, never a crash; abortOnFail stops the run."""
    factory = ScriptedFactory(intervals=5, error="connection refused")
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#goal", TextArea).load_text("http_req_failed:rate<0.5 abortOnFail\n")
        await pilot.pause()
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        titles = {n.title for n in app._notifications}
        assert {"Target unreachable", "Run stopped"} <= titles
        assert any("connection refused" in n.message for n in app._notifications)
        verdict = text_of(app, "#verdict")
        assert "FAILED" in verdict and "abortOnFail" in verdict and "exit code 99" in verdict
        assert "requests failed: connection refused at 127.0.0.1:9" in text_of(app, "#summary-text")
        assert len(factory.last.model.timeline) == 1  # stopped after the first interval


async def test_an_engine_crash_is_a_modal_and_quit_d_discards(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=2, fail="pipe to worker 0 broke")
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "pipe to worker 0 broke" in text_of(app, "#error-message")
        await pilot.press("escape")
        assert isinstance(app.screen, SummaryScreen)
        assert "engine error" in text_of(app, "#verdict")  # what was measured is kept
        await pilot.press("q")
        assert isinstance(app.screen, UnsavedModal)
        await pilot.press("d")
        await exited(app)
    assert not (profiles.parent / "reports").exists()


async def test_a_flood_of_snapshots_collapses_to_the_latest(profiles: Path) -> None:
    """A burst of snapshots (the UI behind the engine) is handled as its latest: the
    burst is posted in one go, so no redraw of the screen can fall between them (a
    scripted run's own pace let a fast machine draw every one)."""
    factory = ScriptedFactory(intervals=1, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        screen = await start_run(pilot, factory, snapshots=1)
        last = screen.session.last
        assert last is not None
        seen = screen.snapshots_seen
        timeline = tuple(screen.session.model.timeline)
        burst = [SnapshotReceived(replace(last, elapsed=float(k)), timeline) for k in range(2, 42)]
        for message in burst:
            screen.post_message(message)
        await until(
            pilot, lambda: screen.session.last is not None and screen.session.last.elapsed == 41
        )
        assert screen.snapshots_seen - seen < len(burst)
        assert "0:41" in text_of(app, "#progress")


# -------------------------------------------------------------------- quit
async def test_quit_asks_escape_keeps_running_and_q_twice_saves_and_quits(
    profiles: Path,
) -> None:
    factory = ScriptedFactory(intervals=3, hold=True, cpu=lambda k: 95.0)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory, snapshots=1)
        assert "⚠ CPU 95%: generator saturated" in text_of(app, "#cpu")
        assert app.screen.query_one("#cpu").has_class("-warning")
        await pilot.press("q", "escape")
        assert isinstance(app.screen, RunScreen) and factory.last.state == "running"
        await pilot.press("ctrl+q")  # the same question
        assert isinstance(app.screen, UnsavedModal)
        assert "run in progress" in text_of(app, "#unsaved-message")
        await pilot.press("q")
        await exited(app)
    assert factory.last.calls == [("abort", "quit")]
    data = read_report(profiles.parent / "reports" / "shop-smoke-20250101-120000.toml")
    assert data.meta.aborted is True and data.summary.requests > 0
    assert app.return_value == 0  # the user quit: the console exits 0


async def test_sigterm_stops_the_run_and_saves_its_report(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=3, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory, snapshots=1)
        os.kill(os.getpid(), signal.SIGTERM)  # the loop's handler, as a real SIGTERM arrives
        await exited(app)
    assert factory.last.calls == [("abort", "terminated (SIGTERM)")]
    data = read_report(profiles.parent / "reports" / "shop-smoke-20250101-120000.toml")
    assert data.meta.aborted is True and data.summary.requests > 0


async def test_an_app_that_ends_unsaved_writes_the_run_on_the_way_out(profiles: Path) -> None:
    """A crash or a lost terminal ends the app without a quit dialog: nothing is lost."""
    factory = ScriptedFactory(intervals=3, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory, snapshots=1)
        app.exit(1)  # as Textual does on an unhandled exception
        await exited(app)
    said = app.save_if_lost("the app ended before the run was saved")
    path = profiles.parent / "reports" / "shop-smoke-20250101-120000.toml"
    assert said == f"the unsaved run was written to {path}"
    data = read_report(path)
    assert data.meta.aborted is True
    assert data.meta.stop_reason == "the app ended before the run was saved"
    assert app.save_if_lost("again") is None  # saved once


async def test_a_running_run_is_checkpointed_and_a_discard_removes_it(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=3, hold=True)
    app = new_app(profiles, factory)
    app.checkpoint_s = 0.2  # every minute in use
    path = profiles.parent / "reports" / "shop-smoke-20250101-120000.toml"
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory, snapshots=1)
        await until(pilot, path.exists)
        data = read_report(path)
        assert data.meta.aborted is True
        assert data.meta.stop_reason.startswith("checkpoint: running at")
        await pilot.press("q")  # still unsaved: the question is asked
        assert isinstance(app.screen, UnsavedModal)
        await pilot.press("d")
        await exited(app)
    assert not path.exists()


async def test_a_run_the_user_discarded_is_not_saved_behind_their_back(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=3, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory, snapshots=1)
        await pilot.press("q")
        assert isinstance(app.screen, UnsavedModal)
        await pilot.press("d")
        await exited(app)
    assert app.save_if_lost("gone") is None
    assert not (profiles.parent / "reports").exists()


# ---------------------------------------------------- skipping the picker
async def test_a_profile_on_the_command_line_opens_a_ready_run(
    profiles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")  # and without colour, series differ by marker
    factory = ScriptedFactory(intervals=2, hold=True)
    app = new_app(profiles, factory, profile=profiles / "shop.toml", test_type="spike")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        assert not factory.made and "ready" in text_of(app, "#run-banner")
        actions = {b.binding.action for b in app.screen.active_bindings.values()}
        assert {"begin", "back"} <= actions and "stop" not in actions
        assert app.no_color
        title = str(app.screen.query_one("#latency-plot").border_title)
        assert "•p50" in title and "+p90" in title and "xp95" in title
        await pilot.press("escape")
        assert isinstance(app.screen, PickerScreen)
        assert app.screen.query_one("#types", OptionList).highlighted == 3  # spike
        await pilot.press("ctrl+r")
        await until(pilot, lambda: bool(factory.made))
        assert factory.last.plan.test_type == "spike"


async def test_start_begins_at_once_with_the_profiles_own_load(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=2, hold=True)
    app = new_app(
        profiles,
        factory,
        profile=profiles / "shop.toml",
        start=True,
        overrides=Overrides(vus=7),
        keymap={"run.pause": "space"},  # bindings have ids: keys can be remapped
    )
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: bool(factory.made))
        plan = factory.last.plan
        assert plan.test_type is None and plan.work.only.executor.executor == "constant-vus"
        assert plan.work.only.executor.vus == 7
        await pilot.press("enter")  # already started: enter does nothing
        assert len(factory.made) == 1
        await until(pilot, lambda: app.screen.snapshots_seen >= 1)  # type: ignore[attr-defined]
        await pilot.press("space")
        assert factory.last.calls == [("pause",)]


async def test_observe_flags_reach_the_plan_the_form_starts(profiles: Path) -> None:
    """`surge P --observe URL`: not a field of the form, carried to the run as given."""
    factory = ScriptedFactory(intervals=1)
    target = "http://127.0.0.1:9100/metrics"
    overrides = Overrides(vus=2, observe=(target,))
    app = new_app(profiles, factory, profile=profiles / "shop.toml", overrides=overrides)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await until(pilot, lambda: bool(factory.made))
        assert factory.last.plan.observe.targets == (target,)


# --------------------------------------------------------------- the command
def test_surge_routes_to_the_app_unless_a_command_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr("tui.cli.app_cmd.main", lambda argv: seen.append(list(argv)) or 0)
    assert cli.main([]) == 0
    assert cli.main(["profiles/example.toml", "--type", "smoke", "--start"]) == 0
    assert cli.main(["--profiles", "somewhere"]) == 0
    assert seen == [
        [],
        ["profiles/example.toml", "--type", "smoke", "--start"],
        ["--profiles", "somewhere"],
    ]
    parser = cli.build_parser()
    for command in cli.COMMANDS:
        assert not cli.wants_app(parser, [command])
        with pytest.raises(SystemExit) as exit_info:  # a registered command: its own --help
            parser.parse_args([command, "--help"])
        assert exit_info.value.code == 0
    assert not cli.wants_app(parser, ["--help"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope.toml"], "nope.toml: no such profile file"),
        (["--start"], "--start needs a PROFILE"),
        (["profiles/example.toml", "--env", "mars"], "mars"),
        (["--profiles", "/no/such/folder"], "no such folder"),
    ],
)
def test_bad_app_arguments_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


# ------------------------------------------------------------- end to end
def workers(proc: psutil.Process) -> list[psutil.Process]:
    """Live engine worker processes (spawned), not the demo server or the resource tracker."""
    out = []
    for child in proc.children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()) and child.status() != "zombie":
                out.append(child)
        except psutil.Error:  # gone (or a zombie) between listing and asking
            pass
    return out


async def test_a_real_run_through_the_app_saves_a_report_that_parses(
    shared_sut: str, tmp_path: Path
) -> None:
    """3 s of real load against `surge sut`, in worker processes, saved from the summary."""
    profile = tmp_path / "live.toml"
    profile.write_text(
        f'name = "live"\nbase_url = "{shared_sut}"\n\n[thresholds]\n'
        'http_req_failed = ["rate<0.01"]\n\n[[endpoints]]\nname = "home"\npath = "/"\n'
        "checks = [{ status = 200 }]\n"
    )
    app = make_app(
        profile,
        start=True,
        search_default_dirs=False,
        overrides=Overrides(vus=2, duration=3.0, workers=1),
        report_dir=tmp_path / "reports",
    )
    me = psutil.Process()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await until(pilot, lambda: screen.snapshots_seen >= 1, timeout=15)
        assert workers(me), "the load runs in a worker process, not in the UI's"
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen), timeout=30)
        target = tmp_path / "reports" / "live.toml"
        await save_and_quit(pilot, target)
    data = read_report(target)
    assert data.meta.name == "live" and data.meta.aborted is False
    assert data.summary.requests > 20
    assert data.summary.error_rate == 0
    assert 2.5 <= data.meta.duration_s <= 10
    assert [t.ok for t in data.thresholds] == [True]
    assert app.return_value == 0
    assert not workers(me), "quitting leaves no worker process behind"


async def test_ctrl_c_stops_the_run_saves_it_and_a_second_ctrl_c_quits_with_0(
    profiles: Path,
) -> None:
    """k6's and `surge run`'s Ctrl+C: never the quit dialog (it toggled, the run went on)."""
    factory = ScriptedFactory(intervals=3, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory, snapshots=1)
        await pilot.press("ctrl+c")
        assert not isinstance(app.screen, UnsavedModal)
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert factory.last.calls == [("stop", "interrupted (Ctrl+C)")]
        path = profiles.parent / "reports" / "shop-smoke-20250101-120000.toml"
        await until(pilot, lambda: "report saved to" in text_of(app, "#saved"))
        data = read_report(path)
        assert data.meta.stop_reason == "interrupted (Ctrl+C)"
        assert data.summary.requests > 0
        assert app.is_running
        await pilot.press("ctrl+c")
        await exited(app)
    assert app.return_value == 0


async def test_ctrl_c_on_a_run_whose_report_folder_cannot_be_written_saves_it_elsewhere(
    profiles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session writes the Ctrl+C'd run as `surge run` does: where it cannot go, a
    fallback in the current folder, said in the notice (it was an error dialog, no file)."""
    (profiles.parent / "reports").write_text("a file where the reports folder should be")
    monkeypatch.chdir(profiles.parent)
    factory = ScriptedFactory(intervals=3, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory, snapshots=1)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        fallback = profiles.parent / "surge-report-20250101T120000Z.toml"
        await until(pilot, lambda: any("could not write" in n.message for n in app._notifications))
        assert read_report(fallback).meta.stop_reason == "interrupted (Ctrl+C)"
        assert f"report saved to {fallback}" in text_of(app, "#saved")
        await pilot.press("ctrl+c")
        await exited(app)


async def test_ctrl_c_twice_while_running_saves_the_aborted_run(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=3, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await start_run(pilot, factory, snapshots=1)
        await pilot.press("ctrl+c", "ctrl+c")
        await exited(app)
    assert [c[0] for c in factory.last.calls][:1] == ["stop"]
    data = read_report(profiles.parent / "reports" / "shop-smoke-20250101-120000.toml")
    assert data.summary.requests > 0
    assert app.return_value == 0
