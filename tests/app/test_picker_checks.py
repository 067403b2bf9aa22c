"""The picker's safety: a target that does not answer is said (with what to start), not run
against; a deploy panel only with an admin API behind it; a duration honoured for a type."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from textual.widgets import Input

from engine.load.testtypes import TEST_TYPES
from engine.profile.plan import Overrides, fit_duration
from profiles import SHIPPED
from tests.app.test_app import NOW, SHOP, new_app, profiles, text_of, until
from tests.scripted import ScriptedFactory
from tui.app.app import make_app
from tui.app.probe import address, tcp_probe
from tui.app.screens.picker import PickerScreen
from tui.app.screens.run import RunScreen
from tui.app.widgets.deploy import DeployPanel

__all__ = ["profiles"]
SIZE = (120, 36)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def notified(app: object) -> list[str]:
    return [n.message for n in app._notifications]  # type: ignore[attr-defined]


async def test_a_target_that_does_not_answer_is_said_not_run(profiles: Path) -> None:
    port = closed_port()
    (profiles / "shop.toml").write_text(SHOP.replace("127.0.0.1:9", f"127.0.0.1:{port}"))
    factory = ScriptedFactory(intervals=2, hold=True)
    app = new_app(profiles, factory, probe=tcp_probe)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await until(pilot, lambda: "nothing listens" in text_of(app, "#e-form"))
        assert f"nothing listens on 127.0.0.1:{port}" in text_of(app, "#e-form")
        assert "connection refused" in text_of(app, "#e-form")
        assert any("nothing listens" in m for m in notified(app))
        assert isinstance(app.screen, PickerScreen) and not factory.made


async def test_a_target_that_answers_runs(profiles: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        (profiles / "shop.toml").write_text(SHOP.replace("127.0.0.1:9", f"127.0.0.1:{port}"))
        factory = ScriptedFactory(intervals=2, hold=True)
        app = new_app(profiles, factory, probe=tcp_probe)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("ctrl+r")
            await until(pilot, lambda: isinstance(app.screen, RunScreen))
            assert factory.made


async def test_the_demo_profile_without_surge_demo_says_run_surge_demo(tmp_path: Path) -> None:
    async def refused(host: str, port: int) -> str | None:
        return "connection refused"

    factory = ScriptedFactory(intervals=2, hold=True)
    app = make_app(
        SHIPPED / "demo.toml",
        search_default_dirs=False,
        profiles=[SHIPPED],
        controller_factory=factory,
        report_dir=tmp_path,
        now=lambda: NOW,
        probe=refused,
    )
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "surge demo" in text_of(app, "#e-form"))
        assert "run `surge demo` instead" in text_of(app, "#e-form")
        assert isinstance(app.screen, PickerScreen) and not factory.made


async def test_no_deploy_panel_without_its_admin_api(profiles: Path) -> None:
    deploy = (
        "\n[deploy]\nblue = ['http://127.0.0.1:9']\ngreen = ['http://127.0.0.1:10']\n"
        "admin_port = 7999\nstrategy = 'manual'\n"
    )
    (profiles / "shop.toml").write_text(SHOP + deploy)
    asked: list[tuple[str, int]] = []

    async def target_only(host: str, port: int) -> str | None:
        asked.append((host, port))
        return "connection refused" if port == 7999 else None

    factory = ScriptedFactory(intervals=2, hold=True)
    app = new_app(profiles, factory, probe=target_only)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        assert not app.screen.query(DeployPanel)
        assert any("no proxy admin API on 127.0.0.1:7999" in m for m in notified(app))
    assert asked == [("127.0.0.1", 9), ("127.0.0.1", 7999)]


async def test_the_duration_field_scales_a_test_type(profiles: Path) -> None:
    app = new_app(profiles, ScriptedFactory(intervals=2, hold=True))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+t", "down")  # average
        screen = app.screen
        assert isinstance(screen, PickerScreen)
        before = screen.cfg
        assert before is not None and round(before.planned_duration) != 120
        screen.query_one("#f-duration", Input).value = "2m"
        await pilot.pause()
        assert screen.cfg is not None and abs(screen.cfg.planned_duration - 120) < 1
        assert "scaled to the duration 2:00" in text_of(app, "#plan-describe")
        screen.query_one("#f-time_scale", Input).value = "0.5"
        await pilot.pause()
        assert "duration or by a time scale" in text_of(app, "#e-duration")
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, PickerScreen)


@pytest.mark.parametrize("name", [n for n in TEST_TYPES if n not in ("smoke", "capacity")])
def test_fit_duration_scales_every_type_but_smoke_to_the_duration(name: str) -> None:
    from engine.profile.plan import choose_executor
    from tui.app.catalog import load_entry

    profile = load_entry(SHIPPED / "example.toml").profile
    assert profile is not None
    o = Overrides(test_type=name, duration=300.0)
    fitted = fit_duration(profile, o)
    assert fitted.duration is None and fitted.time_scale is not None
    assert abs(choose_executor(profile, fitted).planned_duration - 300) < 5


def test_smoke_keeps_its_duration() -> None:
    from tui.app.catalog import load_entry

    profile = load_entry(SHIPPED / "example.toml").profile
    assert profile is not None
    o = Overrides(test_type="smoke", duration=30.0)
    assert fit_duration(profile, o) is o
    o = Overrides(test_type="capacity", duration=30.0)  # a search: as long as it takes
    assert fit_duration(profile, o) is o


def test_address_takes_the_scheme_default_port() -> None:
    assert address("http://example.test/") == ("example.test", 80)
    assert address("https://example.test/x") == ("example.test", 443)
    assert address("http://127.0.0.1:8000") == ("127.0.0.1", 8000)


def test_no_such_profile_lists_every_shipped_one(capsys: pytest.CaptureFixture[str]) -> None:
    from profiles import names
    from tui.cli import main as cli

    assert cli.main(["nope"]) == 2
    err = capsys.readouterr().err
    assert "nope: no such profile file" in err
    assert names() == sorted(p.stem for p in SHIPPED.glob("*.toml")) and "demo" in names()
    assert f"a shipped one: {', '.join(names())}" in err
