"""`surge URL`: the live console on an ad-hoc test of that URL, as `surge run URL` runs it
headless (the same profile, the same defaults, the same --type, -u, -d, --rate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.profile.plan import Overrides
from tests.app.test_app import NOW, until
from tests.scripted import ScriptedFactory
from tui.app.app import make_app
from tui.app.screens.run import RunScreen
from tui.cli import app_cmd, main, run_cmd

URL = "http://127.0.0.1:9/items?page=2"


@pytest.mark.parametrize(
    "flags",
    [(), ("--type", "load", "-d", "30s"), ("-u", "3", "-d", "5s"), ("--rate", "40", "-d", "5s")],
)
async def test_the_console_opens_on_a_url_with_surge_runs_plan(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    args = app_cmd.build_parser().parse_args([URL, *flags])
    factory = ScriptedFactory(intervals=2, hold=True)
    app = make_app(
        args.profile,
        test_type=args.test_type,
        start=True,
        overrides=Overrides(**app_cmd.load_overrides(args)),
        search_default_dirs=False,
        controller_factory=factory,
        report_dir=tmp_path,
        now=lambda: NOW,
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and bool(factory.made))
        plan = factory.last.plan
    headless = run_cmd.plan_from_args(main.build_parser().parse_args(["run", URL, *flags]))
    assert plan.name == headless.name == URL
    assert plan.work == headless.work
    assert plan.test_type == headless.test_type


def test_a_bad_url_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["http://exa mple/"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("surge: error: ") and "no such profile file" not in err
    assert len(err.strip().splitlines()) == 1
