"""Where the picker's profiles come from and where a run goes: the shipped profiles are
listed wherever `surge` starts, and a base-URL field aims a profile elsewhere, checked
as a profile's base_url is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Input

from profiles import SHIPPED
from profiles import names as shipped_names
from tests.app.test_app import new_app, profiles, text_of, until
from tui.app.app import make_app
from tui.app.catalog import load_catalog, profile_dirs
from tui.app.screens.picker import PickerScreen
from tui.app.screens.run import RunScreen
from tui.app.scripted import ScriptedFactory

__all__ = ["profiles"]
SIZE = (120, 36)


async def test_an_empty_folder_lists_the_shipped_profiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    app = make_app(controller_factory=ScriptedFactory(), report_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PickerScreen)
        listed = [e.path.stem for e in screen.entries if e.path is not None]
        assert sorted(listed) == shipped_names()  # each once
        assert all(e.profile is not None for e in screen.entries)


def test_copies_of_the_shipped_profiles_are_listed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pip install .` then `surge` in the checkout: ./profiles holds copies of the
    installed files, not the same paths; an edited copy is a profile of its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    shutil.copytree(SHIPPED, tmp_path / "profiles", ignore=shutil.ignore_patterns("*.py*"))
    edited = tmp_path / "profiles" / "example.toml"
    edited.write_text(edited.read_text() + "\n# edited\n")
    entries = load_catalog(profile_dirs())
    listed = sorted(e.path.stem for e in entries if e.path is not None)
    assert listed == sorted([*shipped_names(), "example"])
    assert Path("profiles/example.toml") in [e.path for e in entries]


async def test_the_base_url_field_aims_the_run_and_a_bad_one_is_said(profiles: Path) -> None:
    factory = ScriptedFactory(intervals=2, hold=True)
    app = new_app(profiles, factory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        field = app.screen.query_one("#f-base_url", Input)
        assert field.placeholder == "http://127.0.0.1:9"  # empty: the profile's own
        field.value = "ftp://127.0.0.1:21"
        await pilot.pause()
        assert "bad base URL" in text_of(app, "#e-base_url")
        assert field.has_class("-invalid")
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, PickerScreen) and not factory.made
        field.value = "http://127.0.0.1:8123/"
        await pilot.pause()
        assert text_of(app, "#e-base_url").strip() == ""
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
    assert app.session is not None
    assert app.session.setup.profile.base_url == "http://127.0.0.1:8123"
    assert factory.last.plan.work.base_url == "http://127.0.0.1:8123"
