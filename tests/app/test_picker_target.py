"""Where the picker's profiles come from and where a run goes: the shipped profiles are
listed wherever `surge` starts, and a base-URL field aims a profile elsewhere, checked
as a profile's base_url is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList

from profiles import SHIPPED
from profiles import names as shipped_names
from tests.app.test_app import SHOP, new_app, profiles, text_of, until
from tests.scripted import ScriptedFactory
from tui.app.app import make_app
from tui.app.catalog import load_catalog, profile_dirs
from tui.app.screens.picker import PickerScreen
from tui.app.screens.run import RunScreen

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


def highlighted_type(app: object) -> str | None:
    types = app.screen.query_one("#types", OptionList)  # type: ignore[attr-defined]
    return types.get_option_at_index(types.highlighted).id


@pytest.mark.parametrize(("test_type", "expected"), [(None, "stress"), ("spike", "spike")])
async def test_the_type_highlighted_is_the_profiles_test_type_until_one_is_picked(
    profiles: Path, test_type: str | None, expected: str
) -> None:
    """What `surge run PROFILE` runs without --type (`test_type`) is what the picker offers;
    another profile brings its own, until the user picks a type or gave --type."""
    (profiles / "a-stressed.toml").write_text(
        SHOP.replace('name = "shop"', 'name = "a-stressed"\ntest_type = "stress"')
    )
    app = new_app(profiles, test_type=test_type)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PickerScreen) and screen.entries[0].name == "a-stressed"
        assert highlighted_type(app) == expected and screen.test_type == expected
        app.screen.query_one("#profiles", OptionList).focus()
        await pilot.press("down")  # shop: no test_type of its own
        await pilot.pause()
        assert screen.entry is screen.entries[1]
        assert highlighted_type(app) == (test_type or "smoke") == screen.test_type
        app.screen.query_one("#types", OptionList).focus()
        await pilot.press("down")  # the user's pick stays across profiles
        await pilot.pause()
        picked = highlighted_type(app)
        app.screen.query_one("#profiles", OptionList).focus()
        await pilot.press("up")
        await pilot.pause()
        assert screen.entry is screen.entries[0]
        assert highlighted_type(app) == picked == screen.test_type
