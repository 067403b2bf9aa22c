"""A profile whose colors are recipes, in the console: the start dialog, the instances
Surge starts (a small real app on 127.0.0.1, registered with a real `surge proxy`), the
log screen, and no process left when the app ends.

The load is scripted (no traffic); the instances, the router and their health checks
are real, so each test takes a second or two.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Log

from tests.app.test_app import SIZE, new_app, text_of, until
from tests.recipe_fixtures import alive, app_command, pids_of, proxy
from tests.scripted import ScriptedFactory
from tui.app.app import SurgeApp
from tui.app.screens.instance_logs import InstanceLogScreen
from tui.app.screens.picker import PickerScreen
from tui.app.screens.run import RunScreen
from tui.app.screens.start_instances import StartInstancesModal
from tui.app.screens.summary import SummaryScreen

__all__ = ["proxy"]  # the fixture


def recipe_profile(
    folder: Path, proxy: tuple[str, str], blue: list[str], green: list[str], timeout: str = "5s"
) -> Path:
    """Two blue and two green instances of the given commands behind the proxy."""
    proxy_url, admin_url = proxy
    folder.mkdir(exist_ok=True)
    path = folder / "recipes.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            name = "recipes"
            base_url = "{proxy_url}"
            vus = 2
            rate = 20
            time_scale = 0.01
            [[endpoints]]
            path = "/"
            [deploy]
            strategy = "rolling"
            interval = "1s"
            proxy_port = {proxy_url.rsplit(":", 1)[1]}
            admin_port = {admin_url.rsplit(":", 1)[1]}
            [deploy.blue]
            command = {blue!r}
            instances = 2
            health = {{ path = "/health", timeout = "{timeout}" }}
            stop_grace = "2s"
            [deploy.green]
            command = {green!r}
            instances = 2
            """
        ).replace("'", '"')
    )
    return folder


@pytest.fixture
def profiles(tmp_path: Path, proxy: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the instances' logs
    command = app_command(tmp_path)
    return recipe_profile(tmp_path / "profiles", proxy, command, command)


def recipes_app(profiles: Path, factory: ScriptedFactory | None = None) -> SurgeApp:
    return new_app(profiles, factory or ScriptedFactory(intervals=5, hold=True))


async def open_dialog(pilot: Pilot, *keys: str) -> StartInstancesModal:
    """Ctrl+R on the picker: the dialog, then `keys` pressed in it."""
    await pilot.press("ctrl+r")
    await until(pilot, lambda: isinstance(pilot.app.screen, StartInstancesModal))
    dialog = pilot.app.screen
    assert isinstance(dialog, StartInstancesModal)
    await pilot.press(*keys)
    return dialog


async def test_the_dialog_lists_the_commands_and_cancel_starts_nothing(
    profiles: Path, tmp_path: Path
) -> None:
    app = recipes_app(profiles)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot)
        commands = text_of(app, "#instances-commands")
        assert "blue: 2 x " in commands and "green: 2 x " in commands
        assert "app.py {port} {instance}" in commands
        assert str(tmp_path / "state" / "surge" / "instances") in text_of(app, "#instances-logs")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen))
        assert not dialog.fleet.launcher.running
    assert not pids_of(tmp_path, "blue") and not pids_of(tmp_path, "green")


async def test_start_starts_blue_the_run_goes_the_log_shows_and_quit_stops_them(
    profiles: Path, tmp_path: Path
) -> None:
    factory = ScriptedFactory(intervals=5, hold=True)
    app = recipes_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, "y")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and bool(factory.made))
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await until(pilot, lambda: screen.snapshots_seen >= 1)
        blue = pids_of(tmp_path, "blue")
        assert len(blue) == 2 and all(map(alive, blue)) and not pids_of(tmp_path, "green")
        assert sorted(dialog.fleet.serving) == ["blue-0", "blue-1"]  # registered with the proxy
        assert "L" in {b.key for _, b, on, _ in screen.active_bindings.values() if on}

        await pilot.press("L")
        await until(pilot, lambda: isinstance(app.screen, InstanceLogScreen))
        logs = app.screen
        assert isinstance(logs, InstanceLogScreen)
        assert [(r.name, r.state) for r in logs.rows] == [
            ("blue-0", "serving"),
            ("blue-1", "serving"),
        ]
        log = logs.query_one(Log)
        await until(pilot, lambda: any("app blue-0 up on port" in line for line in log.lines))
        await pilot.press("down")  # the other instance's log
        await until(pilot, lambda: any("app blue-1 up on port" in line for line in log.lines))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)

        await pilot.press("q")
        await pilot.press("d")  # discard: the run stops, then its instances
        await until(pilot, lambda: not dialog.fleet.launcher.running, timeout=15)
    assert not any(map(alive, blue))


async def test_the_commands_are_asked_once_then_started_at_once(
    profiles: Path, tmp_path: Path
) -> None:
    factory = ScriptedFactory(intervals=2)  # the run ends by itself
    app = recipes_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await open_dialog(pilot, "enter")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen), timeout=15)
        first = pids_of(tmp_path, "blue")
        assert first and not any(map(alive, first))  # the run's end stopped them
        await pilot.press("r", "d")  # the same run again (this one discarded): no question
        # no key pressed: a dialog that asked would wait for one
        second = lambda: len(factory.made) == 2 and isinstance(app.screen, SummaryScreen)  # noqa: E731
        await until(pilot, second, timeout=15)
        again = pids_of(tmp_path, "blue")
        assert again and set(again).isdisjoint(first)  # new instances, stopped in turn
        assert not any(map(alive, again))


async def test_a_failed_health_check_is_shown_and_nothing_runs(
    tmp_path: Path, proxy: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    never = app_command(tmp_path, "--never-healthy")
    folder = recipe_profile(tmp_path / "profiles", proxy, never, never, timeout="1s")
    factory = ScriptedFactory(intervals=5, hold=True)
    app = recipes_app(folder, factory)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, "y")
        await until(pilot, lambda: bool(text_of(app, "#instances-error").strip()), timeout=15)
        error = text_of(app, "#instances-error")
        assert "not healthy after 1s" in error and "the run does not start" in error
        assert not dialog.fleet.launcher.running
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen))
        assert not factory.made  # no load was started
    started = pids_of(tmp_path, "blue")
    assert started and not any(map(alive, started))


async def test_an_app_that_ends_without_its_shutdown_still_stops_the_instances(
    profiles: Path, tmp_path: Path
) -> None:
    """A crash, a lost terminal: the app is gone without `q`; what `surge` runs after it
    (`save_if_lost`) stops the instances with their grace, before atexit's SIGKILL."""
    factory = ScriptedFactory(intervals=5, hold=True)
    app = recipes_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await open_dialog(pilot, "y")
        await until(pilot, lambda: len(pids_of(tmp_path, "blue")) == 2 and bool(factory.made))
    app.save_if_lost("the app ended before the run was saved")
    blue = pids_of(tmp_path, "blue")
    assert blue and not any(map(alive, blue))
