"""`surge demo`'s console on its real stack: the deploy panel is there, because the
picker's probe checks the admin API the demo's proxy really listens on (a free port),
not the profile's `admin_port`."""

from __future__ import annotations

import pytest

from tests.app.test_app import exited, until
from tui.app.screens.run import RunScreen
from tui.app.widgets.deploy import DeployPanel
from tui.cli.demo import demo_app
from tui.cli.demo_stack import DemoStack

# A real stack and a Pilot wait with a deadline: run alone, after the parallel part.
pytestmark = pytest.mark.serial


async def test_the_demo_console_opens_with_its_deploy_panel() -> None:
    with DemoStack("latency") as stack:
        assert not stack.admin_url.endswith(":8001")  # the profile's port is not the one
        app = demo_app(stack, "canary", time_scale=None)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, RunScreen), timeout=30)
            assert app.screen.query(DeployPanel), [n.message for n in app._notifications]
            app.shutdown(save=False)
            await exited(app)
